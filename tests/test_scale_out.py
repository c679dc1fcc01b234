"""Scale-out on PostgreSQL: two API servers (``iom serve``, gunicorn) and two
``iom scheduler`` processes (one of them splitting its passes over two pass workers) on
one database, real sockets, load through both APIs for a bounded time while the
schedulers move cases. Then: no 500, no lost write (every acknowledged event stored
once), no double move (each case's transitions form one chain ending in its state), both
schedulers beat, and ``iom audit verify`` passes.

``IOM_SCALE_SECONDS`` sets the load duration (default 15).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from db.models import (
    Assessment,
    AuditEntry,
    Case,
    ComplianceEvent,
    OffendingEvent,
    Person,
    SchedulerHeartbeat,
    Supervision,
)

ROOT = Path(__file__).resolve().parents[1]
IOM = str(Path(sys.executable).with_name("iom"))
SECONDS = float(os.environ.get("IOM_SCALE_SECONDS", "15"))
CASES, CLIENTS = 120, 6


@pytest.fixture
def pg_only(db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("several servers and schedulers on one database need PostgreSQL")
    return db_url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _population(session, make_user) -> tuple[dict, list[int]]:
    """Cases due in mapping now (real time: the processes use the clock) that the
    shipped selection moves on, and users of two roles."""
    now = datetime.now(UTC)
    day = (now - timedelta(days=30)).date()
    people = [Person(partner_ref=f"SO{i:05d}", given_name="A", family_name=f"P{i}", sex="M",
                     date_of_birth=day.replace(year=1990)) for i in range(CASES)]
    session.add_all(people)
    session.flush()
    for p in people:
        session.add(OffendingEvent(partner_ref=f"SC{p.id}", person_id=p.id, kind="conviction",
                                   occurred_on=day, offence_category="theft"))
        session.add(Assessment(partner_ref=f"SA{p.id}", person_id=p.id, assessed_on=day,
                               ogrs_2yr=81))
        session.add(Case(person_id=p.id, state="mapping", state_since=now, opened_at=now,
                         next_due_at=now))
        # NPS cases: the NPS offender manager records their events (workflow/permissions).
        session.add(Supervision(partner_ref=f"SS{p.id}", person_id=p.id, provider="NPS",
                                start_on=day))
    session.commit()
    ids = list(session.scalars(select(Case.id)))
    users = {"lead": make_user("lead1", role="team_lead", agency="NPS")[1],
             "om": make_user("om1", role="offender_manager", agency="NPS")[1]}
    session.commit()
    return users, ids


def _start(env: dict, logs: Path, *args: str) -> subprocess.Popen:
    """One process whose output goes to a file: a pipe nobody drains until the end fills
    up (64 KiB) with the JSON request log and blocks every thread that logs."""
    log = (logs / f"{args[0]}-{len(list(logs.iterdir()))}.log").open("w")
    proc = subprocess.Popen([IOM, *args], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, text=True)
    proc.log_path = Path(log.name)
    log.close()  # the child holds its own descriptor
    return proc


def _wait_ready(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/api/v1/health/ready")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.3)
    raise AssertionError(f"API on {port} not ready in time")


def _client(ports, users, case_ids, stop, seed, out, lock) -> None:
    rnd = random.Random(seed)
    conns = {p: http.client.HTTPConnection("127.0.0.1", p, timeout=60) for p in ports}
    try:
        _drive(conns, ports, users, case_ids, stop, seed, out, lock, rnd)
    finally:
        for conn in conns.values():
            conn.close()


def _drive(conns, ports, users, case_ids, stop, seed, out, lock, rnd) -> None:
    n = 0
    while time.monotonic() < stop:
        n += 1
        port, case = ports[n % len(ports)], rnd.choice(case_ids)
        token = users["om" if n % 3 else "lead"]
        event_id = f"so-{seed}-{n}"
        method, path, body = rnd.choice([
            ("POST", f"/api/v1/cases/{case}/events",
             {"event_id": event_id, "kind": rnd.choice(("appointment_kept",
                                                        "drug_test_negative")),
              "occurred_at": "2026-01-05T10:00:00Z"}),
            ("POST", f"/api/v1/cases/{case}/events",
             {"event_id": event_id, "kind": "appointment_kept",
              "occurred_at": "2026-01-06T10:00:00Z"}),
            ("GET", f"/api/v1/cases/{case}", None),
            ("GET", f"/api/v1/cases/{case}/history", None),
            ("GET", "/api/v1/cases?per_page=20", None)])
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        response = _send(conns, port, method, path, json.dumps(body) if body else None,
                         headers)
        with lock:
            out["status"][response.status] += 1
            out["port"][port] += 1
            if method == "POST" and response.status in (200, 201):
                out["acked"].add(event_id)


def _send(conns, port, method, path, body, headers):
    """One request; a keep-alive connection the server closed meanwhile is reopened and
    the request sent again (safe: events are idempotent by event_id)."""
    for attempt in (1, 2):
        try:
            conns[port].request(method, path, body=body, headers=headers)
            response = conns[port].getresponse()
            response.read()
            return response
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            conns[port].close()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _stop(procs) -> list[str]:
    """Stop every process; the tail of each one's output, for failure messages."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=60)
    return [p.log_path.read_text()[-3000:] for p in procs]


