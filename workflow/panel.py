"""The multi-agency panel: recurring meetings, agendas, recorded decisions, minutes.

Meetings recur by ``[panel] schedule`` ("first thursday" = the first Thursday of each
month) at ``[panel] time`` (UTC). ``agenda_days_before`` days before a meeting the
agenda is built once from the cases in state panel: excluded ones are taken off by the
exclusion guards (``workflow/guards.py``), the rest ranked by the priority score the
agenda rule sets compute (``set_priority``, summed) then activity score (highest
first), at most ``max_cases``; each case's offender manager is recorded as invited.
A chair (team_lead or admin) records accept / defer (with a date) / reject with a
reason; the decision fires the lifecycle transition, whose listener audits it. An accept
or a defer of an excluded case is refused with the rule's reason; an accept with a
recorded override is allowed, and the case keeps the override for the episode (its
history shows it).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.dialect import insert_on_conflict_do_nothing
from db.models import DECISIONS, Case, PanelItem, PanelMeeting, Supervision, User
from workflow import audit, guards, history  # noqa: F401  (history: audit listener)
from workflow.config import ORDINALS, WEEKDAYS, Settings
from workflow.errors import Conflict, Excluded, Forbidden, InvalidInput, NotFound
from workflow.lifecycle import fire
from workflow.rulesets import active_documents

CHAIR_ROLES = ("team_lead", "admin")


def meeting_on(schedule: str, year: int, month: int) -> date:
    """The meeting date in ``year``/``month`` for a schedule like ``"first thursday"``."""
    ordinal, weekday = schedule.lower().split()
    wd = WEEKDAYS.index(weekday)
    days = [d for d in range(1, calendar.monthrange(year, month)[1] + 1)
            if date(year, month, d).weekday() == wd]
    index = -1 if ordinal == "last" else ORDINALS.index(ordinal)
    return date(year, month, days[index])


def next_meeting_on(schedule: str, on_or_after: date) -> date:
    """The first scheduled meeting date on or after ``on_or_after``."""
    year, month = on_or_after.year, on_or_after.month
    while True:
        held = meeting_on(schedule, year, month)
        if held >= on_or_after:
            return held
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _starts_at(held_on: date, panel: Mapping) -> datetime:
    hours, minutes = (int(x) for x in panel["time"].split(":"))
    return datetime.combine(held_on, time(hours, minutes), UTC)


def get_or_create_meeting(session: Session, held_on: date, panel: Mapping) -> PanelMeeting:
    """The meeting on ``held_on``, created if missing, its row held until the transaction
    ends (``FOR UPDATE`` on PostgreSQL; SQLite's transaction holds the write lock).

    Safe under races: created with ``ON CONFLICT DO NOTHING`` on ``uq_panel_meeting_held_on``,
    so a process that loses the race reads the winner's meeting (after it committed)
    instead of failing, and sees whatever the winner did to it.
    """
    table = PanelMeeting.__table__
    session.execute(insert_on_conflict_do_nothing(
        session, table, index_elements=[table.c.held_on]).values(
        held_on=held_on, starts_at=_starts_at(held_on, panel), created_at=utcnow()))
    query = (select(PanelMeeting).where(PanelMeeting.held_on == held_on)
             .execution_options(populate_existing=True))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalars(query).one()


def _invitee(session: Session, case: Case, today: date) -> tuple[int | None, str | None]:
    """The case's current offender manager (user id, name), or (None, None)."""
    sup = session.scalars(
        select(Supervision).where(Supervision.person_id == case.person_id,
                                  Supervision.start_on <= today)
        .where((Supervision.end_on.is_(None)) | (Supervision.end_on >= today))
        .order_by(Supervision.start_on.desc(), Supervision.id.desc())).first()
    if sup is None or sup.provider == "none":
        return None, None
    name = sup.offender_manager
    if sup.offender_manager_user_id and not name:
        name = session.get(User, sup.offender_manager_user_id).display_name
    return sup.offender_manager_user_id, name


def _ranked_panel_cases(session: Session, *, now: datetime, settings: Settings, actor: str
                        ) -> list[tuple[Case, float, list]]:
    """``(case, priority, priority decisions)`` for the agenda, best first, at most
    ``max_cases``. Guards and agenda rule sets are evaluated chunk by chunk; an excluded
    case is moved off panel by :func:`guards.apply_exclusion` instead."""
    pending = exists().where(PanelItem.case_id == Case.id, PanelItem.decision.is_(None))
    candidates = list(session.scalars(
        select(Case).where(Case.state == "panel", Case.closed_at.is_(None), ~pending)
        .order_by(Case.id)))
    from workflow.policy.store import policy_in_force

    policy = policy_in_force(session, settings, now)
    agenda_docs = active_documents(session, guards.AGENDA_STAGE, policy.agenda, now=now)
    ranked = []
    for start in range(0, len(candidates), settings.chunk_size):
        chunk = candidates[start:start + settings.chunk_size]
        results = guards.evaluate_guarded(session, chunk, now=now, policy=policy,
                                          extra=agenda_docs)
        for case in chunk:
            decisions, facts = results[case.id]
            hit = guards.exclusion_of(case, decisions, facts)
            if hit is not None:
                guards.apply_exclusion(session, case, hit, now=now, actor=actor,
                                       policy=policy, where="agenda building")
                continue
            scored = [d for d in decisions if d.action == "set_priority"]
            ranked.append((case, sum(d.params["score"] for d in scored), scored))
    ranked.sort(key=lambda r: (-r[1], r[0].activity_score is None,
                               -(r[0].activity_score or 0), r[0].id))
    return ranked[:policy.panel["max_cases"]]


def build_agenda(session: Session, *, now: datetime, settings: Settings,
                 actor: str = "scheduler") -> PanelMeeting | None:
    """Build the next meeting's agenda if its window has opened and it is not built yet.

    Returns the meeting whose agenda was built by this call, else None (idempotent).
    Flushes; the caller commits.
    """
    from workflow.policy.store import policy_in_force

    panel = policy_in_force(session, settings, now).panel
    held_on = next_meeting_on(panel["schedule"], now.date())
    if now.date() < held_on - timedelta(days=panel["agenda_days_before"]):
        return None
    meeting = get_or_create_meeting(session, held_on, panel)
    if meeting.agenda_built_at is not None:
        return None
    ranked = _ranked_panel_cases(session, now=now, settings=settings, actor=actor)
    for rank, (case, priority, scored) in enumerate(ranked, start=1):
        user_id, name = _invitee(session, case, now.date())
        session.add(PanelItem(meeting=meeting, case_id=case.id, rank=rank,
                              activity_score=case.activity_score, invited_user_id=user_id,
                              invited_name=name, invited_at=now))
        audit.record(session, kind="panel.invited", actor=actor, occurred_at=now,
                     case_id=case.id, person_ref=case.person.partner_ref,
                     summary=f"Case {case.id} on the panel agenda of {held_on} (rank {rank},"
                             f" priority {priority:g}); invited to present: "
                             f"{name or 'relevant partner'}",
                     payload={"meeting": meeting.id, "held_on": held_on, "rank": rank,
                              "priority": priority, "activity_score": case.activity_score,
                              "priority_decisions": [d.as_dict() for d in scored],
                              "invited_user_id": user_id, "invited": name})
    meeting.agenda_built_at = now
    session.flush()
    return meeting


def get_meeting(session: Session, meeting_id: int) -> PanelMeeting:
    meeting = session.get(PanelMeeting, meeting_id)
    if meeting is None:
        raise NotFound(f"panel meeting {meeting_id} not found",
                       details={"meeting_id": meeting_id})
    return meeting


def list_meetings(session: Session) -> list[PanelMeeting]:
    return list(session.scalars(select(PanelMeeting).order_by(PanelMeeting.held_on.desc())))


def _check_decision(decision: str, reason: str, defer_until: date | None, today: date) -> None:
    if decision not in DECISIONS:
        raise InvalidInput(f"decision must be one of {', '.join(DECISIONS)}",
                           details={"field": "decision"})
    if not (reason or "").strip():
        raise InvalidInput("a decision needs a reason", details={"field": "reason"})
    if decision == "defer" and (defer_until is None or defer_until <= today):
        raise InvalidInput("defer needs defer_until, a date after today",
                           details={"field": "defer_until"})
    if decision != "defer" and defer_until is not None:
        raise InvalidInput("defer_until is only for defer", details={"field": "defer_until"})


def _override(session: Session, case: Case, decision: str, override: str | None, *,
              now: datetime, user: User, settings: Settings, meeting: PanelMeeting
              ) -> dict | None:
    """Check the exclusion guards before an accept or a defer (the case would stay in
    the lifecycle): an excluded case is refused unless the chair accepts it with an
    override reason, which is then recorded on the case. Returns the override (for the
    transition's cause) or None. A reject needs no check."""
    override = (override or "").strip()
    if override and decision != "accept":
        raise InvalidInput("an override is only for accept", details={"field": "override"})
    if decision == "reject":
        return None
    from workflow.policy.store import policy_in_force

    hit = guards.find_exclusions(session, [case], now=now,
                                 policy=policy_in_force(session, settings, now)).get(case.id)
    if hit is None:
        if override:
            raise InvalidInput(f"case {case.id} is not excluded: nothing to override",
                               details={"field": "override"})
        return None
    if not override:
        raise Excluded(f"case {case.id} is excluded by {', '.join(hit.rules)}: {hit.reason};"
                       f" it cannot be {decision}ed: reject it, or accept it with a recorded"
                       " override reason", details={"case_id": case.id, **hit.as_dict()})
    record = {"rules": hit.rules, "versions": hit.versions, "exclusion": hit.reason,
              "reason": override, "by": user.username, "role": user.role,
              "at": now.isoformat(), "meeting": meeting.id}
    case.guard_override = record
    return record


def decide(session: Session, meeting_id: int, case_id: int, *, decision: str, reason: str,
           now: datetime, user: User, settings: Settings,
           defer_until: date | None = None, override: str | None = None) -> PanelItem:
    """Record a chair's decision on an agenda item and fire the transition. Flushes.

    Raises :class:`Forbidden` (not team_lead/admin), :class:`NotFound` (not on the
    agenda), :class:`Conflict` (already decided or withdrawn), :class:`Excluded` (accept
    without ``override``, or defer, of an excluded case), :class:`InvalidInput` (bad decision, no
    reason, bad defer date, override not for an excluded accept),
    :class:`IllegalTransition` (case no longer in panel).
    """
    if user.role not in CHAIR_ROLES:
        raise Forbidden(f"role {user.role} may not record panel decisions",
                        details={"role": user.role})
    _check_decision(decision, reason, defer_until, now.date())
    meeting = get_meeting(session, meeting_id)
    item = session.scalars(select(PanelItem).where(
        PanelItem.meeting_id == meeting.id, PanelItem.case_id == case_id)).first()
    if item is None:
        raise NotFound(f"case {case_id} is not on the agenda of meeting {meeting.id}",
                       details={"meeting_id": meeting.id, "case_id": case_id})
    if item.decision is not None:
        raise Conflict(f"case {case_id} was already decided ({item.decision})",
                       details={"decision": item.decision})
    case = session.get(Case, case_id)
    cause = {"kind": "human", "reason": reason.strip(), "decision": decision,
             "meeting": meeting.id, "role": user.role}
    overridden = _override(session, case, decision, override, now=now, user=user,
                           settings=settings, meeting=meeting)
    if overridden:
        cause["override"] = overridden
    if defer_until:
        cause["defer_until"] = defer_until.isoformat()
    fire(session, case, decision, now=now, actor=user.username, cause=cause)
    item.decision, item.reason, item.defer_until = decision, reason.strip(), defer_until
    item.decided_by, item.decided_role, item.decided_at = user.username, user.role, now
    _after_decision(session, case, decision, defer_until, now=now, actor=user.username,
                    settings=settings)
    session.flush()
    return item


def _after_decision(session, case, decision, defer_until, *, now, actor, settings) -> None:
    from workflow.advance import review_interval
    from workflow.allocation import allocate
    from workflow.policy.store import policy_in_force

    if decision == "defer":
        case.next_due_at = datetime.combine(defer_until, time(0), UTC)
    elif decision == "accept":
        allocate(session, case, now=now, actor=actor, settings=settings)
        if case.closed_at is None:  # not excluded at allocation
            review = policy_in_force(session, settings, now).review
            case.next_due_at = now + review_interval(case.intensity, review)


def minutes(session: Session, meeting_id: int) -> dict:
    """The meeting's minutes as JSON-ready data: every agenda item and its decision."""
    meeting = get_meeting(session, meeting_id)
    items = []
    for item in meeting.items:
        items.append({
            "rank": item.rank, "case_id": item.case_id,
            "person_ref": item.case.person.partner_ref,
            "activity_score": item.activity_score, "invited": item.invited_name,
            "invited_user_id": item.invited_user_id, "decision": item.decision,
            "reason": item.reason,
            "defer_until": item.defer_until.isoformat() if item.defer_until else None,
            "decided_by": item.decided_by, "decided_role": item.decided_role,
            "decided_at": item.decided_at.isoformat() if item.decided_at else None})
    return {"meeting": meeting.id, "held_on": meeting.held_on.isoformat(),
            "starts_at": meeting.starts_at.isoformat(),
            "agenda_built_at": (meeting.agenda_built_at.isoformat()
                                if meeting.agenda_built_at else None),
            "items": items}


def _cell(value) -> str:
    """A table cell: empty for None, "withheld" for a value the reader may not see."""
    if value is None:
        return ""
    if isinstance(value, dict) and value.get("withheld"):
        return "withheld"
    return str(value)


def minutes_markdown(data: dict) -> str:
    """Render :func:`minutes` data as Markdown."""
    lines = [f"# IOM panel minutes, {data['held_on']}", "",
             f"Meeting {data['meeting']}, starting {data['starts_at']}.", "",
             "| # | case | person | activity | presented by | decision | reason | by |",
             "|---|---|---|---|---|---|---|---|"]
    for i in data["items"]:
        decision = i["decision"] or "pending"
        if i["defer_until"]:
            decision += f" until {i['defer_until']}"
        by = f"{i['decided_by']} ({i['decided_role']})" if i["decided_by"] else ""
        lines.append(f"| {i['rank']} | {i['case_id']} | {i['person_ref']} | "
                     f"{_cell(i['activity_score'])} | "
                     f"{i['invited'] or 'relevant partner'} | {decision} | "
                     f"{_cell(i['reason']).replace('|', '/')} | {by} |")
    counts = {d: sum(i["decision"] == d for i in data["items"]) for d in DECISIONS}
    lines += ["", "Accepted {accept}, deferred {defer}, rejected {reject}.".format(**counts)]
    return "\n".join(lines) + "\n"


def agenda_reasons(session: Session, meeting: PanelMeeting) -> dict[int, str]:
    """Why each case is on ``meeting``'s agenda, in words, from its ``panel.invited``
    audit entry: its rank, the priority rules that scored it, its activity score."""
    from db.models import AuditEntry

    ids = [item.case_id for item in meeting.items]
    out: dict[int, str] = {}
    if not ids:
        return out
    rows = session.execute(select(AuditEntry.case_id, AuditEntry.payload).where(
        AuditEntry.kind == "panel.invited", AuditEntry.case_id.in_(ids))
        .order_by(AuditEntry.seq)).all()
    for case_id, payload in rows:
        if not isinstance(payload, dict) or payload.get("meeting") != meeting.id:
            continue
        reasons = [d.get("params", {}).get("reason") or d.get("rule")
                   for d in payload.get("priority_decisions") or []]
        activity = payload.get("activity_score")
        out[case_id] = (f"Rank {payload.get('rank')}, priority {payload.get('priority', 0):g}"
                        + (f" ({'; '.join(r for r in reasons if r)})" if reasons else
                           " (no priority rule matched)")
                        + (f", activity score {activity:g}" if activity is not None else ""))
    return out
