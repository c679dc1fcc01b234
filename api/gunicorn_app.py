"""gunicorn embedded: ``iom serve`` on PostgreSQL runs N worker processes (threads each)
on a socket it has already bound; each worker builds its own runtime (engine, pool) after
the fork, so no connection is shared across processes."""

from __future__ import annotations

import logging

from gunicorn.app.base import BaseApplication

from api.shedding import Limits, threads_for
from workflow.config import Settings


def worker_threads(settings: Settings) -> int:
    """Threads a worker runs: ``[server] threads``, and at least what load shedding needs
    (api/shedding.py), so requests reach the shedder, which answers 503 beyond its limits,
    instead of queueing unseen."""
    return max(settings.threads, threads_for(Limits.from_settings(settings)))


def _child_exit(_server, worker) -> None:
    """A worker's per-process metric files stop counting as live (multi-process mode)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class GunicornApp(BaseApplication):
    def __init__(self, settings: Settings, *, fd: int, workers: int):
        self.settings, self.fd, self.workers = settings, fd, workers
        super().__init__()

    def load_config(self) -> None:
        options = {
            "bind": [f"fd://{self.fd}"],
            "workers": self.workers,
            "worker_class": "gthread",
            "threads": worker_threads(self.settings),
            "timeout": 120,
            "graceful_timeout": 20,
            "accesslog": None,  # one line a request comes from the app (api/observability)
            "errorlog": "-",
            "loglevel": "warning",
            "limit_request_line": 8190,
            "child_exit": _child_exit,
            "proc_name": "iom-api",
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self):
        from api import create_app
        from workflow.runtime import Runtime

        logging.getLogger("iom.serve").debug("worker loading the app")
        return create_app(Runtime.from_settings(self.settings))
