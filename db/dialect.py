"""Statements whose spelling differs between PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    func,
    literal,
)
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



def one_of_param(dialect: str, column, name: str) -> ColumnElement[bool]:
    """:func:`one_of` with the ids as the bound parameter ``name``, for a statement built
    once and run many times; its value: :func:`ids_value`."""
    if dialect == "postgresql":
        return column == any_(cast(bindparam(name, type_=Text), postgresql.ARRAY(Integer)))
    return column.in_(bindparam(name, expanding=True))


def ids_value(dialect: str, ids: Iterable[int]):
    """The value of a :func:`one_of_param` parameter (PostgreSQL: the array's text)."""
    if dialect == "postgresql":
        return "{" + ",".join([str(int(i)) for i in ids]) + "}"
    return list(ids)


def day_number(dialect: str, column) -> ColumnElement[int]:
    """The date ``column`` as an integer, Python's ``date.toordinal()`` (0001-01-01 is 1):
    PostgreSQL ``column - DATE '0001-01-01' + 1``, SQLite from ``julianday`` (exact: a
    date's Julian day is a whole number and a half)."""
    if dialect == "postgresql":
        return column - literal(date(1, 1, 1), Date) + 1
    return cast(func.julianday(column) - 1721424.5, Integer)


def whole(dialect: str, value) -> ColumnElement[int]:
    """``floor(value)`` as an integer, for a value >= 0 (SQLite's CAST truncates,
    PostgreSQL's rounds)."""
    if dialect == "postgresql":
        return cast(func.floor(value), BigInteger)
    return cast(value, Integer)
