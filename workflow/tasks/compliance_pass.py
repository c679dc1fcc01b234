"""The periodic compliance pass: every open, active case evaluated in turn.

Compliance events sent through the API are evaluated at once
(``workflow.tasks.compliance``). This pass catches the rest: arrests and flags that
arrive by partner import, and rules that fire as time passes (an arrest "in the last 7
days", a second missed appointment "within 30 days").

Each open case in an active state (``workflow.lifecycle.ACTIVE``) carries
``compliance_due_at``: when the pass next evaluates it (None: at once, as for a case
just allocated). A pass takes up to ``[scheduler] batch_size`` due cases, oldest first,
in chunks of ``chunk_size``; each chunk is one transaction that locks its cases
(skipping those another scheduler holds), evaluates them (``evaluate_compliance_many``)
and sets them ``[tasks] compliance_recheck_minutes`` ahead. Partner data about a person
makes their case due at once (``workflow.guards.mark_guard_due``). A chunk that fails is
redone one case per transaction, so one bad case is reported and the others go on; the
failed case stays due and is tried again on the next pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from db.dialect import one_of
from db.models import Case
from db.session import run_in_transaction
from workflow.cases import lock_claimed, person_names
from workflow.lifecycle import ACTIVE
from workflow.tasks.compliance import compliance_rulesets, evaluate_compliance_many

log = logging.getLogger("iom.tasks")


@dataclass
class ComplianceReport:
    """``checked`` cases, tasks ``raised``, per-case ``failed`` {case id: error}."""

    checked: int = 0
    raised: int = 0
    failed: dict[int, str] = field(default_factory=dict)


def _due(now: datetime):
    return (Case.closed_at.is_(None), Case.state.in_(ACTIVE),
            or_(Case.compliance_due_at.is_(None), Case.compliance_due_at <= now))


def compliance_due_ids(session: Session, *, now: datetime, limit: int) -> list[int]:
    """Open, active cases due for the pass at ``now``: never checked first, then the
    longest due, by id (the partial index ``ix_iom_case_compliance_due``)."""
    return list(session.scalars(select(Case.id).where(*_due(now)).order_by(
        Case.compliance_due_at.is_not(None), Case.compliance_due_at, Case.id).limit(limit)))


def _check_chunk(session: Session, ids: list[int], *, now: datetime, actor: str, settings,
                 ) -> tuple[int, int]:
    """Evaluate the still-due cases among ``ids`` that this transaction could lock, and
    set them ahead: ``(checked, tasks raised)``."""
    from workflow.policy.store import policy_in_force

    cases = lock_claimed(session, select(Case).where(one_of(session, Case.id, ids),
                                                     *_due(now)).order_by(Case.id)
                         .options(person_names())
                         .execution_options(populate_existing=True), objects=True)
    if not cases:
        return 0, 0
    policy = policy_in_force(session, settings, now)
    raised = evaluate_compliance_many(session, cases, now=now, actor=actor, policy=policy,
                                      rulesets=compliance_rulesets(policy))
    ahead = now + timedelta(minutes=settings.tasks["compliance_recheck_minutes"])
    # Bookkeeping, not a decision's basis: no version bump (db/versioning.py).
    session.execute(update(Case).where(one_of(session, Case.id, [c.id for c in cases]))
                    .values(compliance_due_at=ahead)
                    .execution_options(synchronize_session=False))
    return len(cases), len(raised)


def run_compliance_pass(runtime, now: datetime, *, actor: str = "scheduler"
                        ) -> ComplianceReport:
    """One pass over the due cases (see the module docstring)."""
    settings, report = runtime.settings, ComplianceReport()
    ids = run_in_transaction(runtime.sessions, lambda session: compliance_due_ids(
        session, now=now, limit=settings.batch_size))
    for start in range(0, len(ids), settings.chunk_size):
        chunk = ids[start:start + settings.chunk_size]
        try:
            done = [run_in_transaction(runtime.sessions, lambda s, c=chunk: _check_chunk(
                s, c, now=now, actor=actor, settings=settings))]
        except Exception:  # noqa: BLE001 - isolate the failure: redo case by case
            log.info("compliance chunk of %d cases rolled back; one at a time", len(chunk))
            done = [_one(runtime, case_id, now=now, actor=actor, report=report)
                    for case_id in chunk]
        report.checked += sum(checked for checked, _ in done)
        report.raised += sum(raised for _, raised in done)
    return report


def _one(runtime, case_id: int, *, now: datetime, actor: str, report: ComplianceReport
         ) -> tuple[int, int]:
    try:
        return run_in_transaction(runtime.sessions, lambda s: _check_chunk(
            s, [case_id], now=now, actor=actor, settings=runtime.settings))
    except Exception as exc:  # noqa: BLE001 - reported per case; due again next pass
        log.warning("compliance check of case %s failed: %s", case_id, exc)
        report.failed[case_id] = f"{type(exc).__name__}: {exc}"
        return 0, 0
