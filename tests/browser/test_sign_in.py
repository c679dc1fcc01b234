"""Sign-in in a real browser: the form and its error state pass axe, a wrong password is
refused with a clear message, the right one leads to My tasks, sign-out ends it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect


@pytest.fixture(scope="module")
def om(server):
    server.user("om-sign-in", role="offender_manager", agency="NPS")
    return "om-sign-in"


def test_sign_in_page_and_its_error_state(page, server, om, sign_in, check_page):
    page.goto(server.url + "/")
    assert page.url.endswith("/sign-in")
    check_page(page, "sign-in")
    page.click("#sign-in")  # nothing entered
    expect(page.locator(".govuk-error-summary")).to_be_visible()  # waits for the new page
    assert "Enter your username" in page.locator(".govuk-error-summary").inner_text()
    check_page(page, "sign-in-errors")
    sign_in(page, server, om, "not-the-password")
    assert "Enter a correct username and password" in page.inner_text(".govuk-error-summary")


def test_sign_in_then_sign_out(page, server, om, sign_in, check_page):
    sign_in(page, server, om)
    page.wait_for_url("**/tasks")
    assert page.inner_text("h1") == "My tasks"
    check_page(page, "my-tasks-empty")
    page.click("#sign-out")
    page.wait_for_url("**/sign-in")
    page.goto(server.url + "/tasks")
    assert "/sign-in" in page.url
