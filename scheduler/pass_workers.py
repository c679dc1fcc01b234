"""A pass's chunks advanced in several processes: ``[scheduler] pass_workers``.

A pass is CPU-bound in Python (facts, engine, hashing) and waits on PostgreSQL between
statements, so one process uses about one core. With ``pass_workers`` = N > 1 (PostgreSQL
only: SQLite has one writer) the pass's process pages the due cases as before and hands
each chunk to one of N worker processes; every chunk is still claimed, evaluated and
committed in its own transaction by the same code (``work``, e.g.
``scheduler.jobs.advance_chunk_isolated``), a failing chunk still redone one case per
transaction inside the worker, so failures stay isolated per case. Results come back as
partial reports the pass sums.

* Processes are started by multiprocessing's ``forkserver``: a clean single-threaded
  process, started on first use and kept for this process's lifetime, that imports the
  code once (:data:`PRELOAD`) and forks each worker, so a worker starts in milliseconds
  instead of importing everything again (about 1.3 s of CPU), and inherits nothing of
  this process (no pooled connection, no durable-rules native state, no lock held by
  another thread of a server). Each worker builds its own database engine, sessions and
  durable-rules engine (``rules.engine.default_engine`` is per process, created on first
  use). As with ``spawn``, the program's main module is imported again in the workers
  (as ``__mp_main__``): a script running passes keeps its work under
  ``if __name__ == "__main__"`` (``iom`` and the benchmarks do).
* They live for one pass, and only a pass with more than one chunk of work starts them
  (:meth:`ChunkRunner.map` starts them when it meets a second chunk). An idle pass never
  starts a process.
* At most two chunks per worker are in flight, so the pass's memory does not grow with
  the number of due cases; each worker holds one chunk at a time.
* A chunk whose worker raised, or died (``BrokenProcessPool``), is redone in the pass's
  own process: a chunk the worker had committed is then skipped (its cases' versions
  moved), so no case is advanced twice (a chunk of people to open and evaluate,
  ``scheduler.opening``, finds their cases opened and skips them: ON CONFLICT DO
  NOTHING); after a broken pool the pass goes on alone. (The pool stops its other
  workers too: a chunk one of them committed but had not reported is then missing from
  the pass's counts, not from the database.)
* Workers' log records are relayed to the pass's process and logged there, as its own.
* Workers ignore SIGINT: on Ctrl-C the pass stops handing out chunks, the chunks in
  progress commit or roll back whole, and the workers exit. A worker whose pass process
  is killed (no shutdown) ends itself: it watches that process (a pidfd).

The audit chain stays linear: every append takes the chain's advisory lock and reads the
head inside its transaction (``workflow.audit``), so concurrent chunks append one after
another, and two writers of the same ``seq`` would collide on the primary key.
"""

from __future__ import annotations

import gc
import itertools
import logging
import os
import resource
import select
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from logging.handlers import QueueHandler, QueueListener
from multiprocessing import get_context, util

from workflow.runtime import Runtime

log = logging.getLogger("iom.scheduler")

PRELOAD = ["scheduler.jobs"]  # what the fork server imports once, before any fork
IN_FLIGHT = 2  # chunks handed to each worker at a time (one at work, one waiting)

_runtime: Runtime | None = None  # a worker process's own runtime (set by _start_worker)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _end_with(parent: int) -> None:
    """End this worker once the pass's process is gone: killed, it shut nothing down, and
    a worker waiting for its next chunk would wait for ever (and keep the fork server)."""
    try:
        with open(os.pidfd_open(parent), "rb", buffering=0) as pidfd:
            select.select([pidfd], [], [])  # readable when the process has ended
    except OSError:  # no pidfd (or already gone): poll
        while _alive(parent):
            time.sleep(1)
    os._exit(1)


def _start_worker(settings, queue, level: int, parent: int) -> None:
    """Initialise a worker process: its own runtime, its records sent to the pass, its
    life bound to the pass's process (``parent``)."""
    global _runtime
    threading.Thread(target=_end_with, args=(parent,), daemon=True,
                     name="pass-parent-watch").start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the pass decides when to stop
    root = logging.getLogger()
    root.handlers[:] = [QueueHandler(queue)]
    root.setLevel(level)
    _runtime = Runtime.from_settings(settings)
    util.Finalize(None, _runtime.close, exitpriority=10)  # workers end with os._exit
    gc.freeze()  # what it starts with stays all its life, one pass: pass_parts.gc_frozen


