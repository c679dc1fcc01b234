"""The auditor in a real browser: a case's chronology, a decision page (each condition
against its input, rule, version and who published it, who acted), the chain verified
with its head, the exports (checked offline like `iom audit verify-export`), and the
access log of reads. axe-core on every page and the search form's error state."""

from __future__ import annotations

import re

import pytest


@pytest.fixture(scope="module")
def moved(server):
    """A case selected by Pan-London (OGRS 81) and moved to matrixing by a pass."""
    om = server.user("om-audit", role="offender_manager", agency="NPS",
                     display_name="Nia Manager")
    server.user("auditor", role="auditor", display_name="Ada Auditor")
    server.user("police-audit", role="police", agency="police", display_name="PC Kay")
    case_id = server.supervised_case(om, ogrs=81, agency="NPS")
    server.tick()
    return case_id


def test_auditor_opens_the_timeline_a_decision_and_verifies_the_chain(
        page, server, moved, sign_in, check_page, tmp_path):
    from workflow.audit_export import verify_export

    sign_in(page, server, "om-audit")  # a read for the access log
    page.goto(f"{server.url}/cases/{moved}")
    page.click("#sign-out")

    sign_in(page, server, "auditor")
    page.goto(f"{server.url}/audit")
    check_page(page, "audit")
    page.click("#find-case")  # no case number: the error state
    assert "Enter a case number" in page.inner_text(".govuk-error-summary")
    check_page(page, "audit-find-errors")
    page.fill("#case", str(moved))
    page.click("#find-case")
    page.wait_for_url(f"**/audit/cases/{moved}")
    chronology = page.inner_text("#chronology")
    assert "Moved from mapping to matrixing" in chronology
    assert "read by om-audit" in chronology
    check_page(page, "audit-case")

    page.click("#chronology tr:has-text('Moved from mapping to matrixing') a")
    assert "scheduler" in page.inner_text("#entry-summary")
    assert "Rule pan-london-selection/ogrs-75" in page.inner_text("main")
    conditions = page.inner_text(".app-conditions")
    assert re.search(r"OGRS.*\tat least 75.*\t81", conditions), conditions
    assert "shipped default" in page.inner_text("main")
    check_page(page, "audit-entry")

    page.goto(f"{server.url}/audit/verify")
    assert page.inner_text("#verdict") == "The audit chain is intact"
    with server.session() as session:
        from sqlalchemy import select

        from db.models import AuditEntry

        last = session.execute(select(AuditEntry.seq, AuditEntry.hash)
                               .order_by(AuditEntry.seq.desc()).limit(1)).one()
    assert f"{last.seq}:{last.hash}" in page.inner_text("#verify-result")
    check_page(page, "audit-verify")

    export = page.request.get(f"{server.url}/audit/export.jsonl")
    assert export.status == 200 and "attachment" in export.headers["content-disposition"]
    path = tmp_path / "chain.jsonl"
    path.write_bytes(export.body())
    result = verify_export(path)
    assert result.ok and result.checked >= last.seq
    case_text = page.request.get(f"{server.url}/audit/cases/{moved}/export.text")
    assert "Moved from mapping to matrixing" in case_text.text()

    page.goto(f"{server.url}/audit?case={moved}")
    log = page.inner_text("#access-log")
    assert "om-audit" in log and "case page" in log
    assert "auditor" in log and "audit explanation" in log
    check_page(page, "audit-access-log")


def test_audit_pages_are_for_auditors(page, server, moved, sign_in):
    sign_in(page, server, "police-audit")
    page.wait_for_url("**/tasks")
    for path in ("/audit", f"/audit/cases/{moved}", "/audit/verify", "/audit/export.csv"):
        assert page.goto(f"{server.url}{path}").status == 403, path
