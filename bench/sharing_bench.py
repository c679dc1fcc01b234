"""Benchmark the cost of sharing at read time: ``python -m bench.sharing_bench --reads 300
--backend sqlite|postgresql``.

Loads 200 cases (each with offending events, an OGRS score, four partner flags and a
supervision record) and a published agreement, then times, through the real Flask app
and a real bearer token, ``--reads`` case detail reads (the agreement decision, the
redacted view with every field group, and one access entry appended to the audit chain
each) and the same number of case list reads (50 a page), against a baseline measured
in the same run: the same number of ``GET /health`` requests (authentication, one
transaction, no case data). Prints reads/s and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from db.migrate import upgrade
from db.models import (
    AccessRead,
    Assessment,
    Case,
    OffendingEvent,
    PartnerFlag,
    Person,
    Supervision,
)
from db.session import transaction
from workflow.config import load_settings
from workflow.policy.store import seed_policy
from workflow.rulesets import sync_shipped
from workflow.runtime import Runtime
from workflow.sharing.store import seed_agreement
from workflow.users import create_user

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
FLAGS = (("marac_repeat", "true"), ("mappa_level", "1"), ("dtoa", "true"),
         ("treatment", "retained"))


def _database(backend: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='iom-bench-')}/bench.sqlite3"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "iom_sharing_bench" WITH (FORCE)'))
        conn.execute(text('CREATE DATABASE "iom_sharing_bench"'))
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + "/iom_sharing_bench"


def _populate(session, cases: int) -> list[int]:
    sync_shipped(session, now=NOW - timedelta(days=400))
    for i in range(1, cases + 1):
        person = Person(partner_ref=f"B{i}", given_name="Ann", family_name=f"P{i}", sex="F",
                        date_of_birth=date(1990, 1, 1))
        session.add(person)
        session.add_all([OffendingEvent(partner_ref=f"E{i}-{k}", person=person,
                                        kind="arrest", occurred_on=date(2024, 1 + k, 1),
                                        offence_category="theft") for k in range(5)])
        session.add(Assessment(partner_ref=f"O{i}", person=person,
                               assessed_on=date(2024, 6, 1), ogrs_2yr=60))
        session.add_all([PartnerFlag(partner_ref=f"F{i}-{kind}", person=person, kind=kind,
                                     value=value, recorded_on=date(2024, 7, 1))
                         for kind, value in FLAGS])
        session.add(Supervision(partner_ref=f"S{i}", person=person, provider="NPS",
                                start_on=date(2024, 1, 1)))
        session.add(Case(person=person, state="matrixing", state_since=NOW, opened_at=NOW))
    session.flush()
    return list(session.scalars(select(Case.id).order_by(Case.id)))


def _time(client, urls: list[str], headers: dict) -> float:
    start = time.perf_counter()
    for url in urls:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.get_json())
    return len(urls) / (time.perf_counter() - start)


def run(backend: str, reads: int, cases: int = 200) -> None:
    from api import create_app

    url = _database(backend)
    upgrade(url)
    rt = Runtime.from_settings(load_settings(ROOT / "config.toml",
                                             env={"IOM_DATABASE_URL": url}))
    with transaction(rt.sessions) as session:
        ids = _populate(session, cases)
        seed_policy(session, rt.settings, now=NOW - timedelta(days=400))
        seed_agreement(session, now=NOW - timedelta(days=400))
        _, token = create_user(session, username="housing1", display_name="H",
                               role="resettlement_officer", agency="housing")
    client = create_app(rt).test_client()
    headers = {"Authorization": f"Bearer {token}"}
    base = _time(client, ["/api/v1/health"] * reads, headers)
    detail = _time(client, [f"/api/v1/cases/{ids[i % len(ids)]}" for i in range(reads)],
                   headers)
    listing = _time(client, ["/api/v1/cases?per_page=50"] * reads, headers)
    with transaction(rt.sessions) as session:
        logged = session.scalar(select(func.count()).select_from(AccessRead))
    rt.close()
    print(f"{backend}: {reads} reads each; baseline GET /health {base:,.0f}/s")
    print(f"  detail (agreement, redacted view, access entry): {detail:,.0f}/s "
          f"= {base / detail:.1f}x the baseline's time per request")
    print(f"  list of 50 (one decision query, access entry): {listing:,.0f}/s "
          f"= {base / listing:.1f}x")
    print(f"  access entries written: {logged} (expected {2 * reads})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"),
                        default="sqlite")
    args = parser.parse_args()
    for backend in (("sqlite", "postgresql") if args.backend == "both" else (args.backend,)):
        run(backend, args.reads)


if __name__ == "__main__":
    main()
