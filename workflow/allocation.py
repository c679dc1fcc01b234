"""Allocation: one lead professional per accepted case, within the team's capacity.

Rules decide who *kind* of professional leads (``assign_lead`` in the allocation rule
sets: NPS or CRC offender manager for statutory cases, a police lead otherwise) and the
intensity tier; this module picks the named person with room on their caseload. Caseload
limits follow the Pan-London ratios in ``[capacity]`` (per ``nominals_per_unit`` nominals:
NPS 0.8 offender managers, CRC 1.3, 1 police officer): an NPS offender manager leads at
most 40/0.8 = 50 cases, a CRC one 40/1.3 = 30, a police lead 40.

Over capacity never overloads silently: the case stays allocated with no lead and an
``allocation.waiting`` audit entry is written once per wait. The team lead's task comes
from the rules like every task: the allocation rule sets see ``lead_room_nps``,
``lead_room_crc`` and ``lead_room_police`` (whether anyone of that agency has room) and
``lead-professional/wait-*`` asks for an ``allocation_waiting`` task. The scheduler retries
waiting cases every pass; the task is closed when a lead is assigned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import AuditEntry, Case, Task, User
from rules.decisions import Decision
from rules.engine import RuleEngine, default_engine
from workflow import audit, guards
from workflow.advance import apply_intensity
from workflow.config import Settings
from workflow.errors import IllegalTransition, InvalidInput
from workflow.facts import facts_for_cases
from workflow.rulesets import active_documents
from workflow.tasks.service import raise_tasks

WAITING_TEMPLATE = "allocation_waiting"
LEAD_STATES = ("allocated", "review", "suspended")
AGENCIES = ("NPS", "CRC", "police")


@dataclass
class AllocationResult:
    case_id: int
    lead_user_id: int | None
    agency: str | None
    reason: str
    decisions: list[Decision] = field(default_factory=list)
    excluded: bool = False  # an exclusion guard took the case out instead

    @property
    def waiting(self) -> bool:
        return self.lead_user_id is None and not self.excluded


def caseload_limit(capacity: Mapping, agency: str) -> int:
    """Most cases one professional of ``agency`` (NPS, CRC or police) may lead."""
    ratio = {"NPS": capacity["nps_offender_managers"], "CRC": capacity["crc_offender_managers"],
             "police": capacity["nonstat_police"]}[agency]
    return math.floor(capacity["nominals_per_unit"] / ratio)


def lead_decisions(session: Session, case: Case, *, now: datetime, settings: Settings,
                   free: Mapping[str, User | None], engine: RuleEngine | None = None
                   ) -> tuple[list[Decision], dict]:
    """Evaluate the stage policy's ``allocation`` rule sets for ``case``: ``(decisions, facts)``.

    The facts are the case's plus ``lead_room_<agency>``: whether ``free`` (from
    :func:`free_leads`) has someone for that agency. Writes nothing. Raises
    :class:`ConfigError` when a configured rule set is not published.
    """
    from workflow.policy.store import policy_in_force

    policy = policy_in_force(session, settings, now)
    docs = active_documents(session, "allocated", policy.rulesets_for("allocation"), now=now)
    facts = facts_for_cases(session, [case], now, policy.window)
    facts = {**facts[case.id],
             **{f"lead_room_{agency.lower()}": user is not None for agency, user in free.items()}}
    return (engine or default_engine()).evaluate_all(docs, [facts])[0], facts


def free_leads(session: Session, capacity: Mapping) -> dict[str, User | None]:
    """For each agency, the professional who would lead the next case (:func:`pick_lead`),
    or None when nobody has room. Locks the candidates' rows on PostgreSQL."""
    return {agency: pick_lead(session, agency, capacity) for agency in AGENCIES}


def _candidates(session: Session, agency: str) -> list[User]:
    query = select(User).where(User.active.is_(True))
    if agency == "police":
        query = query.where(User.role == "police")
    else:
        query = query.where(User.role == "offender_manager", User.agency == agency)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()  # serialise concurrent allocations per professional
    return list(session.scalars(query.order_by(User.id)))


def _loads(session: Session, user_ids: list[int]) -> dict[int, int]:
    rows = session.execute(
        select(Case.lead_user_id, func.count()).where(
            Case.lead_user_id.in_(user_ids), Case.closed_at.is_(None),
            Case.state.in_(LEAD_STATES)).group_by(Case.lead_user_id))
    return {uid: n for uid, n in rows}


