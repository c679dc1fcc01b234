"""Hostile input at the HTTP edge: each gets a 4xx in the one error shape, never a 500,
and nothing reaches the database (the audit chain still verifies afterwards)."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from sqlalchemy import select

from db.models import AccessRead
from workflow import audit

MIB = 1024 * 1024


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def _error(response, status, code=None):
    assert response.status_code == status, (response.status_code, response.get_data()[:300])
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    if code:
        assert body["error"]["code"] == code
    return body["error"]


@pytest.fixture
def lead(make_user):
    return make_user("lead1", role="team_lead", agency="NPS")[1]


@pytest.mark.parametrize("path", ["/api/v1/cases/1099511627776", "/api/v1/tasks/2147483648",
                                  "/api/v1/panels/" + "9" * 5000, "/api/v1/imports/-1",
                                  "/api/v1/cases/-5/history"])
def test_ids_beyond_the_integer_column_are_422(client, lead, path):
    err = _error(client.get(path, headers=_auth(lead)), 422, "invalid_input")
    assert "out of range" in err["message"] and "2147483647" in err["message"]


def test_page_and_query_ids_are_bounded(client, lead):
    err = _error(client.get("/api/v1/cases?page=99999999999", headers=_auth(lead)), 422)
    assert "page" in err["details"]["fields"]["query"]
    err = _error(client.get(f"/api/v1/tasks?scope=all&case_id={2**40}", headers=_auth(lead)),
                 422)
    assert "case_id" in err["details"]["fields"]["query"]


def test_a_100_mib_body_is_refused_before_it_is_read(client, lead):
    err = _error(client.post("/api/v1/evaluate", headers=_auth(lead),
                             input_stream=io.BytesIO(b"{}"), content_type="application/json",
                             environ_overrides={"CONTENT_LENGTH": str(100 * MIB)}),
                 413, "request_entity_too_large")
    assert err["message"] == (f"the body is {100 * MIB} bytes; a request body may be at most "
                              f"{MIB} bytes")


def test_a_chunked_upload_over_the_limit_is_413(settings, session, make_user):
    from api import create_app
    from workflow.runtime import Runtime

    runtime = Runtime.from_settings(replace(settings, max_upload_bytes=4096))
    try:
        client = create_app(runtime).test_client()
        _, token = make_user("police1", role="police", agency="police")
        rows = "".join(f"P{i:06d},Alex,Person,M,1990-01-01\n" for i in range(400))
        response = client.post("/api/v1/imports/people", headers=_auth(token),
                               input_stream=io.BytesIO(
                                   ("partner_ref,given_name,family_name,sex,date_of_birth\n"
                                    + rows).encode()),
                               content_type="text/csv",
                               environ_overrides={"wsgi.input_terminated": True,
                                                  "CONTENT_LENGTH": ""})
        err = _error(response, 413, "request_entity_too_large")
        assert err["message"] == ("request.csv: the upload is over 4096 bytes "
                                  "(server.max_upload_mb); nothing was imported")
        from sqlalchemy import func, select

        from db.models import Person
        assert session.scalar(select(func.count(Person.id))) == 0
    finally:
        runtime.close()


@pytest.mark.parametrize("body, reason", [
    ("[" * 100_000 + "]" * 100_000, "nests deeper than 32 levels"),
    ('{"facts": [{"id": 1, "ogrs_2yr": ' + "9" * 5000 + "}]}", "at most 40 are accepted"),
    ('{"facts": [', "not valid JSON"),
])
def test_json_is_parsed_with_limits(client, lead, body, reason):
    err = _error(client.post("/api/v1/evaluate", headers=_auth(lead), data=body,
                             content_type="application/json"), 400, "bad_request")
    assert reason in err["message"]


@pytest.mark.parametrize("raw, field, reason", [
    ('{"reason": "nul\\u0000byte", "document": "name: x"}', "reason", "NUL character"),
    ('{"reason": "lone \\ud800", "document": "name: x"}', "reason", "lone surrogate"),
    ('{"reason": "ok", "document": "x", "k\\u0000": 1}', "body", "NUL character"),
    ('{"facts": [{"id": 1, "ogrs_2yr": NaN}]}', "facts[0].ogrs_2yr", "nan is not"),
    ('{"facts": [{"id": 1, "ogrs_2yr": 1e999}]}', "facts[0].ogrs_2yr", "inf is not"),
])
def test_what_no_backend_can_store_is_422_naming_the_field(client, lead, raw, field, reason):
    err = _error(client.post("/api/v1/rulesets", headers=_auth(lead), data=raw,
                             content_type="application/json"), 422, "invalid_input")
    assert err["details"]["field"] == field and err["message"].startswith(f"{field}: ")
    assert reason in err["message"]


def test_nul_in_path_or_query_is_422(client, lead):
    _error(client.get("/api/v1/rulesets/a%00b", headers=_auth(lead)), 422, "invalid_input")
    err = _error(client.get("/api/v1/tasks?template=a%00b", headers=_auth(lead)), 422)
    assert err["details"] == {"field": "template"}


@pytest.mark.usefixtures("published")
def test_dates_outside_the_supported_range_are_refused(client, lead, make_case, now,
                                                       session):
    case = make_case(ogrs=81)
    session.commit()
    url = f"/api/v1/cases/{case.id}/as-of"
    err = _error(client.get(url, query_string={"on": "0001-01-01T00:00:00+01:00"},
                            headers=_auth(lead)), 422)
    assert "between 1900-01-01 and 2199-12-31" in str(err["details"])
    before = "1950-01-01T00:00:00+00:00"  # shipped rule sets are in force from 2000 on
    err = _error(client.get(url, query_string={"on": before}, headers=_auth(lead)), 404,
                 "not_found")
    assert "on or after its first publication" in err["message"]
    assert err["details"]["field"] == "on"
    event = {"event_id": "e1", "kind": "missed_appointment",
             "occurred_at": "9999-12-31T23:59:59-05:00"}
    err = _error(client.post(f"/api/v1/cases/{case.id}/events", json=event,
                             headers=_auth(lead)), 422)
    assert "occurred_at" in err["details"]["fields"]["json"]
    assert audit.verify(session).ok


def test_405_names_the_allowed_methods(client, lead):
    response = client.delete("/api/v1/cases", headers=_auth(lead))
    _error(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) >= {"GET"}
    assert "DELETE" not in response.headers["Allow"]


def test_contract_declares_error_body_roles_and_statuses(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    error = spec["components"]["schemas"]["ErrorOut"]
    assert error["required"] == ["error"]
    body = spec["components"]["schemas"]["ErrorBody"]
    assert set(body["properties"]) == {"code", "message", "details"}
    publish = spec["paths"]["/api/v1/rulesets/{name}/versions/{version}/publish"]["post"]
    assert publish["x-roles"] == ["team_lead"]  # admin is not implied (workflow/permissions)
    assert "Access: team_lead." in publish["description"]
    assert {"400", "401", "403", "404", "409", "413", "422"} <= set(publish["responses"])
    assert publish["responses"]["403"] == {"$ref": "#/components/responses/FORBIDDEN"}
    listing = spec["paths"]["/api/v1/cases"]["get"]
    assert "403" not in listing["responses"] and "default" not in listing["responses"]
    case_id = spec["paths"]["/api/v1/cases/{case_id}"]["parameters"][0]["schema"]
    assert case_id["maximum"] == 2**31 - 1


def test_every_readme_route_is_served(client):
    """The README's API section names routes; each is in the OpenAPI document."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### HTTP API", 1)[1].split("###", 1)[0]
    paths = " ".join(client.get("/api/v1/openapi.json").get_json()["paths"])
    for word in ("history", "explain", "as-of", "events", "decisions", "minutes", "claim",
                 "reassign", "complete", "cancel", "rollback", "preview", "top-arrested"):
        assert f"`{word}`" in section or word in section
        assert f"/{word}" in paths, word


