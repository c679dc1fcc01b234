"""Process logging for ``iom serve`` and ``iom scheduler``: ``[logging] format``.

* ``human``: one readable line a record, for a terminal.
* ``json``: one JSON object a line (``ts``, ``level``, ``logger``, ``msg`` and the
  record's structured ``fields``, e.g. a request's route, status, duration, user id and
  request id), for a log collector.

Structured values are passed as ``extra={"fields": {...}}``; both formats show them.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

HUMAN = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record; exceptions as a ``exc`` string."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
               "level": record.levelname, "logger": record.name, "msg": record.getMessage()}
        out.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


def formatter(kind: str) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else logging.Formatter(HUMAN)


def configure_logging(settings, stream=None) -> None:
    """Send every ``iom`` record at ``[logging] level`` or above to stderr (or ``stream``)
    in ``[logging] format``. Replaces handlers set before (idempotent)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(settings.logging["format"]))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.logging["level"])
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # our jobs log what they did
    logging.getLogger("alembic").setLevel(logging.WARNING)  # readiness reads the revision
