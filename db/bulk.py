"""Bulk inserts in the session's own transaction (the importer, the audit's chunk appends).

:func:`insert_rows`: PostgreSQL (psycopg) ``COPY``; SQLite DB-API ``executemany``; any
other backend SQLAlchemy's executemany. Values go through each column type's own bind
processor, so they are stored exactly as SQLAlchemy would store them. Column defaults
are not applied: callers pass every column they want set.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import closing
from datetime import date, datetime
from operator import itemgetter

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Table,
    Text,
    TypeDecorator,
    bindparam,
    cast,
    column,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session


def insert_rows(session: Session, table: Table, rows: list, names: Sequence[str] | None = None
                ) -> None:
    """Insert ``rows``: dicts with the same keys (columns of ``table``), or, given
    ``names``, tuples of the values of those columns in that order (no dict a row)."""
    if not rows:
        return
    tuples, names = names is not None, list(rows[0]) if names is None else list(names)
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        _copy(connection, table, rows, _binary_types(connection, table, names),
              names=names if tuples else None)
    elif dialect.name == "sqlite":
        sql = (f'INSERT INTO "{table.name}" ({", ".join(names)}) '
               f'VALUES ({", ".join("?" * len(names))})')
        with closing(connection.connection.dbapi_connection.cursor()) as cursor:
            cursor.executemany(sql, _db_values(table, names, rows, dialect, tuples))
    else:
        session.execute(insert(table), [dict(zip(names, row, strict=True)) for row in rows]
                        if tuples else rows)


_BINARY_TYPES = frozenset({"character varying", "text", "integer", "bigint", "smallint",
                           "date", "boolean", "timestamp with time zone",
                           "timestamp without time zone"})


def update_rows(session: Session, table: Table, rows: list[dict], key: str = "id") -> None:
    """``UPDATE table SET ... WHERE key = ...`` for each of ``rows`` (dicts with the same
    keys: ``key`` and the columns to set). PostgreSQL: ONE statement joining the table
    to the rows sent as one JSON text parameter (``FROM json_to_recordset(...)``; psycopg
    dumps arrays of values element by element in Python, the JSON encoder is C), instead
    of one statement a row; other backends: SQLAlchemy's executemany. Columns of a JSON
    type are not supported there (ValueError). No version check: the caller holds the
    rows (or owns the consequences)."""
    if not rows:
        return
    names = [n for n in rows[0] if n != key]
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        session.execute(update(table).where(table.c[key] == bindparam("b_" + key)).values(
            {n: bindparam(n) for n in names}), [{**r, "b_" + key: r[key]} for r in rows])
        return
    cols = [key, *names]
    types = [table.c[n].type.dialect_impl(dialect).compile(dialect=dialect) for n in cols]
    if any(t.upper().startswith("JSON") for t in types):
        raise ValueError(f"update_rows: JSON columns are not supported ({table.name})")
    records = _json_records(table, cols, rows, dialect)
    sets = ", ".join(f'"{n}" = v."{n}"' for n in names)
    shape = ", ".join(f'"{n}" {t}' for n, t in zip(cols, types, strict=True))
    sql = (f'UPDATE "{table.name}" AS t SET {sets} FROM json_to_recordset(%s::json) AS '
           f'v({shape}) WHERE t."{key}" = v."{key}"')
    with connection.connection.dbapi_connection.cursor() as cursor:
        cursor.execute(sql, [records])


def insert_returning(session: Session, statement, table: Table, rows: list[dict],
                     returning: Sequence, constants: dict | None = None) -> list:
    """Run ``statement`` (an ``INSERT`` into ``table``, e.g. ``ON CONFLICT DO NOTHING``:
    ``db.dialect.insert_on_conflict_do_nothing``) of ``rows`` (dicts with the same keys,
    columns of ``table``; no JSON columns) and return the ``returning`` columns of the
    rows it inserted. PostgreSQL: ONE statement, ``INSERT ... SELECT`` from the rows sent
    as one JSON text parameter (``json_to_recordset``, as :func:`update_rows`), in the
    order given; other backends: multi-row ``VALUES`` in batches (SQLite's bound-variable
    limit). ``constants``: column values the same in every row, bound once. Pass the
    same ``statement`` object each time (built once): the ``INSERT ... SELECT`` made of
    it is then built once too (:func:`_insert_select`)."""
    if not rows:
        return []
    names, constants = list(rows[0]), constants or {}
    dialect = session.connection().dialect
    if dialect.name != "postgresql":
        out: list = []
        for start in range(0, len(rows), 500):
            out += session.execute(statement.values([{**constants, **row} for row in
                                                     rows[start:start + 500]])
                                   .returning(*returning)).all()
        return out
    if any(isinstance(table.c[n].type, JSON) for n in names):
        raise ValueError(f"insert_returning: JSON columns are not supported ({table.name})")
    query = _insert_select(statement, table, tuple(names), tuple(constants),
                           tuple(returning))
    return session.execute(query, {"rows": _json_records(table, names, rows, dialect),
                                   **{"const_" + n: v for n, v in constants.items()}}).all()


# (id of the statement, table, names, constants, returning keys) -> (statement, query)
_insert_selects: dict[tuple, tuple] = {}


def _insert_select(statement, table: Table, names: tuple[str, ...],
                   constants: tuple[str, ...], returning: tuple):
    """The PostgreSQL ``INSERT ... SELECT`` of :func:`insert_returning`: ``statement``
    from the rows of the JSON parameter ``rows`` (``json_to_recordset``), with the
    ``constants`` as parameters ``const_<name>``. Built once for a statement object and
    shape: executing the same object again skips building it and SQLAlchemy's walk
    over it for its cache key (about 0.4 ms a call, a chunk's)."""
    key = (id(statement), table.name, names, constants, tuple(c.key for c in returning))
    found = _insert_selects.get(key)
    if found is not None and found[0] is statement:
        return found[1]
    source = (func.json_to_recordset(cast(bindparam("rows", type_=Text), JSON))
              .table_valued(*(column(n, table.c[n].type) for n in names), name="v")
              .render_derived(with_types=True))
    query = select(*(source.c[n] for n in names),
                   *(bindparam("const_" + n, type_=table.c[n].type).label(n)
                     for n in constants))
    built = statement.from_select([*names, *constants], query).returning(*returning)
    if len(_insert_selects) >= 64:  # statements built each call: keep the cache bounded
        _insert_selects.clear()
    _insert_selects[key] = (statement, built)  # held: its id stays its own
    return built


def _json_scalar(value):
    """JSON text of a bound value ``json`` cannot encode: dates and times (ISO 8601, with
    their offset, as PostgreSQL reads them)."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"update_rows: cannot send {type(value).__name__} as JSON")


def _json_records(table: Table, names: list[str], rows: list[dict], dialect) -> str:
    """The JSON array of ``rows`` as objects of ``names``, values as bound
    (:func:`_db_values`) and dates and times as ISO text (:func:`_json_scalar`). The
    text of each distinct date or time is made once a call (a chunk's rows share a few
    due dates), not by a call back from the encoder for each value: the same text."""
    text_of: dict = {}
    temporal = [i for i, n in enumerate(names) if _temporal(table.c[n].type)]
    last = (_UNSEEN, None)  # the last value made text, and its text
    out = []
    for values in _db_values(table, names, rows, dialect):
        if temporal:
            values = values if values.__class__ is list else list(values)
            for i in temporal:
                value = values[i]
                if value is last[0]:
                    values[i] = last[1]
                elif isinstance(value, date):
                    key = (value, getattr(value, "tzinfo", None))  # equal, same zone
                    text = text_of.get(key)
                    if text is None:
                        text = text_of[key] = _json_scalar(value)
                    values[i], last = text, (value, text)
        out.append(dict(zip(names, values, strict=True)))
    return json.dumps(out, default=_json_scalar, allow_nan=False)


def _temporal(type_) -> bool:
    """Whether a column of ``type_`` holds dates or times (sent as ISO text)."""
    base = type_.impl_instance if isinstance(type_, TypeDecorator) else type_
    return isinstance(base, Date | DateTime)


def _binary_types(connection, table: Table, names: list[str]) -> list[str] | None:
    """The PostgreSQL types of ``names`` when all are plain enough for a binary COPY (the
    server then parses nothing: about 10% faster), else None (JSON values arrive
    already serialised as text)."""
    with connection.connection.dbapi_connection.cursor() as cursor:
        types = [t for (t,) in cursor.execute(
            "SELECT format_type(atttypid, NULL) FROM pg_attribute, unnest(%s::text[])"
            " WITH ORDINALITY AS n(name, i) WHERE attrelid = %s::regclass"
            " AND attname = n.name ORDER BY n.i", (names, f'"{table.name}"'))]
    return types if len(types) == len(names) and set(types) <= _BINARY_TYPES else None


def _copy(connection, table: Table, rows: list, types: list[str] | None, *,
          names: list[str] | None = None) -> None:
    """PostgreSQL ``COPY table (columns) FROM STDIN`` of ``rows`` (as :func:`insert_rows`
    takes them: dicts, or tuples of ``names``) on ``connection``, binary with ``types``
    (from :func:`_binary_types`), else text."""
    tuples, names = names is not None, list(rows[0]) if names is None else names
    copy_sql = (f'COPY "{table.name}" ({", ".join(names)}) FROM STDIN'
                + (" (FORMAT BINARY)" if types else ""))
    with connection.connection.dbapi_connection.cursor() as cursor, \
            cursor.copy(copy_sql) as copy:
        if types:
            copy.set_types(types)
        for params in _db_values(table, names, rows, connection.dialect, tuples):
            copy.write_row(params)


def _db_values(table: Table, names: list[str], rows: list, dialect, tuples: bool = False
               ) -> Iterator[Sequence]:
    """Each row's values in ``names`` order (``rows``: dicts, or with ``tuples`` the
    values already in that order),
    through the column types' bind processors. A value that is the very object the
    previous row had in that column (a chunk's shared instant, payload, ...) is
    processed once: processors are pure conversions."""
    get = itemgetter(*names)
    procs = [(i, p) for i, p in enumerate(
        table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names) if p]
    seen: list = [(_UNSEEN, None)] * len(procs)
    for row in rows:
        if tuples:
            values = row
        else:
            values = get(row) if len(names) > 1 else (row[names[0]],)
        if procs:
            values = list(values)
            for j, (i, proc) in enumerate(procs):
                value = values[i]
                last, done = seen[j]
                if value is not last:
                    done = proc(value)
                    seen[j] = (value, done)
                values[i] = done
        yield values


_UNSEEN = object()  # no value processed yet


def refresh_statistics(session: Session, table: Table) -> bool:
    """``ANALYZE`` ``table`` on PostgreSQL, in the session's transaction; True if run.

    After a large import (or a pass opening a borough's cases) the planner would
    otherwise keep the statistics of the smaller table until autovacuum's next visit (a
    minute or more): meanwhile the scheduler's fact queries scan whole tables (measured
    in bench/tick), and its due-case pages walk every case (0.9 s a page at 1M cases,
    measured in bench/mapping). ANALYZE counts the rows this transaction inserted, and
    its statistics commit or roll back with it.
    """
    if session.get_bind().dialect.name != "postgresql":
        return False
    session.execute(text(f'ANALYZE "{table.name}"'))
    return True
