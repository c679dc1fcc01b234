"""The page access matrix: every web route of the Flask url_map (the test fails for a
page route without a row here) x every role/agency profile, and x six dead sessions
(signed out, expired, idle, forged, deactivated user, changed password): the expected
status (200, the 403 page, 302 to sign-in, 404/405), never a 5xx; and every readable
page of the seeded MARAC case shows no value the published agreement withholds from that
profile. (The API's matrix is tests/test_access_matrix.py.)
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sharing_helpers import SECRETS
from web_sharing_helpers import assert_page_withholds, build_scene, signed_in

from workflow.sharing.agreement import default_agreement

PROFILES = {  # username: (role, agency as typed, agency as the agreement knows it)
    "lead1": ("team_lead", "police", "police"),
    "om-nps": ("offender_manager", "NPS", "nps"),
    "om-crc": ("offender_manager", "CRC", "crc"),
    "police1": ("police", "police", "police"),
    "housing1": ("resettlement_officer", "housing", "housing"),
    "aud1": ("auditor", None, None),
    "admin1": ("admin", None, None),
}
ALL = ("team_lead", "offender_manager", "police", "resettlement_officer", "auditor")
WORKERS = ("team_lead", "offender_manager", "police", "resettlement_officer")
LEADS = ("team_lead",)
PUBLIC = None  # no sign-in needed

# (endpoint, method): (path, roles allowed (admin always), purpose of a case read or None)
# Paths name the seeded case {case}, tasks {om_task}/{housing_task}, meeting {meeting}.
PAGES = {
    ("web.home", "GET"): ("/", PUBLIC, None),
    ("web.sign_in", "GET"): ("/sign-in", PUBLIC, None),
    ("web.sign_in", "POST"): ("/sign-in", PUBLIC, None),
    ("web.sign_out", "POST"): ("/sign-out", ALL, None),
    ("web.govuk_assets", "GET"): ("/assets/manifest.json", PUBLIC, None),
    ("web.static", "GET"): ("/static/app.css", PUBLIC, None),
    ("web.my_tasks", "GET"): ("/tasks?scope=queue", ALL, "case_management"),
    ("web.task", "GET"): ("/tasks/{om_task}", ALL, "case_management"),
    ("web.claim_task", "POST"): ("/tasks/{housing_task}/claim", WORKERS, None),
    ("web.complete_task", "POST"): ("/tasks/{om_task}/complete", WORKERS, None),
    ("web.reassign_task", "POST"): ("/tasks/{om_task}/reassign", WORKERS, None),
    ("web.cancel_task", "GET"): ("/tasks/{om_task}/cancel", LEADS, None),
    ("web.cancel_task", "POST"): ("/tasks/{om_task}/cancel", LEADS, None),
    ("web.case", "GET"): ("/cases/{case}", ALL, "case_management"),
    ("web.panels", "GET"): ("/panel", ALL, None),
    ("web.meeting", "GET"): ("/panel/{meeting}", ALL, "panel"),
    ("web.decide", "POST"): ("/panel/{meeting}/cases/{case}/decision", LEADS, None),
    ("web.minutes", "GET"): ("/panel/{meeting}/minutes", ALL, "panel"),
    ("web.minutes_download", "GET"): ("/panel/{meeting}/minutes.md", ALL, "panel"),
    ("web.audit_home", "GET"): ("/audit", ("auditor",), None),
    ("web.audit_verify", "GET"): ("/audit/verify", ("auditor",), None),
    ("web.audit_find", "GET"): ("/audit/find?case={case}", ("auditor",), None),
    ("web.audit_case", "GET"): ("/audit/cases/{case}", ("auditor",), "audit"),
    ("web.audit_entry", "GET"): ("/audit/cases/{case}/entries/{seq}", ("auditor",), "audit"),
    ("web.audit_case_export", "GET"): ("/audit/cases/{case}/export.text", ("auditor",),
                                       "audit"),
    ("web.audit_export", "GET"): ("/audit/export.csv", ("auditor",), None),
    ("web.reports", "GET"): ("/reports", ("team_lead", "police", "auditor"), None),
    ("web.report_page", "GET"): ("/reports/caseload", ("team_lead", "police", "auditor"), None),
    ("web.report_file", "GET"): ("/reports/caseload/file.csv",
                                 ("team_lead", "police", "auditor"), None),
    ("web.board_pack_pdf_file", "GET"): ("/reports/board-pack.pdf",
                                         ("team_lead", "police", "auditor"), None),
    ("web.rules", "GET"): ("/rules", ("team_lead", "auditor"), None),
    ("web.rules_approvals", "GET"): ("/rules/approvals", LEADS, None),
    ("web.workload_page", "GET"): ("/workload", LEADS, None),
    ("web.ruleset", "GET"): ("/rules/sharing-agreement", ("team_lead", "auditor"), None),
    ("web.ruleset_version", "GET"): ("/rules/sharing-agreement/{agreement}",
                                  ("team_lead", "auditor"), None),
    ("web.ruleset_editor", "GET"): ("/rules/new", LEADS, None),
    ("web.ruleset_editor", "POST"): ("/rules/new", LEADS, None),
    ("web.ruleset_test", "POST"): ("/rules/sharing-agreement/{agreement}/test", LEADS, None),
    ("web.ruleset_preview", "POST"): ("/rules/sharing-agreement/{agreement}/preview", LEADS,
                                  None),
    ("web.ruleset_approve", "POST"): ("/rules/sharing-agreement/{agreement}/approve", LEADS, None),
    ("web.ruleset_publish", "GET"): ("/rules/sharing-agreement/{agreement}/publish", LEADS, None),
    ("web.ruleset_publish", "POST"): ("/rules/sharing-agreement/{agreement}/publish", LEADS, None),
    ("web.ruleset_rollback", "GET"): ("/rules/sharing-agreement/rollback", LEADS, None),
    ("web.ruleset_rollback", "POST"): ("/rules/sharing-agreement/rollback", LEADS, None),
}
# A POST by an allowed role is sent with an empty form: it is answered as a form error
# (400) or, for an action without fields, done and redirected (303) or refused by the
# service (403: not in your queue; 409: not allowed now) -- never 5xx.
POST_ALLOWED = {200, 303, 400, 403, 409}


def _page_rules(app) -> set[tuple[str, str]]:
    return {(rule.endpoint, method) for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith("web.")
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_every_page_route_has_a_row(app):
    missing = _page_rules(app) - set(PAGES)
    assert not missing, f"page routes without a matrix row: {sorted(missing)}"
    stale = set(PAGES) - _page_rules(app)
    assert not stale, f"matrix rows without a route: {sorted(stale)}"


@pytest.fixture
def world(session, settings, published, make_user, now):
    from db.models import PanelItem
    from workflow.panel import get_or_create_meeting
    from workflow.policy.store import policy_in_force
    from workflow.sharing.store import agreement_in_force

    scene = build_scene(session, settings, make_user, now, users=PROFILES)
    meeting = get_or_create_meeting(session, date(2025, 3, 20),
                                    policy_in_force(session, settings, now).panel)
    session.add(PanelItem(meeting=meeting, case_id=scene["case_id"], rank=1,
                          activity_score=61.5, invited_name="om-nps",
                          invited_at=now - timedelta(hours=1)))
    session.flush()
    scene["meeting"] = meeting.id
    scene["agreement"] = agreement_in_force(session, now).version
    from db.models import AuditEntry

    scene["seq"] = session.query(AuditEntry.seq).filter_by(
        case_id=scene["case_id"], kind="case.transition").scalar()
    session.commit()
    return scene


def _path(template: str, world: dict) -> str:
    return template.format(case=world["case_id"], om_task=world["om_task"],
                           housing_task=world["housing_task"], meeting=world["meeting"],
                           seq=world["seq"], agreement=world["agreement"])


def _expected_get(name: str, endpoint: str, allowed) -> set[int]:
    role, _typed, agency = PROFILES[name]
    if allowed is PUBLIC:
        return {200, 302}
    if role != "admin" and role not in allowed:
        return {403}
    if endpoint == "web.task" and (role not in ("team_lead", "auditor", "admin") and not (
            role == "offender_manager" and agency in ("nps", "crc"))
            or default_agreement().levels(agency, role, "case_management")["tasks"] == "none"):
        return {403}  # only tasks the viewer's inbox shows and the agreement shares
    if endpoint == "web.audit_find":
        return {302}
    if endpoint in ("web.ruleset_publish", "web.ruleset_rollback"):
        return {200, 409}  # the agreement in force is already published: nothing to do
    return {200}


def _send(client, method: str, path: str, csrf: str | None):
    if method == "GET":
        return client.get(path)
    return client.post(path, data={"csrf_token": csrf} if csrf else {})


def _token(client) -> str:
    import re

    text = client.get("/tasks").text
    return re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)


def test_page_matrix(app, world):
    agreement = default_agreement()
    failures = []
    for name, (role, _typed, agency) in PROFILES.items():
        client = signed_in(app, name)
        csrf = _token(client)
        for (endpoint, method), (template, allowed, purpose) in PAGES.items():
            if endpoint in ("web.sign_out", "web.sign_in"):
                continue  # signing out or in again would end this profile's session
            path = _path(template, world)
            response = _send(client, method, path, csrf)
            status = response.status_code
            if method == "GET":
                expected = _expected_get(name, endpoint, allowed)
            elif allowed is not PUBLIC and role != "admin" and role not in allowed:
                expected = {403}
            else:
                expected = POST_ALLOWED
            if status not in expected or status >= 500:
                failures.append((name, method, path, status, sorted(expected)))
                continue
            if status == 200 and purpose and method == "GET":
                levels = agreement.levels(agency, role, purpose)
                hidden = [g for g in SECRETS if levels[g] != "show"]
                try:
                    assert_page_withholds(response.get_data(as_text=True), hidden)
                except AssertionError as exc:
                    failures.append((name, method, path, "leak", str(exc)[:400]))
    assert not failures, "\n".join(map(str, failures))


def _cookie(client) -> str:
    return client.get_cookie("iom_session").value


def _forged(app, session) -> str:
    """A session cookie naming the admin with a current sign-in and the right password
    fingerprint, signed with a key that is not the server's."""
    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    from workflow.passwords import password_fingerprint
    from workflow.users import user_named

    admin, now = user_named(session, "admin1"), int(time.time())
    forger = Flask("forger")
    forger.secret_key = "x" * 40
    signer = SecureCookieSessionInterface().get_signing_serializer(forger)
    return signer.dumps({"uid": admin.id, "signed_in": now, "seen": now,
                         "pw": password_fingerprint(admin)})


