"""The API twin of ``iom import``: CSV in (body or multipart), the import report out."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from db.models import Person

PEOPLE = ("partner_ref,given_name,family_name,sex,date_of_birth\n"
          "P1,Ann,Smith,F,1990-01-01\n"
          "P2,Bob,Jones,X,1985-02-03\n"
          "P3,Cat,Brown,F,1985-02-30\n"
          "P4,Dan,Evans,M,1980-01-01\n")


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_csv_body_imports_good_rows_reports_bad_ones_and_is_idempotent(
        client, make_user, session):
    _, lead = make_user("lead1", role="team_lead", agency="police")
    r = client.post("/api/v1/imports/people?filename=people.csv", data=PEOPLE.encode(),
                    content_type="text/csv", headers=_auth(lead))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["filename"], body["created"], body["rejected"]) == ("people.csv", 2, 2)
    assert [(e["row"], e["field"]) for e in body["errors"]] == [
        (3, "sex"), (4, "date_of_birth")]
    again = client.post("/api/v1/imports/people", data=PEOPLE.encode(),
                        content_type="text/csv", headers=_auth(lead)).get_json()
    assert (again["created"], again["unchanged"], again["rejected"]) == (0, 2, 2)
    assert session.scalar(select(func.count()).select_from(Person)) == 2


def test_multipart_upload_with_a_bom(client, make_user):
    _, lead = make_user("lead1", role="team_lead", agency="police")
    data = {"file": (io.BytesIO(b"\xef\xbb\xbf" + PEOPLE.encode()), "partners.csv")}
    body = client.post("/api/v1/imports/people", data=data,
                       content_type="multipart/form-data", headers=_auth(lead)).get_json()
    assert (body["filename"], body["created"], body["rejected"]) == ("partners.csv", 2, 2)


def test_undecodable_bytes_are_a_clear_error_and_nothing_is_stored(
        client, make_user, session):
    _, lead = make_user("lead1", role="team_lead", agency="police")
    good = "".join(f"G{i},Ann,Lee,F,1990-01-01\n" for i in range(2000))  # > one read
    data = (PEOPLE.splitlines(keepends=True)[0] + good).encode() + b"X1,B\xffd,Lee,M,1990-01-01\n"
    r = client.post("/api/v1/imports/people", data=data, content_type="text/csv",
                    headers=_auth(lead))
    assert r.status_code in (400, 422), r.get_json()
    error = r.get_json()["error"]
    assert error["code"] == "invalid_input"
    assert error["message"] == ("request.csv: unreadable line 2002: byte 5 (0xff) is not "
                                "UTF-8; save the file as UTF-8 and import it again")
    assert error["details"] == {"line": 2002, "byte": 5}
    assert session.scalar(select(func.count()).select_from(Person)) == 0


def test_a_bad_byte_on_line_22_is_reported_on_line_22_in_a_body_and_an_upload(
        client, make_user, session):
    """Regression: the whole small file was decoded ahead, so the error said line 0."""
    _, lead = make_user("lead1", role="team_lead", agency="police")
    lines = [PEOPLE.splitlines(keepends=True)[0]]
    lines += [f"G{i},Ann,Lee,F,1990-01-01\r\n" for i in range(20)]
    data = "".join(lines).encode() + b"X1,Bad,L\xe9e,M,1990-01-01\n" + b"Z9,Zed,Lee,M,1990-01-01\n"
    as_body = client.post("/api/v1/imports/people?filename=p.csv", data=data,
                          content_type="text/csv", headers=_auth(lead))
    upload = {"file": (io.BytesIO(b"\xef\xbb\xbf" + data), "p.csv")}
    as_upload = client.post("/api/v1/imports/people", data=upload,
                            content_type="multipart/form-data", headers=_auth(lead))
    for r in (as_body, as_upload):
        assert r.status_code == 422, r.get_json()
        assert r.get_json()["error"]["message"].startswith(
            "p.csv: unreadable line 22: byte 9 (0xe9) is not UTF-8")
        assert r.get_json()["error"]["details"] == {"line": 22, "byte": 9}
    assert session.scalar(select(func.count()).select_from(Person)) == 0


def test_a_body_that_is_not_csv_is_refused(client, make_user):
    _, lead = make_user("lead1", role="team_lead", agency="police")
    r = client.post("/api/v1/imports/people", json={"rows": []}, headers=_auth(lead))
    assert r.status_code in (400, 422)
    assert r.get_json()["error"]["details"] == {"field": "file"}


def test_import_history_lists_newest_first_and_shows_refused_rows(client, make_user):
    _, lead = make_user("lead1", role="team_lead", agency="police")
    _, auditor = make_user("aud1", role="auditor")
    for name in ("first.csv", "second.csv"):
        client.post(f"/api/v1/imports/people?filename={name}", data=PEOPLE.encode(),
                    content_type="text/csv", headers=_auth(lead))
    page = client.get("/api/v1/imports?kind=people&per_page=1&total=true", headers=_auth(auditor))
    assert page.status_code == 200, page.get_json()
    body = page.get_json()
    assert (body["total"], len(body["items"])) == (2, 1)
    newest = body["items"][0]
    assert (newest["filename"], newest["rows_created"], newest["rows_unchanged"],
            newest["rows_rejected"], newest["actor"]) == ("second.csv", 0, 2, 2, "lead1")
    assert "errors" not in newest  # the list stays small; the detail has them
    detail = client.get(f"/api/v1/imports/{newest['id']}", headers=_auth(auditor)).get_json()
    assert [(e["row"], e["field"]) for e in detail["errors"]] == [
        (3, "sex"), (4, "date_of_birth")]
    missing = client.get("/api/v1/imports/9999", headers=_auth(auditor))
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/imports?kind=nope", headers=_auth(auditor)).status_code == 422
    _, om = make_user("om1", role="offender_manager")
    assert client.get("/api/v1/imports", headers=_auth(om)).status_code == 403
