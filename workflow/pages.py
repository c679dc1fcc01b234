"""Pages of a listing's rows: keyset ("seek") pagination with an opaque cursor.

A listing is ordered by :class:`Key` columns ending in a unique one (the id). The cursor
of a page encodes the sort-key values of its last row; the next page is the rows strictly
after them (``WHERE (key) > (last)``), so every page costs the same however deep it is
and rows inserted meanwhile neither repeat nor vanish. The total is counted only when
the caller asks for it (a count of a large filtered set is the expensive part).

The older offset form (``page``) is still answered for clients that send it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.orm import Session

from db.session import read_rows
from workflow.errors import InvalidInput


@dataclass(frozen=True)
class Key:
    """One sort key: ``column`` ascending (NULLs last when ``nullable``) or descending
    (``descending`` columns must not be NULL). ``attr`` reads the value from a row;
    ``kind`` is its Python type (``int`` or ``datetime``), checked in a cursor."""

    column: ColumnElement
    attr: str
    descending: bool = False
    nullable: bool = False
    kind: type = int

    def order(self) -> list[ColumnElement]:
        if self.descending:
            return [self.column.desc()]
        return [self.column.is_(None), self.column] if self.nullable else [self.column]


@dataclass
class Page:
    """``rows`` of one page; ``next`` the cursor of the following page (None: the last);
    ``total`` the rows of the whole listing, or None when not asked for."""

    rows: list
    next: str | None
    total: int | None


def _encode(values: list) -> str:
    plain = [{"t": v.isoformat()} if isinstance(v, datetime) else v for v in values]
    raw = json.dumps(plain, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, keys: Sequence[Key]) -> list:
    """The key values in ``cursor``; :class:`InvalidInput` naming ``after`` otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != len(keys):
            raise ValueError("wrong shape")
        out = [datetime.fromisoformat(v["t"]) if isinstance(v, dict) else v for v in values]
        for key, value in zip(keys, out, strict=True):
            if value is None and key.nullable:
                continue
            if not isinstance(value, key.kind) or isinstance(value, bool) or (
                    isinstance(value, int) and abs(value) > 2**31) or (
                    isinstance(value, datetime) and value.tzinfo is None):
                raise ValueError(f"bad value for {key.attr}")
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("after: not a cursor this listing returned (use the 'next' "
                           "value of the previous page)", details={"field": "after"}) from exc
    return out


def _after(key: Key, value) -> ColumnElement:
    if key.descending:
        return key.column < value
    if value is None:  # NULLs sort last: nothing is after a NULL but other NULLs
        return false()
    return or_(key.column > value, key.column.is_(None)) if key.nullable else key.column > value


def _equal(key: Key, value) -> ColumnElement:
    return key.column.is_(None) if value is None else key.column == value


def _seek(keys: Sequence[Key], values: list) -> ColumnElement:
    """Rows strictly after ``values`` in the order of ``keys`` (lexicographic)."""
    condition = _after(keys[-1], values[-1])
    for key, value in zip(reversed(keys[:-1]), reversed(values[:-1]), strict=True):
        condition = or_(_after(key, value), and_(_equal(key, value), condition))
    return condition


def seek_page(session: Session, query: Select, keys: Sequence[Key], *, per_page: int,
              after: str | None = None, page: int | None = None, total: bool = False,
              scalars: bool = True) -> Page:
    """One page of ``query`` in ``keys`` order: after the cursor ``after`` or, in the
    older form, page ``page`` (from 1) by offset. ``scalars``: rows are the first entity
    of each result row (ORM objects), else the result rows themselves."""
    if after is not None and page not in (None, 1):
        raise InvalidInput("give either after (a cursor) or page, not both",
                           details={"field": "after"})
    count = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())
                           ) if total else None
    ordered = query.order_by(*[c for key in keys for c in key.order()])
    if after is not None:
        ordered = ordered.where(_seek(keys, _decode(after, keys)))
    elif page:
        ordered = ordered.offset((page - 1) * per_page)
    limited = ordered.limit(per_page + 1)
    rows = (list(session.execute(limited).scalars()) if scalars
            else read_rows(session, limited).all())
    more = len(rows) > per_page
    rows = rows[:per_page]
    cursor = _encode([getattr(rows[-1], key.attr) for key in keys]) if more else None
    return Page(rows, cursor, (count or 0) if total else None)


def page_of_rows(session: Session, query: Select, *order_by, page: int, per_page: int
                 ) -> tuple[list, int]:
    """``(rows, total)``: page ``page`` (from 1) of ``query`` by offset, and the total.

    Kept for callers that want a numbered page and its total in one call (the CLI)."""
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(*order_by)
                           .offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), total or 0
