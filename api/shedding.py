"""Load shedding in front of the app: a bounded number of requests at work, a short
bounded queue, and 503 with ``Retry-After`` at once beyond it.

Without it, a server past its capacity queues every request (waitress's task queue has no
bound), each waits longer than its client will, and the server then spends its time on
answers nobody reads: throughput collapses. Here at most ``max_in_flight`` requests run
the app at once; up to ``max_queued`` more wait at most ``queue_wait_ms`` for a slot;
any other request (or one whose wait ran out) is answered ``503 overloaded`` with
``Retry-After`` in the one JSON error shape, without touching the database. A request
whose client has disconnected while it waited (waitress reports it when
``channel_request_lookahead`` is on) is dropped before the app runs.

The server gives this layer threads for every slot and waiter and a few more
(:func:`threads_for`), so requests reach it at once instead of waiting unseen in the
server's own queue.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

SPARE_THREADS = 4  # threads that only ever answer 503 at once


@dataclass(frozen=True)
class Limits:
    """``[server]`` ``max_in_flight``, ``max_queued``, ``queue_wait_ms``, ``retry_after_s``."""

    max_in_flight: int = 8
    max_queued: int = 32
    queue_wait_ms: int = 1000
    retry_after_s: int = 1

    @classmethod
    def from_settings(cls, settings) -> Limits:
        return cls(**settings.shedding)


def threads_for(limits: Limits) -> int:
    """Server threads: every slot and waiter, and spares for the immediate 503s."""
    return limits.max_in_flight + limits.max_queued + SPARE_THREADS


class _Released:
    """The app's response body; the slot is given back once, when the body has been
    sent or when the server closes it (whichever comes first: a WSGI server always
    closes, a test client may only read)."""

    def __init__(self, body: Iterable[bytes], release: Callable[[], None]):
        self._body, self._release, self._done = body, release, False

    def _give_back(self) -> None:
        if not self._done:
            self._done = True
            self._release()

    def __iter__(self):
        try:
            yield from self._body
        finally:
            self._give_back()

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._give_back()


class LoadShedder:
    """WSGI middleware (see module docstring). ``counts`` tallies what it did: requests
    ``served``, ``shed`` (503) and ``dropped`` (client gone while queued)."""

    def __init__(self, app, limits: Limits):
        self.app, self.limits = app, limits
        self._slots = threading.BoundedSemaphore(limits.max_in_flight)
        self._lock = threading.Lock()
        self._queued = 0
        self.counts = {"served": 0, "shed": 0, "dropped": 0}

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def _acquire(self) -> bool:
        if self._slots.acquire(blocking=False):
            return True
        with self._lock:
            if self._queued >= self.limits.max_queued:
                return False
            self._queued += 1
        try:
            return self._slots.acquire(timeout=self.limits.queue_wait_ms / 1000)
        finally:
            with self._lock:
                self._queued -= 1

    def _overloaded(self, start_response) -> list[bytes]:
        body = json.dumps({"error": {
            "code": "overloaded",
            "message": "the server is at capacity; send the request again after "
                       f"{self.limits.retry_after_s} s",
            "details": {"retry_after_s": self.limits.retry_after_s}}}).encode()
        start_response("503 Service Unavailable", [
            ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
            ("Retry-After", str(self.limits.retry_after_s))])
        return [body]

    def __call__(self, environ, start_response):
        arrived = time.monotonic()
        if not self._acquire():
            self._count("shed")
            return self._overloaded(start_response)
        gone = environ.get("waitress.client_disconnected")
        if gone is not None and time.monotonic() > arrived + 0.001 and gone():
            self._slots.release()
            self._count("dropped")
            return self._overloaded(start_response)  # nobody reads it; nothing was done
        self._count("served")
        try:
            body = self.app(environ, start_response)
        except BaseException:
            self._slots.release()
            raise
        return _Released(body, self._slots.release)
