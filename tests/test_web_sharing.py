"""The sharing agreement on the pages (both backends): a housing officer, a police lead,
an NPS offender manager and an auditor sign in and open the same MARAC case's page (its
summary and timeline), their tasks and (the auditor) the chronology; each page shows
exactly what the published agreement says, masked fields labelled "Withheld" with whom
to ask, no withheld value anywhere in the HTML; the housing officer's timeline of the
MARAC-triggered move names no MARAC fact; every page read is in the case's access log."""

from __future__ import annotations

import re

import pytest
from sharing_helpers import SECRETS
from web_sharing_helpers import (
    READERS,
    assert_page_withholds,
    build_scene,
    page_text,
    signed_in,
)

from workflow.sharing.agreement import default_agreement
from workflow.sharing.groups import FLAG_GROUPS


@pytest.fixture
def scene(session, settings, published, make_user, now):
    return build_scene(session, settings, make_user, now)


def _levels(name: str) -> dict:
    role, _typed, agency = READERS[name]
    purpose = "audit" if role == "auditor" else "case_management"
    return default_agreement().levels(agency, role, purpose)


def _withheld(levels: dict) -> list[str]:
    return [g for g in SECRETS if levels[g] != "show"]


def _section(markup: str, element_id: str) -> str:
    start = markup.index(f'id="{element_id}"')
    return markup[start:]


def test_each_reader_sees_the_case_page_as_the_agreement_says(app, scene):
    case_id = scene["case_id"]
    for name in READERS:
        levels = _levels(name)
        page = signed_in(app, name).get(f"/cases/{case_id}")
        assert page.status_code == 200, (name, page.text[:300])
        assert_page_withholds(page.text, _withheld(levels))
        text = page_text(page.text)
        summary = text[text.index('id="case-summary"'):text.index("Open tasks")]
        masked = [g for g in ("identity", "risk", "supervision", *FLAG_GROUPS)
                  if levels[g] == "mask"]
        agreement = default_agreement()
        for group in masked:  # labelled, with whom to ask
            assert "Withheld" in summary and agreement.ask_for(group) in summary, (name, group)
        if levels["identity"] == "show":
            assert "Quentin Oyelaran-Smythe" in summary
        if levels["flags.marac"] == "show":
            assert "marac repeat: true" in summary, name
        if levels["risk"] == "show":
            assert "87% over 2 years" in summary, name
        else:
            assert "87%" not in text and "OGRS3" not in summary, name
    # the readers differ: the point of the test
    assert _levels("housing1")["flags.marac"] == "mask"
    assert _levels("police1")["flags.marac"] == "show"
    assert _levels("aud1")["identity"] == "mask"


def test_housing_timeline_of_the_marac_move_names_no_marac_fact(app, scene):
    case_id = scene["case_id"]
    housing = page_text(signed_in(app, "housing1").get(f"/cases/{case_id}").text)
    timeline = housing[housing.index('id="timeline"'):]
    move = re.search(r"Moved from mapping to matrixing[^<]*", timeline).group(0)
    assert "partner flag you may not see" in move
    assert "marac" not in timeline.lower() and "statutory" not in move
    police = page_text(signed_in(app, "police1").get(f"/cases/{case_id}").text)
    police_move = re.search(r"Moved from mapping to matrixing[^<]*",
                            police[police.index('id="timeline"'):]).group(0)
    assert "marac-repeat-flex" in police_move  # the police lead sees the rule


