"""Overload over a real socket: past its limits the server answers 503 with Retry-After at
once (never another 5xx), drops requests whose client has gone, and recovers."""

from __future__ import annotations

import dataclasses
import http.client
import json
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from serving import serve_in_thread

from workflow.config import load_settings
from workflow.errors import ConfigError


def _serve(runtime, monkeypatch, **limits):
    shedding = {**runtime.settings.shedding, **limits}
    monkeypatch.setattr(runtime, "settings",
                        dataclasses.replace(runtime.settings, shedding=shedding))
    return serve_in_thread(runtime)


def _request(port, method, path, token, body=None, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture
def storm_server(runtime, monkeypatch, make_user):
    _, token = make_user("lead1", role="team_lead")
    server, stop = _serve(runtime, monkeypatch, max_in_flight=1, max_queued=1,
                          queue_wait_ms=20)
    yield server, token
    stop()


@pytest.mark.usefixtures("published")
def test_past_its_limit_the_server_sheds_with_503_and_recovers(storm_server):
    server, token = storm_server
    port = server.effective_port
    facts = [{"id": i, "ogrs_2yr": i % 100, "newly_sentenced": i % 2 == 0}
             for i in range(150)]
    seen: Counter = Counter()
    shed_bodies, lock = [], threading.Lock()

    def client(n):
        for _ in range(4):
            status, headers, raw = _request(port, "POST", "/api/v1/evaluate", token,
                                            {"stage": "mapping", "facts": facts})
            with lock:
                seen[status] += 1
                if status == 503:
                    shed_bodies.append((headers.get("Retry-After"), json.loads(raw)))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert seen[200] > 0 and seen[503] > 0, seen
    assert set(seen) <= {200, 503}, seen  # no other 5xx, no 4xx
    assert all(after == "1" and body["error"]["code"] == "overloaded"
               and set(body["error"]) == {"code", "message", "details"}
               for after, body in shed_bodies)
    counts = server.shedder.counts
    assert counts["shed"] == seen[503] and counts["served"] >= seen[200]
    started = time.monotonic()  # recovered: health answers at once, on the first try
    status, _, _ = _request(port, "GET", "/api/v1/health", token, timeout=10)
    assert status == 200 and time.monotonic() - started < 5


@pytest.mark.usefixtures("published")
def test_more_clients_than_waitress_default_connection_limit_are_all_answered(storm_server):
    """150 connections at once (waitress accepts 100 by default; the rest would wait in
    the kernel's backlog for SYN retries): every one gets an answer, 200 or 503."""
    server, token = storm_server
    request = (f"GET /api/v1/cases?per_page=5 HTTP/1.1\r\nHost: x\r\nAuthorization: "
               f"Bearer {token}\r\nConnection: close\r\n\r\n").encode()
    socks = [socket.create_connection(("127.0.0.1", server.effective_port), timeout=20)
             for _ in range(150)]
    for sock in socks:
        sock.sendall(request)
    statuses = Counter()
    for sock in socks:
        head = sock.recv(64)
        statuses[int(head.split()[1])] += 1
        sock.close()
    assert sum(statuses.values()) == 150 and set(statuses) <= {200, 503}, statuses


@pytest.mark.usefixtures("published")
def test_a_request_whose_client_left_while_queued_is_not_run(runtime, monkeypatch,
                                                             make_user):
    _, token = make_user("lead1", role="team_lead")
    server, stop = _serve(runtime, monkeypatch, max_in_flight=1, max_queued=4,
                          queue_wait_ms=10_000)
    shedder = server.shedder
    try:
        assert shedder._slots.acquire(timeout=5)  # the only slot: a request at work
        sock = socket.create_connection(("127.0.0.1", server.effective_port), timeout=10)
        sock.sendall(f"GET /api/v1/cases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                     f"{token}\r\n\r\n".encode())
        deadline = time.monotonic() + 10
        while shedder._queued == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert shedder._queued == 1
        sock.close()  # the client gives up while its request waits
        time.sleep(0.3)
        shedder._slots.release()
        while shedder._queued and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        assert shedder.counts["dropped"] == 1 and shedder.counts["served"] == 0
        status, _, _ = _request(server.effective_port, "GET", "/api/v1/health", token)
        assert status == 200 and shedder.counts["served"] == 1
    finally:
        stop()


@pytest.mark.parametrize(("key", "value"), [("MAX_IN_FLIGHT", "0"), ("MAX_QUEUED", "-1"),
                                            ("QUEUE_WAIT_MS", "lots"),
                                            ("RETRY_AFTER_S", "0")])
def test_shedding_knobs_are_validated_at_start_up(key, value):
    root = Path(__file__).resolve().parents[1]
    with pytest.raises(ConfigError, match=f"server.{key.lower()}"):
        load_settings(root / "config.toml", env={f"IOM_SERVER_{key}": value})
