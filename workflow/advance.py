"""Advance a case: build its facts, evaluate its stage's rule sets, apply the decisions.

Rules decide, this module applies: the transition, the audit entry and the case's next
due date are written in the caller's transaction (flush only). :func:`evaluate_cases`
is the same evaluation without applying anything (dry-run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Case
from rules.decisions import Decision, outcome_of
from rules.engine import RuleEngine, default_engine
from workflow import audit, history  # noqa: F401  (history registers the audit listener)
from workflow.config import Settings, StagePolicy
from workflow.facts import FactWindow, facts_for_cases
from workflow.lifecycle import OUTCOME_EVENTS, fire
from workflow.rulesets import active_documents


@dataclass(frozen=True)
class Policy:
    """What the workflow needs from configuration: rule sets per stage and fact windows."""

    stages: Mapping[str, StagePolicy]
    window: FactWindow = FactWindow()

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(settings.stages, FactWindow(settings.newly_sentenced_days,
                                               settings.window_days))


@dataclass
class Evaluation:
    case_id: int
    state: str
    facts: dict
    decisions: list[Decision]
    outcome: str | None
    event: str | None


@dataclass
class AdvanceResult:
    case_id: int
    source: str
    target: str
    outcome: str | None
    decisions: list[Decision] = field(default_factory=list)

    @property
    def moved(self) -> bool:
        return self.source != self.target


def evaluate_cases(session: Session, cases: list[Case], *, now: datetime, policy: Policy,
                   engine: RuleEngine | None = None) -> list[Evaluation]:
    """Evaluate each case's stage rule sets as of ``now``; writes nothing."""
    engine = engine or default_engine()
    facts = facts_for_cases(session, cases, now, policy.window)
    out = []
    for stage in {c.state for c in cases}:
        group = [c for c in cases if c.state == stage]
        stage_policy = policy.stages.get(stage)
        docs = (active_documents(session, stage, stage_policy.rulesets, now=now)
                if stage_policy else [])
        results = engine.evaluate_all(docs, [facts[c.id] for c in group])
        for case, decisions in zip(group, results, strict=True):
            outcome = outcome_of(decisions)
            out.append(Evaluation(case.id, stage, facts[case.id], decisions, outcome,
                                  OUTCOME_EVENTS.get((stage, outcome))))
    order = {c.id: i for i, c in enumerate(cases)}
    return sorted(out, key=lambda e: order[e.case_id])


def _cause(ev: Evaluation) -> dict:
    versions = sorted({f"{d.ruleset}@{d.version}" for d in ev.decisions})
    return {"kind": "rule", "outcome": ev.outcome, "versions": versions,
            "decisions": [d.as_dict() for d in ev.decisions], "facts": ev.facts}


def _record_outcome_change(session: Session, case: Case, ev: Evaluation, *, now, actor):
    versions = sorted({f"{d.ruleset}@{d.version}" for d in ev.decisions})
    if case.last_outcome == ev.outcome and (case.last_versions or []) == versions:
        return
    if ev.decisions:
        why = history.explain_decisions([d.as_dict() for d in ev.decisions])
        summary = f"Evaluated in {case.state}: outcome {ev.outcome or 'none'} because {why}"
    else:
        summary = f"Evaluated in {case.state}: no rule matched"
    audit.record(session, kind="case.evaluated", actor=actor, occurred_at=now,
                 case_id=case.id, person_ref=case.person.partner_ref, summary=summary,
                 payload={"state": case.state, "cause": _cause(ev)})
    case.last_versions = versions


def advance(session: Session, case: Case, *, now: datetime, actor: str, policy: Policy,
            engine: RuleEngine | None = None) -> AdvanceResult:
    """Evaluate ``case`` and apply the outcome (transition + audit) in one flush.

    A case whose state has no rule sets configured is left as it is.
    """
    source = case.state
    if source not in policy.stages:
        return AdvanceResult(case.id, source, source, None)
    ev = evaluate_cases(session, [case], now=now, policy=policy, engine=engine)[0]
    case.activity_score = ev.facts["activity_score"]
    if ev.event:
        select_params = [d.params for d in ev.decisions if d.action == "select"]
        if select_params:
            case.cohort = select_params[0].get("cohort")
        fire(session, case, ev.event, now=now, actor=actor, cause=_cause(ev))
        case.last_versions = sorted({f"{d.ruleset}@{d.version}" for d in ev.decisions})
    else:
        _record_outcome_change(session, case, ev, now=now, actor=actor)
    case.last_outcome = ev.outcome
    next_stage = policy.stages.get(case.state)
    case.next_due_at = now + timedelta(days=next_stage.recheck_days) if next_stage else None
    if ev.event and next_stage:
        case.next_due_at = now  # newly entered a rule-driven stage: evaluate it next pass
    case.last_error = None
    session.flush()
    return AdvanceResult(case.id, source, case.state, ev.outcome, ev.decisions)


def due_case_ids(session: Session, *, now: datetime, stages: tuple[str, ...], limit: int
                 ) -> list[int]:
    """Open cases in ``stages`` whose next evaluation is due, oldest due first."""
    return list(session.scalars(
        select(Case.id).where(Case.closed_at.is_(None), Case.state.in_(stages),
                              Case.next_due_at <= now)
        .order_by(Case.next_due_at, Case.id).limit(limit)))