def _transition_chains_hold(session) -> int:
    states = dict(session.execute(select(Case.id, Case.state)).all())
    chains: dict[int, list[dict]] = {}
    for case_id, payload in session.execute(
            select(AuditEntry.case_id, AuditEntry.payload).where(
                AuditEntry.kind == "case.transition").order_by(AuditEntry.seq)):
        chains.setdefault(case_id, []).append(payload)
    moves = 0
    for case_id, state in states.items():
        current = "mapping"
        for step in chains.get(case_id, []):
            assert step["from"] == current, (case_id, chains[case_id])  # a double move
            current = step["to"]
            moves += 1
        assert current == state, (case_id, state, chains.get(case_id))
    return moves


@pytest.mark.usefixtures("published")
def test_two_apis_and_two_schedulers_share_one_database(pg_only, session, make_user,
                                                       tmp_path):
    users, case_ids = _population(session, make_user)
    session.close()
    ports = [_free_port(), _free_port()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOM_")}
    env.update({k: v for k, v in os.environ.items() if k.startswith("IOM_AUDIT_")})
    env.update({"IOM_CONFIG": str(ROOT / "config.toml"), "IOM_DATABASE_URL": pg_only,
                "IOM_SERVER_KIND": "gunicorn", "IOM_SERVER_WORKERS": "1",
                "IOM_SERVER_THREADS": "4", "IOM_SCHEDULER_INTERVAL_SECONDS": "1",
                "IOM_SCHEDULER_BATCH_SIZE": "20", "IOM_SCHEDULER_CHUNK_SIZE": "10",
                "IOM_LOGGING_FORMAT": "json"})
    procs = [_start({**env, "IOM_SERVER_PORT": str(p)}, tmp_path, "serve",
                    "--no-scheduler")
             for p in ports]
    # One scheduler alone, one splitting its passes over two worker processes.
    procs += [_start({**env, "IOM_SCHEDULER_PASS_WORKERS": workers}, tmp_path, "scheduler")
              for workers in ("1", "2")]
    out = {"status": Counter(), "port": Counter(), "acked": set()}
    try:
        deadline = time.monotonic() + 90
        for port in ports:
            _wait_ready(port, deadline)
        stop, lock = time.monotonic() + SECONDS, threading.Lock()
        threads = [threading.Thread(target=_client, args=(ports, users, case_ids, stop, seed,
                                                          out, lock))
                   for seed in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=SECONDS + 120)
        metrics = []
        for port in ports:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/metrics")
            metrics.append(conn.getresponse().read().decode())
            conn.close()
    finally:
        outputs = _stop(procs)
    assert all(p.returncode in (0, -signal.SIGTERM) for p in procs), outputs
    assert out["status"][500] == 0, (out["status"], outputs)
    assert all(out["port"][p] > 0 for p in ports), out["port"]
    assert all("iom_http_requests_total" in m for m in metrics)
    # No lost write: every acknowledged event is stored, once.
    stored = set(session.scalars(select(ComplianceEvent.event_id).where(
        ComplianceEvent.event_id.like("so-%"))))
    assert out["acked"] and out["acked"] <= stored, len(out["acked"] - stored)
    # No double move, and the schedulers did move cases.
    moves = _transition_chains_hold(session)
    assert moves >= 1, moves
    beats = list(session.scalars(select(SchedulerHeartbeat)))
    assert len(beats) == 2 and all(b.passes > 0 for b in beats), beats
    session.close()
    verify = subprocess.run([IOM, "audit", "verify"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    print(f"requests {sum(out['status'].values())} by status {dict(out['status'])}, "
          f"events acknowledged {len(out['acked'])}, transitions {moves}, "
          f"moved per scheduler {[b.cases_moved_total for b in beats]}")
