"""The API benchmark's open-loop client reads answers as HTTP/1.1 says: the status, a
body of ``Content-Length`` bytes, ``Connection: close`` honoured, a kept-alive
connection the server closed retried once on a new one."""

from __future__ import annotations

import asyncio
import importlib.util
from concurrent.futures import ThreadPoolExecutor

from dbsupport import ROOT

# The benchmarks are run from the checkout (``python -m bench.api_bench``), not installed.
_SPEC = importlib.util.spec_from_file_location("api_bench", ROOT / "bench" / "api_bench.py")
api_bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(api_bench)


async def _server(answers: list[bytes]):
    """A server answering each request with the next of ``answers`` (raw bytes), then
    closing the connection when the answer says so; counts connections."""
    state = {"connections": 0}

    async def handle(reader, writer):
        state["connections"] += 1
        while answers:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            await reader.readexactly(length)
            answer = answers.pop(0)
            writer.write(answer)
            await writer.drain()
            if b"Connection: close" in answer or b"<drop>" in answer:
                break
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], state


def test_statuses_bodies_close_and_a_retry_on_a_dropped_keep_alive():
    async def run():
        answers = [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello",
                   b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n"
                   b"Retry-After: 1\r\n\r\n{}",
                   b"HTTP/1.1 404 NOT FOUND\r\nContent-Length: 3\r\nConnection: close"
                   b"\r\n\r\nabc",
                   b"HTTP/1.1 201 CREATED\r\nContent-Length: 6\r\n\r\n<drop>",
                   b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]
        server, port, state = await _server(answers)
        pool = api_bench._Pool(port)
        got = [await pool.request("GET", "/x", {"A": "b"}) for _ in range(3)]
        assert got == [200, 503, 404] and state["connections"] == 1
        assert not pool.idle  # closed as the server asked
        assert await pool.request("POST", "/y", {}, b"{}") == 201  # a new connection
        # The server dropped that kept-alive connection: one retry on a new one.
        assert await pool.request("GET", "/z", {}) == 200
        assert state["connections"] == 3
        for _, writer in pool.idle:
            writer.close()
            await writer.wait_closed()
        await asyncio.sleep(0.05)  # the connections the client closed finish closing
        server.close()
        await server.wait_closed()

    # On a thread of its own: a module run earlier on this pytest worker (Playwright's sync
    # API) can leave an event loop marked running on the main thread, and asyncio.run()
    # refuses to start inside one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()

