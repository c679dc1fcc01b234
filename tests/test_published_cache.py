"""The in-force lookup of evaluations is shared per process and re-read on publish."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from rules.document import load_document
from rules.library import shipped_documents
from workflow.rulesets import publish_shipped

pytestmark = pytest.mark.usefixtures("published")
NAME = "pan-london-selection"


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def _versions(client, token, now):
    response = client.post("/api/v1/evaluate", headers=_auth(token), json={
        "ruleset": NAME, "now": now.isoformat(),
        "facts": [{"id": 1, "ogrs_2yr": 81, "newly_sentenced": True, "age": 30}]})
    assert response.status_code == 200, response.get_json()
    return {d["version"] for d in response.get_json()[0]["decisions"]}


def _publication_reads(engine):
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if "ruleset_publication" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    return seen, lambda: event.remove(engine, "before_cursor_execute", count)


def test_a_publication_by_another_session_is_seen_at_the_next_request(
        client, session, make_user, runtime, now):
    _, token = make_user("lead1", role="team_lead")
    shipped = shipped_documents()[NAME]
    before = _versions(client, token, now)
    assert before and all(shipped.version.startswith(v) for v in before), before
    seen, stop = _publication_reads(runtime.engine)
    try:
        _versions(client, token, now)
        steady = list(seen)
    finally:
        stop()
    # Warm: the rule sets come from the cache (the publications are not re-read by name).
    assert sum("ruleset_version.document" in s for s in steady) == 0, steady
    text = shipped.text.replace("title:", "title: (local copy)", 1)
    doc = load_document(text)
    publish_shipped(session, name=NAME, version=doc.version, stage=",".join(doc.stages),
                    text=text, in_force=now - timedelta(days=1), now=now, actor="t",
                    reason="a new version", summary="new version")
    session.commit()
    after = _versions(client, token, now)
    assert after and all(doc.version.startswith(v) for v in after), (after, doc.version)
    # As of before the new publication, the earlier version is still the one in force.
    assert _versions(client, token, now - timedelta(days=2)) == before


def test_a_case_read_checks_publications_in_its_token_lookup_and_sees_a_new_agreement(
        client, session, make_user, runtime, now):
    """The publication mark comes with the token lookup (no query of its own), and an
    agreement published by another session between two reads governs the second."""
    from sharing_helpers import marac_case

    from workflow.sharing.agreement import AGREEMENT_NAME, default_agreement, load_agreement

    case = marac_case(session, now=now)
    _, token = make_user("om1", role="offender_manager", agency="NPS")
    first = client.get(f"/api/v1/cases/{case.id}", headers=_auth(token))
    assert first.status_code == 200, first.get_json()
    seen, stop = _publication_reads(runtime.engine)
    try:
        again = client.get(f"/api/v1/cases/{case.id}", headers=_auth(token))
    finally:
        stop()
    assert again.get_json()["sharing"] == first.get_json()["sharing"]
    assert len(seen) == 1 and "app_user" in seen[0], seen  # the token lookup, only
    text = default_agreement().text.replace("description: >-",
                                            "description: >-\n  A local copy.", 1)
    doc = load_agreement(text)
    assert doc.version != first.get_json()["sharing"]["agreement"]
    publish_shipped(session, name=AGREEMENT_NAME, version=doc.version, stage="sharing",
                    text=text, in_force=now - timedelta(days=1), now=now, actor="t",
                    reason="a new agreement", summary="new agreement")
    session.commit()
    after = client.get(f"/api/v1/cases/{case.id}", headers=_auth(token))
    assert after.get_json()["sharing"]["agreement"] == doc.version
