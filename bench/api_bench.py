"""Benchmark the API under open-loop load: ``python -m bench.api_bench --people 100000``.

Loads a borough of ``--people`` nominals on PostgreSQL (people, a conviction and an OGRS
each, a case each in every lifecycle state, streams and lead professionals of several
agencies, tasks, an audit history; ``--due`` cases due, so the scheduler has work),
vacuums and analyses it (as autovacuum soon would), then starts the real server as
``iom serve`` does, in its own process (on PostgreSQL: gunicorn, a worker per core, and
the scheduler in its own process every ``--interval`` s). An open-loop generator (asyncio, requests
sent at fixed instants whatever the answers: latency counts from the instant a request
was due, so a slow server is not excused by a slowed client) drives each endpoint alone
at each ``--rates`` for ``--seconds``: case list, case detail, case history, task inbox,
evaluate, and ``/health`` as the same-run baseline (auth, one transaction, two small
queries); the bare ``SELECT 1`` round trip to PostgreSQL is measured as the floor.
Prints p50/p95/p99 per endpoint and rate, the shed (503) and failed counts, and for
each endpoint the first rate at which p95 crosses the 50 ms target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text

from db.models import Assessment, Case, OffendingEvent, Person, Task, User
from db.session import transaction
from workflow import audit
from workflow.case_list import CASE_KEYS, DUE_KEYS, case_query
from workflow.config import load_settings
from workflow.runtime import Runtime
from workflow.users import create_user, rotate_token

ROOT = Path(__file__).resolve().parents[1]
DB = "iom_api_bench"  # default; --db names another (one per person benchmarking)
NOW = datetime.now(UTC).replace(microsecond=0)
# Most nominals of a borough stay in mapping (out of scope); a few thousand are in the
# cohort, those allocated or in review with a lead professional.
STATES = ("mapping",) * 180 + ("matrixing",) * 8 + ("panel",) * 2 + ("deferred",) + (
    "allocated",) * 6 + ("review",) * 3
STREAMS = ("fixed", "flex", "free")
AGENCIES = ("NPS", "police", "local_authority", "health")
TARGET_MS = 50.0
TIMEOUT_S = 10.0  # a client gives up after this (counted as failed)
IOM = str(Path(sys.executable).parent / "iom")


def _database(reuse: bool, db: str = DB) -> tuple[str, bool]:
    """The bench database's URL and whether it is already loaded (``--reuse`` of one a
    ``--keep`` run left)."""
    from bench import scratch  # here: tests load this file alone, without the package
    if reuse and scratch.exists(db):
        return scratch.url_of(db), True
    return scratch.create(db), False


def _iom(env: dict, *args: str) -> None:
    subprocess.run([IOM, *args], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def _users(rt: Runtime) -> dict:
    """Team leads and offender managers / police of several agencies: ``{role: [(id,
    token)]}``."""
    out: dict[str, list] = {"team_lead": [], "offender_manager": [], "police": []}
    with transaction(rt.sessions) as session:
        for n in range(40):
            role = ("team_lead", "offender_manager", "offender_manager", "police")[n % 4]
            agency = ("police" if role == "police" else ("NPS", "CRC")[(n // 4) % 2]
                      if role == "offender_manager" else AGENCIES[(n // 4) % len(AGENCIES)])
            user, token = create_user(session, username=f"u{n}", display_name=f"User {n}",
                                      role=role, agency=agency)
            out[role].append((user.id, token))
    return out


def _known_users(rt: Runtime) -> dict:
    """The bench users of an already loaded database, with fresh tokens."""
    out: dict[str, list] = {"team_lead": [], "offender_manager": [], "police": []}
    with transaction(rt.sessions) as session:
        for user in session.scalars(select(User).order_by(User.id)):
            if user.role in out:
                out[user.role].append((user.id, rotate_token(session, user)))
    return out


def _populate(rt: Runtime, people: int, due: int, users: dict, chunk: int = 5000) -> None:
    """Bulk insert (Core ``executemany``), as the other benches do."""
    rng = random.Random(16)
    day = (NOW - timedelta(days=30)).date()
    far = NOW + timedelta(days=90)
    leads = [u for u, _ in users["offender_manager"] + users["police"]]
    with rt.engine.begin() as conn:
        for start in range(0, people, chunk):
            ids = range(start + 1, min(start + chunk, people) + 1)
            conn.execute(insert(Person), [
                {"id": i, "partner_ref": f"B{i}", "given_name": "Alex", "family_name": f"P{i}",
                 "sex": "MF"[i % 2], "date_of_birth": date(1970 + i % 35, 1 + i % 12, 1),
                 "created_at": NOW} for i in ids])
            conn.execute(insert(OffendingEvent), [
                {"partner_ref": f"BC{i}", "person_id": i, "kind": "conviction",
                 "occurred_on": day - timedelta(days=i % 700), "offence_category": "theft",
                 "source": "bench"} for i in ids])
            conn.execute(insert(Assessment), [
                {"partner_ref": f"BO{i}", "person_id": i, "tool": "OGRS3", "assessed_on": day,
                 "ogrs_2yr": i % 100, "source": "supplied"} for i in ids])
            rows = []
            for i in ids:
                is_due = i % max(people // max(due, 1), 1) == 0
                state = "mapping" if is_due else STATES[i % len(STATES)]
                rows.append({"id": i, "person_id": i, "episode": 1, "state": state,
                             "state_since": NOW - timedelta(days=i % 200),
                             "opened_at": NOW - timedelta(days=200), "version": 1,
                             "next_due_at": NOW - timedelta(minutes=1) if is_due else far,
                             "cohort": None if state == "mapping" else STREAMS[i % 3],
                             "lead_user_id": rng.choice(leads) if state in (
                                 "allocated", "review") else None})
            conn.execute(insert(Case), rows)
            conn.execute(insert(Task), [
                {"case_id": i, "template": "case_review", "title": f"Review case {i}",
                 "body": "", "role": "offender_manager", "agency": None,
                 "assignee_id": rng.choice(leads) if i % 3 else None,
                 "priority": "normal", "status": "open" if i % 4 else "done",
                 "due_at": NOW + timedelta(days=i % 30), "created_at": NOW}
                for i in ids if i % 5 == 0])
        for table in ("person", "iom_case"):
            conn.execute(text(f"SELECT setval('{table}_id_seq', {people})"))


def _history(rt: Runtime, people: int, chunk: int = 2000) -> None:
    """An opening entry and a transition for every case, through the audit chain."""
    for start in range(1, people + 1, chunk):
        with transaction(rt.sessions) as session:
            for i in range(start, min(start + chunk, people + 1)):
                audit.record(session, kind="case.opened", actor="bench", occurred_at=NOW,
                             case_id=i, person_ref=f"B{i}", summary=f"Case opened for B{i}",
                             payload={"state": "mapping", "episode": 1})
                audit.record(session, kind="case.transition", actor="scheduler",
                             occurred_at=NOW, case_id=i, person_ref=f"B{i}",
                             summary="mapping -> matrixing",
                             payload={"from": "mapping", "to": "matrixing",
                                      "rule": "bench", "matched": {"ogrs_2yr": i % 100}})


# --- open-loop HTTP load --------------------------------------------------------------


class _Pool:
    """Keep-alive HTTP/1.1 connections to one server (asyncio streams); a request takes
    an idle connection or opens one."""

    def __init__(self, port: int):
        self.port, self.idle = port, []

    async def request(self, method: str, path: str, headers: dict, body: bytes = b""
                      ) -> int:
        """The status; -1 when the connection failed. A kept-alive connection the server
        has closed meanwhile is retried once on a new one, as HTTP clients do."""
        reused = bool(self.idle)
        status = await self._once(method, path, headers, body)
        if status == -1 and reused:
            self.idle.clear()
            status = await self._once(method, path, headers, body)
        return status

    async def _once(self, method: str, path: str, headers: dict, body: bytes) -> int:
        reader, writer = self.idle.pop() if self.idle else await asyncio.open_connection(
            "127.0.0.1", self.port)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: "
                     f"{len(body)}\r\n{head}\r\n".encode() + body)
        try:  # the head in one read, not a read a line: the same parse, less client CPU
            head = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
            status = int(head[0].split()[1])
            length, close = 0, False
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection" and "close" in value.lower():
                    close = True
            await reader.readexactly(length)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError):
            writer.close()
            return -1
        if close:
            writer.close()
        else:
            self.idle.append((reader, writer))
        return status


async def _drive(port: int, make, rate: float, seconds: float) -> dict:
    """Send ``rate`` requests/s for ``seconds`` at fixed instants; latency from each
    request's due instant to its full answer."""
    pool, latencies, statuses = _Pool(port), [], {}
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    total = int(rate * seconds)

    async def one(n: int, due: float):
        await asyncio.sleep(max(0.0, due - loop.time()))
        method, path, headers, body = make(n)
        try:  # a timeout scope, not wait_for's extra task per request: less client CPU
            async with asyncio.timeout(TIMEOUT_S):
                status = await pool.request(method, path, headers, body)
        except TimeoutError:
            status = -2  # counted as failed, with its latency
        latencies.append((loop.time() - due) * 1000)
        statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(one(n, start + n / rate) for n in range(total)))
    elapsed = loop.time() - start
    for _, writer in pool.idle:
        writer.close()
    latencies.sort()

    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))], 1)

    return {"sent": total, "achieved_rps": round(total / elapsed, 1), "p50": pct(50),
            "p95": pct(95), "p99": pct(99), "ok": statuses.get(200, 0),
            "shed_503": statuses.get(503, 0),
            "failed": sum(v for k, v in statuses.items() if k not in (200, 503))}


