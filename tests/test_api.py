"""The HTTP API through a real client: auth on every endpoint, one error shape."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db.models import AccessRead
from workflow.history import history_rows


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def _error(response, status, code):
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize("path", ["/api/v1/health", "/api/v1/cases", "/api/v1/cases/1",
                                  "/api/v1/cases/1/history", "/api/v1/rulesets"])
def test_every_endpoint_needs_a_token(client, path):
    _error(client.get(path), 401, "unauthenticated")
    _error(client.get(path, headers=_auth("not-a-token")), 401, "unauthenticated")


def test_openapi_document_is_served_locally(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["info"]["title"] == "IOM case workflow"
    assert "/api/v1/cases/{case_id}/history" in spec["paths"]
    assert "bearer" in spec["components"]["securitySchemes"]


@pytest.mark.usefixtures("published")
def test_health_reports_database_and_rulesets(client, make_user, db_url):
    from rules.library import shipped_documents

    _, token = make_user("om1", role="offender_manager")
    body = client.get("/api/v1/health", headers=_auth(token)).get_json()
    assert body["status"] == "ok"
    assert body["published_rulesets"] == len(shipped_documents())
    assert body["database"] == ("sqlite" if db_url.startswith("sqlite") else "postgresql")


@pytest.mark.usefixtures("published")
def test_cases_list_detail_history_and_reads_are_audited(client, make_user, make_case,
                                                         session):
    _, token = make_user("police1", role="police")
    mapping = make_case(ogrs=81)
    make_case(state="matrixing", ogrs=60)
    page = client.get("/api/v1/cases?per_page=1&total=true", headers=_auth(token)).get_json()
    assert page["total"] == 2 and len(page["items"]) == 1
    only = client.get("/api/v1/cases?state=mapping", headers=_auth(token)).get_json()
    assert [c["id"] for c in only["items"]] == [mapping.id]
    detail = client.get(f"/api/v1/cases/{mapping.id}", headers=_auth(token)).get_json()
    assert detail["state"] == "mapping" and detail["person_ref"] == mapping.person.partner_ref
    history = client.get(f"/api/v1/cases/{mapping.id}/history", headers=_auth(token))
    assert history.status_code == 200
    assert [e.kind for e in history_rows(session, mapping.id)] == []  # reads not in it
    reads = session.scalars(select(AccessRead).where(AccessRead.case_id == mapping.id)
                            .order_by(AccessRead.id)).all()
    assert [(r.actor, r.what, r.via) for r in reads] == [("police1", "detail", "api"),
                                                         ("police1", "history", "api")]


def test_validation_and_not_found_use_the_error_shape(client, make_user):
    _, token = make_user("lead1", role="team_lead")
    err = _error(client.get("/api/v1/cases?state=limbo", headers=_auth(token)), 422,
                 "unprocessable_entity")
    assert "state" in str(err["details"])
    _error(client.get("/api/v1/cases/999", headers=_auth(token)), 404, "not_found")
    _error(client.get("/api/v1/nowhere", headers=_auth(token)), 404, "not_found")
    _error(client.delete("/api/v1/cases", headers=_auth(token)), 405, "method_not_allowed")


@pytest.mark.usefixtures("published")
def test_evaluate_twin_and_roles(client, make_user):
    _, lead = make_user("lead1", role="team_lead")
    facts = [{"id": "a", "newly_sentenced": True, "ogrs_2yr": 81},
             {"id": "b", "newly_sentenced": True, "ogrs_2yr": 95, "mappa_level": 3},
             {"id": "c", "newly_sentenced": True, "ogrs_2yr": 40}]
    r = client.post("/api/v1/evaluate", json={"stage": "mapping", "facts": facts},
                    headers=_auth(lead))
    assert r.status_code == 200, r.get_json()
    assert [x["outcome"] for x in r.get_json()] == ["select", "exclude", None]
    bad = client.post("/api/v1/evaluate", json={"stage": "mapping",
                                                "facts": [{"id": 1, "ogrs_2yr": "high"}]},
                      headers=_auth(lead))
    assert "ogrs_2yr" in _error(bad, 422, "invalid_input")["message"]
    _, auditor = make_user("aud", role="auditor")
    assert client.post("/api/v1/evaluate", json={"ruleset": "mappa-exclusion", "facts": []},
                       headers=_auth(auditor)).status_code == 200


def test_roles_are_enforced(client, make_user):
    _, om = make_user("om1", role="offender_manager")
    err = _error(client.post("/api/v1/imports/people", data="x", content_type="text/csv",
                             headers=_auth(om)), 403, "forbidden")
    assert err["details"]["role"] == "offender_manager"
