"""The services behind the team lead, panel chair and auditor pages, and the pages over
HTTP (real app, real database on both backends): problems located on their line, the
diff against the version in force, the approvals queue for a different lead, workload,
the access log, role checks and CSRF."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from password_helpers import give_password

from rules.library import shipped_documents
from rules.locate import line_of
from workflow.ruleset_review import approvals_queue, diff_lines, review_version

PASSWORD = "a-long-enough-password"
PAN = "pan-london-selection"


def test_line_of_follows_the_path_into_the_yaml():
    text = "name: x\nrules:\n  - id: a\n    when:\n      all:\n        - {fact: f, gte: 1}\n"
    assert line_of(text, "rules.0.when.all.0") == 6
    assert line_of(text, "rules.0.id") == 3
    assert line_of(text, "rules.0.then") == 3  # missing field: its parent
    assert line_of(text, "line 4, column 2") == 4
    assert line_of("a: [", "a") is None  # does not parse


def test_diff_lines_number_both_sides_and_skip_unchanged_stretches():
    old = "\n".join(f"line {i}" for i in range(1, 21))
    new = old.replace("line 3", "line three").replace("line 18\n", "")
    diff = diff_lines(old, new, context=1)
    changed = [(d.kind, d.old, d.new, d.text) for d in diff if d.kind != "same"]
    assert changed == [("removed", 3, None, "line 3"), ("added", None, 3, "line three"),
                       ("removed", 18, None, "line 18")]
    assert any(d.text == "..." for d in diff)  # lines 5-16 are skipped


@pytest.fixture
def leads(session, make_user, now):
    users = {}
    for name in ("lead1", "lead2"):
        user, _ = make_user(name, role="team_lead")
        give_password(session, user, PASSWORD, now=now)
        users[name] = user
    police, _ = make_user("pc1", role="police", agency="police")
    give_password(session, police, PASSWORD, now=now)
    auditor, _ = make_user("aud1", role="auditor")
    give_password(session, auditor, PASSWORD, now=now)
    session.commit()
    return users


@pytest.mark.usefixtures("published")
def test_a_draft_is_queued_for_a_different_lead_once_tested_and_previewed(session, leads,
                                                                          now):
    from workflow import ruleset_admin as admin

    text = shipped_documents()[PAN].text.replace("{fact: ogrs_2yr, gte: 75}",
                                                 "{fact: ogrs_2yr, gte: 70}")
    row = admin.save_draft(session, text, file="t", user=leads["lead1"], now=now,
                           reason="widen")
    ready, waiting = approvals_queue(session, leads["lead2"])
    assert ready == [] and waiting[0][1] == ["its examples must be run and pass",
                                            "its impact must be previewed"]
    admin.check_examples(session, row, now=now, actor="lead1")
    assert row.tested_ok is False  # the boundary-74 example now also fires ogrs-75
    row.tested_ok, row.previewed_at = True, now + timedelta(minutes=1)
    assert [r.id for r, _ in approvals_queue(session, leads["lead2"])[0]] == [row.id]
    assert approvals_queue(session, leads["lead1"])[0] == []  # not to its author
    review = review_version(session, row)
    assert review.in_force.name == PAN and review.in_force.id != row.id
    assert (review.added, review.removed) == (1, 1)
    assert [d.text.strip() for d in review.diff if d.kind == "added"] == [
        "- {fact: ogrs_2yr, gte: 70}"]
    failed = [e.name for e in review.examples if not e.passed]
    assert failed == ["boundary 74 with robbery"]
    assert {r.id: r.principles for r in review.rules}["ogrs-50-74-acquisitive"] == (2, 5)


def test_workload_counts_open_led_cases_against_the_agency_limit(session, make_user,
                                                                 make_case, published,
                                                                 settings, now):
    from workflow.allocation import caseload_limit, workload
    from workflow.policy.store import policy_in_force

    om, _ = make_user("om-w", role="offender_manager", agency="NPS")
    idle, _ = make_user("om-idle", role="offender_manager", agency="CRC")
    cases = [make_case("allocated", ogrs=80) for _ in range(3)]
    closed = make_case("allocated", ogrs=80)
    for case in cases + [closed]:
        case.lead_user_id = om.id
    closed.closed_at = now
    session.commit()
    capacity = policy_in_force(session, settings, now).capacity
    loads = {x.name: x for x in workload(session, capacity)}
    limit = caseload_limit(capacity, "NPS")
    assert (loads["om-w"].cases, loads["om-w"].limit) == (3, limit)
    assert loads["om-w"].percent == round(300 / limit)
    assert loads["om-idle"].cases == 0 and loads["om-idle"].percent == 0
    assert list(loads)[0] == "om-w"  # most loaded first


def _token(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def _signed_in(app, username):
    client = app.test_client()
    response = client.post("/sign-in", data={"username": username, "password": PASSWORD,
                                             "csrf_token": _token(client, "/sign-in")})
    assert response.status_code == 303
    return client


@pytest.mark.usefixtures("published")
def test_pages_check_roles_locate_problems_and_need_the_csrf_token(app, session, leads):
    session.commit()
    police, auditor, lead = (_signed_in(app, u) for u in ("pc1", "aud1", "lead1"))
    for path in ("/rules", "/rules/new", "/workload", f"/rules/{PAN}", "/audit",
                 "/rules/approvals"):
        response = police.get(path)
        assert response.status_code == 403 and "You do not have permission" in response.text
    assert auditor.get("/rules").status_code == 200
    assert auditor.get("/rules/new").status_code == 403
    assert auditor.get("/audit").status_code == 200
    assert lead.get("/audit").status_code == 403

    page = lead.get(f"/rules/new?from={PAN}")
    assert "{fact: ogrs_2yr, gte: 75}" in page.text
    bad = shipped_documents()[PAN].text.replace("gte: 75", "gte: high")
    response = lead.post("/rules/new", data={"document": bad, "reason": "try",
                                             "csrf_token": _token(lead, "/rules/new")})
    assert response.status_code == 400
    assert "Line 19: rules.0.when.all.1" in response.text
    assert 'data-error-lines="19"' in response.text
    refused = lead.post("/rules/new", data={"document": bad, "reason": "no token"})
    assert refused.status_code == 400 and "did not come from this service" in refused.text
    response = lead.post("/rules/new", data={"document": "", "reason": "",
                                             "csrf_token": _token(lead, "/rules/new")})
    assert "Enter the rule set document" in response.text
    assert "Enter why the rule set changes" in response.text


@pytest.mark.usefixtures("published")
def test_access_log_lists_page_reads_newest_first(app, session, leads, make_case, now):
    from workflow.sharing.access import recent_reads

    case = make_case("mapping", ogrs=80)
    case_id = case.id
    session.commit()
    lead = _signed_in(app, "lead1")
    assert lead.get(f"/cases/{case_id}").status_code == 200
    auditor = _signed_in(app, "aud1")
    page = auditor.get(f"/audit/cases/{case_id}")
    assert page.status_code == 200
    session.commit()
    reads = recent_reads(session, case_id=case_id)
    assert [(r.who, r.what) for r in reads] == [("aud1", "audit explanation"),
                                                ("lead1", "case page")]
    assert [r.case_id for r in recent_reads(session, who="lead1")] == [case_id]
    session.commit()  # end the read: SQLite's next writer would wait for it
    log = auditor.get(f"/audit?case={case_id}").text
    assert log.index("audit explanation") < log.index("case page")
    from workflow.access_seal import seal

    seal(session, now=now + timedelta(days=3650), settle_seconds=0)  # the scheduler's job
    session.commit()
    verified = auditor.get("/audit/verify").text
    assert "access log: 2 reads in 1 sealed batches match their seals" in verified