@pytest.mark.usefixtures("published")
def test_case_explain_route_explains_and_audits_the_read(client, make_user, session,
                                                         make_person, now):
    from test_audit_explain import build_case_history

    case = build_case_history(session, make_person, now)
    _, token = make_user("aud1", role="auditor")
    response = client.get(f"/api/v1/cases/{case.id}/explain", headers=_auth(token))
    assert response.status_code == 200, response.get_json()
    lines = response.get_json()
    assert [line["section"] for line in lines][-1] == "human"
    assert "panel agreed" in lines[-1]["text"] and all(line["intact"] for line in lines)
    reads = session.scalars(select(AccessRead).where(AccessRead.case_id == case.id)).all()
    assert [(r.actor, r.what) for r in reads] == [("aud1", "audit explanation")]
    session.commit()  # end the read: on SQLite every transaction holds the write lock
    _error(client.get("/api/v1/cases/424242/explain", headers=_auth(token)), 404, "not_found")


def test_nul_in_an_uploaded_csv_is_a_refused_row_not_a_500(client, make_user, session):
    _, token = make_user("police1", role="police", agency="police")
    body = (b"partner_ref,given_name,family_name,sex,date_of_birth\n"
            b"P000001,Alex,Per\x00son,M,1990-01-01\n"
            b"P000002,Sam,Jones,F,1991-02-03\n")
    response = client.post("/api/v1/imports/people", headers=_auth(token), data=body,
                           content_type="text/csv")
    assert response.status_code == 200, response.get_data()[:500]
    report = response.get_json()
    assert (report["created"], report["rejected"]) == (1, 1)
    assert report["errors"] == [{"row": 2, "field": "family_name", "reason":
                                 "contains a NUL character (\\x00), which cannot be stored"}]
    assert audit.verify(session).ok