def pick_lead(session: Session, agency: str, capacity: Mapping) -> User | None:
    """The least-loaded active professional of ``agency`` with room, or None."""
    users = _candidates(session, agency)
    if not users:
        return None
    loads = _loads(session, [u.id for u in users])
    limit = caseload_limit(capacity, agency)
    free = [u for u in users if loads.get(u.id, 0) < limit]
    return min(free, key=lambda u: (loads.get(u.id, 0), u.id)) if free else None


def _open_waiting_task(session: Session, case: Case) -> Task | None:
    return session.scalars(select(Task).where(
        Task.case_id == case.id, Task.template == WAITING_TEMPLATE,
        Task.status == "open")).first()


def _wait(session: Session, case: Case, reason: str, decisions: list[Decision],
          facts: dict, *, now, actor, agency) -> None:
    """Raise the tasks the rules ask for (once: see ``routing.suppressed``) and write the
    ``allocation.waiting`` entry once since the case entered allocated."""
    tasks = raise_tasks(session, case, decisions, now=now, actor=actor, facts=facts)
    noted = session.scalar(select(AuditEntry.seq).where(
        AuditEntry.case_id == case.id, AuditEntry.kind == "allocation.waiting",
        AuditEntry.occurred_at >= case.state_since).limit(1))
    if noted is not None and not tasks:
        return
    audit.record(session, kind="allocation.waiting", actor=actor, occurred_at=now,
                 case_id=case.id, person_ref=case.person.partner_ref,
                 summary=f"Case {case.id} waits for a lead professional: {reason}",
                 payload={"agency": agency, "reason": reason,
                          "tasks": [t.id for t in tasks],
                          "decisions": [d.as_dict() for d in decisions]})


def allocate(session: Session, case: Case, *, now: datetime, actor: str, settings: Settings,
             engine: RuleEngine | None = None) -> AllocationResult:
    """Name one lead professional for an allocated case, or flag it as waiting. Flushes.

    Every task the allocation rule sets ask for is raised (routed to the new lead when
    its role matches). Idempotent: a case that already has a lead is left as it is. The
    exclusion guards are checked first: an excluded case leaves the cohort instead
    (``excluded`` result, no lead). Raises
    :class:`IllegalTransition` when the case is not in state allocated.
    """
    if case.state != "allocated":
        raise IllegalTransition(f"case {case.id} is {case.state}, not allocated",
                                details={"state": case.state})
    if case.lead_user_id is not None:
        return AllocationResult(case.id, case.lead_user_id, None, "already led")
    from workflow.policy.store import policy_in_force

    policy = policy_in_force(session, settings, now)
    hit = guards.guard_case(session, case, now=now, actor=actor, where="allocation",
                            policy=policy, engine=engine)
    if hit is not None:
        return AllocationResult(case.id, None, None, f"excluded: {hit.reason}",
                                list(hit.decisions), excluded=True)
    capacity = policy.capacity
    free = free_leads(session, capacity)
    decisions, facts = lead_decisions(session, case, now=now, settings=settings, free=free,
                                      engine=engine)
    apply_intensity(case, decisions)
    leads = [d.params for d in decisions if d.action == "assign_lead"]
    agency = leads[0]["agency"] if leads else None
    user = free[agency] if agency else None
    if user is None:
        reason = (f"every {agency} lead is at capacity "
                  f"({caseload_limit(capacity, agency)} cases each)"
                  if agency else "no lead-professional rule decided the case")
        _wait(session, case, reason, decisions, facts, now=now, actor=actor, agency=agency)
        session.flush()
        return AllocationResult(case.id, None, agency, reason, decisions)
    result = _assign(session, case, user, agency, decisions, now=now, actor=actor)
    raise_tasks(session, case, decisions, now=now, actor=actor, facts=facts)  # any others
    return result


def _assign(session, case, user, agency, decisions, *, now, actor) -> AllocationResult:
    case.lead_user_id = user.id
    task = _open_waiting_task(session, case)
    if task is not None:
        task.status, task.completed_at, task.outcome = "done", now, "lead assigned"
    rules = ", ".join(f"{d.ruleset}/{d.rule}" for d in decisions if d.action == "assign_lead")
    audit.record(session, kind="allocation.assigned", actor=actor, occurred_at=now,
                 case_id=case.id, person_ref=case.person.partner_ref,
                 summary=f"Lead professional {user.username} ({agency}) assigned by {rules}",
                 payload={"lead_user_id": user.id, "lead": user.username, "agency": agency,
                          "intensity": case.intensity,
                          "decisions": [d.as_dict() for d in decisions]})
    session.flush()
    return AllocationResult(case.id, user.id, agency, "assigned", decisions)


