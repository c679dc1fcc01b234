"""The board report pages in a real browser: the index and its date form (with its
error state, reached by keyboard), every report page (charts, their tables, data table)
checked with axe-core, a download streamed with the session cookie, and the print view."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from workflow.reports.boardpack import ORDER

QUERY = "from=2024-01-01&to=2024-12-31"


@pytest.fixture(scope="module")
def borough(server):
    from web_report_borough import build

    with server.session() as session:
        build(session)
        session.commit()
    server.user("lead-r", role="team_lead", agency="police", display_name="Rita Lewis")


def test_index_form_and_its_error_state(page, server, borough, sign_in, check_page, tab_to):
    sign_in(page, server, "lead-r")
    page.wait_for_url("**/tasks")
    page.click("text=Reports")
    check_page(page, "reports-index")
    page.fill("#from-day", "31")
    page.fill("#from-month", "2")
    page.fill("#from-year", "2024")
    tab_to(page, "#show-reports")
    page.keyboard.press("Enter")
    page.wait_for_load_state("load")
    summary = page.inner_text(".govuk-error-summary")
    assert "Start date must be a real date" in summary
    check_page(page, "reports-index-errors")
    page.click(".govuk-error-summary a")  # the summary's link moves to the field
    assert page.evaluate("document.activeElement.id") == "from-day"
    for box, value in (("#from-day", "1"), ("#from-month", "1"), ("#from-year", "2024"),
                       ("#to-day", "31"), ("#to-month", "12"), ("#to-year", "2024")):
        page.fill(box, value)
    page.click("#show-reports")
    # click() returns once the navigation commits, before the new page is parsed
    expect(page.locator("#report-links a")).to_have_count(len(ORDER))


def test_every_report_page_then_download_and_print(page, server, borough, sign_in,
                                                  check_page):
    """One sign-in for all six pages (argon2 is slow on a busy machine)."""
    sign_in(page, server, "lead-r")
    page.wait_for_url("**/tasks")
    for name in ORDER:
        page.goto(f"{server.url}/reports/{name}?{QUERY}")
        charts = page.locator('svg[role="img"]')
        assert charts.count() >= 1, name
        for i in range(charts.count()):  # every chart: its name, its words, its table
            ident = charts.nth(i).get_attribute("aria-labelledby").split()[0][:-6]
            assert page.locator(f"#{ident}-desc").text_content(), (name, ident)
            assert page.locator(f"#{ident}-table tbody tr").count() >= 1, (name, ident)
        assert page.locator(".app-data-table").count() >= 1, name
        assert page.inner_text("#method"), name
        check_page(page, f"report-{name}")

    page.goto(f"{server.url}/reports/targets?{QUERY}")
    with page.expect_download() as download:
        page.click("#downloads >> text=(CSV)")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.startswith("month,") and "method," in text
    assert download.value.suggested_filename == "targets_2024-01-01_2024-12-31.csv"
    page.emulate_media(media="print")
    assert not page.locator(".govuk-template__header").is_visible()
    assert not page.locator("#downloads").is_visible()
    assert page.locator("svg[role=img]").first.is_visible()
    page.screenshot(path=str(server_screens() / "report-targets-print.png"), full_page=True)


def server_screens():
    SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
