"""The sharing agreement as versioned data: validation names the path, the rule-set life
(draft, check, preview of what each agency/role sees, approval by a second team lead,
publish), rollback changes what is seen, as-of shows the agreement in force then; and
per-case restriction and exclusion lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml
from cli_helpers import run_as
from sharing_helpers import SECRETS, assert_no_withheld, marac_case

from rules.errors import RuleSetError
from workflow.sharing.agreement import default_agreement, load_agreement
from workflow.sharing.store import seed_agreement


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _text(edit) -> str:
    data = yaml.safe_load(default_agreement().text)
    edit(data)
    return yaml.safe_dump(data, sort_keys=False)


def test_validation_names_the_path_and_reason():
    def bad(data):
        data["grants"][0]["agency"] = ["police", "polise"]
        data["grants"][1]["see"]["flags.marc"] = "show"
        data["grants"][2]["role"] = "janitor"
        data["default"]["identity"] = "maybe"
        data["grants"][3]["purpose"] = "gossip"

    with pytest.raises(RuleSetError) as caught:
        load_agreement(_text(bad), file="agreement.yaml")
    problems = {p.path: p.reason for p in caught.value.problems}
    assert "unknown agency 'polise'" in problems["grants.0.agency.1"]
    assert "unknown field group 'flags.marc'" in problems["grants.1.see.flags.marc"]
    assert "unknown role 'janitor'" in problems["grants.2.role"]
    assert "unknown level 'maybe'" in problems["default.identity"]
    assert "unknown purpose 'gossip'" in problems["grants.3.purpose"]
    with pytest.raises(RuleSetError) as missing:
        load_agreement(_text(lambda d: d["default"].pop("*")))
    assert any(p.path == "default" and "notes" in p.reason for p in missing.value.problems)
    with pytest.raises(RuleSetError) as extra:
        load_agreement(_text(lambda d: d.update(secret="x")))
    assert [p.path for p in extra.value.problems] == ["secret"]


def test_the_agreement_accepts_every_agency_and_the_resettlement_role():
    def grants(data):
        data["grants"].append({"agency": ["yos", "prison", "mental_health", "employment",
                                          "local_authority", "substance_misuse", "crc"],
                               "role": "resettlement_officer", "see": {"tasks": "show"}})

    doc = load_agreement(_text(grants))
    assert doc.levels("employment", "resettlement_officer", "case_management")["tasks"] == "show"


@pytest.mark.usefixtures("published")
def test_life_preview_publish_rollback_and_as_of(client, session, make_user, now):
    seed_agreement(session, now=now - timedelta(days=365))
    case = marac_case(session, now=now)
    case_id = case.id
    session.commit()
    _, lead1 = make_user("lead1", role="team_lead", agency="police")
    _, lead2 = make_user("lead2", role="team_lead", agency="local_authority")
    _, housing = make_user("housing1", role="resettlement_officer", agency="housing")
    _, auditor = make_user("aud1", role="auditor")

    def risk_seen(token):
        return client.get(f"/api/v1/cases/{case_id}", headers=_auth(token)).get_json().get("risk")

    assert risk_seen(housing)["withheld"] is True
    # a draft shows housing the risk scores and masks them to auditors
    bad = client.post("/api/v1/rulesets", headers=_auth(lead1), json={
        "document": _text(lambda d: d["grants"].append({"agency": "housng",
                                                        "see": {"risk": "show"}})),
        "reason": "typo"})
    assert bad.status_code == 422
    appended = len(default_agreement().grants)
    assert bad.get_json()["error"]["details"]["problems"][0]["path"] == (
        f"grants.{appended}.agency")

    def edit(data):
        data["grants"].insert(8, {"agency": "housing", "see": {"risk": "show"}})
        [auditors] = [g for g in data["grants"] if g.get("role") == "auditor"]
        auditors["see"]["risk"] = "mask"
    draft = client.post("/api/v1/rulesets", headers=_auth(lead1), json={
        "document": _text(edit), "reason": "housing needs risk to place safely"})
    assert draft.status_code == 201, draft.get_json()
    version = draft.get_json()["version"]
    base = f"/api/v1/rulesets/sharing-agreement/versions/{version[:12]}"
    assert client.post(base + "/test", headers=_auth(lead1)).get_json()["passed"] is True
    preview = client.post(base + f"/preview?case_id={case_id}", headers=_auth(lead1)
                          ).get_json()
    [row] = [r for r in preview["rows"] if (r["agency"], r["role"]) == ("housing",
                                                                       "resettlement_officer")]
    assert row["changes"] == {"risk": ["mask", "show"]}
    assert row["sample"]["risk"]["assessments"][0]["ogrs_2yr"] == 87
    [aud] = [r for r in preview["rows"] if (r["agency"], r["role"]) == (None, "auditor")]
    assert aud["changes"] == {"risk": ["show", "mask"]} and aud["sample"]["risk"]["withheld"]
    assert preview["sample_case"] == case_id and preview["moves_at_next_pass"] == []
    assert risk_seen(housing)["withheld"] is True  # a preview changes nothing
    assert client.post(base + "/approve", headers=_auth(lead1),
                       json={"reason": "mine"}).status_code == 403  # four eyes
    assert client.post(base + "/approve", headers=_auth(lead2),
                       json={"reason": "agreed at the board"}).status_code == 200
    published = client.post(base + "/publish", headers=_auth(lead1),
                            json={"reason": "board 3 March"})
    assert published.status_code == 200, published.get_json()
    assert risk_seen(housing)["assessments"][0]["ogrs_2yr"] == 87

    # as-of: the agreement in force then decides what the auditor is shown
    before = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    old = client.get(f"/api/v1/cases/{case_id}/as-of", headers=_auth(auditor),
                     query_string={"on": before}).get_json()
    new = client.get(f"/api/v1/cases/{case_id}/as-of", headers=_auth(auditor),
                     query_string={"on": datetime.now(UTC).isoformat()}).get_json()
    assert old["agreement"] == default_agreement().version and new["agreement"] == version
    assert old["facts"]["ogrs_2yr"] == 87 and new["facts"]["ogrs_2yr"]["withheld"] is True
    assert_no_withheld(new, [87, 79])

    rolled = client.post("/api/v1/rulesets/sharing-agreement/rollback", headers=_auth(lead2),
                         json={"reason": "the ISA was not signed by housing"})
    assert rolled.status_code == 200, rolled.get_json()
    assert risk_seen(housing)["withheld"] is True
    assert_no_withheld(client.get(f"/api/v1/cases/{case_id}", headers=_auth(housing))
                       .get_json(), SECRETS["risk"])


@pytest.mark.usefixtures("published")
def test_restriction_and_exclusion_lists(client, session, make_user, now):
    seed_agreement(session, now=now - timedelta(days=365))
    case_id = marac_case(session, now=now).id
    session.commit()
    _, lead = make_user("lead1", role="team_lead")
    _, police = make_user("police1", role="police", agency="police")
    _, nps = make_user("om-nps", role="offender_manager", agency="nps")
    _, housing = make_user("housing1", role="resettlement_officer", agency="housing")
    url = f"/api/v1/cases/{case_id}"
    refused = client.put(url + "/restrictions/exclusion", headers=_auth(police),
                         json={"agencies": ["housing"], "message": "x", "reason": "y"})
    assert refused.status_code == 403
    excl = client.put(url + "/restrictions/exclusion", headers=_auth(lead), json={
        "agencies": ["housing"], "message": "Ask DS Patel (public protection)",
        "reason": "victim lives in a housing association flat"})
    assert excl.status_code == 200, excl.get_json()
    detail = client.get(url, headers=_auth(housing)).get_json()
    assert detail["name"] == "*********" and detail["person_ref"] == "*********"
    assert detail["restricted"] == {"label": "Restricted access",
                                    "message": "Ask DS Patel (public protection)"}
    assert "identity" not in detail and "flags" not in detail and "offending" not in detail
    assert_no_withheld(detail, SECRETS["identity"] + SECRETS["offending"] + ["PX-4471"])
    listed = client.get("/api/v1/cases", headers=_auth(housing)).get_json()["items"]
    assert [c["name"] for c in listed] == ["*********"]
    history = client.get(url + "/history", headers=_auth(housing))
    assert history.status_code == 403
    assert "Ask DS Patel" in history.get_json()["error"]["message"]
    assert client.get(url + "/access", headers=_auth(housing)).status_code == 403
    log = client.get(url + "/access", headers=_auth(lead)).get_json()["items"]
    refused = [r for r in log if r["what"].startswith("refused:")]
    # Both refusals are recorded (after the refused request's own rollback), with why:
    assert [(r["user"], r["what"], r["via"]) for r in refused] == [
        ("housing1", "refused: access log", "api"), ("housing1", "refused: history", "api")]
    assert "Ask DS Patel" in refused[1]["refused"] and "role" in refused[0]["refused"]
    assert all(r["refused"] is None for r in log if r not in refused)
    assert client.get(url, headers=_auth(nps)).get_json()["name"] == "Quentin Oyelaran-Smythe"

    restr = client.put(url + "/restrictions/restriction", headers=_auth(lead), json={
        "users": ["police1"], "message": "Ask the police IOM lead", "reason": "covert op"})
    assert restr.get_json()["users"] == ["lead1", "police1"]
    assert client.get(url, headers=_auth(nps)).get_json()["restricted"]["message"] == (
        "Ask the police IOM lead")
    assert client.get(url, headers=_auth(police)).get_json()["restricted"] is None
    assert client.get(url, headers=_auth(lead)).get_json()["restricted"] is None
    removed = client.post(url + "/restrictions/restriction/remove", headers=_auth(lead),
                          json={"reason": "operation closed"})
    assert removed.status_code == 200 and removed.get_json()["removed_by"] == "lead1"
    assert client.get(url, headers=_auth(nps)).get_json()["restricted"] is None
    lists = client.get(url + "/restrictions", headers=_auth(lead)).get_json()
    assert [(x["kind"], x["removed_at"] is None) for x in lists] == [
        ("exclusion", True), ("restriction", False)]
    kinds = [e["kind"] for e in client.get(url + "/history", headers=_auth(lead)).get_json()]
    assert kinds.count("case.access_restricted") == 2
    assert kinds.count("case.access_unrestricted") == 1


@pytest.mark.usefixtures("published")
def test_cli_restrict_show_and_access(session, make_user, now, settings, capsys, user_tokens,
                                      monkeypatch):
    import json

    monkeypatch.setenv("IOM_DATABASE_URL", settings.database_url)
    seed_agreement(session, now=now - timedelta(days=365))
    case_id = marac_case(session, now=now).id
    session.commit()
    make_user("lead1", role="team_lead")
    make_user("housing1", role="resettlement_officer", agency="housing")
    session.close()
    assert run_as(user_tokens, ["sharing", "restrict", str(case_id), "--kind", "exclusion",
                                "--agencies", "housing", "--message", "Ask DS Patel",
                                "--reason", "risk to victim", "--as", "lead1"]) == 0
    capsys.readouterr()
    assert run_as(user_tokens, ["sharing", "show", str(case_id), "--as", "housing1"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["name"] == "*********" and shown["restricted"]["message"] == "Ask DS Patel"
    assert run_as(user_tokens, ["sharing", "access", "--case", str(case_id)]) == 0
    log = json.loads(capsys.readouterr().out)
    assert [(e["user"], e["what"], e["via"]) for e in log["items"]] == [
        ("housing1", "detail", "cli")]
    assert run_as(user_tokens, ["sharing", "unrestrict", str(case_id), "--kind", "exclusion",
                 "--reason", "done", "--as", "lead1"]) == 0
    capsys.readouterr()
    assert run_as(user_tokens, ["sharing", "show", str(case_id), "--as", "housing1"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "Quentin Oyelaran-Smythe"


@pytest.mark.usefixtures("published")
def test_task_emails_follow_the_recipients_view(session, make_user, now):
    from db.models import Notification, Task
    from workflow.sharing import restrictions
    from workflow.tasks.outbox import notify_task

    seed_agreement(session, now=now - timedelta(days=365))
    case = marac_case(session, now=now)
    lead, _ = make_user("lead1", role="team_lead")
    nps, _ = make_user("om-nps", role="offender_manager", agency="nps")
    housing, _ = make_user("housing1", role="resettlement_officer", agency="housing")
    auditor, _ = make_user("aud1", role="auditor")
    for user in (nps, housing, auditor):
        user.email = f"{user.username}@borough.example"
    task = Task(case_id=case.id, template="breach_proceedings", role="offender_manager",
                title="Start breach proceedings: Quentin Oyelaran-Smythe (PX-4471)",
                body="2 missed appointments in 30 days (rule enforcement-triggers/x).")
    session.add(task)
    restrictions.set_list(session, case, kind="exclusion", users=["housing1"], agencies=[],
                          message="Ask DS Patel", reason="victim safety", user=lead, now=now)
    assert notify_task(session, task, [nps, housing, auditor], kind="prompt", event="new",
                       now=now, prefix="New task") == 2
    mails = {n.recipient: n for n in session.query(Notification)}
    assert "housing1@borough.example" not in mails
    assert "Oyelaran-Smythe" in mails["om-nps@borough.example"].subject
    audit_mail = mails["aud1@borough.example"]
    assert "Oyelaran" not in audit_mail.subject + audit_mail.body
    assert "*********" in audit_mail.subject


@pytest.mark.usefixtures("published")
def test_cli_draft_and_preview_of_an_agreement(session, now, settings, make_user, capsys,
                                               user_tokens,
                                               monkeypatch, tmp_path):
    monkeypatch.setenv("IOM_DATABASE_URL", settings.database_url)
    seed_agreement(session, now=now - timedelta(days=365))
    case_id = marac_case(session, now=now).id
    make_user("lead1", role="team_lead")
    session.close()
    path = tmp_path / "agreement.yaml"
    path.write_text(_text(lambda d: d["grants"].insert(
        8, {"agency": "housing", "see": {"risk": "show"}})), encoding="utf-8")
    assert run_as(user_tokens, ["rules", "draft", str(path), "--as", "lead1", "--reason",
                                "risk"]) == 0
    version = capsys.readouterr().out.split("@")[1].split()[0]
    assert run_as(user_tokens, ["rules", "preview", f"sharing-agreement@{version}",
                                "--as", "lead1",
                 "--case", str(case_id)]) == 0
    out = capsys.readouterr().out
    assert f"sample case {case_id}" in out
    housing = out.split("housing/resettlement_officer:")[1].split("\n  ")[0:2]
    assert "CHANGES risk: mask -> show" in "".join(housing)
    # housing team leads and auditors are decided by the later grants: unchanged
    assert out.count("CHANGES") == len(("offender_manager", "police", "resettlement_officer"))
    assert "3  agency/role pairs whose view changes" in out
    assert run_as(user_tokens, ["rules", "preview", f"sharing-agreement@{version}",
                                "--as", "lead1",
                 "--purpose", "gossip"]) != 0


@pytest.mark.usefixtures("published")
def test_panel_agenda_and_minutes_follow_the_agreement(client, session, make_user, now):
    from db.models import PanelItem, PanelMeeting

    seed_agreement(session, now=now - timedelta(days=365))
    case = marac_case(session, now=now, state="panel")
    meeting = PanelMeeting(held_on=now.date(), starts_at=now)
    session.add(meeting)
    session.flush()
    session.add(PanelItem(meeting_id=meeting.id, case_id=case.id, rank=1,
                          activity_score=31.5, invited_at=now, decision="accept",
                          reason="agreed: victim is his ex-partner in Colindale",
                          decided_by="lead1", decided_role="team_lead", decided_at=now))
    meeting_id, case_id = meeting.id, case.id
    session.commit()
    _, housing = make_user("housing1", role="resettlement_officer", agency="housing")
    _, police = make_user("police1", role="police", agency="police")
    url = f"/api/v1/panels/{meeting_id}"
    seen = client.get(url, headers=_auth(housing))
    assert seen.status_code == 200, seen.get_json()
    [item] = seen.get_json()["items"]
    assert item["activity_score"]["withheld"] and item["reason"]["withheld"]
    minutes = client.get(url + "/minutes", headers=_auth(housing)).get_json()
    markdown = client.get(url + "/minutes?format=markdown", headers=_auth(housing))
    assert_no_withheld([seen.get_json(), minutes, markdown.get_data(as_text=True)],
                       [31.5, "31.5", "Colindale"])
    [police_item] = client.get(url, headers=_auth(police)).get_json()["items"]
    assert police_item["activity_score"] == 31.5 and "Colindale" in police_item["reason"]
    _, aud = make_user("aud1", role="auditor")
    log = client.get("/api/v1/access?user=housing1", headers=_auth(aud)).get_json()["items"]
    assert {e["what"] for e in log} == {"panel agenda", "panel minutes"}
    assert all(e["case_ids"] == [case_id] and e["purpose"] == "panel" for e in log)


def test_every_case_route_names_its_refused_read_in_words(app):
    """A refused read is logged in the words of the reads that happen (``history``,
    ``case page``...), for every GET route of one case, API and pages alike."""
    from api.transactions import _read_named

    rules = [r.rule for r in app.url_map.iter_rules()
             if "<int:case_id>" in r.rule and "GET" in r.methods]
    assert len(rules) >= 10
    for rule in rules:
        named = _read_named(rule)
        assert named and not any(c in named for c in "/{<."), (rule, named)
