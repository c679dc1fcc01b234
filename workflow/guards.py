"""Exclusion guards: an exclusion decision holds at every step, not only in mapping.

The guard rule sets (:func:`exclusion_rulesets`) are evaluated beside every stage's own
rule sets, before a case enters or stays in any non-terminal stage: the advance pass
(mapping, matrixing, review), agenda building, a chair's panel decision, allocation,
represent, start of review and custody release, and by :func:`guard_chunk` for cases
whose partner data changed (:func:`mark_guard_due`). Rules decide (``exclude``), this
module applies: the lifecycle table (``workflow/lifecycle.py``, ``OUTCOME_EVENTS``) says
which move an exclusion makes from each state (``descope`` back to mapping before the
cohort, ``exclude`` to exited from it); :func:`apply_exclusion` fires it, frees the lead
professional, cancels open tasks, withdraws pending agenda items and audits the rule,
rule-set version and facts. A panel's recorded override (``Case.guard_override``) of
named exclusion rules holds for the rest of the episode.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import Case, PanelItem, Task, User
from rules.decisions import Decision
from rules.document import RuleSetDocument
from rules.engine import RuleEngine, default_engine
from workflow import audit
from workflow.config import Settings
from workflow.facts import facts_for_cases
from workflow.lifecycle import OUTCOME_EVENTS, TERMINAL, fire
from workflow.rulesets import active_documents
from workflow.tasks.routing import OUTSTANDING

if TYPE_CHECKING:
    from workflow.advance import Policy

GUARD_STAGE = "exclusion"  # the `stages:` entry a guard rule set is written for
AGENDA_STAGE = "agenda"
MARK_CHUNK = 500


def exclusion_rulesets(settings: Settings) -> tuple[str, ...]:
    """The ``config.toml`` seed of the guard rule sets (``[stages.exclusion]``). At run
    time the published stage policy decides: ``Policy.exclusion`` (``rulesets_for``)."""
    return tuple(settings.guard_rulesets["exclusion"])


def agenda_rulesets(settings: Settings) -> tuple[str, ...]:
    """The ``config.toml`` seed of the agenda rule sets (``[stages.agenda]``); at run time
    ``Policy.agenda`` of the published stage policy."""
    return tuple(settings.guard_rulesets["agenda"])


def guard_documents(session: Session, names: Iterable[str], *, now: datetime
                    ) -> list[RuleSetDocument]:
    """The guard rule sets in force at ``now``, evaluated in every state whatever their
    ``stages`` say (a set written before guards existed still guards). Raises
    :class:`ConfigError` when one is not published."""
    return active_documents(session, GUARD_STAGE, tuple(names), now=now, any_stage=True)


def overridden_rules(case: Case) -> set[str]:
    return set((case.guard_override or {}).get("rules", []))


def without_overridden(case: Case, decisions: list[Decision]) -> list[Decision]:
    """``decisions`` less the exclusions a panel override recorded for this episode."""
    rules = overridden_rules(case)
    if not rules:
        return decisions
    return [d for d in decisions
            if not (d.action == "exclude" and f"{d.ruleset}/{d.rule}" in rules)]


@dataclass(frozen=True)
class Exclusion:
    """Why a case is excluded: the (not overridden) ``exclude`` decisions and the facts."""

    case_id: int
    decisions: tuple[Decision, ...]
    facts: dict

    @property
    def reason(self) -> str:
        return "; ".join(d.params["reason"] for d in self.decisions)

    @property
    def rules(self) -> list[str]:
        return [f"{d.ruleset}/{d.rule}" for d in self.decisions]

    @property
    def versions(self) -> list[str]:
        return sorted({f"{d.ruleset}@{d.version}" for d in self.decisions})

    def as_dict(self) -> dict:
        return {"reason": self.reason, "rules": self.rules, "versions": self.versions,
                "decisions": [d.as_dict() for d in self.decisions]}

    def cause(self, where: str) -> dict:
        return {"kind": "rule", "outcome": "exclude", "guard": where,
                "versions": self.versions,
                "decisions": [d.as_dict() for d in self.decisions], "facts": self.facts}


def exclusion_of(case: Case, decisions: list[Decision], facts: dict) -> Exclusion | None:
    """The case's exclusion among ``decisions`` (overrides applied), or None."""
    hits = [d for d in without_overridden(case, decisions) if d.action == "exclude"]
    return Exclusion(case.id, tuple(hits), facts) if hits else None


