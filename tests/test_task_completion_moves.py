"""Issue 5's acceptance path: an offender manager sees the task the rules raised for
their case, completes it over HTTP, and the next pass moves the case as the rules say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from db.models import Case, Supervision
from scheduler.jobs import advance_due
from workflow.history import history_rows


@pytest.fixture
def now():
    return datetime.now(UTC).replace(microsecond=0)


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.usefixtures("published")
def test_confirmed_attendance_sends_a_quiet_case_to_panel(client, session, make_case,
                                                          make_user, runtime, now):
    om, token = make_user("om1", role="offender_manager", agency="CRC")
    case = make_case(ogrs=81, offence="theft", newly_sentenced=True)  # quiet: no arrests
    session.add(Supervision(partner_ref="S-1", person_id=case.person_id, provider="CRC",
                            offender_manager="om1", offender_manager_user_id=om.id,
                            start_on=(now - timedelta(days=40)).date()))
    session.commit()
    advance_due(runtime, now=now)  # mapping -> matrixing
    advance_due(runtime, now=now)  # matrixing: too quiet for panel; invite raised
    session.expire_all()
    assert session.get(Case, case.id).state == "matrixing"
    session.commit()  # end this read: the API needs the write lock (SQLite)
    mine = client.get("/api/v1/tasks?scope=mine", headers=_auth(token)).get_json()
    [task] = [t for t in mine["items"] if t["case_id"] == case.id]
    assert task["template"] == "panel_invite" and task["rule_id"] == "invite-offender-manager"
    done = client.post(f"/api/v1/tasks/{task['id']}/complete",
                       json={"outcome": "attendance_confirmed"}, headers=_auth(token))
    assert done.status_code == 200, done.get_json()
    report = advance_due(runtime, now=datetime.now(UTC))  # due again at once
    assert [r.case_id for r in report.moved] == [case.id]
    session.expire_all()
    assert session.get(Case, case.id).state == "panel"
    last = [e for e in history_rows(session, case.id) if e.kind == "case.transition"][-1]
    assert [d["rule"] for d in last.payload["cause"]["decisions"]
            if d["action"] == "forward_to_panel"] == ["presenter-confirmed"]
    assert last.payload["cause"]["facts"]["panel_attendance_confirmed"] is True


@pytest.mark.usefixtures("published")
@pytest.mark.parametrize(("missed_days_ago", "tier"), [(None, "high"), (10, "very_high")])
def test_sustained_compliance_lowers_intensity_at_review(session, make_case, policy, now,
                                                         missed_days_ago, tier):
    from workflow.advance import advance
    from workflow.tasks.compliance import record_event

    case = make_case(state="review", ogrs=93, arrests=2)
    case.opened_at = now - timedelta(days=200)
    if missed_days_ago is not None:
        record_event(session, case, event_id="M-1", kind="appointment_missed",
                     occurred_at=now - timedelta(days=missed_days_ago), details={},
                     actor="om1", now=now)
    session.commit()
    advance(session, case, now=now, actor="scheduler", policy=policy)
    session.commit()
    assert case.intensity == tier
