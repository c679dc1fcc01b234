"""Load over a real socket: 20 concurrent clients mixing reads and writes against the
real server (waitress, as ``iom serve`` runs it) with the scheduler running, on both
backends. Not timed: it counts. 0 server errors, 0 failed scheduler runs, and the audit
chain verifies afterwards.

``IOM_LOAD_SECONDS`` sets the duration (default 6 in ``make test``; ``make fuzz`` runs 30).
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import logging
import os
import random
import threading
import time
from collections import Counter
from datetime import date

import pytest
from apscheduler.events import EVENT_JOB_ERROR
from serving import serve_in_thread

from db.models import Supervision
from workflow import audit

SECONDS = float(os.environ.get("IOM_LOAD_SECONDS", "6"))
CLIENTS = 20


class _Errors(logging.Handler):
    """Collects the exceptions the API logged as unhandled (the cause of each 500)."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record):
        exc = record.exc_info[1] if record.exc_info else None
        self.seen.append(f"{type(exc).__name__}: {exc}" if exc else record.getMessage())


@pytest.fixture
def population(session, published, make_case, make_user):
    """Cases in several states and users of several roles and agencies."""
    users = {"lead": make_user("lead1", role="team_lead", agency="NPS")[1],
             "om": make_user("om1", role="offender_manager", agency="NPS")[1],
             "police": make_user("pc1", role="police", agency="police")[1],
             "auditor": make_user("aud1", role="auditor")[1]}
    states = ("mapping", "matrixing", "panel", "review")
    cases = [make_case(state=states[i % 4], ogrs=40 + i, arrests=i % 3) for i in range(24)]
    for case in cases:  # NPS cases: the NPS offender manager records their events
        session.add(Supervision(partner_ref=f"S{case.id}", person_id=case.person_id,
                                provider="NPS", start_on=date(2024, 1, 1)))
    session.commit()
    return users, [c.id for c in cases]


def _client(port: int, users: dict, case_ids: list[int], stop: float, seed: int,
            statuses: Counter, lock: threading.Lock) -> None:
    rnd = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    n = 0
    while time.monotonic() < stop:
        n += 1
        case = rnd.choice(case_ids)
        role = rnd.choice(("lead", "om", "police", "auditor"))
        reads = [("GET", "/api/v1/cases?per_page=20", None),
                 ("GET", f"/api/v1/cases/{case}", None),
                 ("GET", f"/api/v1/cases/{case}/history", None),
                 ("GET", "/api/v1/tasks?scope=all", None),
                 ("GET", "/api/v1/panels", None),
                 ("GET", "/api/v1/rulesets", None)]
        writes = [("POST", f"/api/v1/cases/{case}/events",
                   {"event_id": f"load-{seed}-{n}", "kind": rnd.choice(
                       ("appointment_kept", "appointment_missed", "drug_test_negative")),
                    "occurred_at": "2025-03-01T10:00:00Z", "details": {"n": n}}),
                  ("POST", "/api/v1/evaluate",
                   {"stage": "mapping", "facts": [{"id": n, "ogrs_2yr": n % 100,
                                                   "newly_sentenced": True}]})]
        method, path, body = rnd.choice(writes if rnd.random() < 0.4 else reads)
        if method == "POST" and role == "auditor":
            role = "om"
        headers = {"Authorization": f"Bearer {users[role]}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            status = f"connection: {type(exc).__name__}"
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        with lock:
            statuses[(method, status)] += 1
    conn.close()


@pytest.fixture
def served(runtime, monkeypatch, population):
    """The app behind waitress on a free port, with the scheduler every second (started
    once the rule sets are published and the population is in)."""
    from scheduler import runner

    # Every client admitted (20 at most in flight or queued, waiting as long as a client
    # does): this test counts server errors; shedding is tests/test_shedding.py's.
    monkeypatch.setattr(runtime, "settings", dataclasses.replace(
        runtime.settings, interval_seconds=1,
        shedding={**runtime.settings.shedding, "queue_wait_ms": 60_000}))
    server, stop = serve_in_thread(runtime)
    job_errors: list = []
    scheduler = runner.start_background(runtime)
    scheduler.add_listener(lambda e: job_errors.append(f"{e.job_id}: {e.exception!r}"),
                           EVENT_JOB_ERROR)
    yield server.effective_port, job_errors
    scheduler.shutdown(wait=True)
    stop()


def test_twenty_clients_with_the_scheduler_get_no_server_error(served, population, session,
                                                               db_url):
    port, job_errors = served
    users, case_ids = population
    statuses: Counter = Counter()
    lock, logged = threading.Lock(), _Errors()
    logging.getLogger("iom.api").addHandler(logged)
    stop = time.monotonic() + SECONDS
    try:
        threads = [threading.Thread(target=_client, args=(port, users, case_ids, stop, i,
                                                          statuses, lock))
                   for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(SECONDS + 120)
    finally:
        logging.getLogger("iom.api").removeHandler(logged)
    failed = {k: v for k, v in statuses.items()
              if not isinstance(k[1], int) or k[1] >= 500}
    total = sum(statuses.values())
    print(f"\n{db_url.split(':')[0]}: {total} requests in {SECONDS:.0f}s, "
          f"{dict(statuses)}; job errors: {len(job_errors)}")
    assert not failed, (failed, sorted(set(logged.seen))[:5])
    assert not job_errors, job_errors[:5]
    assert statuses[("POST", 201)] > 0 and statuses[("GET", 200)] > 0
    session.expire_all()
    result = audit.verify(session)
    assert result.ok, result


def _raw(port: int, head: bytes, body_size: int) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        block = b" " * (1024 * 1024)
        for _ in range(body_size // len(block)):
            sock.sendall(block)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_100_mib_body_is_refused_over_the_socket(served, population):
    """waitress spools the body to a temporary file (memory stays flat); the app refuses
    it from its length in the JSON error shape. Over ``max_upload_mb`` waitress itself
    refuses before reading."""
    port, _ = served
    users, _ = population
    head = (f"POST /api/v1/evaluate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Authorization: Bearer {users['lead']}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {100 * 1024 * 1024}\r\n\r\n")
    answer = _raw(port, head.encode(), 100 * 1024 * 1024)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"a request body may be at most 1048576 bytes" in answer