def evaluate_guarded(session: Session, cases: list[Case], *, now: datetime, policy: Policy,
                     extra: list[RuleSetDocument] = (), engine: RuleEngine | None = None
                     ) -> dict[int, tuple[list[Decision], dict]]:
    """``{case id: (decisions, facts)}`` of the guard (and ``extra``) rule sets, one
    batched fact build and one engine call for all ``cases``. Writes nothing."""
    if not cases:
        return {}
    docs = [*guard_documents(session, policy.exclusion, now=now), *extra]
    facts = facts_for_cases(session, cases, now, policy.window)
    results = (engine or default_engine()).evaluate_all(docs, [facts[c.id] for c in cases])
    return {c.id: (without_overridden(c, d), facts[c.id])
            for c, d in zip(cases, results, strict=True)}


def find_exclusions(session: Session, cases: list[Case], *, now: datetime, policy: Policy,
                    engine: RuleEngine | None = None) -> dict[int, Exclusion]:
    """The excluded ones of ``cases``: ``{case id: Exclusion}``. Writes nothing."""
    by_id = {c.id: c for c in cases}
    out = {}
    for case_id, (decisions, facts) in evaluate_guarded(
            session, cases, now=now, policy=policy, engine=engine).items():
        hit = exclusion_of(by_id[case_id], decisions, facts)
        if hit is not None:
            out[case_id] = hit
    return out


@dataclass
class Held:
    """What excluded cases hold (open tasks, pending agenda items, leads), loaded for a
    whole chunk in three queries by :func:`held_by`."""

    tasks: dict[int, list[Task]]
    items: dict[int, list[PanelItem]]
    users: dict[int, User]


def held_by(session: Session, cases: list[Case]) -> Held:
    ids = [c.id for c in cases]
    leads = {c.lead_user_id for c in cases if c.lead_user_id}
    tasks: dict[int, list[Task]] = defaultdict(list)
    items: dict[int, list[PanelItem]] = defaultdict(list)
    with session.no_autoflush:  # one flush per chunk, not one per query
        for task in session.scalars(select(Task).where(
                Task.case_id.in_(ids), Task.status.in_(OUTSTANDING)).order_by(Task.id)):
            tasks[task.case_id].append(task)
        for item in session.scalars(select(PanelItem).where(
                PanelItem.case_id.in_(ids), PanelItem.decision.is_(None))):
            items[item.case_id].append(item)
        users = ({u.id: u for u in session.scalars(select(User).where(User.id.in_(leads)))}
                 if leads else {})
    return Held(tasks, items, users)


def apply_exclusion(session: Session, case: Case, exclusion: Exclusion, *, now: datetime,
                    actor: str, policy: Policy, where: str, held: Held | None = None
                    ) -> str | None:
    """Move ``case`` by the lifecycle table's exclusion event and release what it held.

    Returns the event fired, or None when the state has no exclusion move (mapping:
    the exclusion only keeps the case from being selected). Flushes.
    """
    event = OUTCOME_EVENTS.get((case.state, "exclude"))
    case.guard_due_at = None
    if event is None or case.state in TERMINAL:
        return None
    fire(session, case, event, now=now, actor=actor, cause=exclusion.cause(where),
         flush=False)
    case.last_outcome, case.last_versions = "exclude", exclusion.versions
    if case.state == "mapping":
        mapping = policy.stages.get("mapping")
        case.next_due_at = now + timedelta(days=mapping.recheck_days if mapping else 7)
    release(session, case, exclusion, now=now, actor=actor, where=where, held=held)
    return event


def release(session: Session, case: Case, exclusion: Exclusion, *, now: datetime,
            actor: str, where: str, held: Held | None = None) -> None:
    """After an exclusion move: free the lead, cancel open tasks, withdraw pending agenda
    items, and write one ``case.excluded`` audit entry naming rules, versions, facts.
    ``held``: the chunk's :func:`held_by` (loaded for this case alone when not given)."""
    held = held or held_by(session, [case])
    lead = held.users.get(case.lead_user_id) if case.lead_user_id else None
    case.lead_user_id = None
    reason = f"excluded: {exclusion.reason}"
    tasks = held.tasks.get(case.id, [])
    for task in tasks:
        task.status, task.outcome, task.completed_at = "cancelled", reason[:60], now
        audit.record(session, kind="task.cancelled", actor=actor, occurred_at=now,
                     case_id=case.id, person_ref=case.person.partner_ref,
                     summary=f"Task {task.id} ({task.template}) cancelled: {reason}",
                     payload={"task_id": task.id, "template": task.template,
                              "reason": reason, "rules": exclusion.rules})
    items = held.items.get(case.id, [])
    for item in items:
        item.decision, item.reason = "withdrawn", reason
        item.decided_by, item.decided_role, item.decided_at = actor, "rule", now
    matched = {k: v for d in exclusion.decisions for k, v in d.matched.items()}
    audit.record(session, kind="case.excluded", actor=actor, occurred_at=now,
                 case_id=case.id, person_ref=case.person.partner_ref,
                 summary=f"Case {case.id} excluded ({where}) by "
                         f"{', '.join(exclusion.rules)}: {exclusion.reason}; now "
                         f"{case.state}; lead freed: {lead.username if lead else 'none'}; "
                         f"{len(tasks)} task(s) cancelled, {len(items)} agenda item(s) "
                         "withdrawn",
                 payload={"guard": where, "state": case.state, **exclusion.as_dict(),
                          "matched": matched, "lead_freed": lead.username if lead else None,
                          "tasks_cancelled": [t.id for t in tasks],
                          "agenda_items_withdrawn": [i.meeting_id for i in items]})


