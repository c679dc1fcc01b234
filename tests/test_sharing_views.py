"""The sharing agreement enforced on every read endpoint: a housing officer, a police
lead, an NPS offender manager and an auditor read the same MARAC case through the API
and see exactly what the published agreement says; nothing withheld leaks anywhere; the
housing officer's explanation of the MARAC-triggered move names no MARAC fact; every
read is in the case's access log, which the audit verification covers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sharing_helpers import SECRETS, assert_no_withheld, moved_marac_case

from db.models import Task
from workflow import audit
from workflow.sharing.agreement import default_agreement
from workflow.sharing.groups import FLAG_GROUPS, GROUPS
from workflow.sharing.store import seed_agreement

READERS = {  # username: (role, agency as typed, agency as the agreement knows it)
    "housing1": ("resettlement_officer", "housing", "housing"),
    "police1": ("police", "police", "police"),
    "om-nps": ("offender_manager", "NPS", "nps"),
    "aud1": ("auditor", None, None),
}


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def scene(session, settings, published, make_user, now):
    """A published agreement, a policy whose mapping stage includes the MARAC rule, and a
    case the MARAC rule moved to matrixing (by the real engine), with a task."""
    seed_agreement(session, now=now - timedelta(days=365))
    case = moved_marac_case(session, settings, now=now)
    session.add(Task(case_id=case.id, template="panel_invite", role="offender_manager",
                     title="Invite the offender manager of Quentin Oyelaran-Smythe "
                           "(PX-4471) to panel", body="Case identified at matrixing."))
    session.commit()
    tokens = {name: make_user(name, role=role, agency=typed)[1]
              for name, (role, typed, _a) in READERS.items()}
    case_id = case.id
    session.commit()
    return case_id, tokens


def _reads(client, case_id: int, token: str, role: str) -> dict:
    urls = {"list": "/api/v1/cases", "detail": f"/api/v1/cases/{case_id}",
            "history": f"/api/v1/cases/{case_id}/history",
            "explain": f"/api/v1/cases/{case_id}/explain",
            "events": f"/api/v1/cases/{case_id}/events"}
    if role == "auditor":
        urls["as-of"] = f"/api/v1/cases/{case_id}/as-of?on=2025-03-03T12:00:00Z"
    out = {}
    for what, url in urls.items():
        response = client.get(url, headers=_auth(token))
        assert response.status_code == 200, (url, response.get_json())
        out[what] = response.get_json()
    return out


def _check_detail(detail: dict, levels: dict) -> None:
    for group in GROUPS:
        if group in FLAG_GROUPS or group in ("notes", "audit"):
            continue
        level = levels[group]
        if level == "none":
            assert group not in detail, group
        elif level == "mask":
            assert detail[group]["withheld"] is True and detail[group]["ask"], group
        else:
            assert group in detail and not (isinstance(detail[group], dict)
                                             and detail[group].get("withheld")), group
    for group in FLAG_GROUPS:
        level = levels[group]
        if level == "none":
            assert group not in detail["flags"], group
        elif level == "mask":
            assert detail["flags"][group]["withheld"] is True
        else:
            assert isinstance(detail["flags"][group], list)
    assert {w["group"] for w in detail["withheld"]} == {g for g in GROUPS
                                                        if levels[g] != "show"}


def test_each_reader_sees_what_the_agreement_says_and_nothing_withheld(client, scene):
    case_id, tokens = scene
    agreement = default_agreement()
    for name, (role, _typed, agency) in READERS.items():
        purpose = "audit" if role == "auditor" else "case_management"
        levels = agreement.levels(agency, role, purpose)
        seen = _reads(client, case_id, tokens[name], role)
        _check_detail(seen["detail"], levels)
        withheld = [v for g, values in SECRETS.items() if levels[g] != "show"
                    for v in values]
        assert_no_withheld(seen, withheld)
        if levels["identity"] == "show":
            assert seen["detail"]["name"] == "Quentin Oyelaran-Smythe"
        else:
            assert seen["detail"]["name"]["withheld"] is True
    # the agreement differs by reader: the point of the test
    assert agreement.levels("housing", "offender_manager", "case_management")[
        "flags.marac"] == "mask"
    assert agreement.levels("police", "police", "case_management")["flags.marac"] == "show"
    assert agreement.levels("nps", "offender_manager", "case_management")[
        "flags.substance_misuse"] == "show"
    assert agreement.levels(None, "auditor", "audit")["identity"] == "mask"


def test_police_see_the_marac_flag_and_housing_an_explanation_without_it(client, scene):
    case_id, tokens = scene
    police = client.get(f"/api/v1/cases/{case_id}", headers=_auth(tokens["police1"]))
    flags = police.get_json()["flags"]["flags.marac"]
    assert [(f["kind"], f["value"]) for f in flags] == [("marac_repeat", "true")]
    lines = client.get(f"/api/v1/cases/{case_id}/explain",
                       headers=_auth(tokens["housing1"])).get_json()
    [move] = [x for x in lines if x["kind"] == "case.transition"]
    assert "partner flag you may not see" in move["text"]
    assert "marac" not in move["text"].lower() and "statutory" not in move["text"]
    assert "payload" not in move["details"] or move["details"]["payload"] is None
    assert_no_withheld(lines, SECRETS["flags.marac"] + ["MARAC"])
    police_lines = client.get(f"/api/v1/cases/{case_id}/explain",
                              headers=_auth(tokens["police1"])).get_json()
    [police_move] = [x for x in police_lines if x["kind"] == "case.transition"]
    assert "marac-repeat-flex" in police_move["text"]
    history = client.get(f"/api/v1/cases/{case_id}/history",
                         headers=_auth(tokens["housing1"])).get_json()
    [entry] = [e for e in history if e["kind"] == "case.transition"]
    assert "partner flag you may not see" in entry["summary"] and "payload" not in entry
    tasks = client.get(f"/api/v1/tasks?scope=all&case_id={case_id}",
                       headers=_auth(tokens["aud1"])).get_json()["items"]
    assert tasks and "Oyelaran" not in tasks[0]["title"] and "*********" in tasks[0]["title"]


def test_every_read_is_in_the_access_log_and_verified(client, scene, session):
    case_id, tokens = scene
    for name, (role, _t, _a) in READERS.items():
        _reads(client, case_id, tokens[name], role)
    log = client.get(f"/api/v1/cases/{case_id}/access?per_page=100",
                     headers=_auth(tokens["aud1"]))
    assert log.status_code == 200, log.get_json()
    seen = {(e["user"], e["what"]) for e in log.get_json()["items"]}
    for name, (role, _t, _a) in READERS.items():
        expected = {"detail", "history", "audit explanation", "events"} | (
            {"as-of"} if role == "auditor" else set())
        assert {what for user, what in seen if user == name} == expected, name
    mine = client.get("/api/v1/access?user=housing1",
                      headers=_auth(tokens["aud1"])).get_json()["items"]
    [listing] = [e for e in mine if e["what"] == "list"]
    assert case_id in listing["case_ids"] and listing["agency"] == "housing"
    assert listing["purpose"] == "case_management"
    refused = client.get(f"/api/v1/cases/{case_id}/access", headers=_auth(tokens["police1"]))
    assert refused.status_code == 403
    session.commit()
    assert audit.verify(session).ok


def test_subject_access_export_withholds_marac(scene, settings, monkeypatch, capsys,
                                              session):
    """``iom audit export --case`` is the person's own chronology under the agreement's
    subject_access purpose: the MARAC rule that moved the case is not named."""
    import json

    from cli.main import main

    case_id, _tokens = scene
    monkeypatch.setenv("IOM_DATABASE_URL", settings.database_url)
    session.close()
    assert main(["audit", "export", "--case", str(case_id), "--format", "json", "--out",
                 "-", "--as-admin"]) == 0
    doc = json.loads(capsys.readouterr().out)
    [move] = [e for e in doc["entries"] if e["kind"] == "case.transition"]
    assert "partner flag you may not see" in move["text"]
    assert_no_withheld(doc, SECRETS["flags.marac"] + ["MARAC"])
    assert "statutory" in json.dumps(doc)  # the rest of the record is the person's own


def test_reads_apply_a_case_list_set_and_removed_between_them(
        client, session, scene, make_user, now):
    """A listing (and a case read) looks up the restriction lists of only the cases its
    query says have one: a list set or removed between two reads changes the next list,
    inbox, detail and history at once."""
    from workflow.cases import get_case
    from workflow.sharing.restrictions import remove_list, set_list

    case_id, tokens = scene
    lead, _ = make_user("lead-r", role="team_lead", agency="police")
    task = session.query(Task).filter_by(case_id=case_id).one()
    task.assignee_id = session.query(type(lead)).filter_by(username="om-nps").one().id
    session.commit()

    def seen(reader: str) -> tuple[dict, dict, dict, int]:
        headers = _auth(tokens[reader])
        row = next(r for r in client.get("/api/v1/cases", headers=headers).get_json()[
            "items"] if r["id"] == case_id)
        mine = client.get("/api/v1/tasks?scope=mine", headers=headers).get_json()["items"]
        detail = client.get(f"/api/v1/cases/{case_id}", headers=headers).get_json()
        history = client.get(f"/api/v1/cases/{case_id}/history", headers=headers)
        return row, (mine[0] if mine else {}), detail, history.status_code

    row, mine, detail, history = seen("om-nps")
    assert row["person_ref"] == "PX-4471" and not row["restricted"]
    assert "Oyelaran-Smythe" in mine["title"] and "Oyelaran-Smythe" in str(detail)
    assert history == 200
    set_list(session, get_case(session, case_id), kind="exclusion", users=["om-nps"],
             agencies=[], message="Ask DS Patel", reason="victim safety", user=lead, now=now)
    session.commit()
    row, mine, detail, history = seen("om-nps")
    assert row["person_ref"] == "*********" and row["restricted"]
    assert detail["restricted"] and history == 403
    for shown in (mine, detail):
        assert "Oyelaran" not in str(shown) and "PX-4471" not in str(shown)
    assert seen("police1")[0]["person_ref"] == "PX-4471"  # the list names om-nps only
    remove_list(session, get_case(session, case_id), kind="exclusion", reason="resolved",
                user=lead, now=now)
    session.commit()
    row, mine, detail, history = seen("om-nps")
    assert row["person_ref"] == "PX-4471" and "Oyelaran-Smythe" in mine["title"]
    assert not detail["restricted"] and history == 200
