"""Opening cases and claiming them for exclusive processing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, joinedload, selectinload

from db import versioning
from db.dialect import insert_on_conflict_do_nothing
from db.models import Case, Person
from workflow import audit
from workflow.errors import NotFound


def open_missing_cases(session: Session, *, now: datetime, actor: str, limit: int = 5000
                       ) -> list[Case]:
    """Open a mapping case, due now, for every person who has never had one.

    Mapping identifies every nominal the partners share; whether the person is in scope
    is then for the mapping rule sets. Returns the cases opened (at most ``limit``).

    Safe under races: the cases are inserted with ``ON CONFLICT DO NOTHING`` on the one
    open case per person (``uq_iom_case_open_person``), so when another process opened
    some of them first those are skipped (and not audited) instead of failing the pass.
    """
    people = session.scalars(
        select(Person).where(~exists().where(Case.person_id == Person.id))
        .order_by(Person.id).limit(limit)).all()
    if not people:
        return []
    by_id = {p.id: p for p in people}
    table = Case.__table__
    statement = (insert_on_conflict_do_nothing(
        session, table, index_elements=[table.c.person_id],
        index_where=table.c.closed_at.is_(None))
        .values([{"person_id": p.id, "state": "mapping", "state_since": now,
                  "opened_at": now, "next_due_at": now, "episode": 1, "version": 1}
                 for p in people])
        .returning(table.c.id))
    ids = sorted(session.scalars(statement))
    opened = list(session.scalars(select(Case).where(Case.id.in_(ids)).order_by(Case.id)))
    for case in opened:
        person = by_id[case.person_id]
        audit.record(session, kind="case.opened", actor=actor, occurred_at=now,
                     case_id=case.id, person_ref=person.partner_ref,
                     summary=f"Case opened in mapping for {person.partner_ref}",
                     payload={"state": "mapping", "episode": case.episode})
    return opened


def claim(session: Session, case_id: int) -> Case | None:
    """Lock the case row for this transaction, or None if another process holds it.

    PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``. SQLite serialises writers itself.
    """
    cases = claim_many(session, [case_id])
    return cases[0] if cases else None


def get_case(session: Session, case_id: int) -> Case:
    """The case with its person (one query); raises :class:`NotFound` naming the id."""
    case = session.get(Case, case_id, options=[joinedload(Case.person)])
    if case is None:
        raise NotFound(f"case {case_id} not found", details={"case_id": case_id})
    return case


def lock_case(session: Session, case_id: int) -> Case:
    """The case, its row held until the transaction ends, waiting for any other holder
    (PostgreSQL ``FOR UPDATE``; a SQLite transaction already holds the write lock).

    For a change made on behalf of a person (not a client-held version): concurrent
    requests on one case then queue instead of failing the optimistic version check.
    """
    query = (select(Case).where(Case.id == case_id)
             .execution_options(populate_existing=True))
    postgres = session.get_bind().dialect.name == "postgresql"
    case = session.scalars(query.with_for_update() if postgres else query).first()
    if case is None:
        raise NotFound(f"case {case_id} not found", details={"case_id": case_id})
    if postgres:
        versioning.hold(session, [case.id])
    return case


def claim_many(session: Session, case_ids: list[int]) -> list[Case]:
    """Lock the unlocked rows among ``case_ids`` (skipping rows others hold), by id."""
    query = (select(Case).where(Case.id.in_(case_ids)).order_by(Case.id)
             .options(selectinload(Case.person))  # audit lines name the person
             .execution_options(populate_existing=True))  # the locked row, not a stale copy
    if session.get_bind().dialect.name != "postgresql":
        return list(session.scalars(query))
    cases = list(session.scalars(query.with_for_update(skip_locked=True)))
    versioning.hold(session, [c.id for c in cases])  # locked: their versions cannot move
    return cases
