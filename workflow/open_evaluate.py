"""Open and evaluate in one step: a scheduler pass's first look at new people.

Opening a case and evaluating it in the same pass used to be two steps: an ``INSERT``
of a mapping case due now per person (``workflow.cases.open_people``), then the due walk
claiming, evaluating and ``UPDATE``-ing every one of them (``workflow.advance_chunk``).
:func:`open_evaluated` does both for a chunk of people in one transaction: it evaluates
the cases they *would* get (:func:`fresh_rows`: the row ``open_people`` inserts, under a
placeholder id) with the same fact builder and rules as the due walk, then inserts the
cases already carrying a quiet evaluation's values (no second write), appends their
``case.opened`` entries, and applies the loud evaluations (a move, an audit entry, a
task) to the inserted rows through the normal apply path. A case ends exactly as
opening and then advancing it would leave it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import versioning
from db.bulk import insert_returning
from db.dialect import insert_on_conflict_do_nothing
from db.models import Case
from workflow.advance import AdvanceResult, Policy, apply_evaluation, evaluate_cases, full_facts
from workflow.advance_chunk import ClaimedCase, load_cases, split_quiet
from workflow.cases import append_opened

STAGE = "mapping"  # where every new case starts


@dataclass
class Opened:
    """What :func:`open_evaluated` did: ``results`` per case opened (and evaluated), by
    case id; ``due`` the ids among them due again at once (moved to a stage evaluated at
    the next pass: the same pass's due walk must not take them)."""

    results: list[AdvanceResult] = field(default_factory=list)
    due: list[int] = field(default_factory=list)


def _start(now: datetime) -> dict:
    """Every column of ``workflow.advance_chunk.CLAIM_COLUMNS`` a new case starts with (what
    ``workflow.cases.open_people`` inserts), but its id and person."""
    return {"state": STAGE, "state_since": now, "opened_at": now, "next_due_at": now,
            "version": 1, "last_outcome": None, "last_versions": None, "intensity": None,
            "guard_override": None, "activity_score": None, "last_error": None}


# Of a new case's columns, those a quiet evaluation may change (bound per row); the rest
# of what the insert writes is the same for the whole chunk (:func:`_constants`).
_PER_ROW = ("next_due_at", "activity_score", "last_outcome", "version")
_CONSTANT = ("state", "state_since", "opened_at", "last_error")


def fresh_rows(people: list[tuple[int, str]], now: datetime) -> list[ClaimedCase]:
    """The claimed row of the case ``workflow.cases.open_people`` would open for each
    person, under the placeholder id ``-person id`` (no case has it)."""
    start = _start(now)
    rest, make = tuple(start[k] for k in ClaimedCase._fields[2:]), ClaimedCase._make
    return [make((-pid, pid, *rest)) for pid, _ in people]


_per_row, _ROW = attrgetter(*_PER_ROW), ("person_id", *_PER_ROW)


def _row(case: ClaimedCase, write: dict | None) -> dict:
    """The per-row column values to insert for the fresh ``case``: its own, with what a
    quiet evaluation stores (``write``, from ``workflow.advance_chunk.split_quiet``)
    applied; ``write`` None (loud, or nothing differs): the fresh case's, due now."""
    row = dict(zip(_ROW, (case.person_id, *_per_row(case)), strict=True))
    if write:
        for k in _PER_ROW:
            if k in write:
                row[k] = write[k]
    return row


def _constants(now: datetime) -> dict:
    """What every new case of a chunk has (:func:`_start`), bound once for the chunk."""
    start = _start(now)
    return {**{k: start[k] for k in _CONSTANT}, "episode": 1}


_inserts: dict[str, object] = {}  # dialect name -> the INSERT of new cases


def _insert_cases(session: Session):
    """``INSERT INTO iom_case ... ON CONFLICT (person_id) WHERE open DO NOTHING``, one
    object a dialect (``db.bulk.insert_returning`` then builds its SELECT once)."""
    name = session.get_bind().dialect.name
    found = _inserts.get(name)
    if found is None:
        table = Case.__table__
        found = _inserts[name] = insert_on_conflict_do_nothing(
            session, table, index_elements=[table.c.person_id],
            index_where=table.c.closed_at.is_(None))
    return found


def open_evaluated(session: Session, people: list[tuple[int, str]], *, now: datetime,
                   actor: str, policy: Policy) -> Opened:
    """Open and evaluate a mapping case for each of ``people`` (``(id, partner_ref)`` by
    id, none with a case when read: ``workflow.cases.people_without_case``). A person
    another process opened a case for meanwhile is skipped (``ON CONFLICT DO NOTHING``:
    not evaluated, not audited). Raises what evaluating or applying raises (the caller
    rolls back and opens the chunk unevaluated instead). Flushes, never commits."""
    fresh = fresh_rows(people, now)
    evaluations = evaluate_cases(session, fresh, now=now, policy=policy, only_needed=True)
    quiet_list, loud_list = split_quiet(fresh, evaluations, now=now, policy=policy)
    quiet = {row.person_id: (write, ev) for row, ev, write in quiet_list}
    loud = {row.person_id: (row, ev) for row, ev in loud_list}
    full_facts(session, [row for row, _ in loud_list], [ev for _, ev in loud_list],
               now=now, policy=policy)  # what audit records, before the chain is taken
    table = Case.__table__
    inserted = sorted(tuple(row) for row in insert_returning(
        session, _insert_cases(session), table,
        [_row(case, quiet.get(case.person_id, (None,))[0]) for case in fresh],
        [table.c.id, table.c.person_id], constants=_constants(now)))
    refs = dict(people)
    append_opened(session, [(cid, pid, refs[pid]) for cid, pid in inserted], now=now,
                  actor=actor)
    return _apply(session, inserted, quiet, loud, now=now, actor=actor, policy=policy)


def _apply(session: Session, inserted: list[tuple[int, int]], quiet: dict, loud: dict, *,
           now: datetime, actor: str, policy: Policy) -> Opened:
    """Results of the quiet evaluations of the ``inserted`` cases, and the loud ones
    applied to them (rows this transaction inserted: held) through the normal path."""
    out = Opened()
    ids = {pid: cid for cid, pid in inserted}
    loud_ids = [ids[pid] for pid in loud if pid in ids]
    versioning.hold(session, loud_ids)
    cases = load_cases(session, loud_ids)
    for cid, pid in inserted:
        if pid in quiet:
            write, ev = quiet[pid]
            out.results.append(AdvanceResult(cid, STAGE, STAGE, ev.outcome, ev.decisions))
            due = write["next_due_at"] if write else now  # nothing written: due now
            if due is not None and due <= now:
                out.due.append(cid)
            continue
        ev = loud[pid][1]
        ev.case_id = cid
        case = cases[cid]
        out.results.append(apply_evaluation(session, case, ev, now=now, actor=actor,
                                            policy=policy, flush=False))
        if case.next_due_at is not None and case.next_due_at <= now:
            out.due.append(cid)
    session.flush()
    return out


def due_count(session: Session, *, now: datetime, stages: tuple[str, ...], limit: int
              ) -> int:
    """How many open cases in ``stages`` are due at ``now``, counting up to ``limit``
    (what a pass's due walk takes before any case it opens)."""
    due = (select(Case.id).where(Case.closed_at.is_(None), Case.state.in_(stages),
                                 Case.next_due_at <= now).limit(limit).subquery())
    return session.scalar(select(func.count()).select_from(due))
