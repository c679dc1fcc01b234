"""Agencies as a validated attribute, the agencies working with a case, the resettlement
officer's pathway task and inbox, and tokens that expire, rotate and are revoked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from db.models import AGENCIES, ROLES, PartnerFlag, Supervision, Task
from rules import actions
from workflow.advance import advance
from workflow.errors import InvalidInput, Unauthenticated
from workflow.users import authenticate, create_user, revoke_token, rotate_token


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_rules_use_the_same_agencies_and_roles_as_the_database():
    assert actions.AGENCIES == AGENCIES
    assert set(actions.TASK_ROLES) <= set(ROLES) and "resettlement_officer" in ROLES


@pytest.mark.parametrize(("role", "agency", "stored"), [
    ("offender_manager", "nps", "NPS"), ("resettlement_officer", "Housing", "housing"),
    ("police", None, "police"), ("team_lead", "local_authority", "local_authority"),
    ("auditor", None, None)])
def test_user_agencies_are_validated_and_stored_in_one_spelling(session, role, agency, stored):
    user, _ = create_user(session, username="u1", display_name="U", role=role, agency=agency)
    assert user.agency == stored


@pytest.mark.parametrize(("role", "agency"), [
    ("team_lead", "probation"), ("resettlement_officer", None),
    ("resettlement_officer", "police"), ("offender_manager", "housing"),
    ("police", "NPS")])
def test_unknown_or_mismatched_agencies_are_refused(session, role, agency):
    with pytest.raises(InvalidInput) as err:
        create_user(session, username="u1", display_name="U", role=role, agency=agency)
    assert err.value.details["field"] == "agency"


def test_tokens_expire_rotate_and_revoke(session):
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    user, token = create_user(session, username="pc1", display_name="PC", role="police",
                              now=now, token_days=30)
    assert authenticate(session, token, now=now + timedelta(days=29)).id == user.id
    with pytest.raises(Unauthenticated, match="expired"):
        authenticate(session, token, now=now + timedelta(days=30))
    fresh = rotate_token(session, user, now=now + timedelta(days=31), token_days=30)
    with pytest.raises(Unauthenticated):
        authenticate(session, token, now=now)  # the old token is gone
    assert authenticate(session, fresh, now=now + timedelta(days=40)).id == user.id
    revoke_token(session, user)
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticate(session, fresh, now=now + timedelta(days=40))


@pytest.mark.usefixtures("published")
def test_agencies_working_with_a_case_decide_who_records_its_events(
        client, session, make_case, make_user, now):
    _, lead = make_user("lead1", role="team_lead", agency="police")
    _, nps = make_user("nps1", role="offender_manager", agency="NPS")
    _, crc = make_user("crc1", role="offender_manager", agency="CRC")
    _, housing = make_user("housing1", role="resettlement_officer", agency="housing")
    _, pc = make_user("pc1", role="police")
    case = make_case(state="allocated", ogrs=81)
    case_id = case.id
    session.add(Supervision(partner_ref="S1", person_id=case.person_id, provider="CRC",
                            start_on=(now - timedelta(days=30)).date()))
    session.commit()

    def event(token, n):
        return client.post(f"/api/v1/cases/{case_id}/events", headers=_auth(token), json={
            "event_id": f"e{n}", "kind": "appointment_kept",
            "occurred_at": (now - timedelta(days=1)).isoformat()})

    listed = client.get(f"/api/v1/cases/{case_id}/agencies", headers=_auth(nps)).get_json()
    assert [a["agency"] for a in listed["agencies"]] == ["police", "CRC"]
    refused = event(nps, 1)  # an NPS offender manager on a CRC case
    assert refused.status_code == 403
    assert refused.get_json()["error"]["details"]["case_agencies"] == ["CRC", "police"]
    assert event(crc, 2).status_code == 201 and event(pc, 3).status_code == 201
    assert event(housing, 4).status_code == 403
    added = client.post(f"/api/v1/cases/{case_id}/agencies", headers=_auth(lead),
                        json={"agency": "Housing", "reason": "no fixed abode since March"})
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["agencies"][-1] == {
        "agency": "housing", "why": "added by lead1: no fixed abode since March"}
    assert event(housing, 5).status_code == 201
    again = client.post(f"/api/v1/cases/{case_id}/agencies", headers=_auth(lead),
                        json={"agency": "housing", "reason": "again"})
    assert again.status_code == 409
    assert client.post(f"/api/v1/cases/{case_id}/agencies", headers=_auth(lead), json={
        "agency": "probation", "reason": "x"}).status_code == 422
    assert client.post(f"/api/v1/cases/{case_id}/agencies", headers=_auth(crc), json={
        "agency": "health", "reason": "x"}).status_code == 403


@pytest.mark.usefixtures("published")
def test_housing_need_raises_a_task_for_the_housing_resettlement_officer(
        client, session, make_case, make_user, now, policy):
    housing, housing_token = make_user("housing1", role="resettlement_officer",
                                       agency="housing")
    _, employment = make_user("employ1", role="resettlement_officer", agency="employment")
    _, om = make_user("om1", role="offender_manager", agency="CRC")
    plain = make_case(state="matrixing", ogrs=81, offence="robbery", arrests=3)
    case = make_case(state="matrixing", ogrs=81, offence="robbery", arrests=3)
    for c in (plain, case):
        session.add(Supervision(partner_ref=f"S{c.id}", person_id=c.person_id, provider="CRC",
                                start_on=(now - timedelta(days=30)).date()))
    session.add(PartnerFlag(partner_ref="H1", person_id=case.person_id, kind="housing_need",
                            value="true", recorded_on=(now - timedelta(days=3)).date()))
    session.commit()
    for c in (plain, case):
        advance(session, c, now=now, actor="scheduler", policy=policy)
    session.commit()
    tasks = session.scalars(select(Task).where(Task.template == "housing_pathway")).all()
    assert [(t.case_id, t.role, t.agency, t.assignee_id, t.rule_id) for t in tasks] == [
        (case.id, "resettlement_officer", "housing", None, "housing-pathway")]
    task_id = tasks[0].id
    session.commit()

    queue = client.get("/api/v1/tasks?scope=queue", headers=_auth(housing_token)).get_json()
    assert [t["id"] for t in queue["items"]] == [task_id]
    assert client.get("/api/v1/tasks?scope=queue&total=true", headers=_auth(employment)
                      ).get_json()["total"] == 0
    assert client.get(f"/api/v1/tasks/{task_id}", headers=_auth(employment)).status_code == 403
    assert client.post(f"/api/v1/tasks/{task_id}/claim", headers=_auth(om)).status_code == 403
    claimed = client.post(f"/api/v1/tasks/{task_id}/claim", headers=_auth(housing_token))
    assert claimed.status_code == 200 and claimed.get_json()["assignee_id"] == housing.id
    mine = client.get("/api/v1/tasks", headers=_auth(housing_token)).get_json()
    assert [t["id"] for t in mine["items"]] == [task_id]
    done = client.post(f"/api/v1/tasks/{task_id}/complete", headers=_auth(housing_token),
                       json={"outcome": "accommodation_secured"})
    assert done.status_code == 200 and done.get_json()["status"] == "done"


def test_a_flags_file_imports_only_the_lists_the_agency_keeps(client, make_user, make_person,
                                                               session):
    make_person("P1")
    session.commit()
    _, housing_lead = make_user("hlead", role="team_lead", agency="housing")
    _, employment_lead = make_user("elead", role="team_lead", agency="employment")
    flags = ("partner_ref,person_ref,kind,value,recorded_on\n"
             "F1,P1,housing_need,yes,2025-02-01\n"
             "F2,P1,marac_repeat,true,2025-02-01\n")
    refused = client.post("/api/v1/imports/flags", data=flags.encode(),
                          content_type="text/csv", headers=_auth(employment_lead))
    assert refused.status_code == 403  # employment keeps no partner list
    r = client.post("/api/v1/imports/flags", data=flags.encode(), content_type="text/csv",
                    headers=_auth(housing_lead))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["created"], body["rejected"]) == (1, 1)
    assert [(e["row"], e["field"], e["reason"]) for e in body["errors"]] == [
        (3, "kind", "housing does not keep the marac_repeat list (kept by police, "
                    "local_authority)")]
    kinds = session.scalars(select(PartnerFlag.kind)).all()
    assert kinds == ["housing_need"]
