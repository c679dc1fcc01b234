"""OGRS3: DOMAIN.md's check case, properties, and the facts fallback to a computed score."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event

from db.models import Assessment, Case, OffendingEvent
from rules.catalogue import OFFENCE_CATEGORIES, validate_facts
from workflow.criteria_facts import invalidate
from workflow.errors import InvalidInput
from workflow.facts import facts_for_cases
from workflow.scoring import ScoreInputs, default_scorer, inputs_from_history
from workflow.scoring.ogrs3 import OGRS3, percentage


def _score(sex="M", age=30, previous=1, first=21, offence="other"):
    return OGRS3.score(ScoreInputs(sex=sex, age=age, previous_sanctions=previous,
                                   age_at_first_sanction=first, offence_category=offence))


def test_domain_check_case():
    # Male, 30, 2 sanctions in all (the current one and 1 previous), first at 21, "other".
    score = _score()
    assert (score.tool, score.ogrs_1yr, score.ogrs_2yr) == ("OGRS3", 9, 17)
    assert default_scorer().name == "OGRS3"


def test_hand_computed_cases():
    # Female 17 (-0.9592), first sanction (0.12614), ln(1/10) * 1.25112 = -2.88081,
    # theft 0.6612: S = -3.05267; 1yr logistic(-1.65011) = 16.1%; 2yr logistic(-0.93097)
    # = 28.3%.
    assert (lambda s: (s.ogrs_1yr, s.ogrs_2yr))(_score("F", 17, 0, 17, "theft")) == (16, 28)
    # Male 19 (-0.6251), 15 previous (0.46306), ln(16/16) = 0, theft 0.6612: S = 0.49916;
    # 1yr logistic(1.90172) = 87.0%, 2yr logistic(2.62086) = 93.2%.
    assert (lambda s: (s.ogrs_1yr, s.ogrs_2yr))(_score("M", 19, 15, 13, "theft")) == (87, 93)


def test_age_bands_and_sex_use_the_table():
    # Male 16-17: -0.0616; 18-20: -0.6251.
    assert _score(age=17, first=15).ogrs_2yr > _score(age=18, first=16).ogrs_2yr
    assert _score(sex="F", age=12, first=12).ogrs_2yr > _score(sex="M", age=12,
                                                                first=12).ogrs_2yr


def test_rounding_is_half_up_and_clamped():
    assert percentage(0.0) == 50  # exactly 50.0%
    assert percentage(-20) == 1 and percentage(20) == 99


@pytest.mark.parametrize("kw, field", [
    ({"age": 9, "first": 9}, "age"), ({"first": 31}, "age_at_first_sanction"),
    ({"offence": "arson"}, "offence_category"), ({"sex": "X"}, "sex"),
    ({"previous": -1}, "previous_sanctions"),
])
def test_impossible_inputs_are_refused(kw, field):
    with pytest.raises(InvalidInput) as caught:
        _score(**kw)
    assert caught.value.details == {"field": field}


history = st.fixed_dictionaries({
    "sex": st.sampled_from(("M", "F")), "age": st.integers(10, 90),
    "offence": st.sampled_from(OFFENCE_CATEGORIES), "career": st.integers(0, 80),
})


@given(history, st.integers(0, 200))
def test_bounded_1_to_99(h, previous):
    first = max(10, h["age"] - h["career"])
    score = _score(h["sex"], h["age"], previous, first, h["offence"])
    assert 1 <= score.ogrs_1yr <= score.ogrs_2yr <= 99


@given(history, st.integers(0, 100))
def test_monotone_in_previous_sanctions(h, previous):
    first = max(10, h["age"] - h["career"])
    fewer = _score(h["sex"], h["age"], previous, first, h["offence"])
    more = _score(h["sex"], h["age"], previous + 1, first, h["offence"])
    assert more.ogrs_1yr >= fewer.ogrs_1yr and more.ogrs_2yr >= fewer.ogrs_2yr


def test_inputs_from_history():
    convictions = [(date(2020, 1, 1), "theft"), (date(2024, 6, 1), "robbery"),
                   (date(2011, 5, 1), "violence")]
    got = inputs_from_history(sex="M", date_of_birth=date(1994, 6, 15),
                              first_sanction_on=date(2009, 1, 1), convictions=convictions)
    # The first sanction (2009) is not among the recorded ones: it is counted too.
    assert got == ScoreInputs(sex="M", age=29, previous_sanctions=3,
                              age_at_first_sanction=14, offence_category="robbery",
                              age_at_follow_up=29)
    # No first-sanction date: the earliest conviction (age 16 on 2011-05-01).
    assert inputs_from_history(sex="M", date_of_birth=date(1994, 6, 15),
                               first_sanction_on=None, convictions=convictions
                               ).age_at_first_sanction == 16
    assert inputs_from_history(sex="M", date_of_birth=date(1994, 6, 15),
                               first_sanction_on=None, convictions=[]) is None


# --- facts fall back to a computed OGRS3 ---------------------------------------------

def _case(session, person, now):
    case = Case(person=person, state="mapping", state_since=now, opened_at=now,
                next_due_at=now)
    session.add(case)
    session.flush()
    return case


def _conviction(session, person, ref, day, category="other"):
    session.add(OffendingEvent(partner_ref=ref, person=person, kind="conviction",
                               occurred_on=day, offence_category=category))


def test_facts_compute_ogrs3_when_no_assessment(session, make_person, now):
    # Born 1995-03-03: 21 at the first conviction, 29 at the latest -> band 25-29.
    person = make_person("P1", sex="M", dob=date(1995, 3, 3))
    _conviction(session, person, "C1", date(2016, 4, 1))
    _conviction(session, person, "C2", date(2024, 9, 1), "theft")
    _conviction(session, person, "C3", now.date() + timedelta(days=5))  # after now: ignored
    session.add(OffendingEvent(partner_ref="A1", person=person, kind="arrest",
                               occurred_on=date(2025, 1, 1), offence_category="robbery"))
    case = _case(session, person, now)

    facts = facts_for_cases(session, [case], now)[case.id]

    expected = OGRS3.score(ScoreInputs("M", 29, 1, 21, "theft"))
    # No first-sanction date: the record may not reach back to it, and the facts say so.
    assert (facts["ogrs_1yr"], facts["ogrs_2yr"], facts["ogrs_source"]) == (
        expected.ogrs_1yr, expected.ogrs_2yr, "computed_partial")
    assert validate_facts(facts)["ogrs_source"] == "computed_partial"
    person.first_sanction_on = date(2016, 4, 1)  # the first conviction: a complete record
    session.flush()
    assert facts_for_cases(session, [case], now)[case.id]["ogrs_source"] == "computed"


def test_facts_prefer_a_supplied_assessment_on_or_before_now(session, make_person, now):
    person = make_person("P1")
    _conviction(session, person, "C1", date(2024, 9, 1))
    session.add(Assessment(partner_ref="O1", person=person, assessed_on=date(2024, 9, 2),
                           ogrs_1yr=60, ogrs_2yr=77))
    session.add(Assessment(partner_ref="O2", person=person, ogrs_2yr=12,
                           assessed_on=now.date() + timedelta(days=1)))  # future: ignored
    bare = make_person("P2")  # no convictions, no assessment: no score at all
    cases = [_case(session, person, now), _case(session, bare, now)]

    facts = facts_for_cases(session, cases, now)

    assert [(f["ogrs_2yr"], f["ogrs_1yr"], f["ogrs_source"]) for f in facts.values()] == [
        (77, 60, "supplied"), (None, None, None)]


def test_facts_use_a_fixed_number_of_queries(session, make_person, now, db_engine):
    def build(n: int) -> list[Case]:
        cases = []
        for i in range(n):
            person = make_person(dob=date(1990, 1, 1))
            _conviction(session, person, f"C{n}-{i}-a", date(2015, 1, 1))
            _conviction(session, person, f"C{n}-{i}-b", date(2024, 1, 1), "robbery")
            cases.append(_case(session, person, now))
        return cases

    def count(cases) -> int:
        statements = []
        listener = lambda *a: statements.append(a[2])  # noqa: E731
        invalidate()  # both cold: the borough ranking is computed each time
        event.listen(db_engine, "before_cursor_execute", listener)
        try:
            facts_for_cases(session, cases, now)
        finally:
            event.remove(db_engine, "before_cursor_execute", listener)
        return len(statements)

    one, many = build(1), build(25)
    assert count(one) == count(many)
