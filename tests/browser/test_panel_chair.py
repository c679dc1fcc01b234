"""The panel chair in a real browser: the meeting's agenda in order with each case's
summary and why it is there; accept, defer (with a date) and reject with reasons, case
by case (the form's error state first); the minutes to print (print CSS) and download.
axe-core on every page and error state."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest


@pytest.fixture(scope="module")
def meeting(server):
    """Three cases in panel (OGRS 90, 80 and 60) and the next meeting's agenda built."""
    from db.models import Case
    from workflow.panel import build_agenda, next_meeting_on
    from workflow.policy.store import policy_in_force

    server.user("chair", role="team_lead", display_name="Chris Chair")
    om = server.user("om-panel", role="offender_manager", agency="CRC",
                     display_name="Priya Manager")
    server.user("om-lead", role="offender_manager", agency="CRC", display_name="Lee Lead")
    cases = [server.supervised_case(om, ogrs=ogrs) for ogrs in (60, 90, 80)]
    with server.session() as session:
        now = datetime.now(UTC)
        for case_id in cases:
            case = session.get(Case, case_id)
            case.state, case.next_due_at = "panel", now + timedelta(days=30)
        panel = policy_in_force(session, server.runtime.settings, now).panel
        held_on = next_meeting_on(panel["schedule"], now.date())
        built = build_agenda(session, now=datetime.combine(held_on - timedelta(days=1),
                                                           time(9), UTC),
                             settings=server.runtime.settings)
        meeting_id = built.id
        session.commit()
    return {"id": meeting_id, "cases": cases}


def test_chair_records_decisions_and_prints_the_minutes(page, server, meeting, sign_in,
                                                        check_page):
    low, high, mid = meeting["cases"]
    sign_in(page, server, "chair")
    page.goto(f"{server.url}/panel")
    check_page(page, "panel-meetings")
    page.click("#meetings a >> nth=0")
    page.wait_for_load_state("load")  # click() returns at commit; all_inner_texts waits not
    headings = page.locator("#agenda h2").all_inner_texts()
    assert [h.split(".")[0] for h in headings] == ["1", "2", "3"]
    assert [f"case {c}" in h for h, c in zip(headings, (high, mid, low), strict=True)] == [
        True] * 3  # the highest OGRS band first, then by priority
    why = page.inner_text(f"#item-{high}")
    assert "Rank 1, priority 20" in why and "OGRS 2-year 75%+" in why
    assert "Presented by" in why and "Priya Manager" in why
    check_page(page, "panel-meeting")

    page.click(f"#record-{high}")  # nothing chosen: the error state
    summary = page.inner_text(".govuk-error-summary")
    assert "Select accept, defer or reject" in summary and "Enter the reason" in summary
    check_page(page, "panel-meeting-errors")
    page.check(f"#decision-{high}-2")  # defer, without a date
    page.fill(f"#reason-{high}", "Awaiting the housing assessment")
    page.click(f"#record-{high}")
    assert "Enter the date to defer the case to" in page.inner_text(".govuk-error-summary")
    check_page(page, "panel-meeting-defer-errors")

    until = (datetime.now(UTC) + timedelta(days=40)).date()
    page.check(f"#decision-{high}-2")
    page.fill(f"#defer-{high}-day", str(until.day))
    page.fill(f"#defer-{high}-month", str(until.month))
    page.fill(f"#defer-{high}-year", str(until.year))
    page.fill(f"#reason-{high}", "Awaiting the housing assessment")
    page.click(f"#record-{high}")
    assert f"Decision on case {high} recorded" in page.inner_text(
        ".govuk-notification-banner")
    assert "Defer" in page.inner_text(f"#decision-{high}")

    page.check(f"#decision-{mid}")  # accept
    page.fill(f"#reason-{mid}", "High risk, agreed by all agencies")
    page.click(f"#record-{mid}")
    page.check(f"#decision-{low}-3")  # reject
    page.fill(f"#reason-{low}", "Managed under other arrangements")
    page.click(f"#record-{low}")
    assert "Reject" in page.inner_text(f"#decision-{low}")

    with server.session() as session:
        from db.models import Case

        states = [session.get(Case, c).state for c in (high, mid, low)]
    assert states[0] == "deferred" and states[1] == "allocated", states
    assert states[2] != "panel", states

    page.click("#minutes-link")
    minutes = page.inner_text("#minutes")
    assert f"Defer until {until.isoformat()}" in minutes and "Accept" in minutes
    assert "Managed under other arrangements" in minutes
    check_page(page, "panel-minutes")
    page.emulate_media(media="print")
    assert not page.is_visible("header") and not page.is_visible("#download-minutes")
    assert page.is_visible("#minutes")
    page.emulate_media(media="screen")
    download = page.request.get(server.url + page.locator("#download-minutes").get_attribute(
        "href"))
    assert download.status == 200 and "attachment" in download.headers[
        "content-disposition"]
    assert "Accepted 1, deferred 1, rejected 1." in download.text()


def test_an_offender_manager_reads_the_agenda_but_cannot_decide(page, server, meeting,
                                                                sign_in):
    sign_in(page, server, "om-panel")
    page.wait_for_url("**/tasks")
    page.goto(f"{server.url}/panel/{meeting['id']}")
    assert page.locator("form.app-decision").count() == 0
    token = page.input_value("input[name=csrf_token]")
    refused = page.request.post(
        f"{server.url}/panel/{meeting['id']}/cases/{meeting['cases'][0]}/decision",
        form={"decision": "accept", "reason": "x", "csrf_token": token})
    assert refused.status == 403
