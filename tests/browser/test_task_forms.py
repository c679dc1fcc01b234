"""The task page's other forms and their error states in a real browser (reassign,
cancel by a team lead), and the whole completion without JavaScript."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def tasks(server):
    """Two offender managers' cases, each with its panel invitation raised by the rules."""
    ids = {}
    for name, display in (("om-a", "Ann Adams"), ("om-b", "Ben Brown")):
        om_id = server.user(name, role="offender_manager", agency="NPS", display_name=display)
        ids[name] = server.supervised_case(om_id, agency="NPS")
    server.user("lead-a", role="team_lead", agency="police", display_name="Laura Bennett")
    server.tick()
    server.tick()
    from db.models import Task

    with server.session() as session:
        return {name: session.query(Task).filter_by(case_id=case_id).one().id
                for name, case_id in ids.items()}


def test_reassign_error_state_then_reassign(page, server, tasks, sign_in, check_page):
    sign_in(page, server, "om-a")
    page.wait_for_url("**/tasks")
    page.goto(f"{server.url}/tasks/{tasks['om-a']}")
    page.click("#reassign")  # nobody chosen
    assert "Select who should do this task" in page.inner_text(".govuk-error-summary")
    check_page(page, "task-reassign-errors")
    page.select_option("#assignee", "om-b")
    page.click("#reassign")
    assert "Task reassigned" in page.inner_text(".govuk-notification-banner")
    assert "someone else" in page.inner_text("#task-summary")


def test_team_lead_cancels_with_a_reason(page, server, tasks, sign_in, check_page):
    sign_in(page, server, "lead-a")
    page.wait_for_url("**/tasks")
    page.goto(f"{server.url}/tasks/{tasks['om-a']}")
    page.click("text=Cancel this task")
    check_page(page, "task-cancel")
    page.click("#cancel")
    assert "Enter why the task is cancelled" in page.inner_text(".govuk-error-summary")
    check_page(page, "task-cancel-errors")
    page.fill("#reason", "Raised twice for the same referral")
    page.click("#cancel")
    assert "Task cancelled" in page.inner_text(".govuk-notification-banner")
    assert "Cancelled" in page.inner_text("#task-summary")


def test_the_completion_works_without_javascript(browser, server, tasks, sign_in):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, server, "om-b")
        page.wait_for_url("**/tasks")
        assert "js-enabled" not in (page.get_attribute("body", "class") or "")
        page.click(f"a[href='/tasks/{tasks['om-b']}']")
        page.check("input[value=declined]")
        page.fill("#note", "Not attending this month")
        page.click("#complete")
        assert "Task completed" in page.inner_text(".govuk-notification-banner")
        assert "Done: declined" in page.inner_text("#task-summary")
    finally:
        context.close()
