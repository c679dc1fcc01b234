"""The offender manager's flow in a real browser, keyboard only: sign in, see the task
the rules raised, complete it; the next scheduler pass moves the case and the case
page's timeline says why. Also: 403 and 404 pages, CSRF-less posts refused."""

from __future__ import annotations

import re

import pytest


@pytest.fixture(scope="module")
def raised(server):
    """An offender manager with a case whose matrixing raised the panel invitation."""
    om_id = server.user("om-flow", role="offender_manager", agency="CRC",
                        display_name="Olivia Martin")
    server.user("om-other", role="offender_manager", agency="CRC", display_name="Omar Khan")
    server.user("police-flow", role="police", agency="police", display_name="PC Dan Hughes")
    case_id = server.supervised_case(om_id)
    server.tick()  # mapping -> matrixing
    server.tick()  # matrixing: too quiet for panel; the invitation is raised
    with server.session() as session:
        from db.models import Case, Task

        assert session.get(Case, case_id).state == "matrixing"
        [task] = session.query(Task).filter_by(case_id=case_id).all()
        assert (task.template, task.assignee_id) == ("panel_invite", om_id)
        task_id = task.id
    return {"case_id": case_id, "task_id": task_id}


def test_keyboard_only_completion_moves_the_case(page, server, raised, sign_in, check_page,
                                                 tab_to):
    sign_in(page, server, "om-flow")
    page.wait_for_url("**/tasks")
    row = page.locator("#task-table tbody tr", has_text="Invite the offender manager")
    assert row.count() == 1
    assert "Assigned to me (1)" in page.inner_text("nav[aria-label='Task lists']")
    check_page(page, "my-tasks")

    tab_to(page, f"a[href='/tasks/{raised['task_id']}']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/tasks/{raised['task_id']}")
    why = page.inner_text("#task-summary")
    assert "invite-offender-manager" in why and "matched" in why
    check_page(page, "task")

    tab_to(page, "#complete")  # nothing chosen: the error state
    page.keyboard.press("Enter")
    page.wait_for_load_state("load")
    assert "Select what happened" in page.inner_text(".govuk-error-summary")
    check_page(page, "task-errors")

    tab_to(page, "input[name=outcome]")
    page.keyboard.press("Space")  # the first outcome: attendance confirmed
    assert page.input_value("input[name=outcome]:checked") == "attendance_confirmed"
    tab_to(page, "#note")
    page.keyboard.type("Spoke to the OM; she will present it.")
    tab_to(page, "#complete")
    page.keyboard.press("Enter")
    page.wait_for_load_state("load")
    assert "Task completed" in page.inner_text(".govuk-notification-banner")
    assert "Done: attendance confirmed" in page.inner_text("#task-summary")

    report = server.tick()  # the next pass
    assert [r.case_id for r in report.moved] == [raised["case_id"]]
    page.goto(f"{server.url}/cases/{raised['case_id']}")
    assert "Panel since" in page.inner_text("#case-summary")
    newest = page.locator("#timeline li").first.inner_text()
    assert "Moved from matrixing to panel" in newest
    assert "presenter-confirmed" in newest
    assert "OGRS" in page.inner_text("#case-summary") and "81%" in page.inner_text(
        "#case-summary")
    check_page(page, "case")


def test_police_user_gets_the_403_page_for_a_team_lead_page(page, server, raised, sign_in,
                                                            check_page):
    sign_in(page, server, "police-flow")
    page.wait_for_url("**/tasks")
    response = page.goto(f"{server.url}/tasks/{raised['task_id']}/cancel")
    assert response.status == 403
    assert page.inner_text("h1") == "You do not have permission to see this page"
    assert "team lead" in page.inner_text("#error-message")
    check_page(page, "error-403")
    response = page.goto(f"{server.url}/cases/999999")
    assert response.status == 404 and page.inner_text("h1") == "Page not found"
    check_page(page, "error-404")


def test_a_post_without_the_csrf_token_is_refused(page, server, raised, sign_in):
    sign_in(page, server, "om-other")
    page.wait_for_url("**/tasks")
    page.goto(f"{server.url}/tasks/{raised['task_id']}")
    token = page.input_value("input[name=csrf_token] >> nth=0")
    url = f"{server.url}/tasks/{raised['task_id']}/reassign"
    refused = page.request.post(url, form={"assignee": "om-other"})
    assert refused.status == 400
    assert "did not come from this service" in refused.text()
    forged = page.request.post(url, form={"assignee": "om-other", "csrf_token": "x" + token})
    assert forged.status == 400
    refused = page.request.post(f"{server.url}/sign-out", form={})
    assert refused.status == 400
    page.goto(f"{server.url}/tasks")  # still signed in: the sign-out was refused too
    assert page.inner_text("h1") == "My tasks"


def test_sign_in_lock_out(page, server, raised, sign_in, check_page):
    for _ in range(2):
        sign_in(page, server, "om-other", "wrong password")
        assert "Enter a correct username and password" in page.inner_text(
            ".govuk-error-summary")
    sign_in(page, server, "om-other", "wrong password")  # the third: locked
    message = page.inner_text(".govuk-error-summary")
    assert "tried to sign in too many times" in message
    assert re.search(r"until \d\d:\d\d UTC", message)
    check_page(page, "sign-in-locked")
    sign_in(page, server, "om-other")  # the right password, but locked
    assert "tried to sign in too many times" in page.inner_text(".govuk-error-summary")
    assert "/sign-in" in page.url
