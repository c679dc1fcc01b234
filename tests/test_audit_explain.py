"""explain_case: a plain-language chronology built from the audit alone.

``build_case_history`` (also used by the export and retention tests) drives one case
through the real services: shipped rule sets published, case opened, selected by a
rule, forwarded to panel by a rule, accepted by a human panel decision.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from db.models import Assessment, OffendingEvent, RuleSetVersion
from workflow import audit
from workflow.advance import Policy, advance
from workflow.cases import open_missing_cases
from workflow.config import StagePolicy
from workflow.errors import NotFound
from workflow.explain import day, describe_matched, explain_case, render_text
from workflow.lifecycle import fire
from workflow.rulesets import sync_shipped
from workflow.sharing.access import record_read
from workflow.sharing.decide import Viewer

PUBLISHED_AT = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
POLICY = Policy({"mapping": StagePolicy(("mappa-exclusion", "pan-london-selection"), 7),
                 "matrixing": StagePolicy(("mappa-exclusion", "matrixing-activity"), 7)})


def add_partner_data(session, person, now, *, ogrs=81, offence="robbery", arrests=3):
    """A conviction a month ago, an OGRS assessment and recent arrests."""
    day = (now - timedelta(days=30)).date()
    session.add(OffendingEvent(partner_ref=f"{person.partner_ref}-C", person=person,
                               kind="conviction", occurred_on=day, offence_category=offence))
    session.add(Assessment(partner_ref=f"{person.partner_ref}-O", person=person,
                           assessed_on=day, ogrs_2yr=ogrs))
    for i in range(arrests):
        session.add(OffendingEvent(partner_ref=f"{person.partner_ref}-A{i}", person=person,
                                   kind="arrest", offence_category=offence,
                                   occurred_on=(now - timedelta(days=5 + i)).date()))
    session.flush()


def build_case_history(session, make_person, now, *, ref="N-EXPLAIN", accept=True):
    """Publish, open, select (rule), forward (rule), accept (human). Returns the case."""
    if not session.scalar(select(RuleSetVersion.id).limit(1)):
        sync_shipped(session, now=PUBLISHED_AT)
    person = make_person(ref)
    add_partner_data(session, person, now)
    [case] = [c for c in open_missing_cases(session, now=now, actor="scheduler")
              if c.person_id == person.id]
    advance(session, case, now=now, actor="scheduler", policy=POLICY)
    advance(session, case, now=now + timedelta(days=1), actor="scheduler", policy=POLICY)
    assert case.state == "panel"
    if accept:
        fire(session, case, "accept", now=now + timedelta(days=8), actor="lead1",
             cause={"kind": "human", "reason": "panel agreed: prolific robbery offender",
                    "panel_date": "2025-03-11"})
    session.commit()
    return case


def test_explains_rule_moves_with_rule_version_publisher_and_facts(session, make_person, now):
    case = build_case_history(session, make_person, now)
    row = session.scalars(select(RuleSetVersion).where(
        RuleSetVersion.name == "pan-london-selection")).one()
    lines = explain_case(session, case.id)
    assert [x.kind for x in lines] == ["case.opened", "case.transition", "case.transition",
                                       "case.transition"]
    opened, selected, forwarded, accepted = lines
    assert opened.section == "system" and "Case opened in mapping on 3 March 2025" in opened.text
    assert selected.section == "rule"
    assert selected.text.startswith("Moved from mapping to matrixing on 3 March 2025 because "
                                    "rule pan-london-selection/ogrs-75 ")
    # A shipped default says when it was recorded and from when it is in force, honestly
    # (not "published by system on 1 January 2000").
    assert row.published_at.date() == PUBLISHED_AT.date()
    assert (f"(version {row.version[:12]}, shipped default recorded by system on "
            f"{day(PUBLISHED_AT)}, in force from 31 October 2014) "
            "matched: sentenced recently = yes, OGRS 2-year proven reoffending probability = "
            "81% (at least 75%). ") in selected.text
    assert "The rule says: Newly sentenced with an OGRS 2-year score of 75% or more" in (
        selected.text)
    assert "matrixing-activity/active-offender" in forwarded.text
    assert "(at least 5 points)" in forwarded.text
    assert accepted.section == "human"
    assert "Moved from panel to allocated on 11 March 2025 by lead1" in accepted.text
    assert "Reason given: panel agreed: prolific robbery offender" in accepted.text
    assert all(x.intact and x.person_ref == "N-EXPLAIN" for x in lines)
    json.dumps([x.as_dict() for x in lines])  # the --json output is serialisable


def test_overrides_are_marked_and_listed_apart(session, make_person, now):
    case = build_case_history(session, make_person, now)
    audit.record(session, kind="case.override", actor="lead2", occurred_at=now + timedelta(9),
                 case_id=case.id, person_ref="N-EXPLAIN",
                 summary="Intensity set to high despite the rules",
                 payload={"reason": "intelligence from the police lead"})
    record_read(session, viewer=Viewer(None, "auditor1", "auditor"), what="history",
                purpose="audit", now=now + timedelta(10), case_id=case.id,
                person_ref="N-EXPLAIN")
    session.commit()
    lines = explain_case(session, case.id)
    override = next(x for x in lines if x.kind == "case.override")
    assert override.section == "override"
    assert override.text.startswith("MANUAL OVERRIDE by lead2 on 12 March 2025")
    assert "Reason given: intelligence from the police lead" in override.text
    text = render_text(case.id, lines)
    chronology, overrides = text.split("Manual overrides")
    assert "MANUAL OVERRIDE by lead2" in overrides and "ogrs-75" not in overrides
    assert "Who looked at this case:" in overrides and "read by auditor1" in overrides
    assert "read by auditor1" not in chronology
    assert "Case " + str(case.id) + " (person N-EXPLAIN)" in chronology


def test_human_transition_marked_as_override_in_its_cause(session, make_person, now):
    case = build_case_history(session, make_person, now, accept=False)
    fire(session, case, "close", now=now + timedelta(days=3), actor="lead1",
         cause={"kind": "override", "reason": "moved out of the borough"})
    session.commit()
    last = explain_case(session, case.id)[-1]
    assert last.section == "override"
    assert last.text.startswith("MANUAL OVERRIDE: moved from panel to exited on 6 March 2025 "
                                "by lead1")


def test_unknown_case_is_not_found(session):
    with pytest.raises(NotFound):
        explain_case(session, 424242)


def test_requirements_are_phrased_from_the_rule_condition():
    when = {"all": [{"fact": "newly_sentenced", "eq": True},
                    {"fact": "ogrs_2yr", "between": [50, 74]},
                    {"fact": "offence_category", "in": ["robbery", "domestic_burglary"]},
                    {"not": {"fact": "mappa_level", "in": [2, 3]}},
                    {"fact": "gang_grade", "known": False}]}
    text = describe_matched({"newly_sentenced": True, "ogrs_2yr": 62,
                             "offence_category": "robbery", "mappa_level": 1,
                             "gang_grade": None}, when)
    assert text == ("sentenced recently = yes, "
                    "OGRS 2-year proven reoffending probability = 62% (between 50% and 74%), "
                    "category of the current offence = robbery "
                    "(one of robbery or domestic burglary), "
                    "MAPPA management level (0 = not MAPPA) = 1 (not one of 2 or 3), "
                    "graded partner (gangs) list = unknown (must be unknown)")
