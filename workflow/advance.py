"""Advance a case: build its facts, evaluate its stage's rule sets, apply the decisions.

Rules decide, this module applies: the transition, the audit entry and the case's next
due date are written in the caller's transaction (flush only). :func:`evaluate_cases`
is the same evaluation without applying anything (dry-run).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Case
from rules.decisions import Decision, outcome_of
from rules.document import RuleSetDocument
from rules.engine import RuleEngine, default_engine
from workflow import audit, guards, history  # noqa: F401  (history: audit listener)
from workflow.config import Settings, StagePolicy
from workflow.facts import FactWindow, facts_for_cases
from workflow.lifecycle import OUTCOME_EVENTS, fire, transition_for
from workflow.rulesets import active_documents, optional_documents
from workflow.tasks.service import TASK_ACTIONS, raise_tasks


@dataclass(frozen=True)
class Policy:
    """What the workflow needs from the stage policy in force: rule sets per stage and
    per purpose, recheck and review intervals, panel and capacity values, fact windows.

    Built from the published policy document (``workflow.policy.store.policy_in_force``)
    or, before one is published, from the ``config.toml`` seed (:meth:`from_settings`).
    ``version`` is the policy document's content hash, named in every transition cause.
    """

    stages: Mapping[str, StagePolicy]
    window: FactWindow = FactWindow()
    review: Mapping = field(default_factory=lambda: dict(REVIEW_DEFAULTS))
    purposes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    panel: Mapping = field(default_factory=dict)
    capacity: Mapping = field(default_factory=dict)
    version: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        """The policy ``config.toml`` seeds (what runs before a policy is published)."""
        from workflow.policy.document import seed_document

        return cls.from_document(seed_document(settings), FactWindow(
            settings.newly_sentenced_days, settings.window_days))

    @classmethod
    def from_document(cls, doc, window: FactWindow) -> Policy:
        """The policy a parsed ``workflow.policy.document.PolicyDocument`` describes."""
        from workflow.policy.document import RULE_STAGES

        stages = {name: StagePolicy(doc.purposes[name].rulesets,
                                    doc.purposes[name].recheck_days)
                  for name in RULE_STAGES if name in doc.purposes}
        return cls(stages, window, dict(doc.review),
                   {name: p.rulesets for name, p in doc.purposes.items()},
                   dict(doc.panel), dict(doc.capacity), doc.version)

    def rulesets_for(self, purpose: str) -> tuple[str, ...]:
        """The rule sets the policy names for ``purpose`` (mapping, matrixing, review,
        allocation, compliance, programme_links, exclusion, agenda)."""
        if purpose in self.purposes:
            return tuple(self.purposes[purpose])
        if purpose in self.stages:
            return self.stages[purpose].rulesets
        from workflow.policy.document import PURPOSE_DEFAULTS, PURPOSES

        if purpose not in PURPOSES:
            raise KeyError(f"unknown policy purpose {purpose!r}")
        return tuple(PURPOSE_DEFAULTS.get(purpose, ()))

    @property
    def exclusion(self) -> tuple[str, ...]:
        """The guard rule sets, evaluated beside every stage (``rulesets_for``)."""
        return self.rulesets_for("exclusion")

    @property
    def agenda(self) -> tuple[str, ...]:
        """The rule sets scoring the panel agenda (``rulesets_for("agenda")``)."""
        return self.rulesets_for("agenda")


def stage_ruleset_names(policy: Policy, stage: str
                        ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """What a case in ``stage`` is evaluated with, by name: ``(exclusion guards, the
    stage's own rule sets, programme-link sets used when written for the stage)``."""
    guards_ = policy.exclusion
    names = tuple(n for n in policy.stages[stage].rulesets if n not in guards_)
    extra = tuple(n for n in policy.rulesets_for("programme_links")
                  if n not in names and n not in guards_)
    return guards_, names, extra


def stage_documents(session: Session, policy: Policy, stage: str, *, now: datetime,
                    guard_docs: list[RuleSetDocument] | None = None
                    ) -> list[RuleSetDocument]:
    """The documents a case in ``stage`` is evaluated with at ``now``: the exclusion
    guards (``guard_docs`` when already loaded), the stage's own rule sets, and the
    programme-link sets written for that stage (:func:`stage_ruleset_names`)."""
    if stage not in policy.stages:
        return []
    guard_names, names, extra = stage_ruleset_names(policy, stage)
    if guard_docs is None:
        guard_docs = (guards.guard_documents(session, guard_names, now=now)
                      if guard_names else [])
    return [*guard_docs, *active_documents(session, stage, names, now=now),
            *optional_documents(session, stage, extra, now=now)]


REVIEW_DEFAULTS = {"very_high_days": 28, "high_days": 56, "medium_days": 91,
                   "low_days": 182, "default_days": 91}


def review_interval(tier: str | None, review: Mapping) -> timedelta:
    """Days to the next review for an intensity ``tier`` (``default_days`` when none)."""
    return timedelta(days=review.get(f"{tier}_days", review["default_days"]) if tier
                     else review["default_days"])


def apply_intensity(case: Case, decisions: list[Decision]) -> None:
    """Set ``case.intensity`` from a ``set_intensity`` decision, when there is one."""
    tiers = [d.params["tier"] for d in decisions if d.action == "set_intensity"]
    if tiers:
        case.intensity = tiers[0]


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


def needed_facts(docs: Iterable[RuleSetDocument]) -> frozenset[str]:
    """The facts evaluating ``docs`` and applying a quiet outcome read: those the rules'
    conditions name, the day-count facts ``recheck_in`` decisions read, and
    ``activity_score`` (written to the case at every evaluation)."""
    names = {"activity_score"}
    for doc in docs:
        for rule in doc.rules:
            names.update(rule.facts)
            if "days_fact" in rule.params:
                names.add(rule.params["days_fact"])
    return frozenset(names)


def evaluate_cases(session: Session, cases: list, *, now: datetime, policy: Policy,
                   engine: RuleEngine | None = None, only_needed: bool = False
                   ) -> list[Evaluation]:
    """Evaluate each case's stage rule sets, with the exclusion guards (a panel's
    recorded override applied), as of ``now``; writes nothing. ``cases``: Case objects
    or claimed rows (``workflow.advance_chunk``). ``only_needed``: build only the facts
    the rule sets read (:func:`needed_facts`), so an evaluation's ``facts`` may lack
    others: rebuild them (``full_facts``) before recording or acting on them."""
    engine = engine or default_engine()
    guard_docs = (guards.guard_documents(session, policy.exclusion, now=now)
                  if cases and policy.exclusion else [])
    stage_docs = {stage: stage_documents(session, policy, stage, now=now,
                                         guard_docs=guard_docs)
                  for stage in {c.state for c in cases}}
    needed = (needed_facts(d for docs in stage_docs.values() for d in docs)
              if only_needed else None)
    facts = facts_for_cases(session, cases, now, policy.window, needed)
    out = []
    for stage, docs in stage_docs.items():
        group = [c for c in cases if c.state == stage]
        results = engine.evaluate_all(docs, [facts[c.id] for c in group])
        for case, decisions in zip(group, results, strict=True):
            if decisions:  # nothing to take out of none (most cases of a pass)
                decisions = guards.without_overridden(case, decisions)
            outcome = outcome_of(decisions) if decisions else None
            out.append(Evaluation(case.id, stage, facts[case.id], decisions, outcome,
                                  OUTCOME_EVENTS.get((stage, outcome))))
    if len(stage_docs) == 1:  # one stage: its group is every case, in order
        return out
    order = {c.id: i for i, c in enumerate(cases)}
    return sorted(out, key=lambda e: order[e.case_id])


def full_facts(session: Session, cases: list, evaluations: list[Evaluation], *,
               now: datetime, policy: Policy) -> None:
    """Replace the facts of ``evaluations`` (of ``cases``, in the same order, made with
    ``only_needed``) by every fact, as :func:`evaluate_cases` builds them by default: the
    facts an audit entry records and tasks are raised with."""
    if cases:
        facts = facts_for_cases(session, cases, now, policy.window)
        for ev in evaluations:
            ev.facts = facts[ev.case_id]


def _cause(ev: Evaluation, policy: Policy) -> dict:
    versions = sorted({f"{d.ruleset}@{d.version}" for d in ev.decisions})
    return {"kind": "rule", "outcome": ev.outcome, "versions": versions,
            "policy": policy.version,
            "decisions": [d.as_dict() for d in ev.decisions], "facts": ev.facts}


def _record_outcome_change(session: Session, case: Case, ev: Evaluation, *, now, actor,
                           policy: Policy):
    versions = sorted({f"{d.ruleset}@{d.version}" for d in ev.decisions})
    if case.last_outcome == ev.outcome and (case.last_versions or []) == versions:
        return
    if ev.decisions:
        why = history.explain_decisions([d.as_dict() for d in ev.decisions])
        summary = f"Evaluated in {case.state}: outcome {ev.outcome or 'none'} because {why}"
    else:
        summary = f"Evaluated in {case.state}: no rule matched"
    # Set before the entry: a first append reads the chain head, autoflushing the case,
    # which must then be complete (one version bump an evaluation, however flushed).
    case.last_versions = versions
    audit.record(session, kind="case.evaluated", actor=actor, occurred_at=now,
                 case_id=case.id, person_ref=case.person.partner_ref, summary=summary,
                 payload={"state": case.state, "cause": _cause(ev, policy)})


def advance(session: Session, case: Case, *, now: datetime, actor: str, policy: Policy,
            engine: RuleEngine | None = None) -> AdvanceResult:
    """Evaluate ``case`` and apply the outcome (transition + audit) in one flush.

    A case whose state has no rule sets configured is left as it is.
    """
    if case.state not in policy.stages:
        return AdvanceResult(case.id, case.state, case.state, None)
    ev = evaluate_cases(session, [case], now=now, policy=policy, engine=engine)[0]
    return apply_evaluation(session, case, ev, now=now, actor=actor, policy=policy)


def apply_evaluation(session: Session, case: Case, ev: Evaluation, *, now: datetime,
                     actor: str, policy: Policy, flush: bool = True) -> AdvanceResult:
    """Apply one evaluation of ``case`` (made in its current state): transition or audit
    of a changed outcome, intensity, next due date. Flushes unless ``flush`` is False (a
    batch caller flushing many cases at once); raises what :func:`fire` raises."""
    source = case.state
    target = transition_for(source, ev.event).target if ev.event else source
    case.activity_score = ev.facts["activity_score"]
    apply_intensity(case, ev.decisions)
    case.last_outcome, case.last_error = ev.outcome, None
    case.next_due_at = _recheck_by_rule(ev, _next_due(
        target, moved=bool(ev.event), intensity=case.intensity, now=now, policy=policy), now)
    hit = guards.exclusion_of(case, ev.decisions, ev.facts) if ev.outcome == "exclude" else None
    if hit is not None and ev.event:  # the lifecycle table's exclusion move, with release
        guards.apply_exclusion(session, case, hit, now=now, actor=actor, policy=policy,
                               where=f"{source} evaluation")
        if flush:
            session.flush()
        return AdvanceResult(case.id, source, case.state, ev.outcome, ev.decisions)
    if ev.event:
        select_params = [d.params for d in ev.decisions if d.action == "select"]
        if select_params:
            case.cohort = select_params[0].get("cohort")
        case.last_versions = sorted({f"{d.ruleset}@{d.version}" for d in ev.decisions})
        fire(session, case, ev.event, now=now, actor=actor, cause=_cause(ev, policy), flush=False)
    else:
        _record_outcome_change(session, case, ev, now=now, actor=actor, policy=policy)
    raise_tasks(session, case, ev.decisions, now=now, actor=actor, facts=ev.facts)
    if flush:
        session.flush()
    return AdvanceResult(case.id, source, case.state, ev.outcome, ev.decisions)


def quiet_values(case, ev: Evaluation, *, now: datetime, policy: Policy) -> dict | None:
    """What :func:`apply_evaluation` would write to ``case`` (a Case or a claimed row of
    its columns), when that is all it would do (no move, no audit entry, no task, no
    intensity), as a new dict the caller may change; else None.
    ``workflow.advance_chunk`` writes these set-based."""
    if ev.event or case.last_outcome != ev.outcome:
        return None
    for d in ev.decisions:
        if d.action == "set_intensity" or d.action in TASK_ACTIONS:
            return None
    if (case.last_versions or []) != (sorted({f"{d.ruleset}@{d.version}"
                                              for d in ev.decisions}) if ev.decisions else []):
        return None
    return {"activity_score": ev.facts["activity_score"], "last_outcome": ev.outcome,
            "last_error": None, "next_due_at": _recheck_by_rule(ev, _next_due(
                case.state, moved=False, intensity=case.intensity, now=now, policy=policy),
                now)}


def _recheck_by_rule(ev: Evaluation, due: datetime | None, now: datetime) -> datetime | None:
    """The earlier of ``due`` and the day a ``recheck_in`` decision's fact reaches 0."""
    for d in ev.decisions:
        days = ev.facts.get(d.params["days_fact"]) if d.action == "recheck_in" else None
        if days:
            on = datetime.combine(now.date() + timedelta(days=days), time(0), UTC)
            due = on if due is None or on < due else due
    return due


def _next_due(state: str, *, moved: bool, intensity: str | None, now: datetime,
              policy: Policy) -> datetime | None:
    """When the scheduler should next look at a case now in ``state``."""
    if state == "allocated":  # retained at review: next review by intensity tier
        return now + review_interval(intensity, policy.review)
    stage = policy.stages.get(state)
    if stage is None:
        return None
    # Newly entered a rule-driven stage: evaluate it at the next pass; else recheck later.
    return now if moved else _days_after(now, stage.recheck_days)


_after: dict = {}  # (now, its zone, days) -> now + days: one object for a chunk's cases


def _days_after(now: datetime, days: int) -> datetime:
    """``now + days`` days, the same object for the same ``now`` (and zone) and
    ``days``: a chunk's quiet cases share their next due date, so writing them binds and
    formats it once (``db.bulk``: by object, then by value)."""
    key = (now, now.tzinfo, days)
    found = _after.get(key)
    if found is None:
        if len(_after) >= 64:
            _after.clear()
        found = _after[key] = now + timedelta(days=days)
    return found


def due_case_ids(session: Session, *, now: datetime, stages: tuple[str, ...], limit: int
                 ) -> list[int]:
    """Open cases in ``stages`` whose next evaluation is due, oldest due first."""
    return [case_id for case_id, _ in due_cases(session, now=now, stages=stages, limit=limit)]


def due_cases(session: Session, *, now: datetime, stages: tuple[str, ...], limit: int
              ) -> list[tuple[int, int]]:
    """``(id, version)`` of open cases in ``stages`` that are due, oldest due first.

    The row version lets a worker skip a case another process changed since selection.
    """
    return [tuple(row) for row in session.execute(
        select(Case.id, Case.version).where(Case.closed_at.is_(None), Case.state.in_(stages),
                                            Case.next_due_at <= now)
        .order_by(Case.next_due_at, Case.id).limit(limit))]


def due_page(session: Session, *, now: datetime, stages: tuple[str, ...], after_id: int,
             limit: int) -> list[tuple[int, int]]:
    """``(id, version)`` of up to ``limit`` due open cases in ``stages`` with id above
    ``after_id``, by id: a pass walks the due cases page by page (keyset), so its memory
    does not grow with their number, and a case it moved (id at most the last one taken)
    is not taken again in the same pass."""
    return [tuple(row) for row in session.execute(
        select(Case.id, Case.version).where(Case.closed_at.is_(None), Case.state.in_(stages),
                                            Case.next_due_at <= now, Case.id > after_id)
        .order_by(Case.id).limit(limit))]

