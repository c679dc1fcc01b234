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

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import versioning
from db.bulk import insert_returning
from db.dialect import insert_on_conflict_do_nothing
from db.models import Case
from workflow.advance import (
    AdvanceResult,
    Policy,
    apply_evaluation,
    evaluate_cases,
    full_facts,
    quiet_values,
)
from workflow.advance_chunk import ClaimedCase, load_cases
from workflow.cases import append_opened

STAGE = "mapping"  # where every new case starts


@dataclass
class Opened:
    """What :func:`open_evaluated` did: ``results`` per case opened (and evaluated), by
    case id; ``due`` the ids among them due again at once (moved to a stage evaluated at
    the next pass: the same pass's due walk must not take them)."""

    results: list[AdvanceResult] = field(default_factory=list)
    due: list[int] = field(default_factory=list)


def fresh_rows(people: list[tuple[int, str]], now: datetime) -> list[ClaimedCase]:
    """The claimed row of the case ``workflow.cases.open_people`` would open for each
    person, under the placeholder id ``-person id`` (no case has it)."""
    return [ClaimedCase(id=-pid, person_id=pid, state=STAGE, state_since=now, opened_at=now,
                        next_due_at=now, version=1, last_outcome=None, last_versions=None,
                        intensity=None, guard_override=None, activity_score=None,
                        last_error=None) for pid, _ in people]


def _row(case: ClaimedCase, values: dict | None) -> dict:
    """The column values to insert for ``case`` other than :func:`_constants`: the fresh
    case's, with a quiet evaluation's ``values`` applied as ``advance_chunk`` would (a
    version more when any differs); ``values`` None (loud): the fresh case, due now."""
    row = {"person_id": case.person_id, "next_due_at": case.next_due_at,
           "activity_score": case.activity_score, "last_outcome": case.last_outcome,
           "version": case.version}
    if values is not None and any(getattr(case, k) != v for k, v in values.items()):
        row.update(values, version=case.version + 1)
        row.pop("last_error", None)  # None either way (a constant)
    return row


def _constants(now: datetime) -> dict:
    """What every new case has (:func:`fresh_rows`), bound once for the chunk."""
    return {"state": STAGE, "state_since": now, "opened_at": now, "episode": 1,
            "last_error": None}


def open_evaluated(session: Session, people: list[tuple[int, str]], *, now: datetime,
                   actor: str, policy: Policy) -> Opened:
    """Open and evaluate a mapping case for each of ``people`` (``(id, partner_ref)`` by
    id, none with a case when read: ``workflow.cases.people_without_case``). A person
    another process opened a case for meanwhile is skipped (``ON CONFLICT DO NOTHING``:
    not evaluated, not audited). Raises what evaluating or applying raises (the caller
    rolls back and opens the chunk unevaluated instead). Flushes, never commits."""
    fresh = fresh_rows(people, now)
    evaluations = evaluate_cases(session, fresh, now=now, policy=policy, only_needed=True)
    quiet, loud = {}, {}
    for case, ev in zip(fresh, evaluations, strict=True):
        values = quiet_values(case, ev, now=now, policy=policy)
        if values is None:
            loud[case.person_id] = (case, ev)
        else:
            quiet[case.person_id] = (values, ev)
    full_facts(session, [c for c, _ in loud.values()], [ev for _, ev in loud.values()],
               now=now, policy=policy)  # what audit records, before the chain is taken
    table = Case.__table__
    inserted = sorted(insert_returning(
        session, insert_on_conflict_do_nothing(session, table,
                                               index_elements=[table.c.person_id],
                                               index_where=table.c.closed_at.is_(None)),
        table, [_row(case, quiet[case.person_id][0] if case.person_id in quiet else None)
                for case in fresh],
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
            values, ev = quiet[pid]
            out.results.append(AdvanceResult(cid, STAGE, STAGE, ev.outcome, ev.decisions))
            due = values["next_due_at"]
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
