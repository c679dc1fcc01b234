"""Advance a chunk of due cases set-based: the scheduler pass's hot path.

The chunk's case rows are claimed as plain rows (``SELECT ... FOR UPDATE SKIP LOCKED`` of
the columns an evaluation reads), not ORM objects. Facts are built for the whole chunk by
the one fact builder every path uses (``workflow.facts.facts_for_cases``: explain,
preview and the evaluate API build the same facts for one case), only those the rule
sets read, and the chunk is evaluated together (``workflow.advance.evaluate_cases``). A
quiet evaluation (no move, no audit entry, no task: only the next due date, score and
outcome fields change) is written by one set-based ``UPDATE`` for the whole chunk. Only
the cases that move or need an audit entry or a task get every fact and are loaded as
ORM objects (their rows already held), and go through the normal apply path
(``workflow.advance.apply_evaluation``). Flushes, never commits: the caller owns the
transaction (one a chunk).
"""

from __future__ import annotations

from collections import namedtuple
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.bulk import update_rows
from db.dialect import one_of
from db.models import Case
from workflow.advance import (
    AdvanceResult,
    Policy,
    apply_evaluation,
    evaluate_cases,
    full_facts,
    quiet_values,
)
from workflow.cases import lock_claimed, person_names

# What evaluating a case and deciding whether it is quiet read (workflow.advance,
# workflow.facts, workflow.tasks.facts, workflow.guards.without_overridden).
CLAIM_COLUMNS = (Case.id, Case.person_id, Case.state, Case.state_since, Case.opened_at,
                 Case.next_due_at, Case.version, Case.last_outcome, Case.last_versions,
                 Case.intensity, Case.guard_override, Case.activity_score, Case.last_error)


# A claimed row: a named tuple (reading a field of a SQLAlchemy Row by name costs about
# 1 us, of a named tuple 30 ns; a chunk's path reads about 20 of each row).
ClaimedCase = namedtuple("ClaimedCase", [c.key for c in CLAIM_COLUMNS])


def claim_rows(session: Session, case_ids: list[int]) -> list[ClaimedCase]:
    """Lock the unlocked rows among ``case_ids`` (skipping rows others hold) and return
    them by id as :class:`ClaimedCase` tuples of :data:`CLAIM_COLUMNS`
    (``workflow.cases.lock_claimed``; on SQLite the ORM path checks versions when it
    writes)."""
    query = select(*CLAIM_COLUMNS).where(one_of(session, Case.id, case_ids)).order_by(Case.id)
    return [ClaimedCase._make(row) for row in lock_claimed(session, query, objects=False)]


def load_cases(session: Session, ids: list[int]) -> dict[int, Case]:
    """ORM objects of the claimed cases that are not quiet (rows this transaction holds)."""
    if not ids:
        return {}
    query = (select(Case).where(one_of(session, Case.id, ids)).options(person_names())
             .execution_options(populate_existing=True))
    return {c.id: c for c in session.scalars(query)}


def split_quiet(rows: list[ClaimedCase], evaluations: list, *, now: datetime,
                policy: Policy) -> tuple[list[tuple], list[tuple]]:
    """Split claimed ``rows`` and their ``evaluations`` (same order) into the quiet ones,
    ``[(row, evaluation, write)]``, and the loud ones, ``[(row, evaluation)]``, that go
    through the apply path (``workflow.advance.quiet_values``). ``write`` is what a quiet
    evaluation stores in the row (its values and a version more), or None when no value
    differs from the row's (nothing to write, the version stays)."""
    quiet, loud = [], []
    for row, ev in zip(rows, evaluations, strict=True):
        values = quiet_values(row, ev, now=now, policy=policy)
        if values is None:
            loud.append((row, ev))
            continue
        for k, v in values.items():  # a loop, not any(genexpr): one a case
            if getattr(row, k) != v:
                break
        else:
            quiet.append((row, ev, None))
            continue
        values["version"] = row.version + 1  # quiet_values' dict is the caller's own
        quiet.append((row, ev, values))
    return quiet, loud


def advance_chunk(session: Session, due: list[tuple[int, int]], *, now: datetime,
                  actor: str, policy: Policy) -> list[AdvanceResult]:
    """Claim, evaluate and apply a chunk of due cases ``[(id, version)]`` (a case another
    process holds, changed since it was selected or no longer due is skipped). Returns an
    :class:`AdvanceResult` per case evaluated, by id; raises what evaluating or applying
    raises (the caller rolls the chunk back). Flushes."""
    versions = dict(due)
    rows = [r for r in claim_rows(session, list(versions))
            if r.version == versions[r.id] and r.next_due_at is not None
            and r.next_due_at <= now]
    evaluations = evaluate_cases(session, rows, now=now, policy=policy, only_needed=True)
    quiet, loud = split_quiet(rows, evaluations, now=now, policy=policy)
    results = {row.id: AdvanceResult(row.id, row.state, row.state, ev.outcome, ev.decisions)
               for row, ev, _ in quiet}
    update_rows(session, Case.__table__,  # one statement a chunk on PostgreSQL
                [{"id": row.id, **write} for row, _, write in quiet if write])
    full_facts(session, [row for row, _ in loud], [ev for _, ev in loud], now=now,
               policy=policy)  # what audit records
    cases = load_cases(session, [ev.case_id for _, ev in loud])
    for _, ev in loud:
        results[ev.case_id] = apply_evaluation(session, cases[ev.case_id], ev, now=now,
                                               actor=actor, policy=policy, flush=False)
    session.flush()
    return [results[r.id] for r in rows]
