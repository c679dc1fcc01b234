"""Smaller defects (issue 11 item 8): custody reaches the in_custody fact, offending on
the closing day reopens a case, and the lifecycle guide describes the shipped review set."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from db.models import Case, ComplianceEvent, OffendingEvent
from scheduler.jobs import advance_due
from workflow.facts import facts_for_cases
from workflow.review import custody

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.usefixtures("published")  # a release is checked by the exclusion guards
def test_custody_in_makes_in_custody_true_and_release_false(settings, session, make_case,
                                                            make_user, now):
    om, _ = make_user("om1", role="offender_manager", agency="CRC")
    case = make_case(state="allocated", ogrs=80)
    assert facts_for_cases(session, [case], now)[case.id]["in_custody"] is False
    custody(session, case, event="custody_in", reason="remanded", now=now, user=om,
            settings=settings)
    session.commit()
    later = now + timedelta(days=3)
    assert facts_for_cases(session, [case], later)[case.id]["in_custody"] is True
    event = session.scalars(select(ComplianceEvent).where(
        ComplianceEvent.case_id == case.id)).one()
    assert (event.kind, event.occurred_at, event.recorded_by) == ("custody_in", now, "om1")
    out = now + timedelta(days=40)
    custody(session, case, event="custody_out", reason="released", now=out, user=om,
            settings=settings)
    session.commit()
    assert facts_for_cases(session, [case], out + timedelta(hours=1))[case.id][
        "in_custody"] is False
    # as of a day inside the custody spell the fact is still true (a replay sees it)
    assert facts_for_cases(session, [case], later)[case.id]["in_custody"] is True


def test_suspended_case_without_an_event_is_in_custody(session, make_case, now):
    """Custody recorded before the command stored events: the suspended state says so."""
    case = make_case(state="suspended", ogrs=80)
    assert facts_for_cases(session, [case], now)[case.id]["in_custody"] is True


def _closed(make_case, session, now, *, closed_days_ago: int, opened_days_ago: int):
    case = make_case(state="exited", ogrs=80)
    case.opened_at = now - timedelta(days=opened_days_ago)
    case.closed_at, case.next_due_at = now - timedelta(days=closed_days_ago), None
    session.commit()
    return case


@pytest.mark.usefixtures("published")
def test_offence_on_the_closing_day_reopens(runtime, session, make_case, now):
    old = _closed(make_case, session, now, closed_days_ago=5, opened_days_ago=200)
    assert advance_due(runtime, now=now).reopened == 0
    session.add(OffendingEvent(partner_ref="SAMEDAY", person_id=old.person_id, kind="arrest",
                               occurred_on=old.closed_at.date(), offence_category="robbery"))
    session.add(OffendingEvent(partner_ref="DAYBEFORE", person_id=old.person_id,
                               kind="arrest", offence_category="theft",
                               occurred_on=old.closed_at.date() - timedelta(days=1)))
    session.commit()
    assert advance_due(runtime, now=now).reopened == 1
    assert advance_due(runtime, now=now).reopened == 0
    episodes = session.scalars(select(Case).where(Case.person_id == old.person_id)
                               .order_by(Case.episode)).all()
    assert [c.episode for c in episodes] == [1, 2]


@pytest.mark.usefixtures("published")
def test_offence_before_closing_day_does_not_reopen(runtime, session, make_case, now):
    old = _closed(make_case, session, now, closed_days_ago=5, opened_days_ago=200)
    session.add(OffendingEvent(partner_ref="BEFORE", person_id=old.person_id, kind="arrest",
                               occurred_on=old.closed_at.date() - timedelta(days=1),
                               offence_category="robbery"))
    session.commit()
    assert advance_due(runtime, now=now).reopened == 0


@pytest.mark.usefixtures("published")
def test_episode_opened_and_closed_on_one_day_is_not_reopened_by_that_days_offence(
        runtime, session, make_case, now):
    old = _closed(make_case, session, now, closed_days_ago=3, opened_days_ago=3)
    session.add(OffendingEvent(partner_ref="SEEN", person_id=old.person_id, kind="arrest",
                               occurred_on=old.closed_at.date(), offence_category="theft"))
    session.commit()
    assert advance_due(runtime, now=now).reopened == 0


def test_lifecycle_guide_names_the_shipped_review_set():
    guide = (ROOT / "docs" / "lifecycle.md").read_text(encoding="utf-8")
    review = guide[guide.index("## Review"):guide.index("## Scheduler")]
    assert "not shipped" not in review
    shipped = yaml.safe_load((ROOT / "rules" / "sets" / "review-retention.yaml").read_text())
    ids = {r["id"] for r in shipped["rules"]}
    named = set(re.findall(r"`([a-z]+(?:-[a-z]+)+)`", review)) - {"review-retention"}
    assert named and named <= ids
    config = (ROOT / "config.toml").read_text(encoding="utf-8")
    assert "until one is published" not in config
