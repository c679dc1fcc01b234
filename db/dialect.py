"""Statements whose spelling differs between PostgreSQL and SQLite."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_on_conflict_do_nothing(session: Session, table: Table, **conflict):
    """``INSERT INTO table ... ON CONFLICT (...) DO NOTHING`` for the session's backend.

    ``conflict`` names the unique index: ``index_elements`` and, for a partial index,
    ``index_where``. A row that would break it is skipped, atomically: a concurrent
    insert of the same key waits for the other transaction and then skips.
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(**conflict)
