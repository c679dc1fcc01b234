"""The case list: filters that hit indexes, one query for a page and its people.

Filters: ``state``, ``stream`` (the case's cohort: Fixed / Flex / Free), ``lead`` (the
lead professional's user id), ``agency`` (the lead professional's agency) and
``due_before`` (next due at or before an instant). Newest case first (id descending);
with ``due_before``, soonest due first (then id). Paged by keyset (:mod:`workflow.pages`).
Each case comes with its person in the same query (a join, not one query per row), and
only the columns a listing shows are read, as plain rows (no ORM instances: a page is
50 rows, read-only, and building mapped objects for them cost more than the query).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import false, select
from sqlalchemy.orm import Session

from db.models import Case, Person, User
from workflow.pages import Key, Page, seek_page
from workflow.sharing.decide import HAS_LISTS

# What a listed case shows: the row's attributes are these columns' names.
LISTED = (Case.id, Case.person_id, Case.episode, Case.state, Case.state_since,
          Case.opened_at, Case.closed_at, Case.next_due_at, Case.last_outcome, Case.cohort,
          Case.intensity, Case.activity_score, Case.lead_user_id, Case.last_error,
          Case.version)
LISTED_PERSON = (Person.partner_ref, Person.given_name, Person.family_name)
CASE_KEYS = (Key(Case.id, "id", descending=True),)
DUE_KEYS = (Key(Case.next_due_at, "next_due_at", kind=datetime), Key(Case.id, "id"))


def case_query(*, state: str | None = None, stream: str | None = None,
               lead: int | None = None, leads: tuple[int, ...] | None = None,
               due_before: datetime | None = None):
    """The SELECT of listed case rows (:data:`LISTED` and the person's
    :data:`LISTED_PERSON` columns, and ``has_lists``: whether the case has an active
    restriction or exclusion list) matching every filter given; ``leads``: the lead
    professional is one of these user ids."""
    query = select(*LISTED, *LISTED_PERSON, HAS_LISTS).join_from(
        Case, Person, Case.person_id == Person.id)
    if state:
        query = query.where(Case.state == state)
    if stream:
        query = query.where(Case.cohort == stream)
    if lead is not None:
        query = query.where(Case.lead_user_id == lead)
    if leads is not None:  # an agency's lead professionals, resolved first
        query = query.where(Case.lead_user_id.in_(leads) if leads else false())
    if due_before is not None:
        query = query.where(Case.next_due_at <= due_before)
    return query


def list_cases(session: Session, *, per_page: int = 50, after: str | None = None,
               page: int | None = None, total: bool = False, **filters) -> Page:
    """One page of listed case rows, newest first (see module docstring for ``filters``):
    ``Row`` objects with the attributes named in :data:`LISTED` and :data:`LISTED_PERSON`."""
    agency = filters.pop("agency", None)
    if agency:  # ids first: the case index on the lead then serves the filter
        filters["leads"] = tuple(session.scalars(select(User.id).where(
            User.agency == agency).order_by(User.id)))
    keys = DUE_KEYS if filters.get("due_before") is not None else CASE_KEYS
    return seek_page(session, case_query(**filters), keys, per_page=per_page,
                     after=after, page=page, total=total, scalars=False)
