"""Benchmark the events import: rows/s, peak memory at two file sizes, ratio to a baseline.

    python -m bench.import_bench [--rows 1000000] [--backend sqlite|postgresql|both]

For each backend: a fresh database (SQLite: a temporary file; PostgreSQL: a scratch
database ``iom_bench_import``, created and dropped), a generated people file (one person
per 10 events) and events file, then:

* **import**: ``import_csv(session, "events", ...)`` and commit, timed end to end
  (reading, validating, looking up people and refs, inserting);
* **baseline**: the same rows, parsed beforehand chunk by chunk (not timed), inserted with
  a plain ``session.execute(insert(table), rows)`` executemany per chunk, and commit; the
  ratio import / baseline says what validation and idempotency cost;
* **memory**: tracemalloc's peak during the import of a file of rows/4 and of rows rows
  (run separately, since tracing slows Python down): flat memory means the two match.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, insert, select

from bench import scratch
from db.migrate import upgrade
from db.models import OffendingEvent, Person
from db.session import make_engine, make_session_factory
from rules.catalogue import OFFENCE_CATEGORIES
from workflow.partners.imports import CHUNK_ROWS, import_csv

PG_DB = "iom_bench_import"
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
KINDS = ("arrest", "arrest", "arrest", "charge", "conviction")


def write_files(out: Path, rows: int, people: int, seed: int = 1) -> tuple[Path, Path]:
    """A people file and an events file of ``rows`` events over ``people`` people."""
    rng = random.Random(seed)
    people_path, events_path = out / "people.csv", out / f"events-{rows}.csv"
    with people_path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("partner_ref", "given_name", "family_name", "sex", "date_of_birth"))
        for i in range(people):
            w.writerow((f"P{i:07d}", "Alex", f"Person{i}", "MF"[i % 7 == 0],
                        date(1970 + i % 35, 1 + i % 12, 1 + i % 28).isoformat()))
    start = NOW.date() - timedelta(days=730)
    with events_path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("partner_ref", "person_ref", "kind", "occurred_on", "offence_category"))
        for i in range(rows):
            w.writerow((f"E{i:08d}", f"P{rng.randrange(people):07d}", rng.choice(KINDS),
                        (start + timedelta(days=rng.randrange(730))).isoformat(),
                        rng.choice(OFFENCE_CATEGORIES)))
    return people_path, events_path


def run_import(sessions, kind: str, path: Path, *, trace: bool = False) -> tuple[float, int]:
    """Seconds to import ``path`` and commit, and tracemalloc's peak bytes (0 untraced)."""
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    with sessions() as session, path.open(newline="") as stream:
        report = import_csv(session, kind, stream, filename=path.name, actor="bench",
                            now=NOW)
        session.commit()
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    if trace:
        tracemalloc.stop()
    if report.rejected or report.created != report.total:
        raise SystemExit(f"unexpected import result: {report.summary()}")
    return elapsed, peak


def run_baseline(sessions, path: Path) -> float:
    """Seconds spent in plain executemany inserts of the pre-parsed rows (+ commit)."""
    with sessions() as session:
        ids = dict(session.execute(select(Person.partner_ref, Person.id)).all())
        table, spent = OffendingEvent.__table__, 0.0
        with path.open(newline="") as f:
            reader = csv.reader(f)
            next(reader)
            while chunk := [r for _, r in zip(range(CHUNK_ROWS), reader, strict=False)]:
                rows = [{"partner_ref": r[0], "person_id": ids[r[1]], "kind": r[2],
                         "occurred_on": date.fromisoformat(r[3]),
                         "offence_category": r[4], "source": "import"} for r in chunk]
                started = time.perf_counter()
                session.execute(insert(table), rows)
                spent += time.perf_counter() - started
        started = time.perf_counter()
        session.commit()
        return spent + time.perf_counter() - started


def clear_events(sessions) -> None:
    with sessions() as session:
        session.execute(delete(OffendingEvent))
        session.commit()


def bench_backend(backend: str, rows: int, workdir: Path) -> dict:
    people_path, events_path = write_files(workdir, rows, max(1000, rows // 10))
    _, small_path = write_files(workdir, max(1, rows // 4), max(1000, rows // 10))
    with scratch.database(backend, PG_DB) as url:
        return _bench(url, backend, rows, people_path, events_path, small_path)


def _bench(url: str, backend: str, rows: int, people_path: Path, events_path: Path,
           small_path: Path) -> dict:
    engine = make_engine(url)
    try:
        upgrade(url)
        sessions = make_session_factory(engine)
        people_s, _ = run_import(sessions, "people", people_path)
        import_s, _ = run_import(sessions, "events", events_path)
        clear_events(sessions)
        baseline_s = run_baseline(sessions, events_path)
        peaks = {}
        for size, path in ((rows // 4, small_path), (rows, events_path)):
            clear_events(sessions)
            peaks[size] = run_import(sessions, "events", path, trace=True)[1]
    finally:
        engine.dispose()
    return {"backend": backend, "rows": rows, "people_s": people_s, "import_s": import_s,
            "baseline_s": baseline_s, "peaks": peaks}


def report(r: dict) -> str:
    rate, base = r["rows"] / r["import_s"], r["rows"] / r["baseline_s"]
    peaks = ", ".join(f"{n:,} rows: {p / 2**20:.1f} MiB" for n, p in r["peaks"].items())
    return (f"[{r['backend']}] events import: {r['rows']:,} rows in {r['import_s']:.2f} s "
            f"= {rate:,.0f} rows/s\n"
            f"[{r['backend']}] baseline (plain executemany of pre-parsed rows): "
            f"{base:,.0f} rows/s; import / baseline = {rate / base:.2f}\n"
            f"[{r['backend']}] peak traced memory during import: {peaks}\n"
            f"[{r['backend']}] (people file: {max(1000, r['rows'] // 10):,} rows in "
            f"{r['people_s']:.2f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"),
                        default="sqlite")
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="iom-bench-") as tmp:
            print(report(bench_backend(backend, args.rows, Path(tmp))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
