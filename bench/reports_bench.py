"""Benchmark every board report: ``python -m bench.reports_bench --people 100000
--events 2000000 --cohort 2000 --backend postgresql|sqlite``.

Loads a borough (people, ``--cohort`` accepted and as many rejected at panel, custody
spells, each case's audited transitions) and its events in two steps: first a tenth of
``--events``, then the rest. After each step it runs all six reports
(``workflow.reports.catalogue``) and, as the same-run baseline, one full scan of the
event table (``SELECT count(*)``, the floor for any query that reads every event).
Prints seconds per report, the total against the 30 s target, and the process's RSS
growth while reporting at each size: aggregation in the database means the growth
should not scale with the number of events.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, text

from bench import scratch
from db.migrate import upgrade
from db.models import AuditEntry, Case, ComplianceEvent, PanelItem, PanelMeeting, Person
from db.session import make_engine, make_session_factory
from workflow.reports.catalogue import run as run_report

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = ("theft", "domestic_burglary", "robbery", "violence", "criminal_damage",
              "drug_possession_supply", "public_order", "fraud")
KINDS = ("arrest", "arrest", "charge", "conviction")
FIRST, DAYS = date(2023, 1, 1), 3 * 365
REPORTS = {
    "top-arrested": {"start": date(2024, 1, 1), "end": date(2025, 12, 31)},
    "expansion": {"start": date(2024, 1, 1), "end": date(2025, 12, 31), "stream": "flex"},
    "cohort-effect": {"start": date(2025, 1, 1), "end": date(2025, 6, 30),
                      "as_of": date(2025, 12, 31)},
    "targets": {"start": date(2025, 1, 1), "end": date(2025, 12, 31),
                "reduction_pct": Decimal(17)},
    "cost": {"start": date(2025, 1, 1), "end": date(2025, 6, 30),
             "as_of": date(2025, 12, 31)},
    "caseload": {"start": date(2025, 1, 1), "end": date(2025, 12, 31), "target_size": 200},
}


def _at(day: date) -> datetime:
    return datetime.combine(day, dtime(10), tzinfo=UTC)


def _people(conn, people: int, cohort: int, rng: random.Random) -> None:
    conn.execute(insert(Person), [
        {"id": i, "partner_ref": f"B{i}", "given_name": "A", "family_name": f"P{i}",
         "sex": "M", "date_of_birth": date(1990, 1, 1)} for i in range(1, people + 1)])
    meetings = [date(2025, m, 5) for m in range(1, 13)]
    conn.execute(insert(PanelMeeting), [
        {"id": n, "held_on": d, "starts_at": _at(d)} for n, d in enumerate(meetings, 1)])
    cases, items, custody = [], [], []
    for i in range(1, 2 * cohort + 1):
        accepted, m = i <= cohort, rng.randrange(12)
        cases.append({"id": i, "person_id": i, "state": "allocated" if accepted else
                      "rejected", "cohort": "flex" if accepted else None,
                      "closed_at": None if accepted else _at(meetings[m])})
        items.append({"meeting_id": m + 1, "case_id": i, "rank": 1,
                      "invited_at": _at(meetings[m]), "decided_at": _at(meetings[m]),
                      "decision": "accept" if accepted else "reject"})
        if rng.random() < 0.1:
            jail = meetings[m] + timedelta(days=30)
            custody += [(i, "custody_in", jail), (i, "custody_out", jail + timedelta(60))]
    conn.execute(insert(Case), cases)
    conn.execute(insert(PanelItem), items)
    _transitions(conn, items)
    conn.execute(insert(ComplianceEvent), [
        {"event_id": f"C{n}", "person_id": p, "kind": k, "occurred_at": _at(d),
         "details": {}, "recorded_by": "bench"} for n, (p, k, d) in enumerate(custody)])
    if conn.dialect.name == "postgresql":
        for table in ("person", "iom_case", "panel_meeting"):
            conn.execute(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))


def _transitions(conn, items: list[dict]) -> None:
    """The audit's case.transition entries (mapping -> matrixing -> panel -> decision)
    that the caseload report's time in stage and candidates by source read. Hashes are
    placeholders: the bench times reports, it does not verify the chain."""
    steps = (("select", "mapping", "matrixing", 40), ("advance", "matrixing", "panel", 25))
    rows, seq = [], 0
    for item in items:
        decided = item["decided_at"]
        moves = [(e, a, b, decided - timedelta(days=d)) for e, a, b, d in steps]
        moves.append((item["decision"], "panel", "allocated" if item["decision"] == "accept"
                      else "rejected", decided))
        for event, source, target, at in moves:
            seq += 1
            cause = {"kind": "rule", "decisions": [
                {"ruleset": "pan-london-selection", "rule": "ogrs-75", "action": "select"}]}
            rows.append({"seq": seq, "occurred_at": at, "recorded_at": at, "actor": "bench",
                         "kind": "case.transition", "case_id": item["case_id"],
                         "summary": f"Moved from {source} to {target}", "payload": {
                             "event": event, "from": source, "to": target,
                             "cause": cause if event == "select" else {"kind": "human"}},
                         "prev_hash": f"{seq - 1:064d}", "hash": f"{seq:064d}",
                         "hash_version": 1})
    conn.execute(insert(AuditEntry), rows)


def _events(conn, first: int, count: int, people: int, cohort: int, rng) -> None:
    """Events; a fifth of them on the cohort and comparison people (repeat offenders)."""
    def row(n):
        pid = rng.randint(1, 2 * cohort) if rng.random() < 0.2 else rng.randint(1, people)
        return (f"E{n}", pid, rng.choice(KINDS), FIRST + timedelta(rng.randrange(DAYS)),
                rng.choice(CATEGORIES), "bench")
    columns = "partner_ref, person_id, kind, occurred_on, offence_category, source"
    if conn.dialect.name == "postgresql":
        with conn.connection.driver_connection.cursor() as cur, cur.copy(
                f"COPY offending_event ({columns}) FROM STDIN") as copy:
            for n in range(first, first + count):
                copy.write_row(row(n))
        return
    for start in range(first, first + count, 50_000):
        conn.exec_driver_sql(
            f"INSERT INTO offending_event ({columns}) VALUES (?, ?, ?, ?, ?, ?)",
            [row(n) for n in range(start, min(start + 50_000, first + count))])


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _measure(factory) -> dict:
    out, rss0, peak0 = {}, _rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with factory() as session:
        started = time.perf_counter()
        session.execute(text("SELECT count(*) FROM offending_event")).scalar()
        out["baseline_full_scan_s"] = round(time.perf_counter() - started, 2)
        for name, params in REPORTS.items():
            started = time.perf_counter()
            run_report(session, name, **params)
            out[f"{name}_s"] = round(time.perf_counter() - started, 2)
        session.rollback()
    out["reports_total_s"] = round(sum(v for k, v in out.items() if k.endswith("_s")
                                       and not k.startswith("baseline")), 2)
    out["rss_growth_mb"] = round(_rss_mb() - rss0, 1)
    out["peak_rss_growth_mb"] = round(
        (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak0) / 1024, 1)
    return out


def run(people: int, events: int, cohort: int, backend: str) -> list[dict]:
    with scratch.database(backend, "iom_reports_bench") as url:
        return _run(url, people, events, cohort, backend)


def _run(url: str, people: int, events: int, cohort: int, backend: str) -> list[dict]:
    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    rng = random.Random(14)
    results = []
    try:
        with engine.begin() as conn:
            _people(conn, people, cohort, rng)
        done = 0
        for step in (events // 10, events - events // 10):
            with engine.begin() as conn:
                _events(conn, done, step, people, cohort, rng)
            done += step
            with engine.connect() as conn:
                conn.execute(text("ANALYZE"))
                conn.commit()
            results.append({"backend": backend, "people": people, "events": done,
                            **_measure(factory)})
    finally:
        engine.dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--cohort", type=int, default=2_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="postgresql")
    args = parser.parse_args(argv)
    for result in run(args.people, args.events, min(args.cohort, args.people // 2),
                      args.backend):
        print("---")
        for key, value in result.items():
            print(f"{key:>26}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
