"""Compliance facts (``rules/catalogue.py``) for many cases in two queries.

* ``missed_appointments_30d`` / ``failed_drug_tests_30d``: compliance events of kind
  ``appointment_missed`` / ``drug_test_positive`` in the 30 days up to ``now``.
* ``days_since_last_arrest``: latest arrest, from offending events and ``arrest``
  compliance events; None when never arrested.
* ``compliant_days``: days since the last ``appointment_missed`` or ``licence_breach``,
  else since the case opened.
* ``in_custody``: the latest custody event is ``custody_in`` (a case suspended at or
  before ``now`` counts as custody in from ``state_since``).
* ``panel_attendance_confirmed``: the latest completed ``panel_invite`` task recorded
  ``attendance_confirmed`` (None when no invite was completed).
* ``warnings_30d``: ``enforcement_warning`` tasks completed with ``warning_issued`` in
  the 30 days up to ``now``.

Only data dated (events: ``occurred_at``; tasks: ``completed_at``) on or before ``now``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.dialect import one_of
from db.models import Case, ComplianceEvent, Task

FACTS = ("missed_appointments_30d", "failed_drug_tests_30d", "days_since_last_arrest",
         "compliant_days", "in_custody", "panel_attendance_confirmed", "warnings_30d")
OUTCOME_TEMPLATES = ("panel_invite", "enforcement_warning")
NONCOMPLIANCE = ("appointment_missed", "licence_breach")


def _load(session: Session, cases: list[Case], now: datetime):
    events = defaultdict(list)
    for e in session.scalars(select(ComplianceEvent).where(
            one_of(session, ComplianceEvent.person_id, {c.person_id for c in cases}),
            ComplianceEvent.occurred_at <= now).order_by(ComplianceEvent.occurred_at,
                                                         ComplianceEvent.id)):
        events[e.person_id].append(e)
    tasks = defaultdict(list)
    for t in session.scalars(select(Task).where(
            one_of(session, Task.case_id, {c.id for c in cases}), Task.status == "done",
            Task.template.in_(OUTCOME_TEMPLATES), Task.completed_at <= now)
            .order_by(Task.completed_at, Task.id)):
        tasks[t.case_id].append(t)
    return events, tasks


def _in_custody(case: Case, events: list, now: datetime) -> bool:
    """The latest custody event is custody_in; a case suspended (by a custody transition)
    at or before ``now`` counts as a custody_in at ``state_since``."""
    custody = [(e.occurred_at, e.kind) for e in events if e.kind in ("custody_in", "custody_out")]
    if case.state == "suspended" and case.state_since <= now:
        custody.append((case.state_since, "custody_in"))
    return bool(custody) and max(custody, key=lambda c: c[0])[1] == "custody_in"


def _case_facts(case: Case, events: list, tasks: list, last_arrest, now: datetime) -> dict:
    today, since = now.date(), now - timedelta(days=30)
    arrests = [e.occurred_at.date() for e in events if e.kind == "arrest"]
    if last_arrest is not None:
        arrests.append(last_arrest)
    lapses = [e.occurred_at for e in events if e.kind in NONCOMPLIANCE]
    invites = [t for t in tasks if t.template == "panel_invite"]
    return {
        "missed_appointments_30d": sum(e.kind == "appointment_missed" and e.occurred_at > since
                                       for e in events),
        "failed_drug_tests_30d": sum(e.kind == "drug_test_positive" and e.occurred_at > since
                                     for e in events),
        "days_since_last_arrest": max((today - max(arrests)).days, 0) if arrests else None,
        "compliant_days": max((now - max(lapses, default=case.opened_at)).days, 0),
        "in_custody": _in_custody(case, events, now),
        "panel_attendance_confirmed": (invites[-1].outcome == "attendance_confirmed"
                                       if invites else None),
        "warnings_30d": sum(t.template == "enforcement_warning" and t.outcome == "warning_issued"
                            and t.completed_at > since for t in tasks),
    }


def compliance_facts(session: Session, cases: list[Case], now: datetime,
                     last_arrest: dict) -> dict[int, dict]:
    """``{case.id: facts}`` for ``cases`` (Case objects or rows with their id, person_id,
    state, state_since and opened_at); ``last_arrest`` maps person id to the day of
    their latest arrest among the offending events (or None)."""
    events, tasks = _load(session, cases, now)
    return {c.id: _case_facts(c, events.get(c.person_id, []), tasks.get(c.id, []),
                              last_arrest.get(c.person_id), now)
            for c in cases}
