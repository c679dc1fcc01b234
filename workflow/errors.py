"""The one exception tree of the service.

The API maps each class to an HTTP status once (``api/errors.py``); the CLI prints the
message and exits non-zero. Every error carries a machine-readable ``code`` and
optional ``details`` (e.g. the row, field or rule that was wrong).
"""

from __future__ import annotations


class IOMError(Exception):
    """Base class. ``code`` is stable and documented; ``details`` is JSON-serialisable."""

    code = "error"

    def __init__(self, message: str, *, details: dict | list | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ConfigError(IOMError):
    code = "config_error"


class NotReady(IOMError):
    """The service cannot start or serve yet: its database is missing or not migrated,
    or its port is taken. The message says what to do, in one line."""

    code = "not_ready"


class InvalidInput(IOMError):
    """The caller sent something malformed (bad CSV row, bad facts, bad parameter)."""

    code = "invalid_input"


class NotFound(IOMError):
    code = "not_found"


class Conflict(IOMError):
    """The request is valid but clashes with current state (illegal transition, duplicate)."""

    code = "conflict"


class IllegalTransition(Conflict):
    code = "illegal_transition"


class Excluded(Conflict):
    """An exclusion rule applies to the case (details: rules, versions, reason)."""

    code = "excluded"


class Unauthenticated(IOMError):
    code = "unauthenticated"


class Forbidden(IOMError):
    code = "forbidden"
