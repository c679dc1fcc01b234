"""Facts the seeds' criteria need (issue 11 item 5): ranks in the borough, offence-type
counts and drug-programme flags, built by the real fact builder from stored data."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest

from db.models import Case, OffendingEvent
from rules.catalogue import validate_facts
from workflow.criteria_facts import offence_groups
from workflow.facts import facts_for_cases
from workflow.partners.imports import import_csv


def _events(session, person, kind, categories, today, *, days_ago=10):
    for i, category in enumerate(categories):
        session.add(OffendingEvent(partner_ref=f"{person.partner_ref}-{kind}-{days_ago}-{i}",
                                   person=person, kind=kind, offence_category=category,
                                   occurred_on=today - timedelta(days=days_ago + i)))


def _case(session, person, now):
    case = Case(person=person, state="mapping", state_since=now - timedelta(days=3),
                opened_at=now - timedelta(days=3), next_due_at=now + timedelta(days=4))
    session.add(case)
    return case


@pytest.fixture
def borough(session, make_person, now):
    """Six people; arrests chosen so the arrest order and the harm order differ."""
    today = now.date()
    people = {name: make_person(name, sex=sex) for name, sex in (
        ("A", "M"), ("B", "F"), ("C", "M"), ("D", "F"), ("E", "M"), ("OLD", "F"))}
    _events(session, people["A"], "arrest", ["theft"] * 5, today)  # harm 5 x 1
    _events(session, people["B"], "arrest", ["theft"] * 3, today)  # harm 3
    _events(session, people["C"], "arrest", ["domestic_burglary"] * 3, today)  # harm 9
    _events(session, people["D"], "arrest", ["robbery"], today)  # harm 4
    _events(session, people["E"], "conviction", ["robbery"], today)  # convicted, no arrest
    _events(session, people["OLD"], "arrest", ["robbery"] * 9, today, days_ago=800)
    _events(session, people["B"], "arrest", ["violence"] * 4, today, days_ago=-5)  # future
    session.flush()
    return people


def test_ranks_are_borough_wide_whatever_the_chunk(session, borough, now):
    b, d = _case(session, borough["B"], now), _case(session, borough["D"], now)
    session.flush()
    facts = facts_for_cases(session, [b, d], now)  # a chunk of two: ranks over all six
    assert {k: facts[b.id][k] for k in ("arrest_rank", "arrest_rank_female", "harm_rank",
                                        "harm_window")} == {
        "arrest_rank": 2, "arrest_rank_female": 1, "harm_rank": 4, "harm_window": 3.0}
    assert {k: facts[d.id][k] for k in ("arrest_rank", "arrest_rank_female", "harm_rank",
                                        "harm_window")} == {
        "arrest_rank": 4, "arrest_rank_female": 2, "harm_rank": 3, "harm_window": 4.0}
    validate_facts(facts[b.id])


def test_ties_share_the_best_place_and_men_have_no_female_rank(session, borough, now):
    cases = {name: _case(session, borough[name], now) for name in ("A", "C", "E", "OLD")}
    session.flush()
    facts = facts_for_cases(session, list(cases.values()), now)
    got = {name: (facts[c.id]["arrest_rank"], facts[c.id]["arrest_rank_female"],
                  facts[c.id]["harm_rank"]) for name, c in cases.items()}
    assert got == {"A": (1, None, 2), "C": (2, None, 1),  # C ties with B on 3 arrests
                   "E": (None, None, None), "OLD": (None, None, None)}
    assert facts[cases["E"].id]["harm_window"] == 0.0


def test_ranks_as_of_an_earlier_date_use_only_what_was_known(session, borough, now):
    b = _case(session, borough["B"], now)
    session.flush()
    # 12 days ago: A had 3 arrests (12-14 days back), B and C 1 each, D none yet
    earlier = facts_for_cases(session, [b], now - timedelta(days=12))[b.id]
    assert (earlier["arrest_rank"], earlier["arrest_rank_female"]) == (2, 1)
    later = facts_for_cases(session, [b], now + timedelta(days=10))[b.id]
    assert later["arrest_rank"] == 1  # the 4 arrests dated 5-8 days ahead now count


def test_offence_type_counts(session, make_person, now):
    today = now.date()
    p = make_person("CNT")
    _events(session, p, "arrest", ["domestic_burglary", "domestic_burglary", "other_burglary",
                                   "robbery", "theft_from_vehicle", "violence", "fraud"], today)
    _events(session, p, "conviction", ["robbery", "violence"], today, days_ago=40)
    _events(session, p, "arrest", ["other_burglary"], today, days_ago=900)  # outside window
    case = _case(session, p, now)
    session.flush()
    facts = facts_for_cases(session, [case], now)[case.id]
    assert {k: facts[k] for k in (
        "burglary_arrests_window", "domestic_burglary_arrests_window",
        "neighbourhood_crime_arrests_window", "neighbourhood_crime_convictions_window",
        "arrests_window")} == {
        "burglary_arrests_window": 3, "domestic_burglary_arrests_window": 2,
        "neighbourhood_crime_arrests_window": 5, "neighbourhood_crime_convictions_window": 1,
        "arrests_window": 7}
    nobody = make_person("NONE")
    quiet = _case(session, nobody, now)
    session.flush()
    assert facts_for_cases(session, [quiet], now)[quiet.id][
        "neighbourhood_crime_arrests_window"] == 0


def test_offence_groups_are_catalogue_categories():
    groups = offence_groups()
    assert set(groups["neighbourhood_crime"]) >= {
        "robbery", "domestic_burglary", "other_burglary", "taking_vehicle",
        "theft_from_vehicle"}
    assert set(groups["burglary"]) == {"domestic_burglary", "other_burglary"}


PEOPLE = "partner_ref,given_name,family_name,sex,date_of_birth\nS1,Sam,Lee,M,1990-04-01\n"
FLAGS = """partner_ref,person_ref,kind,value,recorded_on
G1,S1,drr,true,2025-01-06
G2,S1,dip,Yes,2024-12-02
G3,S1,treatment,retained,2024-11-01
G4,S1,treatment,Not_Retained,2025-02-14
G5,S1,treatment,dropped,2025-02-15
"""


def _import(session, kind, text, now):
    return import_csv(session, kind, io.StringIO(text), filename=f"{kind}.csv",
                      actor="tester", now=now)


def test_drug_programme_flags_import_and_become_facts(session, now):
    _import(session, "people", PEOPLE, now)
    report = _import(session, "flags", FLAGS, now)
    assert (report.created, report.rejected) == (4, 1)
    assert report.errors == [{"row": 6, "field": "value", "reason": "'dropped' is not one of "
                              "retained, not_retained, completed, none (kind treatment)"}]
    from db.models import Person

    person = session.query(Person).filter_by(partner_ref="S1").one()
    case = _case(session, person, now)
    session.flush()
    facts = facts_for_cases(session, [case], now)[case.id]
    assert (facts["drr"], facts["dip"], facts["treatment"]) == (True, True, "not_retained")
    before = facts_for_cases(session, [case], now.replace(year=2024, month=12, day=20))
    assert (before[case.id]["drr"], before[case.id]["treatment"]) == (False, "retained")
    _import(session, "flags", "partner_ref,person_ref,kind,value,recorded_on\n"
                              "G6,S1,treatment,none,2025-03-01\n", now)
    assert facts_for_cases(session, [case], now)[case.id]["treatment"] is None
    validate_facts(facts)


def test_unknown_facts_default_for_people_never_flagged(session, make_person, now):
    case = _case(session, make_person("PLAIN", dob=date(1985, 1, 1)), now)
    session.flush()
    facts = facts_for_cases(session, [case], now)[case.id]
    assert (facts["drr"], facts["dip"], facts["treatment"], facts["arrest_rank"]) == (
        False, False, None, None)


def test_the_borough_ranking_is_computed_once_per_data_state(session, borough, now,
                                                             db_engine):
    """A pass's chunks share one ranking; a new arrest (ORM) or an import recomputes it."""
    from sqlalchemy import event

    b = _case(session, borough["B"], now)
    session.commit()
    statements = []

    def count(*a):
        if not a[2].startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE is no lookup
            statements.append(a[2])

    def run():
        statements.clear()
        event.listen(db_engine, "before_cursor_execute", count)
        try:
            return facts_for_cases(session, [b], now)[b.id]
        finally:
            event.remove(db_engine, "before_cursor_execute", count)

    first = run()
    cold = len(statements)
    assert run() == first and len(statements) == cold - 2  # one lookup instead of three
    _events(session, borough["B"], "arrest", ["robbery"] * 3, now.date(), days_ago=40)
    session.commit()
    assert run()["arrest_rank"] == 1 and len(statements) == cold  # B now has 6
    _import(session, "people", "partner_ref,given_name,family_name,sex,date_of_birth\n"
                               "Z1,Zed,Top,M,1990-01-01\n", now)
    report = _import(session, "events", "partner_ref,person_ref,kind,occurred_on,"
                     "offence_category\n" + "".join(
                         f"Z-{i},Z1,arrest,2025-01-{i + 1:02d},theft\n" for i in range(9)),
                     now)
    session.commit()
    assert report.created == 9
    assert run()["arrest_rank"] == 2  # the imported 9 arrests outrank B's 6


