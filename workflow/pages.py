"""One page of a query's rows, with the total: the listing endpoints' shared pagination."""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session


def page_of_rows(session: Session, query: Select, *order_by, page: int, per_page: int
                 ) -> tuple[list, int]:
    """``(rows, total)``: page ``page`` (from 1) of ``query`` ordered by ``order_by``,
    ``per_page`` rows at most, and how many rows the whole query has."""
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(*order_by)
                           .offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), total or 0
