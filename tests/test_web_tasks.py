"""The offender manager's pages over HTTP (both backends): My tasks with its scopes,
counts, filter and sort; a task's why, claim, reassign, complete with a note; cancel
(team leads only); the case page with its audited read and its timeline."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from password_helpers import give_password

from db.models import AccessRead, AuditEntry, Case, Supervision, Task
from scheduler.jobs import advance_due

PASSWORD = "a-long-enough-password"


@pytest.fixture
def now():
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def people(session, make_user, now):
    users = {}
    for name, role, agency in (("om1", "offender_manager", "CRC"),
                               ("om2", "offender_manager", "CRC"),
                               ("pc1", "police", "police"), ("lead1", "team_lead", "police")):
        user, _ = make_user(name, role=role, agency=agency)
        give_password(session, user, PASSWORD, now=now)
        users[name] = user.id
    session.commit()
    return users


@pytest.fixture
def queued(session, make_case, runtime, people, now, published):
    """A case in matrixing whose panel invitation waits in the CRC offender managers'
    queue (the supervision names no user)."""
    case = make_case(ogrs=81, offence="theft", newly_sentenced=True)
    case_id = case.id
    session.add(Supervision(partner_ref="S-1", person_id=case.person_id, provider="CRC",
                            offender_manager="someone", start_on=(now - timedelta(days=40))
                            .date()))
    session.commit()
    advance_due(runtime, now=now)
    advance_due(runtime, now=now)
    [task] = session.query(Task).filter_by(case_id=case_id).all()
    assert task.assignee_id is None and (task.role, task.agency) == ("offender_manager", "CRC")
    ids = {"case_id": case_id, "task_id": task.id}
    session.commit()  # end this read: the pages need the write lock (SQLite)
    return ids


def _token(text):
    return re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)


def _signed_in(app, username):
    client = app.test_client()
    client.post("/sign-in", data={"username": username, "password": PASSWORD,
                                  "csrf_token": _token(client.get("/sign-in").text)})
    return client


def _post(client, path, **form):
    token = _token(client.get("/tasks").text)
    return client.post(path, data={**form, "csrf_token": token})


def test_queue_claim_reassign_complete(app, session, queued, people):
    om1 = _signed_in(app, "om1")
    mine = om1.get("/tasks").text
    assert "Assigned to me (0)" in mine and "My team&#39;s queue (1)" in mine
    queue = om1.get("/tasks?scope=queue").text
    assert f'href="/tasks/{queued["task_id"]}"' in queue and "Due in" in queue
    page = om1.get(f"/tasks/{queued['task_id']}").text
    assert "stage-prompts/invite-offender-manager" in page and "Take this task" in page
    assert "Attendance confirmed" in page and 'type="radio"' in page

    claimed = _post(om1, f"/tasks/{queued['task_id']}/claim")
    assert claimed.status_code == 303
    assert "Assigned to me (1)" in om1.get("/tasks").text
    moved = _post(om1, f"/tasks/{queued['task_id']}/reassign", assignee="om2")
    assert moved.status_code == 303
    assert "Assigned to me (0)" in om1.get("/tasks").text

    om2 = _signed_in(app, "om2")
    wrong = _post(om2, f"/tasks/{queued['task_id']}/complete", outcome="maybe")
    assert wrong.status_code == 400 and "outcome must be one of" in wrong.text
    assert "govuk-error-summary" in wrong.text
    done = _post(om2, f"/tasks/{queued['task_id']}/complete",
                 outcome="attendance_confirmed", note="She will present it.")
    assert done.status_code == 303
    session.expire_all()
    task = session.get(Task, queued["task_id"])
    assert (task.status, task.outcome, task.assignee_id) == (
        "done", "attendance_confirmed", people["om2"])
    entry = session.query(AuditEntry).filter_by(kind="task.completed").one()
    assert entry.payload["note"] == "She will present it." and entry.actor == "om2"
    assert session.get(Case, queued["case_id"]).next_due_at is not None
    session.commit()


def test_filter_and_sort(app, queued):
    om1 = _signed_in(app, "om1")
    assert f'/tasks/{queued["task_id"]}"' in om1.get(
        "/tasks?scope=queue&template=panel_invite&sort=priority").text
    empty = om1.get("/tasks?scope=queue&template=case_review&sort=newest").text
    assert "There are no tasks here." in empty
    odd = om1.get("/tasks?scope=nonsense&sort=nonsense&template=nonsense&page=-3")
    assert odd.status_code == 200  # unknown choices fall back to the defaults


def test_cancel_is_for_team_leads_and_needs_a_reason(app, session, queued):
    pc1 = _signed_in(app, "pc1")
    refused = pc1.get(f"/tasks/{queued['task_id']}/cancel")
    assert refused.status_code == 403
    assert "You do not have permission to see this page" in refused.text
    assert "Traceback" not in refused.text
    lead = _signed_in(app, "lead1")
    blank = _post(lead, f"/tasks/{queued['task_id']}/cancel", reason=" ")
    assert blank.status_code == 400 and "Enter why the task is cancelled" in blank.text
    done = _post(lead, f"/tasks/{queued['task_id']}/cancel", reason="Duplicate referral")
    assert done.status_code == 303
    session.expire_all()
    assert session.get(Task, queued["task_id"]).status == "cancelled"
    session.commit()
    assert lead.get("/tasks/999999").status_code == 404


def test_case_page_summary_timeline_and_audited_read(app, session, queued):
    om1 = _signed_in(app, "om1")
    page = om1.get(f"/cases/{queued['case_id']}")
    assert page.status_code == 200
    text = page.text
    assert "Matrixing since" in text and "81% over 2 years (OGRS3, supplied" in text
    assert "CRC" in text and "Invite the offender manager" in text  # agencies; open task
    timeline = text[text.index('id="timeline"'):]
    moved = timeline.index("Moved from mapping to matrixing")
    checked = timeline.index("Checked against the rules in matrixing")
    assert checked < moved  # newest first
    assert "pan-london-selection/ogrs-75" in timeline and "read the" not in timeline
    reads = session.query(AccessRead).filter_by(case_id=queued["case_id"]).all()
    assert [(r.actor, r.what, r.via) for r in reads] == [
        ("om1", "case page", "web")]
    session.commit()
    assert om1.get("/cases/999999").status_code == 404


def test_unknown_address_is_the_404_page_with_the_signed_in_header(app, people):
    om1 = _signed_in(app, "om1")
    page = om1.get("/no-such-page")
    assert page.status_code == 404 and "Page not found" in page.text
    assert "Signed in as om1" in page.text and "Traceback" not in page.text
    anonymous = app.test_client().get("/no-such-page")
    assert anonymous.status_code == 404 and "Sign out" not in anonymous.text
    assert "error" in app.test_client().get("/api/v1/no-such").get_json()  # JSON there


def test_metrics_errors_stay_machine_answers(settings):
    """A refused scrape is JSON for the scraper, not a page or a sign-in redirect."""
    from dataclasses import replace

    from api import create_app
    from workflow.runtime import Runtime

    runtime = Runtime.from_settings(replace(settings, metrics={**settings.metrics,
                                                                "token": "scrape-secret"}))
    try:
        response = create_app(runtime).test_client().get("/metrics")
        assert response.status_code == 401 and response.is_json
    finally:
        runtime.close()
