"""A team lead changes the Pan-London threshold: draft -> test -> preview -> approve by a
second team lead -> publish -> the next pass moves exactly the previewed cases ->
rollback restores the old outcome. Through the real HTTP API and scheduler pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from db.models import AuditEntry, Case
from rules.library import shipped_documents
from scheduler.jobs import advance_due
from workflow.audit import verify


@pytest.fixture
def now():
    """Real time: publication happens now, so the pass must run after it."""
    return datetime.now(UTC).replace(microsecond=0)


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def _draft_text(threshold: int, *, fix_examples: bool = True) -> str:
    text = shipped_documents()["pan-london-selection"].text.replace(
        "{fact: ogrs_2yr, gte: 75}", f"{{fact: ogrs_2yr, gte: {threshold}}}")
    if fix_examples:  # at 70+, the boundary-74 robbery example also matches the OGRS limb
        head, tail = text.split("- name: boundary 74 with robbery")
        tail = tail.replace("rules: [ogrs-50-74-acquisitive]",
                            "rules: [ogrs-50-74-acquisitive, ogrs-75]", 1)
        text = head + "- name: boundary 74 with robbery" + tail
    return text


@pytest.mark.usefixtures("published")
def test_threshold_change_end_to_end(client, make_user, make_case, runtime, session, now):
    _, lead1 = make_user("lead1", role="team_lead")
    _, lead2 = make_user("lead2", role="team_lead")
    _, om = make_user("om1", role="offender_manager")
    newly_in = [make_case(ogrs=o, offence="theft") for o in (70, 72)]
    still_out = [make_case(ogrs=66, offence="theft"), make_case(ogrs=71, mappa=2)]
    # Drafting is for team leads only; a draft is stored only when it validates.
    assert client.post("/api/v1/rulesets", json={"document": _draft_text(70), "reason": "x"},
                       headers=_auth(om)).status_code == 403
    # A draft whose examples no longer hold cannot be approved.
    stale = client.post("/api/v1/rulesets", json={
        "document": _draft_text(70, fix_examples=False), "reason": "first try"},
        headers=_auth(lead1)).get_json()["version"]
    stale_base = f"/api/v1/rulesets/pan-london-selection/versions/{stale[:12]}"
    failed = client.post(stale_base + "/test", headers=_auth(lead1)).get_json()
    assert failed["passed"] is False
    assert [e["name"] for e in failed["examples"] if not e["passed"]] == [
        "boundary 74 with robbery"]
    client.post(stale_base + "/preview", headers=_auth(lead1))
    refused = client.post(stale_base + "/approve", json={"reason": "ok"}, headers=_auth(lead2))
    assert refused.status_code == 409 and "examples" in refused.get_json()["error"]["message"]
    r = client.post("/api/v1/rulesets", json={"document": _draft_text(70),
                                              "reason": "widen to OGRS 70+"},
                    headers=_auth(lead1))
    assert r.status_code == 201, r.get_json()
    version = r.get_json()["version"]
    base = f"/api/v1/rulesets/pan-london-selection/versions/{version[:12]}"
    # Approval needs passing examples and a preview first, and another team lead.
    assert client.post(base + "/approve", json={"reason": "ok"},
                       headers=_auth(lead2)).status_code == 409
    tested = client.post(base + "/test", headers=_auth(lead1)).get_json()
    assert tested["passed"] is True
    report = client.post(base + "/preview", headers=_auth(lead1)).get_json()
    previewed = sorted(c["case_id"] for c in report["changed"])
    assert previewed == sorted(c.id for c in newly_in)
    assert report["counts"] == {"mapping: moves to matrixing (was mapping)": 2}
    assert all(c["outcome_before"] is None and c["outcome_after"] == "select"
               for c in report["changed"])
    own = client.post(base + "/approve", json={"reason": "ok"}, headers=_auth(lead1))
    assert own.status_code == 403 and "second team lead" in own.get_json()["error"]["message"]
    assert client.post(base + "/publish", json={"reason": "go"},
                       headers=_auth(lead1)).status_code == 409  # not approved yet
    assert client.post(base + "/approve", json={"reason": "agreed at board"},
                       headers=_auth(lead2)).status_code == 200
    assert client.post(base + "/publish", json={"reason": "board decision"},
                       headers=_auth(lead1)).status_code == 200
    # Nothing moved yet: publishing only changes what the next evaluation uses.
    session.expire_all()
    assert {session.get(Case, c.id).state for c in newly_in} == {"mapping"}
    session.commit()  # end this read: a pass needs the write lock (SQLite)
    moved = advance_due(runtime, now=datetime.now(UTC))
    assert sorted(m.case_id for m in moved.moved) == previewed
    for case_id in previewed:
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.case_id == case_id, AuditEntry.kind == "case.transition")).one()
        assert {d["version"] for d in entry.payload["cause"]["decisions"]} == {version}
        assert version[:12] in entry.summary
    assert {session.get(Case, c.id).state for c in still_out} == {"mapping"}
    session.commit()  # end this read: the API needs the write lock (SQLite)
    # Rollback: new evaluations get the old outcome again.
    rb = client.post("/api/v1/rulesets/pan-london-selection/rollback",
                     json={"reason": "too many referrals"}, headers=_auth(lead2))
    assert rb.status_code == 200 and rb.get_json()["version"] != version
    facts = [{"id": "x", "newly_sentenced": True, "ogrs_2yr": 72}]
    after = client.post("/api/v1/evaluate", json={"stage": "mapping", "facts": facts},
                        headers=_auth(lead1)).get_json()
    assert after[0]["outcome"] is None
    history = client.get("/api/v1/rulesets/pan-london-selection",
                         headers=_auth(om)).get_json()
    assert [p["kind"] for p in history["publications"]] == ["rollback", "publish", "shipped"]
    assert verify(session).ok


@pytest.mark.usefixtures("published")
def test_broken_document_is_refused_precisely_and_live_version_keeps_working(client,
                                                                             make_user):
    _, lead = make_user("lead1", role="team_lead")
    broken = _draft_text(75).replace("{fact: ogrs_2yr, gte: 75}",
                                     "{fact: ogrs_score, gte: 75}")
    r = client.post("/api/v1/rulesets", json={"document": broken, "reason": "typo"},
                    headers=_auth(lead))
    assert r.status_code == 422
    [problem] = r.get_json()["error"]["details"]["problems"]
    assert problem["rule_id"] == "ogrs-75"
    assert problem["path"] == "rules.0.when.all.1.fact"
    assert "unknown fact 'ogrs_score'" in problem["reason"]
    live = client.post("/api/v1/evaluate", json={"stage": "mapping", "facts": [
        {"id": 1, "newly_sentenced": True, "ogrs_2yr": 80}]}, headers=_auth(lead)).get_json()
    assert live[0]["outcome"] == "select"
    listing = client.get("/api/v1/rulesets", headers=_auth(lead)).get_json()
    assert all(v["status"] == "published" for v in listing)


@pytest.mark.usefixtures("published")
def test_as_of_evaluation_uses_versions_and_facts_of_that_date(client, make_user, make_case,
                                                               session, now):
    from workflow.ruleset_admin import (
        approve,
        check_examples,
        find_version,
        mark_previewed,
        publish,
        save_draft,
    )

    lead1, token = make_user("lead1", role="team_lead")
    lead2, _ = make_user("lead2", role="team_lead")
    case = make_case(ogrs=72, offence="theft")
    published_at = now - timedelta(days=2)
    row = save_draft(session, _draft_text(70), file="t", user=lead1, now=published_at,
                     reason="widen")
    check_examples(session, row, now=published_at, actor="lead1")
    mark_previewed(session, row, now=published_at, actor="lead1", counts={})
    approve(session, row, user=lead2, now=published_at, reason="ok")
    publish(session, row, user=lead1, now=published_at, reason="go")
    session.commit()
    url = f"/api/v1/cases/{case.id}/as-of"
    before = client.get(url, query_string={"on": (now - timedelta(days=3)).isoformat()},
                        headers=_auth(token))
    after = client.get(url, query_string={"on": now.isoformat()}, headers=_auth(token))
    assert before.get_json()["outcome"] is None
    assert after.get_json()["outcome"] == "select"
    assert after.get_json()["decisions"][0]["version"] == find_version(
        session, "pan-london-selection").version
