"""The cheaper dump of the read endpoints' answers (``api/dumping.py``) gives the same
bytes as marshmallow's own ``Schema.dump``: every read endpoint, for readers who see a
case in full, masked, without some groups and restricted, through the real app."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from marshmallow import Schema, fields
from web_sharing_helpers import build_scene

from api import dumping
from api.dumping import FastDumpSchema
from api.schemas import CaseOut, CasePage
from api.views.tasks import TaskOut
from db.models import Task, User
from workflow.cases import get_case
from workflow.sharing.restrictions import set_list


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def scene(session, settings, published, make_user, make_case, now):
    out = build_scene(session, settings, make_user, now)
    lead, out["tokens"]["lead1"] = make_user("lead1", role="team_lead", agency="police")
    other = make_case("matrixing", ogrs=70, mappa=2, family="Restricted-Person")
    set_list(session, get_case(session, other.id), kind="exclusion", users=["om-nps"],
             agencies=["housing"], message="Ask DS Patel (community safety)",
             reason="victim safety", user=lead, now=now)
    om = session.query(User).filter_by(username="om-nps").one()
    session.add(Task(case_id=other.id, template="panel_invite", role="offender_manager",
                     assignee_id=om.id, title="Invite Restricted-Person", body="b"))
    session.get(Task, out["om_task"]).assignee_id = om.id
    session.commit()
    out["restricted_case"] = other.id
    return out


def _urls(scene) -> list[tuple[str, str, dict | None]]:
    case, other = scene["case_id"], scene["restricted_case"]
    gets = ["/api/v1/cases", "/api/v1/cases?per_page=1", "/api/v1/cases?state=matrixing",
            "/api/v1/cases?total=true", f"/api/v1/cases/{case}", f"/api/v1/cases/{other}",
            f"/api/v1/cases/{case}/history", f"/api/v1/cases/{case}/explain",
            "/api/v1/tasks", "/api/v1/tasks?scope=queue", "/api/v1/tasks?scope=all",
            "/api/v1/tasks?scope=all&per_page=1", f"/api/v1/tasks/{scene['om_task']}"]
    return [("GET", url, None) for url in gets] + [
        ("POST", "/api/v1/evaluate", {"stage": "mapping", "facts": [
            {"id": 1, "ogrs_2yr": 80, "newly_sentenced": True},
            {"id": "b", "ogrs_2yr": 3, "marac_repeat": True}]})]


def _without_reads(body: bytes) -> list:
    return [line for line in json.loads(body) if line["section"] != "access"]


def test_every_read_answer_is_byte_for_byte_marshmallows(client, scene, monkeypatch):
    compared = 0
    for name, token in scene["tokens"].items():
        for method, url, body in _urls(scene):
            answers = []
            for enabled in (True, False):
                monkeypatch.setattr(dumping, "ENABLED", enabled)
                response = client.open(url, method=method, headers=_auth(token), json=body)
                answers.append((response.status_code, response.get_data()))
            if url.endswith("/explain"):  # it lists the reads, each call one more
                answers = [(status, _without_reads(body) if status == 200 else body)
                           for status, body in answers]
            assert answers[0] == answers[1], (name, url)
            compared += answers[0][0] == 200
    assert compared > 40  # most of them are answers, not refusals


def test_plain_dicts_missing_keys_nones_and_objects():
    """Missing keys are left out, None stays None, datetimes are ISO, nested lists and
    function fields as marshmallow; an object that is not a dict goes to marshmallow."""
    at = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    case = {"id": 3, "person_ref": "PX-1", "name": {"withheld": True}, "episode": 1,
            "state": "mapping", "state_since": at, "opened_at": at, "closed_at": None,
            "next_due_at": at + timedelta(days=1), "restricted": None, "withheld": [],
            "sharing": {"agreement": "v", "purpose": "audit"}, "flags": {}}
    page = {"items": [case, {**case, "id": 2, "cohort": "flex"}], "next": "abc",
            "total": None, "page": None, "per_page": 2}
    assert CasePage().dump(page) == Schema.dump(CasePage(), page)
    assert list(CaseOut().dump(case)) == list(Schema.dump(CaseOut(), case))
    task = {"id": 1, "case_id": 3, "template": "t", "title": "x", "body": "",
            "status": "open", "due_at": at, "created_at": at, "priority": "normal"}
    assert TaskOut(many=True).dump([task]) == Schema.dump(TaskOut(many=True), [task])
    row = Task(id=5, case_id=3, template="t", title="x", body="", status="done",
               priority="normal", created_at=at)
    assert TaskOut().dump(row) == Schema.dump(TaskOut(), row)

    class Dotted(FastDumpSchema):
        when = fields.DateTime(attribute="a.b")
        n = fields.Integer(dump_default=7)

    assert Dotted().dump({"a": {"b": at}}) == {"when": at.isoformat(), "n": 7}
