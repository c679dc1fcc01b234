"""Scratch databases for the benchmarks: created fresh for a run, dropped after it.

A benchmark leaves nothing behind on PostgreSQL unless asked to (``keep``): autovacuum
working through one benchmark's millions of fresh rows would otherwise take a core from
the next benchmark of ``make bench`` and from its figures. SQLite scratch files live in
a temporary directory removed with it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

PG_ADMIN = os.environ.get("IOM_BENCH_PG_ADMIN_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def url_of(name: str) -> str:
    """The URL of the PostgreSQL database ``name`` on the benchmarks' server."""
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def _admin(work):
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return work(conn)
    finally:
        admin.dispose()


def exists(name: str) -> bool:
    """Whether the PostgreSQL database ``name`` exists (a kept one, for ``--reuse``)."""
    return bool(_admin(lambda conn: conn.scalar(
        text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": name})))


def drop(name: str) -> None:
    _admin(lambda conn: conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')))


def create(name: str) -> str:
    """Drop ``name`` if it exists, create it empty; its URL."""
    drop(name)
    _admin(lambda conn: conn.execute(text(f'CREATE DATABASE "{name}"')))
    return url_of(name)


@contextmanager
def database(backend: str, name: str, *, keep: bool = False) -> Iterator[str]:
    """A fresh database's URL for the run: PostgreSQL ``name`` (dropped after the run
    unless ``keep``) or a SQLite file in a temporary directory (always removed)."""
    if backend == "sqlite":
        folder = tempfile.mkdtemp(prefix="iom-bench-")
        try:
            yield f"sqlite:///{folder}/bench.sqlite3"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    url = create(name)
    try:
        yield url
    finally:
        if not keep:
            drop(name)
