"""Statements whose spelling differs between PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import ColumnElement, Date, Float, Integer, Table, Text, any_, cast, func, literal
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


def one_of(session: Session, column, ids: Iterable[int]) -> ColumnElement[bool]:
    """``column IN (ids)`` for integer ids. PostgreSQL: ``column = ANY(:array)``, one
    parameter whatever the number of ids (psycopg rewrites a statement with thousands of
    parameters more slowly than the server runs it, and a new count is a new statement).
    The array is sent as its text form (``'{1,2,3}'::integer[]``): psycopg dumps a list
    of thousands of ints element by element in Python, ~20 times slower than the join.
    """
    ids = list(ids)
    if session.get_bind().dialect.name == "postgresql":
        array = "{" + ",".join([str(int(i)) for i in ids]) + "}"
        return column == any_(cast(literal(array, Text), postgresql.ARRAY(Integer)))
    return column.in_(ids)


def days_before(session: Session, day: date, column) -> ColumnElement[float]:
    """Whole days from the date ``column`` to ``day`` (negative after it), as a float:
    PostgreSQL ``CAST(:day - column AS FLOAT)``, SQLite ``julianday(:day) -
    julianday(column)`` (exact: both are whole days)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(literal(day, Date) - column, Float)
    return func.julianday(literal(day, Date)) - func.julianday(column)


def summed_in_order(session: Session, value, *order_by) -> ColumnElement:
    """``SUM(value)`` over a group's rows in the order of ``order_by``, so a floating
    sum is the same whatever plan the database picks: PostgreSQL ``SUM(value ORDER BY
    ...)``; SQLite (before 3.44 no ORDER BY in an aggregate) sums in the order its
    input arrives, so give it an input ordered the same way (a subquery's ORDER BY)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.sum(postgresql.aggregate_order_by(value, *order_by))
    return func.sum(value)
