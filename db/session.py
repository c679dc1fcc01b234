"""Engine and session factories, and the one unit of work with its retry.

Nothing here opens a connection at import time.

SQLite serialises writers itself, but only if each transaction takes the write lock
when it starts: pysqlite's own transaction control issues a deferred ``BEGIN`` just
before the first INSERT/UPDATE, so a transaction's earlier reads (the audit chain's
head, a case's version) ran outside it and two writers could both append ``seq`` N+1.
Every SQLite transaction here therefore starts with ``BEGIN IMMEDIATE`` (emitted by
SQLAlchemy's ``begin`` event on a driver connection in autocommit mode): one writer at a
time, the others wait up to :data:`SQLITE_BUSY_MS` for the lock. Reads of case data are
audited, so nearly every request writes and gains nothing from a deferred start.

Whatever still fails because of another transaction (the lock not obtained in time on
SQLite; a serialisation failure, deadlock or unique-key race on PostgreSQL; a case
changed under a transaction that read it) is
:func:`retryable`: :func:`run_in_transaction` and the API's request wrapper run the whole
unit of work again on a fresh transaction, a bounded number of times.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

log = logging.getLogger("iom.db")

SQLITE_BUSY_MS = 10_000  # how long a SQLite transaction waits for the write lock
ATTEMPTS = 5  # a unit of work is tried at most this many times on retryable failures
_PG_RETRY = {"40001", "40P01", "23505"}  # serialization_failure, deadlock, unique race
_SQLITE_RETRY = ("database is locked", "database table is locked", "database is busy")

T = TypeVar("T")


def _sqlite_connect(dbapi_connection, _record) -> None:
    # Autocommit at the driver: SQLAlchemy's "begin" event issues BEGIN IMMEDIATE itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache: large imports
    cursor.close()
    # SQL power() as PostgreSQL's and Python's ``**`` compute it (C pow()): not every
    # SQLite build has the math functions, and the activity score must not depend on it.
    dbapi_connection.create_function("power", 2, _power, deterministic=True)


def _power(base, exponent):
    return None if base is None or exponent is None else math.pow(base, exponent)


def _sqlite_begin(connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine. SQLite: foreign keys, WAL, a busy timeout, and every transaction
    begun with ``BEGIN IMMEDIATE`` (see the module docstring)."""
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def make_session_factory(engine: Engine, info: dict | None = None) -> sessionmaker[Session]:
    """Sessions on ``engine``; each starts with a copy of ``info`` in ``session.info``."""
    return sessionmaker(bind=engine, expire_on_commit=False, info=info)


def retryable(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure caused by a concurrent transaction, so that running
    the same unit of work again on a fresh transaction may succeed: a lock not obtained,
    a serialisation failure or deadlock, a unique-key race, or a case changed by another
    transaction since this one read it (:mod:`db.versioning`)."""
    if isinstance(exc, StaleDataError):
        return True
    if not isinstance(exc, DBAPIError) or exc.orig is None:
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if sqlstate is not None:
        return sqlstate in _PG_RETRY
    message = str(exc.orig).lower()
    return any(m in message for m in _SQLITE_RETRY)


_CONNECTION_STATES = ("08", "57P")  # connection exceptions; operator intervention (shutdown)


def database_failure(exc: BaseException) -> str | None:
    """One line saying what went wrong when ``exc`` is a database failure (from SQLAlchemy
    or raised by the driver itself, e.g. during COPY), else None. For command-line tools
    that must end with a clear line instead of a traceback."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    module = type(orig).__module__ or ""
    if not (module == "sqlite3" or module.startswith("psycopg")):
        return None
    first = next((line.strip() for line in str(orig).splitlines() if line.strip()),
                 type(orig).__name__)
    sqlstate = getattr(orig, "sqlstate", None) or ""
    lost = ((isinstance(exc, DBAPIError) and exc.connection_invalidated)
            or sqlstate.startswith(_CONNECTION_STATES)
            or (module.startswith("psycopg") and not sqlstate
                and type(orig).__name__ in ("OperationalError", "InterfaceError")))
    what = "the database connection was lost or refused" if lost else "the database failed"
    return (f"{what}: {first} (the interrupted transaction was rolled back: nothing of it "
            "was stored; run the command again once the database is available)")


def backoff(attempt: int) -> None:
    """Sleep before retry ``attempt`` (1, 2, ...): short, growing, jittered."""
    time.sleep(min(0.5, 0.01 * 2 ** attempt) * (0.5 + random.random()))


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception, always close.

    A ``with`` block cannot be run again: where a concurrent transaction may get in the
    way, use :func:`run_in_transaction`.
    """
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def run_in_transaction(factory: sessionmaker[Session], work: Callable[[Session], T], *,
                       attempts: int = ATTEMPTS) -> T:
    """``work(session)`` in one committed transaction, run again from the start (on a new
    session) when it fails :func:`retryable`, at most ``attempts`` times in all.

    ``work`` must not have effects outside the database that a retry would repeat.
    """
    for attempt in range(1, attempts + 1):
        try:
            with transaction(factory) as session:
                return work(session)
        except (DBAPIError, StaleDataError) as exc:
            if attempt == attempts or not retryable(exc):
                raise
            log.info("transaction retried (attempt %d): %s", attempt, exc)
            backoff(attempt)
    raise AssertionError("unreachable")


# What the ORM sets on every statement it runs: a result's columns are matched to a
# statement built anew (same SQL, cached) by position, not by comparing every column
# object of the two statements (which builds an expression per comparison).
_AS_THE_ORM = {"_result_disable_adapt_to_context": True}


def read_rows(session: Session, statement, params: dict | None = None):
    """The result of a SELECT of plain columns (no mapped entities) in ``session``'s
    transaction: what ``session.execute`` returns (pending changes flushed first, as its
    autoflush would; the same rows, read by name or position), run on the session's
    connection without the ORM's per-statement machinery, which costs more than the
    query on hot read paths."""
    if session.autoflush:
        session.flush()  # a no-op unless something is pending
    return session.connection().execute(statement, params, execution_options=_AS_THE_ORM)
