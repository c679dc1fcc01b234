"""Benchmark the first mapping pass over a fresh borough or region:
``python -m bench.mapping_bench [--people 1000000] [--chunk N] [--workers N] [--verify]
[--keep]`` (the database is dropped after the run unless ``--keep``).

Loads ``--people`` nominals on PostgreSQL, each with 5 offending events (arrests,
charges and convictions; OGRS3 computed from the record, no assessment), none with a
case yet, runs ``ANALYZE`` (as autovacuum would after such a load), then times one
scheduler pass (``advance_due``) that opens a mapping case for every person and
evaluates them all (the per-pass cap is set to ``--people``, so the whole borough fits
one pass). Prints the pass's wall time, the growth of the process's peak RSS during the
pass, and the engine's own time evaluating the same facts in the same pass
(``RuleEngine.busy_seconds``: CPU seconds in the engine, summed over the pass's processes
as ``PassReport.engine_seconds``): the pass / engine ratio is how far the pass is from its
floor; with ``--workers`` N > 1 (``scheduler.pass_workers``) the engine time is N
processes' sum, so the pass can even be shorter than it; cpu_over_engine (all the pass's
CPU, its workers' included, over the engine's) does not depend on the worker count. CPU
is this process's and, apart, its workers' (from their start, as they report it). Peak
RSS growth: the kernel's peak mark is reset just before the pass (Linux); the workers'
is the largest worker's peak RSS.
``--verify`` then walks the audit chain (not timed in the pass).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

from bench import scratch
from db.bulk import insert_rows
from db.models import AuditEntry, Case, OffendingEvent, Person
from db.session import transaction
from scheduler.jobs import advance_due
from workflow.audit import verify
from workflow.audit_signing import generate_key
from workflow.config import load_settings
from workflow.rulesets import sync_shipped
from workflow.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
DB_NAME = os.environ.get("IOM_BENCH_DB", "iom_mapping_bench")  # one per helper / run
TARGETS = {1_000_000: 60.0, 100_000: 6.0}  # seconds for the first pass (issue 16)
KINDS = ("arrest", "arrest", "charge", "conviction", "conviction")
CATEGORIES = ("theft", "robbery", "domestic_burglary", "violence", "drug_possession_supply",
              "criminal_damage", "other_burglary", "fraud")


def _database() -> str:
    return scratch.create(DB_NAME)


def _people(start: int, stop: int, rng: random.Random) -> tuple[list[dict], list[dict]]:
    people, events = [], []
    today = NOW.date()
    for i in range(start, stop):
        people.append({"id": i, "partner_ref": f"N{i}", "given_name": "A",
                       "family_name": f"P{i}", "sex": "F" if i % 7 == 0 else "M",
                       "date_of_birth": date(1960 + i % 45, 1 + i % 12, 1 + i % 28),
                       "first_sanction_on": today - timedelta(days=2000 + i % 3000),
                       "created_at": NOW})
        for k, kind in enumerate(KINDS):
            events.append({"partner_ref": f"E{i}-{k}", "person_id": i, "kind": kind,
                           "occurred_on": today - timedelta(days=rng.randint(10, 1500)),
                           "offence_category": rng.choice(CATEGORIES), "source": "bench"})
    return people, events


def _populate(rt: Runtime, n: int, seed: int, chunk: int = 50_000) -> None:
    """COPY the people and their events in chunks (bounded memory), then ANALYZE."""
    rng = random.Random(seed)
    for start in range(1, n + 1, chunk):
        people, events = _people(start, min(start + chunk, n + 1), rng)
        with transaction(rt.sessions) as session:
            insert_rows(session, Person.__table__, people)
            insert_rows(session, OffendingEvent.__table__, events)
    with rt.engine.connect() as conn:
        conn.execute(text(f"SELECT setval('person_id_seq', {n})"))
        conn.execute(text("ANALYZE"))
        conn.commit()


def _load_average() -> str:
    """The machine's 1/5/15-minute load averages (2 shared cores: read figures with it)."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _status_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process from /proc, in MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> float:
    """Reset the kernel's peak-RSS mark to the RSS now (Linux ``clear_refs`` 5), so the
    peak read after the pass is the pass's own, not the load's; returns the RSS now."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return _status_mb("VmRSS")


def run(people: int, chunk: int | None, seed: int, check: bool, workers: int = 1,
        keep: bool = False) -> dict:
    """One measured first pass (see the module docstring); the database is dropped
    after it unless ``keep``."""
    url = _database()
    from db.migrate import upgrade

    upgrade(url)
    key_file = Path(tempfile.mkdtemp(prefix="iom-bench-key-")) / "audit.key"
    generate_key(key_file, NOW)  # the audit is signed, as the service's is
    settings = load_settings(ROOT / "config.toml", env={"IOM_DATABASE_URL": url,
                                                        "IOM_AUDIT_KEY_FILE": str(key_file)})
    settings = dataclasses.replace(settings, batch_size=people, pass_workers=workers,
                                   chunk_size=chunk or settings.chunk_size)
    rt = Runtime.from_settings(settings)
    assert rt.keyring.current, rt.keyring.missing
    try:
        with transaction(rt.sessions) as session:
            sync_shipped(session, now=NOW - timedelta(days=400))
        started = time.perf_counter()
        _populate(rt, people, seed)
        load_s = time.perf_counter() - started
        rss_before = _reset_peak()
        started, cpu_started = time.perf_counter(), time.process_time()
        report = advance_due(rt, now=NOW)
        pass_s = time.perf_counter() - started
        cpu_s = time.process_time() - cpu_started
        engine_s = report.engine_seconds
        growth = _status_mb("VmHWM") - rss_before
        with transaction(rt.sessions) as session:
            cases = session.scalar(select(func.count()).select_from(Case))
            entries = session.scalar(select(func.count()).select_from(AuditEntry))
            chain = verify(session) if check else None
    finally:
        rt.close()
        if not keep:
            scratch.drop(DB_NAME)
    return {"people": people, "events": people * len(KINDS), "chunk_size": settings.chunk_size,
            "pass_workers": report.workers,
            "load_s": round(load_s, 1), "pass_s": round(pass_s, 2),
            "pass_cpu_s": round(cpu_s, 2), "workers_cpu_s": round(report.worker_cpu_seconds, 2),
            "load_average": _load_average(),
            "opened": report.opened, "evaluated": report.evaluated,
            "moved": len(report.moved), "failed": len(report.failed), "cases": cases,
            "audit_entries": entries, "engine_s": round(engine_s, 2),
            "pass_over_engine": round(pass_s / engine_s, 1) if engine_s else None,
            "cpu_over_engine": round((cpu_s + report.worker_cpu_seconds) / engine_s, 1)
            if engine_s else None,
            "rss_before_pass_mb": round(rss_before, 1), "peak_rss_growth_mb": round(growth, 1),
            "worker_peak_rss_mb": round(report.worker_peak_rss_mb, 1) if report.workers > 1
            else None,
            "chain": None if chain is None else (
                f"verifies ({chain.checked} entries)" if chain.ok
                else f"BROKEN at {chain.first_bad_seq}: {chain.reason}")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=None,
                        help="cases per engine call and transaction (default: config)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1,
                        help="scheduler.pass_workers: processes advancing the chunks")
    parser.add_argument("--verify", action="store_true", help="walk the audit chain after")
    parser.add_argument("--keep", action="store_true", help="keep the database after the "
                        "run (else dropped: its autovacuum would load the next benchmark)")
    args = parser.parse_args(argv)
    result = run(args.people, args.chunk, args.seed, args.verify, args.workers, args.keep)
    for key, value in result.items():
        print(f"{key:>20}: {value}")
    target = TARGETS.get(args.people)
    if target:
        met = "met" if result["pass_s"] <= target else "NOT met"
        print(f"{'target':>20}: first pass <= {target:.0f} s: {met}")
    ok = result["failed"] == 0 and result["evaluated"] == args.people
    return 0 if ok and (result["chain"] is None or result["chain"].startswith("verifies")) else 1


if __name__ == "__main__":
    raise SystemExit(main())