def waiting_case_ids(session: Session, *, limit: int) -> list[int]:
    """Allocated cases with no lead professional yet, oldest first."""
    return list(session.scalars(select(Case.id).where(
        Case.state == "allocated", Case.closed_at.is_(None), Case.lead_user_id.is_(None))
        .order_by(Case.state_since, Case.id).limit(limit)))


def _needs(cohort_size: float, capacity: Mapping, mix: Mapping) -> tuple[float, float]:
    """Offender-manager and police FTE a cohort needs under the Pan-London ratios."""
    total = sum(mix.values()) or 1
    counts = {k: cohort_size * v / total for k, v in mix.items()}
    unit = capacity["nominals_per_unit"]
    om = (counts.get("NPS", 0) * capacity["nps_offender_managers"]
          + counts.get("CRC", 0) * capacity["crc_offender_managers"]) / unit
    police = (counts.get("NPS", 0) * capacity["nps_police"]
              + counts.get("CRC", 0) * capacity["crc_police"]
              + counts.get("nonstat", 0) * capacity["nonstat_police"]) / unit
    return om, police


def _posts(fte: float) -> int:
    return math.ceil(round(fte, 6))


def capacity_report(cohort_size: int, capacity: Mapping, mix: Mapping | None = None) -> dict:
    """Staff a cohort of ``cohort_size`` needs under the Pan-London ratios.

    ``mix`` gives relative shares ``{"NPS", "CRC", "nonstat"}`` (default: the ``mix_*``
    keys of ``capacity``, seed 001 section 5.3). Needs are rounded up to whole posts.
    ``more`` is what the cohort needs beyond what the cohort the team in post was set up
    for (``team_cohort``, seed 002: 90-100) needs, as seed 002 reasons ("180-200 would
    require a minimum addition of 2 probation offender managers, 2 more police leads").
    Raises :class:`InvalidInput` for a negative cohort.
    """
    if cohort_size < 0:
        raise InvalidInput(f"cohort must be 0 or more, not {cohort_size}",
                           details={"field": "cohort"})
    mix = mix or {"NPS": capacity["mix_nps"], "CRC": capacity["mix_crc"],
                  "nonstat": capacity["mix_nonstat"]}
    total = sum(mix.values()) or 1
    om, police = _needs(cohort_size, capacity, mix)
    base_om, base_police = _needs(capacity.get("team_cohort", 100), capacity, mix)
    need_om, need_police = _posts(om), _posts(police)
    return {
        "cohort": cohort_size, "team_cohort": capacity.get("team_cohort", 100),
        "mix": {k: round(cohort_size * v / total, 1) for k, v in mix.items()},
        "offender_managers": {"fte": round(om, 2), "needed": need_om,
                              "in_post": capacity["staff_offender_managers"],
                              "more": max(need_om - _posts(base_om), 0)},
        "police_leads": {"fte": round(police, 2), "needed": need_police,
                         "in_post": capacity["staff_police"],
                         "more": max(need_police - _posts(base_police), 0)},
    }


@dataclass(frozen=True)
class LeadLoad:
    """One lead professional's caseload against the limit for their agency."""

    user_id: int
    name: str
    agency: str
    cases: int
    limit: int

    @property
    def percent(self) -> int:
        return round(100 * self.cases / self.limit) if self.limit else 0


def workload(session: Session, capacity: Mapping) -> list[LeadLoad]:
    """Every active lead professional (offender managers by agency, police), with the
    open cases they lead (allocated, review, suspended) and their agency's limit;
    most loaded first. Reads only."""
    users = list(session.scalars(select(User).where(
        User.active.is_(True), User.role.in_(("offender_manager", "police")))))
    loads = _loads(session, [u.id for u in users])
    out = []
    for user in users:
        agency = "police" if user.role == "police" else user.agency
        if agency not in AGENCIES:
            continue
        out.append(LeadLoad(user.id, user.display_name, agency, loads.get(user.id, 0),
                            caseload_limit(capacity, agency)))
    return sorted(out, key=lambda x: (-x.percent, -x.cases, x.name))