def _ready() -> int:
    return os.getpid()


def _run(work: Callable, item, kwargs: dict):
    """``work``'s result, with this worker's pid, CPU seconds and peak RSS (MB) so far."""
    result = work(_runtime, item, **kwargs)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return result, os.getpid(), usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


class _Relay(logging.Handler):
    """Logs a worker's record in this process, through the logger that made it."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)


def pass_workers(runtime: Runtime) -> int:
    """The configured worker count, 1 on a database other than PostgreSQL (validated
    settings refuse more there; this guards settings built another way)."""
    workers = runtime.settings.pass_workers
    if workers > 1 and runtime.engine.dialect.name != "postgresql":
        log.warning("scheduler.pass_workers = %d ignored: SQLite has one writer", workers)
        return 1
    return workers


class ChunkRunner:
    """Runs ``work(runtime, item, **kwargs)`` over a pass's items (chunks of people to
    open, of cases to advance), in this process or, once :meth:`start` is called
    with ``workers`` > 1, in that many worker processes. ``work`` must be a module-level
    function (it is sent to the workers by name). Use as a context manager: leaving it
    stops the workers. ``usage`` holds each worker's ``(CPU seconds, peak RSS MB)``."""

    def __init__(self, runtime: Runtime, workers: int) -> None:
        self.runtime, self.workers = runtime, workers
        self.used = 1  # processes that did the pass's work (1: this one)
        self.usage: dict[int, tuple[float, float]] = {}  # worker pid -> (CPU s, peak MB)
        self._pool: ProcessPoolExecutor | None = None
        self._listener: QueueListener | None = None
        self._queue = None  # the workers' log records

    def __enter__(self) -> ChunkRunner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        """Start the worker processes now (once; nothing with one worker)."""
        if self.workers < 2 or self._pool is not None or self.used > 1:
            return
        context = get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)  # read when the server starts (once)
        queue = self._queue = context.Queue()
        self._listener = QueueListener(queue, _Relay())
        self._listener.start()
        self._pool = ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_start_worker,
            initargs=(self.runtime.settings, queue, logging.getLogger().getEffectiveLevel(),
                      os.getpid()))
        for _ in range(self.workers):  # one start-up task each: all of them start now
            self._pool.submit(_ready)
        self.used = self.workers

    def worker_usage(self) -> tuple[float, float]:
        """The workers' CPU seconds (summed) and the largest one's peak RSS (MB)."""
        return (sum(cpu for cpu, _ in self.usage.values()),
                max((mb for _, mb in self.usage.values()), default=0.0))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
            self._queue.close()

    def map(self, work: Callable, items: Iterable, **kwargs) -> Iterator:
        """``work``'s result for each item, in completion order. Starts the workers when
        there is a second item."""
        items = iter(items)
        first = next(items, None)
        if first is None:
            return
        second = next(items, None)
        if second is None:
            yield work(self.runtime, first, **kwargs)
            return
        self.start()
        pending: dict[Future, object] = {}
        for item in itertools.chain((first, second), items):
            while len(pending) >= IN_FLIGHT * self.workers:
                yield from self._collect(pending, work, kwargs)
            if self._pool is None:
                yield work(self.runtime, item, **kwargs)
            else:
                pending[self._pool.submit(_run, work, item, kwargs)] = item
        while pending:
            yield from self._collect(pending, work, kwargs)

    def _collect(self, pending: dict[Future, object], work: Callable, kwargs: dict
                 ) -> Iterator:
        """Results of the items done (waiting for one); a failed one is redone here."""
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            item = pending.pop(future)
            try:
                result, pid, cpu, peak = future.result()
                self.usage[pid] = (cpu, peak)
            except Exception as exc:  # noqa: BLE001 - redo the item here: isolated per case
                log.warning("a pass worker failed on %s (%s: %s); redone in this process",
                            _what(item), type(exc).__name__, exc)
                if isinstance(exc, BrokenProcessPool) and self._pool is not None:
                    self._pool.shutdown(wait=False, cancel_futures=True)
                    self._pool = None  # the items still pending fail too: redone here
                result = work(self.runtime, item, **kwargs)
            yield result


def _what(item) -> str:
    if isinstance(item, tuple) and item and isinstance(item[0], list):  # people to open
        return f"a chunk of {len(item[0])} people"
    return f"a chunk of {len(item)} cases" if isinstance(item, list) else repr(item)
