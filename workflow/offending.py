"""Each person's offending record summarised by the database: one row a person.

The facts read of offending events (``workflow.facts``) come from one grouped query over
the people of a chunk (or of one case: every path uses this), so a pass never ships a
person's events into Python to walk them. Only events dated on or before ``today``.

What a :class:`Record` holds (the window is ``since``..``today``):

* ``offence_category``: the latest conviction's category, else the latest charge's, else
  the latest arrest's; latest by date, then by id (the last recorded).
* ``newly_sentenced``: a conviction on or after ``sentenced_since``.
* ``arrests_window``, ``drug_arrests_window`` (categories :data:`DRUG_CATEGORIES`),
  ``convictions_window``: counts over the window.
* ``activity_score``: the sum over the window's events of ``kind_weight[kind] *
  gravity[category] * 0.5 ** (age in days / half_life_days)`` (``reference/activity.toml``,
  sent as bound parameters; gravity 0.5 for a category it does not name), each term
  rounded to the billionth (``floor(term * 1e9 + 0.5)``: integers, so the sum is exact
  in whatever order the database adds them, on every backend), then to 2 places.
* ``last_arrest``: the latest arrest's date (any time), or None.
* ``sanctions``: the OGRS3 history summary (:class:`workflow.scoring.Sanctions`) of the
  convictions and cautions, or None when there are none.
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection
from datetime import date
from functools import cache, lru_cache
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    Integer,
    String,
    bindparam,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.orm import Session, aliased

from db.dialect import day_number, ids_value, one_of_param, whole
from db.models import OffendingEvent
from workflow.scoring import Sanctions

DRUG_CATEGORIES = ("drug_import_production", "drug_possession_supply")
CURRENT_KINDS = ("conviction", "charge", "arrest")  # the current offence: first found
SANCTION_KINDS = ("conviction", "caution")
DEFAULT_GRAVITY = 0.5  # a category the reference does not name
BILLION = 10**9  # activity terms are summed in billionths


@cache
def activity_reference() -> dict:
    path = Path(__file__).resolve().parent / "reference" / "activity.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))


class Record(NamedTuple):
    """A person's offending record as the facts read it (see the module docstring); a
    named tuple: one is made for every person of a pass."""

    offence_category: str | None = None
    newly_sentenced: bool = False
    arrests_window: int = 0
    drug_arrests_window: int = 0
    convictions_window: int = 0
    activity_score: float = 0.0
    last_arrest: date | None = None
    sanctions: Sanctions | None = None


NO_RECORD = Record()  # a person with no event up to ``today``


ID_BITS = 40  # a key packs (day, id) as day << ID_BITS | id: ids below 2**40, and days
# (date.toordinal(), about 2**20 today) small enough that a key fits 63 bits


def _keys(dialect: str, e):
    """Each event's sort key for "latest by date, then id", as one integer (a max() over
    them finds the latest without sorting): ``day << 40 | id``; a sanction's key puts a
    conviction after a caution of the same day: ``(day << 1 | conviction) << 40 | id``."""
    day = day_number(dialect, e.occurred_on)
    shift = literal(1 << ID_BITS, BigInteger)
    key = day * shift + e.id
    convicted = case((e.kind == "conviction", 1), else_=0)
    return key, (day * 2 + convicted) * shift + e.id


def _activity(dialect: str, e):
    """One event's activity term in billionths, to the nearest (integers sum exactly, in
    any order), the reference weights as bound parameters (PostgreSQL: in the SQL text,
    :func:`_constant`)."""
    ref, const = activity_reference(), _constant(dialect)
    weight = case({const(k): const(float(w)) for k, w in ref["kind_weight"].items()},
                  value=e.kind)
    gravity = case({const(c): const(float(g)) for c, g in ref["gravity"].items()},
                   value=e.offence_category, else_=const(DEFAULT_GRAVITY))
    age = cast(bindparam("today_number", type_=Integer) - day_number(dialect, e.occurred_on),
               Float)
    decay = func.power(0.5, age / float(ref["half_life_days"]))
    return whole(dialect, weight * gravity * decay * float(BILLION) + 0.5)


def _constant(dialect: str):
    """How the reference's names and weights, and the kinds and categories the
    statement names, enter it: as they are (bound parameters), or on PostgreSQL as SQL
    constants of the same type and value (a quoted string; a float8 from the float's
    shortest exact text: the same double). psycopg parses a statement's text again at
    every execution when it has more than 50 parameters or 4096 characters, else once
    (measured: 0.35 ms a call of this one, one a chunk; 83 parameters before)."""
    if dialect != "postgresql":
        return lambda value: value

    def const(value):
        if isinstance(value, str):
            return literal_column("'" + value.replace("'", "''") + "'", String)
        return literal_column(f"'{float(value)!r}'::float8", Float)
    return const


@lru_cache(maxsize=4)
def _statement(dialect: str):
    """One row a person of ``:ids`` with an event up to ``:today``: the latest
    conviction, charge and arrest keys, the latest sanction's key, the window
    (``:since``..) counts and activity, the first sanction day and the number of sanction
    days; with the categories of the current offence and the current sanction (their
    events looked up by id, one index lookup each). Built once a dialect (building it
    costs more than running it); parameters ``ids``, ``today``, ``today_number`` and
    ``since`` (:func:`records`)."""
    e, const = OffendingEvent, _constant(dialect)
    key, sanction_key = _keys(dialect, e)
    in_window = e.occurred_on >= bindparam("since", type_=Date)
    sanction = e.kind.in_([const(k) for k in SANCTION_KINDS])

    def latest(kind):
        return func.max(case((e.kind == const(kind), key))).label(kind)

    def count(condition):
        return func.sum(case((condition, 1), else_=0))

    g = (select(
        e.person_id, *(latest(kind) for kind in CURRENT_KINDS),
        func.max(case((sanction, sanction_key))).label("sanction"),
        func.min(case((sanction, day_number(dialect, e.occurred_on)))).label("first"),
        func.count(case((sanction, e.occurred_on)).distinct()).label("occasions"),
        count((e.kind == const("arrest")) & in_window).label("arrests"),
        count((e.kind == const("arrest")) & in_window
              & e.offence_category.in_([const(c) for c in DRUG_CATEGORIES]))
        .label("drug_arrests"),
        count((e.kind == const("conviction")) & in_window).label("convictions"),
        cast(func.sum(case((in_window, _activity(dialect, e)))), BigInteger)
        .label("activity"))  # PostgreSQL: a bigint, not a numeric (Decimal) sum
        .where(one_of_param(dialect, e.person_id, "ids"),
               e.occurred_on <= bindparam("today", type_=Date))
        .group_by(e.person_id).subquery())
    mask = literal((1 << ID_BITS) - 1, BigInteger)
    current, sanctioned = aliased(OffendingEvent), aliased(OffendingEvent)
    current_key = func.coalesce(*(g.c[kind] for kind in CURRENT_KINDS))
    # Scalar subqueries, not joins: an index lookup a row. As LEFT JOINs, PostgreSQL
    # hashed the whole event table twice for each chunk of people (50 of a chunk's 56 ms
    # on a 100k-event table).
    return select(
        g, select(current.offence_category)
        .where(current.id == current_key.op("&")(mask)).scalar_subquery(),
        select(sanctioned.offence_category)
        .where(sanctioned.id == g.c.sanction.op("&")(mask)).scalar_subquery())


def records(session: Session, person_ids: Collection[int], today: date, since: date,
            sentenced_since: date) -> dict[int, Record]:
    """``{person_id: Record}`` for those of ``person_ids`` with an event up to ``today``
    (others: :data:`NO_RECORD`), from one grouped query. Runs on the session's
    connection as a Core statement: flush what the caller needs it to see first
    (``workflow.facts`` does)."""
    out = {}
    if not person_ids:
        return out
    dialect = session.get_bind().dialect.name
    rows = session.connection().execute(_statement(dialect), {
        "ids": ids_value(dialect, person_ids), "today": today,
        "today_number": today.toordinal(), "since": since}).all()
    sentenced_day, day = sentenced_since.toordinal(), date.fromordinal
    for (pid, conviction, _charge, arrest, sanction, first, occasions, arrests, drug,
         convictions, activity, current, sanction_category) in rows:
        out[pid] = Record(  # a key's day compared as a number: no date made for it
            current, conviction is not None and conviction >> ID_BITS >= sentenced_day,
            int(arrests), int(drug), int(convictions),
            round(int(activity or 0) / BILLION, 2),
            None if arrest is None else day(arrest >> ID_BITS),
            None if sanction is None else Sanctions(
                day(sanction >> (ID_BITS + 1)), sanction_category, int(occasions),
                day(first)))
    return out
