"""OGRS3 from a real criminal record (issue 11 item 7): cautions are sanctions, sanctions
count once per sentencing occasion, the age/gender band is the age at the start of
follow-up (release from custody), and ``ogrs_source`` says when the record cannot tell.

Expected percentages are computed by hand from DOMAIN.md's formula:
S = AgeGender(age at follow-up) + ConvictionStatus
    + 1.25112 x ln((previous + 1) / (10 + age at current sanction - age at first sanction))
    + OffenceCategory;  P = e^(c+S) / (1 + e^(c+S)), c = 1.40256 (1 yr), 2.1217 (2 yr).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from db.models import Case, ComplianceEvent, OffendingEvent
from workflow.errors import InvalidInput
from workflow.facts import facts_for_cases
from workflow.scoring import ScoreInputs, history_inputs
from workflow.scoring.ogrs3 import OGRS3


def _event(session, person, ref, kind, day, category):
    session.add(OffendingEvent(partner_ref=ref, person=person, kind=kind, occurred_on=day,
                               offence_category=category))


def _custody(session, person, ref, kind, day):
    session.add(ComplianceEvent(event_id=ref, person_id=person.id, kind=kind,
                                occurred_at=datetime(day.year, day.month, day.day, 10,
                                                     tzinfo=UTC),
                                details={}, recorded_by="prison"))


def _facts(session, person, now):
    case = session.query(Case).filter_by(person_id=person.id).one_or_none()
    if case is None:
        case = Case(person=person, state="mapping", state_since=now, opened_at=now,
                    next_due_at=now)
        session.add(case)
        session.flush()
    return facts_for_cases(session, [case], now)[case.id]


def _ogrs(facts):
    return facts["ogrs_1yr"], facts["ogrs_2yr"], facts["ogrs_source"]


def test_domain_check_through_a_record_with_a_caution_and_one_occasion(session, make_person,
                                                                       now):
    """DOMAIN.md's check (male, 30, the current sanction and 1 previous, first at 21,
    "other": 9% / 17%) from a record: a caution at 21, then three offences sentenced on
    one day at 30. By row and without the caution it would be 2 previous: 14% / 25%.
    S = -1.326 + 0.46306 + 1.25112 x ln(2 / 19) [= -2.81664] - 0.0607 = -3.74028;
    P1 = 8.80% -> 9, P2 = 16.54% -> 17."""
    person = make_person("H1", sex="M", dob=date(1995, 1, 10),
                         first_sanction_on=date(2016, 3, 1))
    _event(session, person, "K1", "caution", date(2016, 3, 1), "theft")
    for i in range(3):
        _event(session, person, f"V{i}", "conviction", date(2025, 2, 1), "other")
    _event(session, person, "A1", "arrest", date(2025, 1, 5), "robbery")  # not a sanction
    assert _ogrs(_facts(session, person, now)) == (9, 17, "computed")


def test_age_band_is_taken_at_release_from_custody(session, make_person, now):
    """Male born 1994-01-10, first conviction 2015-05-01 (21), robbery conviction
    2023-06-01 (29) with custody, released 2025-01-20 (31): band 30-34.
    S = -1.326 + 0.46306 + 1.25112 x ln(2 / 18) [= -2.74899] - 0.6348 = -4.24673;
    P1 = 5.50% (5.498) -> 5, P2 = 10.67% -> 11. At the sentence date (band 25-29,
    -1.1667) it would be 6% / 12%."""
    person = make_person("H2", sex="M", dob=date(1994, 1, 10),
                         first_sanction_on=date(2015, 5, 1))
    _event(session, person, "C1", "conviction", date(2015, 5, 1), "theft")
    _event(session, person, "C2", "conviction", date(2023, 6, 1), "robbery")
    _custody(session, person, "in-1", "custody_in", date(2023, 6, 1))
    _custody(session, person, "out-1", "custody_out", date(2025, 1, 20))
    assert _ogrs(_facts(session, person, now)) == (5, 11, "computed")
    # As of a day before the release: still in custody, follow-up from that day (age 30,
    # band 30-34 too) but the record cannot tell the release: computed_partial.
    before = datetime(2024, 12, 1, 9, tzinfo=UTC)
    assert _ogrs(_facts(session, person, before)) == (5, 11, "computed_partial")


def test_sentenced_without_custody_scores_at_the_sentence_date(session, make_person, now):
    """The same record without custody: band 25-29 at the 2023 sentence, 6% / 12%;
    a custody spell that ended before the sentence does not move the start."""
    person = make_person("H3", sex="M", dob=date(1994, 1, 10),
                         first_sanction_on=date(2015, 5, 1))
    _event(session, person, "C1", "conviction", date(2015, 5, 1), "theft")
    _event(session, person, "C2", "conviction", date(2023, 6, 1), "robbery")
    _custody(session, person, "in-0", "custody_in", date(2019, 2, 1))
    _custody(session, person, "out-0", "custody_out", date(2019, 8, 1))
    assert _ogrs(_facts(session, person, now)) == (6, 12, "computed")


def test_a_caution_alone_is_a_first_sanction(session, make_person, now):
    """Female born 2000-06-01, cautioned for theft on 2024-07-01 (24): first sanction.
    S = -1.0285 + 0.12614 + 1.25112 x ln(1 / 10) [= -2.88081] + 0.6612 = -3.12197;
    P1 = 15.19% -> 15, P2 = 26.89% -> 27."""
    person = make_person("H4", sex="F", dob=date(2000, 6, 1),
                         first_sanction_on=date(2024, 7, 1))
    _event(session, person, "K1", "caution", date(2024, 7, 1), "theft")
    assert _ogrs(_facts(session, person, now)) == (15, 27, "computed")


def test_a_first_sanction_missing_from_the_record_is_counted_and_flagged():
    """First sanction 2009, record from 2011: 2 recorded occasions before the current
    one plus the unrecorded first = 3 previous; the facts say computed_partial."""
    history = history_inputs(
        sex="M", date_of_birth=date(1994, 6, 15), first_sanction_on=date(2009, 1, 1),
        convictions=[(date(2011, 5, 1), "violence"), (date(2020, 1, 1), "theft"),
                     (date(2024, 6, 1), "robbery")])
    assert history.inputs == ScoreInputs("M", 29, 3, 14, "robbery", age_at_follow_up=29)
    assert len(history.gaps) == 1 and "2009-01-01" in history.gaps[0]


def test_current_offence_prefers_the_conviction_on_the_latest_occasion():
    history = history_inputs(
        sex="M", date_of_birth=date(1990, 1, 1), first_sanction_on=date(2010, 1, 1),
        convictions=[(date(2010, 1, 1), "theft"), (date(2024, 3, 1), "robbery")],
        cautions=[(date(2024, 3, 1), "public_order")])
    assert (history.inputs.offence_category, history.inputs.previous_sanctions) == (
        "robbery", 1)
    assert history.gaps == ()


def test_follow_up_before_the_sanction_is_refused():
    with pytest.raises(InvalidInput) as caught:
        OGRS3.score(ScoreInputs("M", 30, 1, 21, "other", age_at_follow_up=29))
    assert caught.value.details == {"field": "age_at_follow_up"}