def _dead_sessions(app, session) -> dict[str, str | None]:
    """Cookies of sessions that must not open any page: label -> cookie (None: none)."""
    from workflow.passwords import set_password
    from workflow.users import user_named

    session.rollback()  # the sign-ins below write: hold no transaction meanwhile
    cookies: dict[str, str | None] = {"signed out": None}
    idle_s = app.extensions["iom_runtime"].settings.web["idle_minutes"] * 60
    for label, name, age in (("expired", "lead1", None), ("idle", "om-nps", idle_s + 5)):
        client = signed_in(app, name)
        with client.session_transaction() as cookie:
            if age is None:
                cookie["signed_in"] = cookie["seen"] = 1  # long ago: past every limit
            else:
                cookie["seen"] = int(time.time()) - age
        cookies[label] = _cookie(client)
    cookies["deactivated"] = _cookie(signed_in(app, "om-crc"))
    cookies["password changed"] = _cookie(signed_in(app, "police1"))
    cookies["forged"] = _forged(app, session)
    user_named(session, "om-crc").active = False
    set_password(session, user_named(session, "police1"), "a-new-long-password-1",
                 now=datetime.now(UTC))
    session.commit()
    return cookies


def test_dead_sessions_go_to_sign_in(app, world, session):
    """Signed out, expired, idle, forged, deactivated user, changed password: every page
    but the public ones sends the cookie's holder to sign in (the cookie replayed before
    each request, as an attacker holding it would), and shows no case data."""
    for label, value in _dead_sessions(app, session).items():
        for (_endpoint, method), (template, allowed, _p) in PAGES.items():
            client = app.test_client()
            if value is not None:
                client.set_cookie("iom_session", value)
            path = _path(template, world)
            response = _send(client, method, path, None)
            response.close()  # a static file's handle
            status = response.status_code
            assert status < 500, (label, method, path, status)
            if allowed is PUBLIC:
                continue
            if method == "GET":
                assert status == 302 and "/sign-in" in response.headers["Location"], (
                    label, path, status)
            else:  # no valid form token: refused before anything runs
                assert status in (400, 302), (label, method, path, status)
            assert "Oyelaran" not in response.get_data(as_text=True)