def test_tasks_and_auditor_pages_withhold_and_label(app, scene):
    case_id = scene["case_id"]
    expected = {"housing1": scene["housing_task"], "om-nps": scene["om_task"],
                "aud1": scene["om_task"]}
    for name, task_id in expected.items():
        client = signed_in(app, name)
        inbox = client.get("/tasks?scope=queue")
        assert inbox.status_code == 200
        assert_page_withholds(inbox.text, _withheld(_levels(name)))
        page = client.get(f"/tasks/{task_id}")
        assert page.status_code == 200, (name, page.text[:300])
        assert_page_withholds(page.text, _withheld(_levels(name)))
    housing = signed_in(app, "housing1")
    assert f'href="/tasks/{scene["housing_task"]}"' in housing.get("/tasks?scope=queue").text
    assert housing.get(f"/tasks/{scene['om_task']}").status_code == 403  # not its inbox
    auditor = signed_in(app, "aud1")
    task_page = page_text(auditor.get(f"/tasks/{scene['om_task']}").text)
    assert "*********" in task_page and "Oyelaran" not in task_page
    chronology = auditor.get(f"/audit/cases/{case_id}")
    assert chronology.status_code == 200
    assert_page_withholds(chronology.text, _withheld(_levels("aud1")))
    seq = re.search(rf'/audit/cases/{case_id}/entries/(\d+)', chronology.text).group(1)
    entry = auditor.get(f"/audit/cases/{case_id}/entries/{seq}")
    assert entry.status_code == 200
    assert_page_withholds(entry.text, _withheld(_levels("aud1")))


def test_every_page_read_is_in_the_case_access_log(app, client, scene):
    case_id = scene["case_id"]
    opened = {"housing1": [f"/cases/{case_id}", f"/tasks/{scene['housing_task']}"],
              "police1": [f"/cases/{case_id}"],
              "om-nps": [f"/cases/{case_id}", f"/tasks/{scene['om_task']}"],
              "aud1": [f"/cases/{case_id}", f"/audit/cases/{case_id}"]}
    for name, paths in opened.items():
        web = signed_in(app, name)
        for path in paths:
            assert web.get(path).status_code == 200, (name, path)
    log = client.get(f"/api/v1/cases/{case_id}/access?per_page=100",
                     headers={"Authorization": f"Bearer {scene['tokens']['aud1']}"})
    assert log.status_code == 200, log.get_json()
    seen = {(e["user"], e["what"], e["via"], e["purpose"], e["agency"])
            for e in log.get_json()["items"]}
    what = {"/cases": "case page", "/tasks": "task page", "/audit": "audit explanation"}
    for name, paths in opened.items():
        role, _typed, agency = READERS[name]
        purpose = "audit" if role == "auditor" else "case_management"
        for path in paths:
            key = (name, what["/" + path.split("/")[1]], "web", purpose, agency)
            assert key in seen, (key, sorted(seen))


def test_a_case_restricted_from_housing_shows_only_restricted_access(app, session, scene,
                                                                     make_user, now):
    from workflow.cases import get_case
    from workflow.sharing.restrictions import set_list

    lead, _token = make_user("lead-r", role="team_lead", agency="police")
    set_list(session, get_case(session, scene["case_id"]), kind="exclusion", users=[],
             agencies=["housing"], message="Ask DS Patel (community safety)",
             reason="victim safety", user=lead, now=now)
    session.commit()
    housing = signed_in(app, "housing1")
    page = housing.get(f"/cases/{scene['case_id']}")
    assert page.status_code == 200
    text = page_text(page.text)
    assert "*********" in text and "Restricted access" in text
    assert "Ask DS Patel (community safety)" in text
    assert_page_withholds(page.text, list(SECRETS))  # nothing at all of the person
    assert "Find a tenancy" not in text and "Moved from" not in text
    assert housing.get(f"/tasks/{scene['housing_task']}").status_code == 403
    assert housing.get(f"/audit/cases/{scene['case_id']}").status_code == 403  # auditors'
    from workflow.sharing.access import access_entries

    session.rollback()
    rows, _ = access_entries(session, case_id=scene["case_id"], user="housing1")
    assert [(r.what, r.via) for r in rows][:2] == [
        ("refused: audit chronology", "web"), ("case page", "web")]
    assert rows[0].detail["operation"] == "GET /audit/cases/{case_id}"
    session.rollback()  # SQLite: hold no transaction while the app signs police1 in
    police = page_text(signed_in(app, "police1").get(f"/cases/{scene['case_id']}").text)
    assert "Quentin Oyelaran-Smythe" in police and "Restricted access" not in police
