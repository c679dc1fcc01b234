"""Impact preview: what a rule-set version would change on the live caseload.

The same evaluation the scheduler runs, twice per open case of each stage the stage
policy in force evaluates the version in: with the rule sets in force, and with this
version in place of the one of the same name. A rule set the policy does not use changes
nothing, and the report warns so. A stage-policy version is previewed the same way: the
policy in force against the draft policy. Nothing is written except the fact that a
preview was made.
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
from workflow.advance import Policy, stage_documents
from workflow.facts import facts_for_cases
from workflow.lifecycle import OUTCOME_EVENTS, transition_for
from workflow.policy.document import POLICY_NAME, unused_message
from workflow.rulesets import document_of
from workflow.sharing.agreement import AGREEMENT_NAME

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
    warnings: list[str] = field(default_factory=list)
    policy_version: str | None = None
    not_previewed: list[str] = field(default_factory=list)

    @property
    def case_ids(self) -> list[int]:
        """The open cases whose outcome would change: made due when it is published."""
        return sorted({i.case_id for i in self.changed})

    @property
    def note(self) -> str:
        if not self.changed:
            return "no open case changes: publishing moves nothing"
        return (f"{len(self.case_ids)} case(s) would change; publishing makes exactly "
                "these due, so they move at the next scheduler pass")

    def as_dict(self) -> dict:
        data = asdict(self)
        for item, impact in zip(data["changed"], self.changed, strict=True):
            item["change"] = impact.label
        data["moves_at_next_pass"] = self.case_ids
        data["note"] = self.note
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


def _compare(session: Session, stage: str, current: list, candidate: list, *,
             now: datetime, policy: Policy, engine: RuleEngine, batch: int,
             report: PreviewReport, own: str | None = None, fired: set | None = None) -> None:
    """Evaluate every open case of ``stage`` with ``current`` and with ``candidate``."""
    for cases in _stage_cases(session, stage, batch):
        facts = facts_for_cases(session, cases, now, policy.window)
        rows = [facts[c.id] for c in cases]
        before = engine.evaluate_all(current, rows)
        after = engine.evaluate_all(candidate, rows)
        for case, old, new in zip(cases, before, after, strict=True):
            report.evaluated += 1
            if own is not None:
                mine = [d for d in new if d.ruleset == own]
                fired.update(d.rule for d in mine)
                if not mine:
                    report.unmatched_cases.append(case.id)
            impact = CaseImpact(
                case.id, case.person.partner_ref, stage, outcome_of(old), outcome_of(new),
                _target(stage, outcome_of(old)), _target(stage, outcome_of(new)),
                _tasks(old), _tasks(new))
            if (impact.outcome_before, impact.state_before, impact.tasks_before) != (
                    impact.outcome_after, impact.state_after, impact.tasks_after):
                report.changed.append(impact)


def preview(session: Session, row: RuleSetVersion, *, now: datetime, policy: Policy,
            engine: RuleEngine | None = None, batch: int = 1000, sample: dict | None = None
            ) -> PreviewReport:
    """Evaluate ``row`` against every open case of the stages the policy in force
    evaluates it in (``policy``), in place of the version in force; change nothing.
    A sharing agreement is previewed as what each agency and role would see of a sample
    case (``sample``: ``case_id`` and ``purpose``, both optional).

    A rule set no stage of the policy evaluates changes no case: the report says so
    in ``warnings`` ("not evaluated by any stage: add it to the stage policy").
    """
    if row.name == AGREEMENT_NAME:
        from workflow.sharing.preview import preview_agreement

        return preview_agreement(session, row, now=now, **(sample or {}))
    if row.name == POLICY_NAME:
        return preview_policy(session, row, now=now, policy=policy, engine=engine,
                              batch=batch)
    engine = engine or default_engine()
    doc = document_of(row)
    report = PreviewReport(doc.name, doc.version, list(doc.stages), {},
                           policy_version=policy.version)
    fired: set[str] = set()
    # A guard set is evaluated beside every stage, whatever its own `stages` say.
    stages = list(policy.stages) if doc.name in policy.exclusion else list(doc.stages)
    for stage in stages:
        current = stage_documents(session, policy, stage, now=now)
        report.in_config[stage] = any(d.name == doc.name for d in current)
        if not report.in_config[stage]:
            continue
        candidate = [d if d.name != doc.name else doc for d in current]
        _compare(session, stage, current, candidate, now=now, policy=policy, engine=engine,
                 batch=batch, report=report, own=doc.name, fired=fired)
    report.counts = dict(Counter(i.label for i in report.changed))
    report.silent_rules = [r.id for r in doc.rules if r.id not in fired]
    named = {n for names in policy.purposes.values() for n in names} | {
        n for stage in policy.stages.values() for n in stage.rulesets}
    if doc.name not in named:
        report.warnings.append(unused_message(doc.name))
    return report


def preview_policy(session: Session, row: RuleSetVersion, *, now: datetime, policy: Policy,
                   engine: RuleEngine | None = None, batch: int = 1000) -> PreviewReport:
    """Every open case of each rule-driven stage evaluated twice: with the policy in force
    (``policy``) and with the policy version ``row``; change nothing."""
    from workflow.policy.store import policy_document_of

    engine = engine or default_engine()
    draft = Policy.from_document(policy_document_of(row), policy.window)
    stages = sorted(set(policy.stages) | set(draft.stages))
    report = PreviewReport(row.name, row.version, stages,
                           {s: s in draft.stages for s in stages},
                           policy_version=policy.version)
    for stage in stages:
        current = stage_documents(session, policy, stage, now=now)
        candidate = stage_documents(session, draft, stage, now=now)
        if [d.version for d in current] == [d.version for d in candidate]:
            continue
        _compare(session, stage, current, candidate, now=now, policy=policy, engine=engine,
                 batch=batch, report=report)
    report.counts = dict(Counter(i.label for i in report.changed))
    report.not_previewed = _other_changes(policy, draft)
    return report


def _other_changes(policy: Policy, draft: Policy) -> list[str]:
    """What a policy draft changes that is not previewed case by case."""
    out = [f"{purpose} rule sets: {', '.join(policy.rulesets_for(purpose)) or 'none'} -> "
           f"{', '.join(draft.rulesets_for(purpose)) or 'none'} (applies from the next "
           "time they are evaluated)"
           for purpose in ("allocation", "compliance", "programme_links", "exclusion",
                           "agenda")
           if policy.rulesets_for(purpose) != draft.rulesets_for(purpose)]
    for section in ("panel", "review", "capacity"):
        old, new = getattr(policy, section), getattr(draft, section)
        out += [f"{section}.{key}: {old.get(key)} -> {new.get(key)}"
                for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
    return out
