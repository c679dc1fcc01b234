"""As-of evaluation: what the rule sets in force on a date would have decided for a case.

Facts are rebuilt from data dated on or before that instant, the rule-set versions are
those published by then, and the stage is the case's state at that instant (from its
audited transitions) unless one is given. Nothing is written.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AuditEntry, Case
from rules.decisions import outcome_of
from rules.engine import RuleEngine, default_engine
from workflow.advance import Evaluation, Policy, stage_documents
from workflow.errors import InvalidInput, NotFound
from workflow.facts import facts_for_cases
from workflow.lifecycle import OUTCOME_EVENTS
from workflow.rulesets import published_row


def state_on(session: Session, case: Case, on: datetime) -> str:
    """The case's state at ``on``, replayed from its transition audit entries; before the
    case was opened the person would have been in mapping."""
    last = session.scalars(select(AuditEntry).where(
        AuditEntry.case_id == case.id, AuditEntry.kind == "case.transition",
        AuditEntry.occurred_at <= on).order_by(AuditEntry.seq.desc()).limit(1)).first()
    return last.payload["to"] if last else "mapping"


def evaluate_as_of(session: Session, case: Case, *, on: datetime, policy: Policy,
                   stage: str | None = None, engine: RuleEngine | None = None) -> Evaluation:
    """Evaluate ``case`` as of ``on`` (in ``stage`` or its state then); changes nothing.

    Raises :class:`NotFound` when a rule set of the stage had no version in force at ``on``
    (a date before its first publication)."""
    stage = stage or state_on(session, case, on)
    if stage not in policy.stages:
        raise InvalidInput(f"stage {stage} has no rule sets configured",
                           details={"field": "stage"})
    for name in policy.stages[stage].rulesets:  # a date before the first publication
        try:
            published_row(session, name, on=on)
        except NotFound as exc:
            raise NotFound(f"{exc.message}: ask about a date on or after its first "
                           "publication", details={"field": "on", "ruleset": name}) from exc
    facts = facts_for_cases(session, [case], on, policy.window)[case.id]
    docs = stage_documents(session, policy, stage, now=on)
    [decisions] = (engine or default_engine()).evaluate_all(docs, [facts])
    outcome = outcome_of(decisions)
    return Evaluation(case.id, stage, facts, decisions, outcome,
                      OUTCOME_EVENTS.get((stage, outcome)))
