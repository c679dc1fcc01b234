"""Issue 4's acceptance run: the demo borough over simulated weeks, through the real
scheduler passes, with the panel's decisions recorded by a chair in between."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from db.models import AuditEntry, Case, PanelItem, PanelMeeting, Person, User
from db.session import transaction
from scheduler.jobs import run_all
from workflow.audit import verify
from workflow.demo.seed import load_demo
from workflow.panel import decide
from workflow.rulesets import sync_shipped

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday; panels sit first Thursdays


def _decide_agendas(runtime, now):
    """The chair accepts every undecided agenda item of a meeting held by ``now``,
    deferring one for a month (so deferral is exercised too)."""
    with transaction(runtime.sessions) as session:
        chair = session.scalar(select(User).where(User.username == "lead1"))
        items = session.execute(
            select(PanelItem, PanelMeeting).join(PanelMeeting)
            .where(PanelItem.decision.is_(None), PanelMeeting.held_on <= now.date())
            .order_by(PanelItem.rank)).all()
        for n, (item, meeting) in enumerate(items):
            deferring = n == 0 and meeting.held_on.month == 2
            decide(session, meeting.id, item.case_id,
                   decision="defer" if deferring else "accept",
                   reason="panel: more intelligence first" if deferring
                   else "panel: prolific, in scope",
                   defer_until=(now + timedelta(days=28)).date() if deferring else None,
                   now=now, user=chair, settings=runtime.settings)
    return len(items)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_demo_borough_over_simulated_weeks(runtime, session, tmp_path):
    with transaction(runtime.sessions) as s:
        sync_shipped(s, now=START)
        load_demo(s, people=300, seed=7, now=START, actor="demo", workdir=tmp_path)
    decided = 0
    for week in range(24):
        now = START + timedelta(weeks=week)
        for day in range(0, 7, 2):  # a few passes a week, as the interval job would
            report, jobs = run_all(runtime, now=now + timedelta(days=day))
            assert not report.failed and not any(j.failed for j in jobs)
        decided += _decide_agendas(runtime, now + timedelta(days=6))
    assert decided > 0
    moves = Counter((e.payload["from"], e.payload["to"]) for e in session.scalars(
        select(AuditEntry).where(AuditEntry.kind == "case.transition")))
    for step in [("mapping", "matrixing"), ("matrixing", "panel"), ("panel", "allocated"),
                 ("allocated", "review"), ("panel", "deferred"), ("deferred", "panel")]:
        assert moves[step] > 0, (step, moves)
    assert moves[("review", "allocated")] + moves[("review", "exited")] > 0, moves
    # Each move says why: a rule with its version, or a person with a reason.
    for entry in session.scalars(select(AuditEntry).where(
            AuditEntry.kind == "case.transition")):
        cause = entry.payload["cause"]
        if entry.payload["by"] == "rule":
            assert cause["decisions"] and all(d["version"] for d in cause["decisions"])
        else:
            assert cause["reason"] and entry.actor
    # An accepted case has one lead professional and its whole path in its history.
    allocated = session.scalars(select(Case).where(Case.lead_user_id.is_not(None))).all()
    assert allocated
    path = [e.payload["to"] for e in session.scalars(
        select(AuditEntry).where(AuditEntry.case_id == allocated[0].id,
                                 AuditEntry.kind == "case.transition")
        .order_by(AuditEntry.seq))]
    assert path[:3] == ["matrixing", "panel", "allocated"]
    assert verify(session).ok
    # The audit names people by partner reference only (docs/audit.md): no name appears
    # in any entry, although tasks, panels and allocations all worked on named people.
    names = {f"{p.given_name} {p.family_name}" for p in session.scalars(select(Person))}
    entries = session.scalars(select(AuditEntry)).all()
    assert sum(e.kind == "task.created" for e in entries) > 0
    for entry in entries:
        text = entry.summary + json.dumps(entry.payload, default=str)
        assert not [n for n in names if n in text], (entry.kind, entry.summary)
