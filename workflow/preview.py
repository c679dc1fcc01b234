"""Impact preview: what a rule-set version would change on the live caseload.

The same evaluation the scheduler runs, twice per open case of each stage the version
covers: with the rule sets in force, and with this version in place of (or added to)
the one of the same name. Nothing is written except the fact that a preview was made.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Case, RuleSetVersion
from rules.decisions import Decision, outcome_of
from rules.engine import RuleEngine, default_engine
from workflow.advance import Policy
from workflow.facts import facts_for_cases
from workflow.lifecycle import OUTCOME_EVENTS, transition_for
from workflow.rulesets import active_documents, document_of

TASK_ACTIONS = ("create_task", "raise_enforcement", "refer_programme", "require_panel")


@dataclass
class CaseImpact:
    case_id: int
    person_ref: str
    state: str
    outcome_before: str | None
    outcome_after: str | None
    state_before: str
    state_after: str
    tasks_before: list[str]
    tasks_after: list[str]

    @property
    def label(self) -> str:
        if self.state_before != self.state_after:
            return f"{self.state}: moves to {self.state_after} (was {self.state_before})"
        if self.outcome_before != self.outcome_after:
            return (f"{self.state}: outcome {self.outcome_before or 'none'} -> "
                    f"{self.outcome_after or 'none'}")
        return f"{self.state}: tasks change"


@dataclass
class PreviewReport:
    ruleset: str
    version: str
    stages: list[str]
    in_config: dict[str, bool]
    evaluated: int = 0
    changed: list[CaseImpact] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    silent_rules: list[str] = field(default_factory=list)
    unmatched_cases: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        data = asdict(self)
        for item, impact in zip(data["changed"], self.changed, strict=True):
            item["change"] = impact.label
        return data


def _target(state: str, outcome: str | None) -> str:
    event = OUTCOME_EVENTS.get((state, outcome))
    return transition_for(state, event).target if event else state


def _task_key(d: Decision) -> str:
    detail = d.params.get("template") or d.params.get("kind") or d.params.get("programme")
    return f"{d.action}:{detail or d.rule}"


def _tasks(decisions: list[Decision]) -> list[str]:
    return sorted(_task_key(d) for d in decisions if d.action in TASK_ACTIONS)


def _stage_cases(session: Session, stage: str, batch: int):
    last = 0
    while True:
        cases = session.scalars(select(Case).where(
            Case.state == stage, Case.closed_at.is_(None), Case.id > last)
            .order_by(Case.id).limit(batch)).all()
        if not cases:
            return
        yield cases
        last = cases[-1].id


def preview(session: Session, row: RuleSetVersion, *, now: datetime, policy: Policy,
            engine: RuleEngine | None = None, batch: int = 1000) -> PreviewReport:
    """Evaluate ``row`` against every open case of its stages; change nothing."""
    engine = engine or default_engine()
    doc = document_of(row)
    report = PreviewReport(doc.name, doc.version, list(doc.stages), {})
    fired: set[str] = set()
    for stage in doc.stages:
        names = policy.stages[stage].rulesets if stage in policy.stages else ()
        report.in_config[stage] = doc.name in names
        current = active_documents(session, stage, names, now=now) if names else []
        candidate = [d for d in current if d.name != doc.name] + [doc]
        for cases in _stage_cases(session, stage, batch):
            facts = facts_for_cases(session, cases, now, policy.window)
            rows = [facts[c.id] for c in cases]
            before = engine.evaluate_all(current, rows)
            after = engine.evaluate_all(candidate, rows)
            for case, old, new in zip(cases, before, after, strict=True):
                report.evaluated += 1
                own = [d for d in new if d.ruleset == doc.name]
                fired.update(d.rule for d in own)
                if not own:
                    report.unmatched_cases.append(case.id)
                impact = CaseImpact(
                    case.id, case.person.partner_ref, stage, outcome_of(old), outcome_of(new),
                    _target(stage, outcome_of(old)), _target(stage, outcome_of(new)),
                    _tasks(old), _tasks(new))
                if (impact.outcome_before, impact.state_before, impact.tasks_before) != (
                        impact.outcome_after, impact.state_after, impact.tasks_after):
                    report.changed.append(impact)
    report.counts = dict(Counter(i.label for i in report.changed))
    report.silent_rules = [r.id for r in doc.rules if r.id not in fired]
    return report