def guard_case(session: Session, case: Case, *, now: datetime, actor: str, policy: Policy,
               where: str, engine: RuleEngine | None = None) -> Exclusion | None:
    """Check one case before it enters or stays in a stage; apply an exclusion found.

    Returns the exclusion (already applied) or None when the case may go on.
    """
    hit = find_exclusions(session, [case], now=now, policy=policy, engine=engine).get(case.id)
    if hit is None:
        case.guard_due_at = None
        return None
    apply_exclusion(session, case, hit, now=now, actor=actor, policy=policy, where=where)
    session.flush()
    return hit


@dataclass
class GuardResult:
    case_id: int
    source: str
    target: str
    exclusion: Exclusion


def guard_chunk(session: Session, cases: list[Case], *, now: datetime, actor: str,
                policy: Policy, engine: RuleEngine | None = None) -> list[GuardResult]:
    """Evaluate the guards for a chunk of cases set-based and apply every exclusion.

    Clears ``guard_due_at`` on each case; flushes once. Returns the cases that moved.
    """
    open_cases = [c for c in cases if c.closed_at is None]
    hits = find_exclusions(session, open_cases, now=now, policy=policy, engine=engine)
    held = held_by(session, [c for c in open_cases if c.id in hits])
    moved = []
    for case in cases:
        case.guard_due_at = None
        hit = hits.get(case.id)
        if hit is None:
            continue
        source = case.state
        if apply_exclusion(session, case, hit, now=now, actor=actor, policy=policy,
                           where="partner data changed", held=held):
            moved.append(GuardResult(case.id, source, case.state, hit))
    session.flush()
    return moved


def guard_due_ids(session: Session, *, now: datetime, limit: int) -> list[int]:
    """Open cases marked by :func:`mark_guard_due` up to ``now``, oldest mark first."""
    return list(session.scalars(select(Case.id).where(
        Case.closed_at.is_(None), Case.guard_due_at <= now)
        .order_by(Case.guard_due_at, Case.id).limit(limit)))


def mark_case_guard_due(session: Session, case: Case | None, person_id: int, *,
                        now: datetime) -> None:
    """:func:`mark_guard_due` for one person through the ORM (no bulk UPDATE): ``case``
    when the caller holds it, else the person's open case."""
    if case is None or case.closed_at is not None:
        case = session.scalars(select(Case).where(Case.person_id == person_id,
                                                  Case.closed_at.is_(None))).first()
    if case is not None and case.closed_at is None and case.state != "mapping":
        case.guard_due_at = case.compliance_due_at = now


def mark_guard_due(session: Session, person_ids: Iterable[int], *, now: datetime) -> int:
    """Make the open cases of ``person_ids`` (outside mapping) due for the guard pass now,
    and for the periodic compliance pass (``workflow/tasks/compliance_pass.py``).

    Set-based, ``MARK_CHUNK`` people per UPDATE. Mapping cases are left alone: there an
    exclusion only blocks selection, which the mapping evaluation checks anyway.
    Returns the number of cases marked.
    """
    ids = sorted(set(person_ids))
    marked = 0
    for start in range(0, len(ids), MARK_CHUNK):
        result = session.execute(
            update(Case).where(Case.person_id.in_(ids[start:start + MARK_CHUNK]),
                               Case.closed_at.is_(None), Case.state != "mapping")
            .values(guard_due_at=now, compliance_due_at=now, version=Case.version + 1)
            .execution_options(synchronize_session=False))
        marked += result.rowcount or 0
    if marked:  # cases this session holds would carry a stale version: reload them
        people = set(ids)
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Case) and obj.person_id in people:
                session.expire(obj)
    return marked
