"""Compliance events: idempotent recording, facts, the events API and the CSV import."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from cli.main import main as iom
from db.models import AuditEntry, ComplianceEvent, OffendingEvent, Supervision, Task
from workflow.errors import Conflict, InvalidInput
from workflow.facts import facts_for_cases
from workflow.tasks.calendar import LOCAL, add_working_days, is_working_day
from workflow.tasks.compliance import evaluate_compliance, record_event

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def _event(session, case, event_id, kind, when, now, **details):
    return record_event(session, case, event_id=event_id, kind=kind, occurred_at=when,
                        details=details, actor="tester", now=now)


def test_record_event_is_idempotent_and_conflicts_on_different_content(session, make_case,
                                                                       now):
    case = make_case(state="allocated")
    when = now - timedelta(days=1)
    event, created = _event(session, case, "ev-1", "appointment_missed", when, now, note="a")
    assert created
    session.commit()
    again, created = _event(session, case, "ev-1", "appointment_missed", when, now, note="a")
    assert not created and again.id == event.id
    with pytest.raises(Conflict):
        _event(session, case, "ev-1", "appointment_kept", when, now, note="a")
    with pytest.raises(InvalidInput):
        _event(session, case, "ev-2", "teleported", when, now)
    with pytest.raises(InvalidInput):
        _event(session, case, "ev-3", "arrest", now + timedelta(days=1), now)
    assert session.scalar(select(func.count()).select_from(ComplianceEvent)) == 1
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.kind == "compliance.event")) == 1


def test_compliance_facts_for_many_cases(session, make_case, now):
    a, b = make_case(state="allocated"), make_case(state="allocated")
    _event(session, a, "m1", "appointment_missed", now - timedelta(days=40), now)
    _event(session, a, "m2", "appointment_missed", now - timedelta(days=3), now)
    _event(session, a, "d1", "drug_test_positive", now - timedelta(days=2), now)
    _event(session, a, "c1", "custody_in", now - timedelta(days=1), now)
    _event(session, b, "c2", "custody_in", now - timedelta(days=5), now)
    _event(session, b, "c3", "custody_out", now - timedelta(days=4), now)
    _event(session, b, "a1", "arrest", now - timedelta(days=2), now)
    session.add(OffendingEvent(partner_ref="X1", person_id=a.person_id, kind="arrest",
                               occurred_on=date(2025, 2, 1), offence_category="theft"))
    session.flush()
    facts = facts_for_cases(session, [a, b], now)
    assert facts[a.id]["missed_appointments_30d"] == 1
    assert facts[a.id]["failed_drug_tests_30d"] == 1
    assert facts[a.id]["in_custody"] is True and facts[b.id]["in_custody"] is False
    assert facts[a.id]["compliant_days"] == 3
    assert facts[b.id]["compliant_days"] == 1  # never lapsed: days since the case opened
    assert facts[a.id]["days_since_last_arrest"] == 30
    assert facts[b.id]["days_since_last_arrest"] == 2
    earlier = facts_for_cases(session, [a], now - timedelta(days=10))[a.id]
    assert earlier["failed_drug_tests_30d"] == 0 and earlier["in_custody"] is False


@pytest.mark.usefixtures("published")
def test_second_missed_appointment_starts_breach(session, make_case, make_user, policy, now):
    om, _ = make_user("om1", role="offender_manager", agency="NPS")
    case = make_case(state="allocated")
    case.lead_user_id = om.id
    _event(session, case, "m1", "appointment_missed", now - timedelta(hours=1), now)
    first = evaluate_compliance(session, case, now=now, actor="t", policy=policy)
    assert [t.template for t in first] == ["enforcement_warning"]
    later = now + timedelta(days=2)
    _event(session, case, "m2", "appointment_missed", later, later)
    second = evaluate_compliance(session, case, now=later, actor="t", policy=policy)
    assert [(t.template, t.priority, t.assignee_id) for t in second] == [
        ("breach_proceedings", "urgent", om.id)]
    assert evaluate_compliance(session, case, now=later, actor="t", policy=policy) == []


@pytest.mark.usefixtures("published")
def test_missed_appointment_via_api_raises_the_warning_with_working_day_deadline(
        client, make_user, make_case, session):
    _, om_token = make_user("om1", role="offender_manager", agency="NPS")
    _, auditor = make_user("aud", role="auditor")
    case = make_case(state="allocated")
    session.add(Supervision(partner_ref="S1", person_id=case.person_id, provider="NPS",
                            start_on=date(2024, 1, 1)))  # an NPS case: NPS records events
    session.commit()
    when = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    body = {"event_id": "nDelius-123", "kind": "appointment_missed", "occurred_at": when,
            "details": {"appointment": "weekly supervision"}}
    url = f"/api/v1/cases/{case.id}/events"
    assert client.post(url, json=body, headers=_auth(auditor)).status_code == 403
    response = client.post(url, json=body, headers=_auth(om_token))
    assert response.status_code == 201, response.get_json()
    result = response.get_json()
    assert result["created"] is True
    [task] = result["tasks"]
    assert task["template"] == "enforcement_warning" and task["role"] == "offender_manager"
    created = datetime.fromisoformat(task["created_at"])
    due = datetime.fromisoformat(task["due_at"])
    assert due == add_working_days(created, 1)
    due_day = due.astimezone(LOCAL).date()
    assert is_working_day(due_day) and due_day > created.astimezone(LOCAL).date()
    again = client.post(url, json=body, headers=_auth(om_token)).get_json()
    assert again["created"] is False and again["tasks"] == []
    changed = client.post(url, json={**body, "kind": "appointment_kept"},
                          headers=_auth(om_token))
    assert changed.status_code == 409
    assert client.post(url, json={**body, "kind": "nope"},
                       headers=_auth(om_token)).status_code == 422
    listed = client.get(url, headers=_auth(auditor)).get_json()
    assert [e["event_id"] for e in listed] == ["nDelius-123"]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Task)) == 1


@pytest.mark.usefixtures("published")
def test_csv_import_reports_row_errors_and_is_idempotent(tmp_path, monkeypatch, db_url,
                                                         make_case, session, capsys):
    monkeypatch.setenv("IOM_DATABASE_URL", db_url)
    case = make_case(state="allocated")
    path = tmp_path / "events.csv"
    path.write_text(
        "event_id,case_id,person_ref,kind,occurred_at,details\n"
        f"E1,{case.id},,drug_test_positive,2025-03-01T10:00:00,\n"
        f"E2,,{case.person.partner_ref},appointment_kept,2025-03-02,"
        '"{""by"": ""om""}"\n'
        f"E3,{case.id},,levitation,2025-03-02,\n"
        f"E4,999999,,arrest,2025-03-02,\n"
        f"E5,{case.id},,arrest,not-a-date,\n", encoding="utf-8")
    args = ["--config", str(ROOT / "config.toml"), "tasks", "import-events", str(path),
            "--now", "2025-03-03T09:00:00"]
    assert iom(args) == 1
    out = capsys.readouterr().out
    import json

    report = json.loads(out)
    assert (report["rows"], report["created"], report["rejected"]) == (5, 2, 3)
    assert [(e["row"], e["field"]) for e in report["errors"]] == [
        (4, "kind"), (5, "case_id"), (6, "occurred_at")]
    assert len(report["tasks_raised"]) == 1
    assert iom(args) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["created"], report["unchanged"], report["tasks_raised"]) == (0, 2, [])
    session.expire_all()
    assert session.scalars(select(Task.template)).all() == ["failed_drug_test_review"]
