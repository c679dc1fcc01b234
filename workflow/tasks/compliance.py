"""Compliance events (principle 3) and the enforcement they trigger.

``record_event`` stores what a partner reports, idempotently by ``event_id``.
``evaluate_compliance`` evaluates the compliance rule sets (the stage policy's
``compliance`` and ``programme_links`` purposes) and the case's stage rule sets,
keeps only task decisions (``create_task`` / ``raise_enforcement``) and raises them as
tasks. Both flush, never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import COMPLIANCE_KINDS, Case, ComplianceEvent, Person, Task
from rules.engine import RuleEngine, default_engine
from workflow import audit
from workflow.errors import ConfigError, Conflict, IllegalTransition, InvalidInput, NotFound
from workflow.facts import facts_for_cases
from workflow.guards import mark_case_guard_due
from workflow.lifecycle import fire, transition_for
from workflow.rulesets import published_document
from workflow.tasks.service import TASK_ACTIONS, raise_tasks

DEFAULT_RULESETS = ("enforcement-triggers",)
FUTURE_TOLERANCE = timedelta(minutes=5)


def _check(event_id: str, kind: str, occurred_at: datetime, details, now: datetime) -> None:
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > 80:
        raise InvalidInput("event_id must be 1 to 80 characters", details={"field": "event_id"})
    if kind not in COMPLIANCE_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(COMPLIANCE_KINDS)}",
                           details={"field": "kind"})
    if occurred_at.tzinfo is None:
        raise InvalidInput("occurred_at needs a time zone", details={"field": "occurred_at"})
    if occurred_at > now + FUTURE_TOLERANCE:
        raise InvalidInput("occurred_at is in the future", details={"field": "occurred_at"})
    if not isinstance(details, dict):
        raise InvalidInput("details must be an object", details={"field": "details"})


def _same(event: ComplianceEvent, case_id, person_id, kind, occurred_at, details) -> bool:
    return (event.case_id, event.person_id, event.kind, event.occurred_at, event.details) == (
        case_id, person_id, kind, occurred_at, details)


def record_event(session: Session, case: Case | None, *, event_id: str, kind: str,
                 occurred_at: datetime, details: dict | None, actor: str, now: datetime,
                 person: Person | None = None) -> tuple[ComplianceEvent, bool]:
    """Store one event about ``case`` (or ``person`` when no case); ``(event, created)``.

    Same ``event_id`` and same content: no-op (``created`` False). Same id, different
    content: :class:`Conflict`. Audited as ``compliance.event``.
    """
    details = {} if details is None else details
    _check(event_id, kind, occurred_at, details, now)
    # Stored (and audited) as its canonical value: NUL, NaN... refused here, 1e16 kept
    # as the number it is on every backend (see db/canonical.py).
    details = audit.canonical_payload(details, "details")[1]
    audit.canonical_payload(event_id, "event_id")
    person = case.person if case is not None else person
    if person is None:
        raise InvalidInput("an event needs a case or a person", details={"field": "case_id"})
    case_id = case.id if case is not None else None
    existing = session.scalars(select(ComplianceEvent).where(
        ComplianceEvent.event_id == event_id)).first()
    if existing is None:
        event = ComplianceEvent(event_id=event_id, case_id=case_id, person_id=person.id,
                                kind=kind, occurred_at=occurred_at, details=details,
                                recorded_by=actor, recorded_at=now)
        try:
            with session.begin_nested():
                session.add(event)
        except IntegrityError:  # recorded concurrently: compare with the winner
            existing = session.scalars(select(ComplianceEvent).where(
                ComplianceEvent.event_id == event_id)).one()
        else:
            _audit(session, event, person, actor=actor, now=now)
            _custody_transition(session, case, event, actor=actor, now=now)
            # An event can make the case excluded (a rule on any fact): guards check it now.
            mark_case_guard_due(session, case, person.id, now=now)
            return event, True
    if not _same(existing, case_id, person.id, kind, occurred_at, details):
        raise Conflict(f"event {event_id} was already recorded with different content",
                       details={"field": "event_id", "event_id": event_id})
    return existing, False


def _custody_transition(session: Session, case: Case | None, event: ComplianceEvent, *,
                        actor: str, now: datetime) -> None:
    """Custody in suspends an active case; custody out resumes a suspended one. Other
    states have nothing to suspend: the event is recorded and the rules see it."""
    if case is None or event.kind not in ("custody_in", "custody_out"):
        return
    try:
        transition_for(case.state, event.kind)
    except IllegalTransition:
        return
    fire(session, case, event.kind, now=now, actor=actor,
         cause={"kind": "event", "reason": f"{event.kind.replace('_', ' ')} reported",
                "event_id": event.event_id, "occurred_at": event.occurred_at.isoformat()})
    case.next_due_at = None if event.kind == "custody_in" else now


def _audit(session: Session, event: ComplianceEvent, person: Person, *, actor, now) -> None:
    audit.record(session, kind="compliance.event", actor=actor, occurred_at=now,
                 case_id=event.case_id, person_ref=person.partner_ref,
                 summary=f"{event.kind.replace('_', ' ')} on "
                         f"{event.occurred_at.isoformat()} recorded by {actor}",
                 payload={"event_id": event.event_id, "kind": event.kind,
                          "occurred_at": event.occurred_at, "details": event.details})


def _documents(session: Session, state: str, names: Iterable[str], *, now: datetime,
               required: set[str]):
    """Published documents of ``names`` written for ``state`` and in force at ``now``."""
    docs, seen = [], set()
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        try:
            doc = published_document(session, name, on=now)
        except NotFound as exc:
            if name in required:
                raise ConfigError(f"compliance rule set: {exc.message}") from exc
            continue
        if state in doc.stages and doc.in_force(now.date()):
            docs.append(doc)
    return docs


def evaluate_compliance_many(session: Session, cases: list[Case], *, now: datetime,
                             actor: str, policy, rulesets: Iterable[str] = DEFAULT_RULESETS,
                             engine: RuleEngine | None = None) -> list[Task]:
    """:func:`evaluate_compliance` for many open cases, with one batched fact build."""
    cases = [c for c in cases if c.closed_at is None]
    if not cases:
        return []
    engine = engine or default_engine()
    facts = facts_for_cases(session, cases, now, policy.window)
    created: list[Task] = []
    for state in sorted({c.state for c in cases}):
        group = [c for c in cases if c.state == state]
        stage = policy.stages.get(state)
        names = [*rulesets, *(stage.rulesets if stage else ())]
        docs = _documents(session, state, names, now=now, required=set(rulesets))
        if not docs:
            continue
        results = engine.evaluate_all(docs, [facts[c.id] for c in group])
        for case, decisions in zip(group, results, strict=True):
            wanted = [d for d in decisions if d.action in TASK_ACTIONS]
            created += raise_tasks(session, case, wanted, now=now, actor=actor,
                                   facts=facts[case.id])
    return created


def evaluate_compliance(session: Session, case: Case, *, now: datetime, actor: str, policy,
                        rulesets: Iterable[str] = DEFAULT_RULESETS,
                        engine: RuleEngine | None = None) -> list[Task]:
    """Evaluate the compliance (and stage) rule sets for ``case`` and raise its tasks.

    Rule sets not written for the case's state are skipped; a configured compliance rule
    set with no published version is a :class:`ConfigError`. Returns the tasks created.
    """
    return evaluate_compliance_many(session, [case], now=now, actor=actor, policy=policy,
                                    rulesets=rulesets, engine=engine)


def compliance_rulesets(policy) -> tuple[str, ...]:
    """The rule sets the stage policy ``policy`` evaluates after compliance events and in
    the task jobs: its ``compliance`` sets, then its ``programme_links`` sets."""
    names = [*policy.rulesets_for("compliance"), *policy.rulesets_for("programme_links")]
    return tuple(dict.fromkeys(names))
