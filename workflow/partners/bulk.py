"""Fast bulk reads and writes for the importer, in the session's own transaction.

* :func:`ref_lookup`: ``column IN (values)`` as one bound parameter (a PostgreSQL array
  read with ``unnest``, or a JSON list read with SQLite's ``json_each``), so a 5,000-ref
  lookup is one cached statement instead of 5,000 freshly compiled parameters, and the
  database plans it as a semi-join (a linear ``= ANY(array)`` filter would compare every
  scanned row with every ref).
* :func:`insert_rows`: PostgreSQL (psycopg) ``COPY``; SQLite DB-API ``executemany``;
  any other backend SQLAlchemy's executemany. Values go through each column type's own
  bind processor, so they are stored exactly as SQLAlchemy would store them. Column
  defaults are not applied: callers pass every column they want set.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import closing
from operator import itemgetter

from sqlalchemy import ColumnElement, String, Table, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql import column


def ref_lookup(session: Session, col: ColumnElement, values: set[str] | list[str]
               ) -> ColumnElement[bool]:
    """A condition true when ``col`` is one of ``values`` (strings)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":  # a semi-join on unnest(): hashed, never a linear ANY()
        listed = select(func.unnest(bindparam("refs", list(values), type_=ARRAY(String))))
        return col.in_(listed.scalar_subquery())
    if dialect == "sqlite":
        listed = select(column("value")).select_from(
            func.json_each(bindparam("refs", json.dumps(list(values)))))
        return col.in_(listed.scalar_subquery())
    return col.in_(list(values))


def insert_rows(session: Session, table: Table, rows: list[dict]) -> None:
    """Insert ``rows`` (dicts with the same keys, all columns of ``table``)."""
    if not rows:
        return
    names = list(rows[0])
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        copy_sql = f'COPY "{table.name}" ({", ".join(names)}) FROM STDIN'
        with connection.connection.dbapi_connection.cursor() as cursor, \
                cursor.copy(copy_sql) as copy:
            for params in _db_values(table, names, rows, dialect):
                copy.write_row(params)
    elif dialect.name == "sqlite":
        sql = (f'INSERT INTO "{table.name}" ({", ".join(names)}) '
               f'VALUES ({", ".join("?" * len(names))})')
        with closing(connection.connection.dbapi_connection.cursor()) as cursor:
            cursor.executemany(sql, _db_values(table, names, rows, dialect))
    else:
        session.execute(insert(table), rows)


def _db_values(table: Table, names: list[str], rows: list[dict], dialect
               ) -> Iterator[Sequence]:
    """Each row's values in ``names`` order, through the column types' bind processors."""
    get = itemgetter(*names)
    procs = [(i, p) for i, p in enumerate(
        table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names) if p]
    for row in rows:
        values = get(row) if len(names) > 1 else (row[names[0]],)
        if procs:
            values = list(values)
            for i, proc in procs:
                values[i] = proc(values[i])
        yield values
