"""Concurrent writers through a real HTTP server and racing schedulers: no server error,
no aborted job, a verifying audit chain, on a real SQLite file and on PostgreSQL.

SQLite used to answer 500 ``UNIQUE constraint failed: audit_entry.seq`` under two
clients (the chain head was read outside the write transaction); PostgreSQL schedulers
aborted on ``uq_iom_case_open_person`` and ``uq_panel_meeting_held_on``.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from db.models import (
    AccessRead,
    AuditEntry,
    Case,
    ComplianceEvent,
    PanelItem,
    PanelMeeting,
    Supervision,
)
from db.session import make_session_factory, transaction
from scheduler.jobs import run_all
from workflow.audit import verify
from workflow.cases import open_missing_cases
from workflow.panel import build_agenda

CLIENTS = 20
ROUNDS = 6


@pytest.fixture
def server(runtime, monkeypatch):
    """The real app behind a threaded WSGI server on a loopback socket. Every client is
    admitted (queued as long as a client waits): these tests count server errors and
    lost writes; shedding past capacity is tests/test_shedding.py's."""
    from api import create_app

    monkeypatch.setattr(runtime, "settings", dataclasses.replace(
        runtime.settings,
        shedding={**runtime.settings.shedding, "queue_wait_ms": 60_000, "max_queued": 64}))
    srv = make_server("127.0.0.1", 0, create_app(runtime), threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv.server_port
    srv.shutdown()
    thread.join(timeout=30)
    srv.server_close()


def _call(port: int, method: str, path: str, token: str, body=None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        conn.request(method, "/api/v1" + path,
                     body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


@pytest.mark.usefixtures("published")
def test_twenty_concurrent_writing_clients_get_no_server_error(
        server, runtime, session, make_case, make_user, now):
    cases = [make_case(state="allocated", ogrs=80) for _ in range(4)]
    for case in cases:
        case.next_due_at = now + timedelta(days=30)  # not due: the API does the writing
        session.add(Supervision(partner_ref=f"S{case.id}", person_id=case.person_id,
                                provider="CRC", start_on=(now - timedelta(days=30)).date()))
    # CRC offender managers: the agency working with these cases records their events.
    tokens = [make_user(f"om{i}", role="offender_manager", agency="CRC")[1]
              for i in range(CLIENTS)]
    session.commit()
    occurred = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    statuses: list[tuple[str, int, dict]] = []
    start = threading.Barrier(CLIENTS + 1)

    def client(i: int) -> None:
        start.wait()
        for r in range(ROUNDS):
            case_id = cases[(i + r) % len(cases)].id
            calls = [("GET", f"/cases/{case_id}", None),  # audited read: a write
                     ("POST", f"/cases/{case_id}/events",
                      {"event_id": f"E-{i}-{r}", "kind": "appointment_kept",
                       "occurred_at": occurred}),
                     ("POST", f"/cases/{cases[0].id}/events",  # everyone: the same event
                      {"event_id": f"SHARED-{r}", "kind": "appointment_kept",
                       "occurred_at": occurred})]
            for method, path, body in calls:
                status, payload = _call(server, method, path, tokens[i], body)
                statuses.append((path, status, payload))

    ticks: list = []

    def scheduler() -> None:  # the job wrapper competes for the same lock meanwhile
        start.wait()
        for _ in range(3):
            ticks.append(run_all(runtime, now=datetime.now(UTC)))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    threads.append(threading.Thread(target=scheduler))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    errors = [(p, s, b) for p, s, b in statuses if s >= 500]
    assert errors == []
    assert Counter(s for _, s, _ in statuses) == {200: CLIENTS * ROUNDS,
                                                 201: 2 * CLIENTS * ROUNDS}
    for advanced, jobs in ticks:
        assert advanced.failed == {} and all(not getattr(j, "failed", None) for j in jobs)
        assert not any("FAILED" in line for j in jobs for line in j.lines())
    session.expire_all()
    kinds = dict(session.execute(select(AuditEntry.kind, func.count())
                                 .group_by(AuditEntry.kind)).all())
    assert "case.read" not in kinds  # reads go to the access log, not the chain
    assert session.scalar(select(func.count()).select_from(AccessRead)) == CLIENTS * ROUNDS
    assert kinds["compliance.event"] == CLIENTS * ROUNDS + ROUNDS  # shared ones once each
    assert session.scalar(select(func.count()).select_from(ComplianceEvent)) == (
        CLIENTS * ROUNDS + ROUNDS)
    assert verify(session).ok


def _race(db_engine, work) -> list:
    """Run ``work(session)`` in two transactions at once: the first holds its transaction
    open (uncommitted) while the second starts; returns both results."""
    sessions = make_session_factory(db_engine)
    first = sessions()
    results: dict[str, object] = {"first": work(first)}  # written, not committed
    second_started = threading.Event()

    def second() -> None:  # no retry: the statements themselves must not fail
        second_started.set()
        with transaction(sessions) as session:
            results["second"] = work(session)

    thread = threading.Thread(target=second)
    thread.start()
    second_started.wait()
    thread.join(timeout=0.5)  # it blocks on the first (lock or conflicting key)
    first.commit()
    first.close()
    thread.join(timeout=60)
    assert not thread.is_alive()
    return [results["first"], results["second"]]


def test_two_transactions_opening_the_same_cases_open_each_once(
        session, db_engine, make_person, now):
    people = [make_person() for _ in range(5)]
    session.commit()
    first, second = _race(db_engine, lambda s: [c.person_id for c in open_missing_cases(
        s, now=now, actor="scheduler")])
    assert sorted(first) == [p.id for p in people] and second == []
    assert session.scalar(select(func.count()).select_from(Case)) == 5
    assert session.scalar(select(func.count()).where(AuditEntry.kind == "case.opened")) == 5
    assert verify(session).ok


@pytest.mark.usefixtures("published")
def test_two_transactions_building_the_same_agenda_build_it_once(
        session, db_engine, settings, make_case, now):
    for score in (3.0, 9.0):
        make_case(state="panel", ogrs=80).activity_score = score
    session.commit()
    when = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)  # inside the window of 6 March's agenda

    def build(s):
        meeting = build_agenda(s, now=when, settings=settings, actor="scheduler")
        return None if meeting is None else meeting.held_on

    first, second = _race(db_engine, build)
    assert first is not None and second is None
    assert session.scalar(select(func.count()).select_from(PanelMeeting)) == 1
    assert session.scalar(select(func.count()).select_from(PanelItem)) == 2
    assert verify(session).ok


@pytest.mark.usefixtures("published")
def test_two_scheduler_processes_at_once_open_cases_and_the_meeting_once(
        db_url, session, make_person, make_case, now):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    people = [make_person() for _ in range(150)]  # no case yet: both passes open them
    make_case(state="panel", ogrs=80).activity_score = 5.0  # agenda window of 6 March
    session.commit()
    env = {**os.environ, "IOM_CONFIG": str(root / "config.toml"), "IOM_DATABASE_URL": db_url}
    procs = [subprocess.Popen(
        [sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main())",
         "tick", "--now", now.isoformat()], cwd=root, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert not any("FAILED" in out or "Traceback" in err for out, err in outs), outs
    opened = [int(out.split("opened ")[1].split(",")[0]) for out, _ in outs]
    assert sum(opened) == len(people), opened
    assert session.scalar(select(func.count()).select_from(Case)) == len(people) + 1
    assert session.scalar(select(func.count()).select_from(PanelMeeting)) == 1
    assert session.scalar(select(func.count()).select_from(PanelItem)) == 1
    assert verify(session).ok


@pytest.fixture
def short_busy(monkeypatch, db_url):
    """SQLite waits 0.2 s for the write lock instead of 10 s (set before connecting)."""
    if not db_url.startswith("sqlite"):
        pytest.skip("the write lock and its busy timeout are SQLite's")
    import db.session

    monkeypatch.setattr(db.session, "SQLITE_BUSY_MS", 200)


def _hold_write_lock(db_url: str, seconds: float) -> threading.Thread:
    import sqlite3

    ready = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        ready.set()
        time.sleep(seconds)
        conn.execute("ROLLBACK")
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    ready.wait()
    return thread


def test_a_request_that_waited_too_long_for_the_lock_is_run_again(
        short_busy, db_url, make_user, session):
    _, token = make_user("om1", role="offender_manager")
    session.close()
    from dbsupport import ROOT

    from api import create_app
    from workflow.config import load_settings
    from workflow.runtime import Runtime

    runtime = Runtime.from_settings(load_settings(ROOT / "config.toml",
                                                  env={"IOM_DATABASE_URL": db_url}))
    try:
        client = create_app(runtime).test_client()
        headers = {"Authorization": f"Bearer {token}"}
        holder = _hold_write_lock(db_url, 0.5)  # longer than one wait, shorter than all
        assert client.get("/api/v1/health", headers=headers).status_code == 200
        holder.join()
        holder = _hold_write_lock(db_url, 3.0)  # longer than every attempt together
        r = client.get("/api/v1/health", headers=headers)
        holder.join()
        assert r.status_code == 503 and r.headers["Retry-After"] == "1"
        assert r.get_json()["error"]["code"] == "busy"
        assert "send the request again" in r.get_json()["error"]["message"]
    finally:
        runtime.close()
