"""Opening cases and claiming them for exclusive processing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, literal, select
from sqlalchemy.orm import Session, joinedload

from db import versioning
from db.bulk import refresh_statistics
from db.dialect import insert_on_conflict_do_nothing, one_of
from db.models import Case, Person
from workflow import audit
from workflow.errors import NotFound

OPEN_CHUNK = 5_000  # people opened per INSERT ... SELECT and audit chunk
ANALYZE_OPENED = 10_000  # a pass that opened this many cases refreshes their statistics


def after_opening(session: Session, opened: int) -> bool:
    """Refresh the planner's statistics of the cases table when a pass has just opened
    ``opened`` >= :data:`ANALYZE_OPENED` cases (a new borough), so the same pass's due
    pages and claims are planned for the table as it now is (PostgreSQL; True if run)."""
    return opened >= ANALYZE_OPENED and refresh_statistics(session, Case.__table__)


def open_missing_cases(session: Session, *, now: datetime, actor: str,
                       limit: int | None = None) -> list[Case]:
    """:func:`open_missing`, returning the cases opened as ORM objects, by id (for
    callers handling a few; a scheduler pass uses :func:`open_missing`)."""
    ids: list[int] = []
    open_missing(session, now=now, actor=actor, limit=limit, into=ids)
    if not ids:
        return []
    return list(session.scalars(select(Case).where(Case.id.in_(ids)).order_by(Case.id)))


def open_missing(session: Session, *, now: datetime, actor: str, limit: int | None = None,
                 chunk: int = OPEN_CHUNK, into: list[int] | None = None, after_id: int = 0
                 ) -> tuple[int, int]:
    """Open a mapping case, due now, for every person who has never had one (at most
    ``limit``; None: all of them) with an id above ``after_id``. Returns ``(how many were
    opened, the last person id looked at)`` (pass it back as ``after_id`` to go on); the
    ids of the cases opened are added to ``into`` when given.

    Mapping identifies every nominal the partners share; whether the person is in scope
    is then for the mapping rule sets. Set-based: up to ``chunk`` people at a time, in
    person order, are opened by one ``INSERT ... SELECT`` and their ``case.opened``
    entries appended as one audit chunk (:func:`workflow.audit.append_chunk`), so memory
    is bounded by ``chunk`` whatever the number of people.

    Safe under races: the insert is ``ON CONFLICT DO NOTHING`` on the one open case per
    person (``uq_iom_case_open_person``), so people another process opened first are
    skipped (and not audited) instead of failing the pass.
    """
    opened, after = 0, after_id
    while limit is None or opened < limit:
        size = chunk if limit is None else min(chunk, limit - opened)
        people = people_without_case(session, after_id=after, limit=size)
        if not people:
            break
        after = people[-1][0]
        rows = open_people(session, people, now=now, actor=actor)
        opened += len(rows)
        if into is not None:
            into.extend(case_id for case_id, _ in rows)
    return opened, after


def people_without_case(session: Session, *, after_id: int, limit: int
                        ) -> list[tuple[int, str]]:
    """``(id, partner_ref)`` of up to ``limit`` people with id above ``after_id`` who
    have never had a case, by id (keyset: pass the last id back to go on). Flushes,
    then reads as a Core statement (plain rows: no ORM loading of a row a person)."""
    if session.autoflush:
        session.flush()
    return [tuple(row) for row in session.connection().execute(  # the case side bounded
        select(Person.id, Person.partner_ref)                    # too (_insert_cases)
        .where(Person.id > after_id, ~exists().where(Case.person_id == Person.id,
                                                      Case.person_id > after_id))
        .order_by(Person.id).limit(limit)).all()]  # all(): one fetch, not a row each


def open_people(session: Session, people: list[tuple[int, str]], *, now: datetime,
                actor: str) -> list[tuple[int, int]]:
    """Open a mapping case, due now, for each person without one whose id is in the range
    of ``people`` (``(id, partner_ref)`` by id, from :func:`people_without_case`), by one
    ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``, and append their ``case.opened``
    entries as one audit chunk. Returns ``(case id, person id)`` of the cases opened."""
    refs = dict(people)
    rows = sorted(session.execute(_insert_cases(session, people[0][0], people[-1][0],
                                                now)).all())
    missing = {pid for _, pid in rows if pid not in refs}  # appeared since the read
    if missing:
        refs.update(session.execute(select(Person.id, Person.partner_ref)
                                    .where(Person.id.in_(missing))).all())
    append_opened(session, [(case_id, pid, refs[pid]) for case_id, pid in rows],
                  now=now, actor=actor)
    return [tuple(row) for row in rows]


def append_opened(session: Session, opened: list[tuple[int, int, str]], *, now: datetime,
                  actor: str) -> None:
    """Append the ``case.opened`` entries of ``opened`` (``(case id, person id, partner
    ref)``, in this order) as one audit chunk (:func:`workflow.audit.append_chunk`)."""
    payload = {"state": "mapping", "episode": 1}  # one object: encoded once a chunk
    if opened:
        audit.append_chunk(session, [audit.Pending(
            kind="case.opened", actor=actor, occurred_at=now, case_id=case_id,
            person_ref=ref, summary=f"Case opened in mapping for {ref}",
            payload=payload) for case_id, _, ref in opened])


def _insert_cases(session: Session, first: int, last: int, now: datetime):
    """``INSERT INTO iom_case ... SELECT`` a mapping case for each person with id in
    ``first..last`` who has no case, skipping conflicts; returns ``(id, person_id)``.

    The case side of the anti-join carries the same id bound (implied by the join, but
    PostgreSQL does not infer it): else its merge anti-join scans every case from the
    first person on, each chunk, and opening N people costs O(N^2) (measured: 0.5 s a
    chunk at 900k cases, 8 ms with the bound)."""
    table = Case.__table__
    moment = literal(now, table.c.state_since.type)
    source = (select(Person.id, literal("mapping"), moment, moment, moment,
                     literal(1), literal(1))
              .where(Person.id.between(first, last),
                     ~exists().where(Case.person_id == Person.id,
                                     Case.person_id.between(first, last))))
    return (insert_on_conflict_do_nothing(session, table, index_elements=[table.c.person_id],
                                          index_where=table.c.closed_at.is_(None))
            .from_select(["person_id", "state", "state_since", "opened_at", "next_due_at",
                          "episode", "version"], source)
            .returning(table.c.id, table.c.person_id))


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


def person_names():
    """Load option: a case's person, only the columns audit lines and task titles name
    (any other loads on first use), joined in the same statement (not a second query
    binding the ids again)."""
    return joinedload(Case.person, innerjoin=True).load_only(
        Person.partner_ref, Person.given_name, Person.family_name)


def lock_claimed(session: Session, query, *, objects: bool) -> list:
    """Run ``query`` (a select of case rows or ORM cases, with ``id``), locking the rows
    no other transaction holds and skipping the rest (PostgreSQL ``FOR UPDATE SKIP
    LOCKED``; SQLite serialises writers itself); the locked cases' versions are held.
    ORM objects when ``objects``, else plain rows."""
    postgres = session.get_bind().dialect.name == "postgresql"
    # Plain rows: a Core statement on the session's connection (no ORM result processing)
    execute = session.execute if objects else session.connection().execute
    result = execute(query.with_for_update(skip_locked=True, of=Case) if postgres else query)
    claimed = list(result.scalars()) if objects else result.all()
    if postgres:
        versioning.hold(session, [c.id for c in claimed])  # locked: versions cannot move
    return claimed


def claim_many(session: Session, case_ids: list[int]) -> list[Case]:
    """Lock the unlocked rows among ``case_ids`` (skipping rows others hold), by id."""
    query = (select(Case).where(one_of(session, Case.id, case_ids)).order_by(Case.id)
             .options(person_names())
             .execution_options(populate_existing=True))  # the locked row, not a stale copy
    return lock_claimed(session, query, objects=True)