async def _alone(port: int, make, n: int) -> dict:
    """``n`` requests one after another: latency without any queueing."""
    pool, times = _Pool(port), []
    loop = asyncio.get_running_loop()
    for i in range(n):
        method, path, headers, body = make(i)
        started = loop.time()
        await pool.request(method, path, headers, body)
        times.append((loop.time() - started) * 1000)
    for _, writer in pool.idle:
        writer.close()
    times.sort()
    return {"p50": round(times[n // 2], 1), "p95": round(times[int(n * 0.95)], 1)}


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def _endpoints(users: dict, people: int) -> dict:
    rng = random.Random(7)

    def auth(role: str, n: int) -> dict:
        pool = users[role]
        return {"Authorization": f"Bearer {pool[n % len(pool)][1]}"}

    def evaluate(n):
        body = json.dumps({"stage": "mapping", "facts": [
            {"id": n, "ogrs_2yr": n % 100, "newly_sentenced": n % 2 == 0}]}).encode()
        return ("POST", "/api/v1/evaluate",
                {**auth("team_lead", n), "Content-Type": "application/json"}, body)

    lists = ("", "&state=allocated", "&stream=flex", "&agency=NPS")
    return {
        "health (baseline)": lambda n: ("GET", "/api/v1/health", auth("police", n), b""),
        "case list": lambda n: ("GET", f"/api/v1/cases?per_page=50{lists[n % 4]}",
                                auth("team_lead", n), b""),
        "case detail": lambda n: ("GET", f"/api/v1/cases/{rng.randint(1, people)}",
                                  auth("offender_manager", n), b""),
        "case history": lambda n: ("GET", f"/api/v1/cases/{rng.randint(1, people)}/history",
                                   auth("offender_manager", n), b""),
        "task inbox": lambda n: ("GET", "/api/v1/tasks?scope=mine&per_page=50",
                                 auth("offender_manager", n), b""),
        "evaluate": evaluate,
    }


def _plans(rt: Runtime, users: dict) -> None:
    """EXPLAIN of the case list under each filter on the loaded borough: the scans used."""
    lead = users["offender_manager"][0][0]
    filters = {"none": {}, "state": {"state": "review"}, "stream": {"stream": "flex"},
               "lead": {"lead": lead},
               "agency": {}, "due": {"due_before": NOW}}
    with rt.engine.connect() as conn:
        filters["agency"] = {"leads": tuple(conn.scalars(select(User.id).where(
            User.agency == "NPS")))}
        for name, given in filters.items():
            keys = DUE_KEYS if "due_before" in given else CASE_KEYS
            query = case_query(**given).order_by(*[c for k in keys for c in k.order()])
            sql = query.limit(51).compile(conn, compile_kwargs={"literal_binds": True})
            plan = [line for (line,) in conn.execute(text(f"EXPLAIN ANALYZE {sql}"))]
            scans = [line.strip().removeprefix("->").strip().split("  (")[0]
                     for line in plan if "Scan" in line and "Bitmap Heap" not in line]
            took = next((line for line in plan if "Execution Time" in line), "")
            print(f"  case list, filter {name:>6}: {took.strip()}; {'; '.join(scans)}")


def _select_floor(url: str, n: int = 500) -> dict:
    engine = create_engine(url)
    with engine.connect() as conn:
        times = []
        for _ in range(n):
            started = time.perf_counter()
            conn.execute(text("SELECT 1"))
            times.append((time.perf_counter() - started) * 1000)
    engine.dispose()
    times.sort()
    return {"p50": round(times[n // 2], 2), "p95": round(times[int(n * 0.95)], 2)}


def _serve(env: dict, port: int, log: Path) -> subprocess.Popen:
    """``iom serve`` in its own process; its output goes to ``log`` (a pipe nobody reads
    would fill and stop the server at its next log line)."""
    with log.open("w") as out:
        server = subprocess.Popen([IOM, "serve"], cwd=ROOT,
                                  env={**env, "IOM_SERVER_PORT": str(port)},
                                  stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start: " + log.read_text()[-2000:])


def run(args) -> int:
    url, loaded = _database(args.reuse, args.db)
    tmp = Path(tempfile.gettempdir()) / f"iom-api-bench-{args.db}"
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "IOM_CONFIG": str(ROOT / "config.toml"), "IOM_DATABASE_URL": url,
           "IOM_AUDIT_KEY_FILE": str(tmp / "audit.key"),
           "IOM_AUDIT_CHECKPOINT_DIR": str(tmp / "checkpoints"),
           "IOM_SCHEDULER_INTERVAL_SECONDS": str(args.interval)}
    settings = load_settings(ROOT / "config.toml", env=env)
    if loaded:
        rt = Runtime.from_settings(settings)
        users = _known_users(rt)
    else:
        shutil.rmtree(tmp / "checkpoints", ignore_errors=True)  # of an earlier database
        _iom(env, "audit", "keygen", "--if-missing")
        _iom(env, "db", "upgrade")
        rt = Runtime.from_settings(settings)
        started = time.perf_counter()
        users = _users(rt)
        _populate(rt, args.people, args.due, users)
        _history(rt, args.people)
        # What autovacuum does soon after such a load (statistics, visibility map),
        # done before measuring instead of during it.
        with rt.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        print(f"loaded {args.people} people and cases and {2 * args.people} audit entries "
              f"in {time.perf_counter() - started:.0f} s")
    with rt.engine.connect() as conn:
        due = conn.scalar(text("SELECT count(*) FROM iom_case WHERE next_due_at <= now()"))
    print(f"{due} cases due for the scheduler (every {args.interval} s, in the server)")
    _plans(rt, users)
    rt.close()
    floor = _select_floor(url)
    print(f"floor: bare SELECT 1 round trip p50 {floor['p50']} ms, p95 {floor['p95']} ms")
    server = _serve(env, args.port, tmp / "server.log")
    print(f"server log: {tmp / 'server.log'}")
    results: dict = {}
    try:
        endpoints = _endpoints(users, args.people)
        for make in endpoints.values():  # warm up: engine registration, caches
            asyncio.run(_drive(args.port, make, 20, 1))
        print(f"load average before: {_load()}; one request at a time (closed loop, the "
              "service time without queueing):")
        for name, make in endpoints.items():
            alone = asyncio.run(_alone(args.port, make, 40))
            print(f"{name:>18}: p50 {alone['p50']} ms, p95 {alone['p95']} ms")
        for rate in args.rates:
            for name, make in endpoints.items():
                result = asyncio.run(_drive(args.port, make, rate, args.seconds))
                results[(name, rate)] = result
                print(f"{name:>18} @ {rate:>4}/s: p50 {result['p50']:>7} ms  p95 "
                      f"{result['p95']:>7} ms  p99 {result['p99']:>7} ms  achieved "
                      f"{result['achieved_rps']:>6}/s  503 {result['shed_503']:>5}  failed "
                      f"{result['failed']}", flush=True)
                time.sleep(1)  # let a backlog drain between runs
    finally:
        server.terminate()
        server.wait(10)
        if not args.keep:
            from bench import scratch

            scratch.drop(args.db)
    _summary(results, args.rates)
    print(f"load average after: {_load()} (2 cores; other work on the machine counts)")
    failed = sum(r["failed"] for r in results.values())
    return 1 if failed else 0


def _summary(results: dict, rates: list[int]) -> None:
    names = list(dict.fromkeys(name for name, _ in results))
    print(f"\np95 (ms) per rate; target p95 < {TARGET_MS:.0f} ms at 200/s")
    print(f"{'endpoint':>18} " + " ".join(f"{r:>8}/s" for r in rates) + "   p95 crosses 50 ms")
    for name in names:
        p95s = [results[(name, r)]["p95"] for r in rates]
        crossing = next((f"at {r}/s" for r, p in zip(rates, p95s, strict=True)
                         if p >= TARGET_MS), f"not up to {rates[-1]}/s")
        print(f"{name:>18} " + " ".join(f"{p:>10}" for p in p95s) + f"   {crossing}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=500)
    parser.add_argument("--rates", type=int, nargs="+", default=[50, 100, 200, 400])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--interval", type=int, default=10, help="scheduler interval (s)")
    parser.add_argument("--reuse", action="store_true",
                        help="use the loaded database a previous --keep run left")
    parser.add_argument("--keep", action="store_true",
                        help="keep the database after the run (else dropped: its "
                        "autovacuum would load the machine for the next benchmark)")
    parser.add_argument("--port", type=int, default=8391)
    parser.add_argument("--db", default=DB, help="the bench database's name (dropped and "
                        "created unless --reuse): one per person benchmarking")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