_DRAFT = ("name: probe\nstages: [mapping]\ntitle: t\ndescription: d\nowner: o\nsource: s\n"
          "rules:\n  - id: r1\n    principles: [1]\n    description: d\n    when: {when}\n"
          "    then: {{action: select, params: {{reason: x}}}}\n")


def test_a_rule_naming_a_list_as_its_fact_is_refused_with_its_path(client, lead):
    draft = _DRAFT.format(when="{all: [{fact: [ppo, dtoa], eq: true}]}")
    err = _error(client.post("/api/v1/rulesets", json={"document": draft, "reason": "r"},
                             headers=_auth(lead)), 422, "invalid_ruleset")
    assert err["details"]["problems"] == [{
        "file": "request", "path": "rules.0.when.all.0.fact", "rule_id": "r1",
        "reason": "expected a fact name, got list"}]


def test_a_deeply_nested_rule_document_is_refused(client, lead):
    draft = _DRAFT.format(when="{all: [" * 400 + "{fact: ppo, eq: true}" + "]}" * 400)
    response = client.post("/api/v1/rulesets", json={"document": draft, "reason": "r"},
                           headers=_auth(lead))
    _error(response, 422)


@pytest.mark.usefixtures("published")
def test_an_event_holding_1e16_keeps_the_chain_verifying(client, make_user, make_case,
                                                         session):
    from datetime import date

    from db.models import Supervision

    _, token = make_user("om1", role="offender_manager", agency="NPS")
    case = make_case(ogrs=81)
    session.add(Supervision(partner_ref="S-1e16", person_id=case.person_id, provider="NPS",
                            start_on=date(2025, 1, 1)))  # an NPS case: NPS records events
    session.commit()
    event = {"event_id": "e-1e16", "kind": "appointment_kept",
             "occurred_at": "2025-03-01T10:00:00Z", "details": {"amount": 1e16}}
    response = client.post(f"/api/v1/cases/{case.id}/events", json=event,
                           headers=_auth(token))
    assert response.status_code == 201, response.get_json()
    session.expire_all()
    result = audit.verify(session)
    assert result.ok, result
