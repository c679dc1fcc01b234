"""Benchmark one scheduler pass: ``python -m bench.tick_bench --cases 100000 --due 10000
--backend sqlite|postgresql``.

Bulk-inserts ``--cases`` cases (``--due`` of them due and selected by the Pan-London rule
set, so each makes one audited transition), runs ``ANALYZE`` (as autovacuum would soon
after such a load), then times one ``advance_due`` pass and a
baseline of the same number of plain single-row UPDATE statements in the same
transaction shape (one transaction per ``chunk_size`` cases). Prints transitions/s, the
ratio to the baseline, the RSS just before and after the pass, and how far the pass
pushed the process's peak RSS above the peak the load had reached.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text, update

from bench import scratch
from db.migrate import upgrade
from db.models import Assessment, AuditEntry, Case, OffendingEvent, Person
from db.session import transaction
from scheduler.jobs import advance_due
from workflow.config import load_settings
from workflow.rulesets import sync_shipped
from workflow.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def _populate(rt: Runtime, cases: int, due: int, chunk: int = 5000) -> None:
    """Bulk insert (Core ``executemany``): people, a conviction, an OGRS and a case each."""
    day = (NOW - timedelta(days=30)).date()
    far = NOW + timedelta(days=365)
    with rt.engine.begin() as conn:
        for start in range(0, cases, chunk):
            ids = range(start + 1, min(start + chunk, cases) + 1)
            conn.execute(insert(Person), [
                {"id": i, "partner_ref": f"B{i}", "given_name": "A", "family_name": f"P{i}",
                 "sex": "M", "date_of_birth": day.replace(year=1990), "created_at": NOW}
                for i in ids])
            conn.execute(insert(OffendingEvent), [
                {"partner_ref": f"BC{i}", "person_id": i, "kind": "conviction",
                 "occurred_on": day, "offence_category": "theft", "source": "bench"}
                for i in ids])
            conn.execute(insert(Assessment), [
                {"partner_ref": f"BO{i}", "person_id": i, "tool": "OGRS3", "assessed_on": day,
                 "ogrs_2yr": 81, "source": "supplied"} for i in ids])
            conn.execute(insert(Case), [
                {"id": i, "person_id": i, "episode": 1, "state": "mapping", "state_since": NOW,
                 "opened_at": NOW, "next_due_at": NOW if i <= due else far, "version": 1}
                for i in ids])
        if conn.dialect.name == "postgresql":
            for table in ("person", "iom_case"):
                conn.execute(text(f"SELECT setval('{table}_id_seq', {cases})"))
    # Planner statistics, as autovacuum would have them on a live database a minute after
    # a load (without them PostgreSQL scans whole tables for each chunk's facts).
    with rt.engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


def _baseline(rt: Runtime, due: int, chunk: int) -> float:
    """Seconds for ``due`` single-row UPDATEs, one transaction per ``chunk``."""
    started = time.perf_counter()
    for start in range(1, due + 1, chunk):
        with transaction(rt.sessions) as session:
            for i in range(start, min(start + chunk, due + 1)):
                session.execute(update(Case).where(Case.id == i).values(last_error=None))
    return time.perf_counter() - started


def _rss_mb() -> float:
    """Peak RSS of the process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    """RSS now (MB): Linux /proc; elsewhere the peak, the best available."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return _rss_mb()


def run(cases: int, due: int, backend: str) -> dict:
    with scratch.database(backend, "iom_tick_bench") as url:
        return _run(url, cases, due, backend)


def _run(url: str, cases: int, due: int, backend: str) -> dict:
    upgrade(url)
    settings = load_settings(ROOT / "config.toml", env={"IOM_DATABASE_URL": url})
    settings = dataclasses.replace(settings, batch_size=due)
    rt = Runtime.from_settings(settings)
    try:
        with transaction(rt.sessions) as session:
            sync_shipped(session, now=NOW - timedelta(days=400))
        started = time.perf_counter()
        _populate(rt, cases, due)
        insert_s = time.perf_counter() - started
        baseline_s = _baseline(rt, due, settings.chunk_size)
        rss_before, peak_before = _current_rss_mb(), _rss_mb()
        started = time.perf_counter()
        report = advance_due(rt, now=NOW)
        pass_s = time.perf_counter() - started
        rss_after = _current_rss_mb()
        with transaction(rt.sessions) as session:
            audited = session.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.kind == "case.transition"))
    finally:
        rt.close()
    moved = len(report.moved)
    return {"backend": backend, "cases": cases, "due": due, "insert_s": round(insert_s, 2),
            "pass_s": round(pass_s, 2), "transitions": moved, "audited": audited,
            "failed": len(report.failed),
            "transitions_per_s": round(moved / pass_s, 1) if pass_s else None,
            "baseline_updates_per_s": round(due / baseline_s, 1) if baseline_s else None,
            "ratio_to_baseline": round(pass_s / baseline_s, 2) if baseline_s else None,
            "peak_rss_mb": round(_rss_mb(), 1),
            "rss_before_pass_mb": round(rss_before, 1),
            "rss_after_pass_mb": round(rss_after, 1),
            "peak_above_load_mb": round(_rss_mb() - peak_before, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args(argv)
    result = run(args.cases, min(args.due, args.cases), args.backend)
    for key, value in result.items():
        print(f"{key:>26}: {value}")
    return 0 if result["failed"] == 0 and result["audited"] == result["transitions"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
