"""Review, custody and re-selection: keeping the cohort fluid.

* Reviews fall due by intensity tier (``[review]``); :func:`start_review` moves the case to
  review, where the ``[stages.review]`` rule sets decide retain or deselect.
* Custody is a human event: :func:`custody` suspends or releases with a reason.
* Deferred cases come back to panel on their date (:func:`represent`).
* A person whose last episode closed (exited/rejected) and who is arrested, charged or
  convicted on or after the day it closed gets a new episode in mapping (:func:`reopen_returning`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from db.models import Case, ComplianceEvent, OffendingEvent, User
from workflow import audit, guards, history  # noqa: F401  (history: audit listener)
from workflow.advance import Policy, review_interval
from workflow.config import Settings
from workflow.errors import Forbidden, InvalidInput
from workflow.lifecycle import fire

CUSTODY_ROLES = ("team_lead", "offender_manager", "police", "admin")
REOPEN_FROM = ("exited", "rejected")


def _due(case: Case, state: str, now: datetime) -> bool:
    return (case.state == state and case.closed_at is None and case.next_due_at is not None
            and case.next_due_at <= now)


def start_review(session: Session, case: Case, *, now: datetime, actor: str,
                 policy: Policy | None = None) -> bool:
    """Move a due allocated case to review (evaluated at once by the advance pass).

    With ``policy``, the exclusion guards are checked first: an excluded case leaves
    the cohort instead (True). Returns False, changing nothing, when not (or no longer)
    due.
    """
    if not _due(case, "allocated", now):
        return False
    if policy is not None and guards.guard_case(session, case, now=now, actor=actor,
                                                policy=policy, where="start of review"):
        return True
    due = case.next_due_at
    fire(session, case, "review_due", now=now, actor=actor,
         cause={"kind": "schedule", "reason": f"review due on {due.date().isoformat()}",
                "due_at": due.isoformat(), "intensity": case.intensity})
    case.next_due_at = now
    session.flush()
    return True


def represent(session: Session, case: Case, *, now: datetime, actor: str,
              policy: Policy | None = None) -> bool:
    """Bring a deferred case back to panel once its date is reached; False if not due.

    With ``policy``, the exclusion guards are checked first: an excluded case goes back
    to mapping instead (True).
    """
    if not _due(case, "deferred", now):
        return False
    if policy is not None and guards.guard_case(session, case, now=now, actor=actor,
                                                policy=policy, where="represent"):
        return True
    due = case.next_due_at
    fire(session, case, "represent", now=now, actor=actor,
         cause={"kind": "schedule", "reason": f"deferred until {due.date().isoformat()}",
                "defer_until": due.date().isoformat()})
    case.next_due_at = None
    session.flush()
    return True


def due_in_state(session: Session, state: str, *, now: datetime, limit: int) -> list[int]:
    """Open cases in ``state`` whose ``next_due_at`` has passed, oldest due first."""
    return list(session.scalars(select(Case.id).where(
        Case.state == state, Case.closed_at.is_(None), Case.next_due_at <= now)
        .order_by(Case.next_due_at, Case.id).limit(limit)))


def custody(session: Session, case: Case, *, event: str, reason: str, now: datetime,
            user: User, settings: Settings) -> None:
    """Record custody in (suspend) or release (``custody_out``) with a reason. Flushes.

    Also stores the matching ``custody_in`` / ``custody_out`` compliance event (recorded
    by the user, at ``now``), which is what the ``in_custody`` fact reads.

    A release is checked by the exclusion guards: an excluded case leaves the cohort
    at once (audited after the release). Raises :class:`Forbidden`,
    :class:`InvalidInput` (no reason, unknown event) or :class:`IllegalTransition` (the
    case is not in a state the event applies to).
    """
    if user.role not in CUSTODY_ROLES:
        raise Forbidden(f"role {user.role} may not record custody", details={"role": user.role})
    if event not in ("custody_in", "custody_out"):
        raise InvalidInput("event must be custody_in or custody_out", details={"field": "event"})
    if not (reason or "").strip():
        raise InvalidInput("custody events need a reason", details={"field": "reason"})
    fire(session, case, event, now=now, actor=user.username,
         cause={"kind": "human", "reason": reason.strip(), "decision": event,
                "role": user.role})
    # The same record a partner's custody report makes, so the in_custody fact (and an
    # as-of replay) sees the human decision too.
    session.add(ComplianceEvent(
        event_id=f"custody:{case.id}:{event}:{now.isoformat()}"[:80], case_id=case.id,
        person_id=case.person_id, kind=event, occurred_at=now,
        details={"reason": reason.strip(), "recorded_with": "custody"},
        recorded_by=user.username, recorded_at=now))
    if event == "custody_in":
        case.next_due_at = None
    else:
        from workflow.policy.store import policy_in_force

        policy = policy_in_force(session, settings, now)
        case.next_due_at = now + review_interval(case.intensity, policy.review)
        guards.guard_case(session, case, now=now, actor=user.username,
                          policy=policy, where="custody release")
    session.flush()


def _returning_people(session: Session, *, now: datetime, limit: int) -> list[Case]:
    """The closed (exited/rejected) latest case of people offending again since."""
    latest = (select(Case.person_id, func.max(Case.episode).label("episode"))
              .group_by(Case.person_id).subquery())
    other = aliased(Case)
    open_case = select(other.id).where(other.person_id == Case.person_id,
                                       other.closed_at.is_(None)).exists()
    return list(session.scalars(
        select(Case).join(latest, and_(Case.person_id == latest.c.person_id,
                                       Case.episode == latest.c.episode))
        .where(Case.state.in_(REOPEN_FROM), ~open_case)
        .order_by(Case.id).limit(limit * 4)))


def reopen_returning(session: Session, *, now: datetime, actor: str, limit: int = 1000
                     ) -> list[Case]:
    """Open episode+1 in mapping for each person re-offending after their case closed.

    A new arrest, charge or conviction dated on or after the day the last episode closed
    (and on or before ``now``) re-selects the person for mapping; offending dated on the
    day that episode opened was already seen when it opened, so an episode opened and
    closed on one day is not reopened by it again. Audited as ``case.reopened``.
    """
    opened = []
    for last in _returning_people(session, now=now, limit=limit):
        since = last.closed_at.date()
        if last.opened_at.date() >= since:  # opened that day: its offending already seen
            since += timedelta(days=1)
        event = session.scalars(select(OffendingEvent).where(
            OffendingEvent.person_id == last.person_id, OffendingEvent.occurred_on >= since,
            OffendingEvent.occurred_on <= now.date())
            .order_by(OffendingEvent.occurred_on, OffendingEvent.id)).first()
        if event is None:
            continue
        case = Case(person_id=last.person_id, episode=last.episode + 1, state="mapping",
                    state_since=now, opened_at=now, next_due_at=now)
        session.add(case)
        session.flush()
        audit.record(session, kind="case.reopened", actor=actor, occurred_at=now,
                     case_id=case.id, person_ref=last.person.partner_ref,
                     summary=f"Episode {case.episode} opened in mapping: new {event.kind} "
                             f"({event.offence_category}) on {event.occurred_on} after "
                             f"episode {last.episode} closed ({last.state})",
                     payload={"episode": case.episode, "previous_case": last.id,
                              "event": {"kind": event.kind, "on": event.occurred_on,
                                        "offence": event.offence_category}})
        opened.append(case)
        if len(opened) >= limit:
            break
    return opened