def test_a_deletion_elsewhere_is_seen_at_the_next_full_check(session, borough, now,
                                                            db_engine, monkeypatch):
    """Another process deleting events changes no id: the periodic recount sees it."""
    from sqlalchemy import delete

    from workflow import criteria_facts

    a = _case(session, borough["A"], now)
    session.commit()
    assert facts_for_cases(session, [a], now)[a.id]["arrest_rank"] == 1
    session.commit()  # end this read: the other writer needs the write lock (SQLite)
    with db_engine.begin() as other:  # not through a session: nothing invalidates
        other.execute(delete(OffendingEvent).where(
            OffendingEvent.person_id == borough["A"].id,
            OffendingEvent.partner_ref.notlike("%-0")))  # A keeps 1 of its 5 arrests
    session.expire_all()
    facts = facts_for_cases(session, [a], now)[a.id]
    # own count is fresh (1), the cached borough still holds A's old 5: place 4, stale
    assert facts["arrests_window"] == 1 and facts["arrest_rank"] == 4
    monkeypatch.setattr(criteria_facts, "FULL_CHECK_SECONDS", 0)
    assert facts_for_cases(session, [a], now)[a.id]["arrest_rank"] == 3  # after B and C


def test_a_bulk_delete_through_a_session_forgets_the_ranking(session, borough, now):
    from sqlalchemy import delete

    a = _case(session, borough["A"], now)
    session.commit()
    assert facts_for_cases(session, [a], now)[a.id]["arrest_rank"] == 1
    session.execute(delete(OffendingEvent).where(OffendingEvent.person_id == borough["C"].id))
    session.execute(delete(OffendingEvent).where(OffendingEvent.person_id == borough["B"].id))
    session.commit()
    assert facts_for_cases(session, [a], now)[a.id]["arrest_rank"] == 1
    d = _case(session, borough["D"], now)
    session.commit()
    assert facts_for_cases(session, [d], now)[d.id]["arrest_rank"] == 2  # only A above
