"""The tasks API through a real client: inbox scopes, claim, reassign, complete, cancel."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from db.models import AuditEntry, Task
from rules.decisions import Decision
from workflow.tasks.service import raise_tasks


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_queue_claim_reassign_complete_over_http(client, session, make_user, make_case):
    _, om1 = make_user("om1", role="offender_manager")
    _, om2 = make_user("om2", role="offender_manager")
    _, pc = make_user("pc1", role="police", agency="police")
    _, lead = make_user("lead1", role="team_lead")
    case = make_case(state="matrixing")
    decision = Decision("r1", "set", "v1", "create_task",
                        {"template": "panel_invite", "role": "offender_manager",
                         "sla_working_days": 0, "priority": "high"}, 10, {})
    when = datetime.now().astimezone() - timedelta(days=20)
    [task] = raise_tasks(session, case, [decision], now=when, actor="t")
    session.commit()
    queue = client.get("/api/v1/tasks?scope=queue", headers=_auth(om1)).get_json()
    assert [t["id"] for t in queue["items"]] == [task.id] and queue["items"][0]["overdue"]
    assert client.get("/api/v1/tasks?scope=queue", headers=_auth(pc)).get_json()["items"] == []
    overdue = client.get("/api/v1/tasks?scope=overdue&total=true", headers=_auth(lead)).get_json()
    assert overdue["total"] == 1
    assert client.get("/api/v1/tasks?scope=nope", headers=_auth(lead)).status_code == 422
    assert client.post(f"/api/v1/tasks/{task.id}/claim", headers=_auth(pc)).status_code == 403
    claimed = client.post(f"/api/v1/tasks/{task.id}/claim", headers=_auth(om1)).get_json()
    assert claimed["assignee_id"] is not None
    moved = client.post(f"/api/v1/tasks/{task.id}/reassign", json={"user": "om2"},
                        headers=_auth(om1))
    assert moved.status_code == 200
    assert client.post(f"/api/v1/tasks/{task.id}/reassign", json={"user": "ghost"},
                       headers=_auth(om2)).status_code == 404
    mine = client.get("/api/v1/tasks", headers=_auth(om2)).get_json()
    assert [t["id"] for t in mine["items"]] == [task.id]
    bad = client.post(f"/api/v1/tasks/{task.id}/complete", json={"outcome": "maybe"},
                      headers=_auth(om2))
    assert bad.status_code == 422 and "attendance_confirmed" in str(bad.get_json())
    done = client.post(f"/api/v1/tasks/{task.id}/complete",
                       json={"outcome": "attendance_confirmed", "note": "Will present it"},
                       headers=_auth(om2))
    assert done.status_code == 200 and done.get_json()["status"] == "done"
    assert client.post(f"/api/v1/tasks/{task.id}/cancel", json={"reason": "x"},
                       headers=_auth(lead)).status_code == 409
    # Not in the police officer's inbox: the task (and the name in its title) is hidden.
    assert client.get(f"/api/v1/tasks/{task.id}", headers=_auth(pc)).status_code == 403
    detail = client.get(f"/api/v1/tasks/{task.id}", headers=_auth(om2)).get_json()
    assert detail["outcome"] == "attendance_confirmed" and detail["overdue"] is False
    assert client.get("/api/v1/tasks/999999", headers=_auth(pc)).status_code == 404
    session.expire_all()
    assert session.scalar(select(Task.status).where(Task.id == task.id)) == "done"
    completed = session.scalars(select(AuditEntry).where(
        AuditEntry.kind == "task.completed")).one()
    assert completed.payload["note"] == "Will present it"


def test_task_endpoints_need_a_token(client):
    assert client.get("/api/v1/tasks").status_code == 401
    assert client.post("/api/v1/tasks/1/claim").status_code == 401
    assert client.get("/api/v1/cases/1/events").status_code == 401
