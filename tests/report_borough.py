"""Helpers that build report test data straight into the database (bulk inserts).

A constructed borough where the truth is known: each person has a latent monthly rate;
in the baseline window everyone offends at ``peak`` x that rate (they were picked at a
peak: regression to the mean); afterwards the comparison group offends at the latent rate
and the cohort at ``(1 - effect)`` x it. Some people spend 60 days in custody during
follow-up and offend not at all there.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import insert, select

from db.models import Case, ComplianceEvent, OffendingEvent, PanelItem, PanelMeeting, Person
from workflow.reports.windows import add_months

CATEGORIES = ("theft", "domestic_burglary", "robbery", "violence", "criminal_damage")


def at(day: date) -> datetime:
    return datetime.combine(day, time(10), tzinfo=UTC)


def join(session, person_id: int, decision: str, on: date, *, closed: date | None = None):
    """A case for the person with a panel ``decision`` recorded on ``on``."""
    meeting = session.scalar(select(PanelMeeting).where(PanelMeeting.held_on == on))
    if meeting is None:
        meeting = PanelMeeting(held_on=on, starts_at=at(on))
        session.add(meeting)
    state = {"accept": "allocated", "reject": "rejected"}[decision]
    case = Case(person_id=person_id, state=state, opened_at=at(on - timedelta(days=30)),
                closed_at=at(closed) if closed else (at(on) if decision == "reject" else None))
    session.add(case)
    session.flush()
    session.add(PanelItem(meeting_id=meeting.id, case_id=case.id, rank=1, invited_at=at(on),
                          decision=decision, decided_at=at(on), decided_by="chair"))
    session.flush()
    return case


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def constructed_borough(session, *, people: int, effect: float, peak: float, seed: int,
                        kind: str = "conviction") -> dict:
    """Build the borough; returns the groups' index dates for checking."""
    rng = random.Random(seed)
    session.execute(insert(Person), [
        {"partner_ref": f"B{i:05d}", "given_name": "G", "family_name": f"F{i}", "sex": "M",
         "date_of_birth": date(1990, 1, 1)} for i in range(2 * people)])
    ids = dict(session.execute(select(Person.partner_ref, Person.id)).all())
    events, custody = [], []
    for i in range(2 * people):
        pid, group = ids[f"B{i:05d}"], "cohort" if i < people else "comparison"
        index = date(2024, 1 + i % 6, 1)
        join(session, pid, "accept" if group == "cohort" else "reject", index)
        latent = rng.gammavariate(2.0, 0.5)  # per month, mean 1
        after_rate = latent * (1 - effect if group == "cohort" else 1)
        jail = None
        if rng.random() < 0.2:
            jail = index + timedelta(days=40)
            custody += [(pid, "custody_in", jail), (pid, "custody_out", jail + timedelta(60))]
        spans = [(add_months(index, -12), index - timedelta(1), latent * peak),
                 (index, add_months(index, 6) - timedelta(1), after_rate)]
        for lo, hi, rate in spans:
            days = [lo + timedelta(d) for d in range((hi - lo).days + 1)]
            if jail:
                days = [d for d in days if not jail <= d < jail + timedelta(60)]
            for _ in range(_poisson(rng, rate * len(days) / 30.4375)):
                events.append({"partner_ref": f"E{len(events)}", "person_id": pid,
                               "kind": kind, "occurred_on": rng.choice(days),
                               "offence_category": rng.choice(CATEGORIES)})
    session.execute(insert(OffendingEvent), events)
    session.execute(insert(ComplianceEvent), [
        {"event_id": f"C{n}", "person_id": pid, "kind": k, "occurred_at": at(d),
         "details": {}, "recorded_by": "t", "recorded_at": at(d)}
        for n, (pid, k, d) in enumerate(custody)])
    session.flush()
    return {"events": len(events)}
