"""Panel: agenda built once from ranked cases, chairs' decisions fire audited transitions,
deferred cases come back on their date, minutes export (workflow, API and CLI)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from db.models import AuditEntry, Case, PanelItem, Supervision
from workflow.audit import verify
from workflow.errors import Conflict, Forbidden, InvalidInput
from workflow.history import history_rows
from workflow.panel import build_agenda, decide, minutes, minutes_markdown, next_meeting_on

# NOW is Monday 3 March 2025: the first Thursday is 6 March, its agenda opens 27 February.
MEETING_DAY = date(2025, 3, 6)


def test_schedule_finds_the_nth_and_last_weekday():
    assert next_meeting_on("first thursday", date(2025, 3, 3)) == MEETING_DAY
    assert next_meeting_on("first thursday", date(2025, 3, 7)) == date(2025, 4, 3)
    assert next_meeting_on("last friday", date(2025, 12, 27)) == date(2026, 1, 30)


def _panel_cases(make_case, session, scores):
    cases = []
    for score in scores:
        case = make_case(state="panel", ogrs=80)
        case.activity_score = score
        case.next_due_at = None
        cases.append(case)
    session.commit()
    return cases


def _supervise(session, case, provider, user=None):
    session.add(Supervision(partner_ref=f"S{case.id}", person_id=case.person_id,
                            provider=provider, start_on=date(2024, 6, 1),
                            offender_manager=user.display_name if user else None,
                            offender_manager_user_id=user.id if user else None))
    session.commit()


@pytest.mark.usefixtures("published")
def test_agenda_ranks_invites_and_is_built_once(session, settings, make_case, make_user, now):
    om, _ = make_user("om1", role="offender_manager", agency="NPS")
    quiet, busiest, middle = _panel_cases(make_case, session, [3.0, 9.5, 6.0])
    _supervise(session, busiest, "NPS", om)
    from policy_helpers import publish_policy

    # Agenda size is stage policy: a team lead publishes a smaller one.
    publish_policy(session, settings, now=now - timedelta(days=20),
                   edit=lambda d: d["panel"].update(max_cases=2))
    small = settings
    assert build_agenda(session, now=now - timedelta(days=10), settings=small) is None
    meeting = build_agenda(session, now=now, settings=small)
    session.commit()
    assert meeting.held_on == MEETING_DAY
    assert [(i.rank, i.case_id) for i in meeting.items] == [(1, busiest.id), (2, middle.id)]
    assert meeting.items[0].invited_user_id == om.id
    assert meeting.items[1].invited_user_id is None
    assert build_agenda(session, now=now, settings=small) is None  # idempotent
    assert build_agenda(session, now=now + timedelta(hours=1), settings=small) is None
    invited = session.scalars(select(AuditEntry).where(AuditEntry.kind == "panel.invited")).all()
    assert sorted(e.case_id for e in invited) == sorted([busiest.id, middle.id])
    assert quiet.id not in {i.case_id for i in meeting.items}


@pytest.mark.usefixtures("published")
def test_decisions_fire_audited_transitions_by_role(session, settings, make_case, make_user,
                                                    runtime, now):
    from scheduler.jobs import represent_deferred

    lead, _ = make_user("lead1", role="team_lead")
    om, _ = make_user("om1", role="offender_manager", agency="CRC")
    a, d, r = _panel_cases(make_case, session, [9.0, 8.0, 7.0])
    _supervise(session, a, "CRC", om)
    meeting = build_agenda(session, now=now, settings=settings)
    session.commit()
    with pytest.raises(Forbidden):
        decide(session, meeting.id, a.id, decision="accept", reason="x", now=now, user=om,
               settings=settings)
    with pytest.raises(InvalidInput, match="reason"):
        decide(session, meeting.id, a.id, decision="accept", reason=" ", now=now, user=lead,
               settings=settings)
    with pytest.raises(InvalidInput, match="defer_until"):
        decide(session, meeting.id, d.id, decision="defer", reason="more intel", now=now,
               user=lead, settings=settings)
    decide(session, meeting.id, a.id, decision="accept", reason="prolific burglar", now=now,
           user=lead, settings=settings)
    decide(session, meeting.id, d.id, decision="defer", reason="await intel", now=now,
           user=lead, settings=settings, defer_until=date(2025, 4, 1))
    decide(session, meeting.id, r.id, decision="reject", reason="MAPPA managed", now=now,
           user=lead, settings=settings)
    session.commit()
    with pytest.raises(Conflict):
        decide(session, meeting.id, a.id, decision="reject", reason="again", now=now,
               user=lead, settings=settings)
    session.rollback()
    session.expire_all()
    assert [session.get(Case, c.id).state for c in (a, d, r)] == [
        "allocated", "deferred", "rejected"]
    accepted = session.get(Case, a.id)
    assert accepted.lead_user_id == om.id  # statutory CRC case: its CRC offender manager
    assert accepted.next_due_at > now  # first review scheduled
    entry = [e for e in history_rows(session, a.id) if e.kind == "case.transition"][-1]
    assert entry.actor == "lead1"
    assert entry.payload["cause"] == {"kind": "human", "reason": "prolific burglar",
                                      "decision": "accept", "meeting": meeting.id,
                                      "role": "team_lead"}
    session.commit()  # end this read: a job needs the write lock (SQLite)
    # Deferred: nothing before the date, back to panel once on it, once only.
    assert represent_deferred(runtime, now=now).done == []
    back = datetime(2025, 4, 1, 6, 0, tzinfo=UTC)
    assert represent_deferred(runtime, now=back).done == [d.id]
    assert represent_deferred(runtime, now=back).done == []
    session.expire_all()
    assert session.get(Case, d.id).state == "panel"
    assert verify(session).ok
    data = minutes(session, meeting.id)
    assert [i["decision"] for i in data["items"]] == ["accept", "defer", "reject"]
    text = minutes_markdown(data)
    assert "prolific burglar" in text and "defer until 2025-04-01" in text
    assert "Accepted 1, deferred 1, rejected 1." in text


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.usefixtures("published")
def test_panel_api(client, session, settings, make_case, make_user, now):
    _, lead = make_user("lead1", role="team_lead")
    _, om = make_user("om1", role="offender_manager", agency="NPS")
    (case,) = _panel_cases(make_case, session, [7.0])
    meeting = build_agenda(session, now=now, settings=settings)
    session.commit()
    listing = client.get("/api/v1/panels", headers=_auth(om)).get_json()
    assert listing[0]["id"] == meeting.id and listing[0]["cases"] == 1
    agenda = client.get(f"/api/v1/panels/{meeting.id}", headers=_auth(om)).get_json()
    assert agenda["items"][0]["case_id"] == case.id
    body = {"case_id": case.id, "decision": "reject", "reason": "not prolific"}
    assert client.post(f"/api/v1/panels/{meeting.id}/decisions", json=body,
                       headers=_auth(om)).status_code == 403
    assert client.post(f"/api/v1/panels/{meeting.id}/decisions",
                       json={**body, "decision": "maybe"}, headers=_auth(lead)
                       ).status_code == 422
    made = client.post(f"/api/v1/panels/{meeting.id}/decisions", json=body,
                       headers=_auth(lead))
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["decided_role"] == "team_lead"
    assert made.get_json()["state"] == "rejected"
    again = client.post(f"/api/v1/panels/{meeting.id}/decisions", json=body,
                        headers=_auth(lead))
    assert again.status_code == 409
    mins = client.get(f"/api/v1/panels/{meeting.id}/minutes", headers=_auth(om)).get_json()
    assert mins["items"][0]["reason"] == "not prolific"
    md = client.get(f"/api/v1/panels/{meeting.id}/minutes?format=markdown", headers=_auth(om))
    assert md.mimetype == "text/markdown" and "not prolific" in md.get_data(as_text=True)
    assert client.get("/api/v1/panels/999", headers=_auth(om)).status_code == 404


@pytest.mark.usefixtures("published")
def test_panel_cli(db_url, session, settings, make_case, make_user, now, capsys, monkeypatch,
                   user_tokens):
    from functools import partial
    from pathlib import Path

    from cli_helpers import run_as

    from cli.main import main

    cli = partial(run_as, user_tokens)  # with the --as user's own token

    monkeypatch.setenv("IOM_DATABASE_URL", db_url)
    monkeypatch.setenv("IOM_CONFIG", str(Path(__file__).resolve().parents[1] / "config.toml"))
    make_user("lead1", role="team_lead")
    (case,) = _panel_cases(make_case, session, [7.0])
    assert main(["panel", "agenda", "--build", "--now", now.isoformat()]) == 0
    meeting_id = session.scalar(select(PanelItem.meeting_id))
    session.commit()  # end this read: the CLI needs the write lock (SQLite)
    assert main(["panel", "list"]) == 0
    assert main(["panel", "agenda", str(meeting_id)]) == 0
    assert cli(["panel", "decide", str(meeting_id), str(case.id), "defer", "--reason",
                 "await intel", "--defer-until", "2025-04-01", "--as", "lead1",
                 "--now", now.isoformat()]) == 0
    assert cli(["panel", "decide", str(meeting_id), str(case.id), "accept", "--reason",
                 "x", "--as", "lead1", "--now", now.isoformat()]) == 2
    capsys.readouterr()
    assert main(["panel", "minutes", str(meeting_id), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["items"][0]["decision"] == "defer"
    assert main(["panel", "minutes", str(meeting_id)]) == 0
    assert "await intel" in capsys.readouterr().out
