"""The database's summary of each person's offending record (``workflow.offending``) is
what a walk over their events in recorded order gives (the specification below, as the
fact builder computed it before the summary moved into SQL), on each backend: ties on a
date, events after ``today``, events exactly at the window and newly-sentenced
boundaries, cautions, a category the reference does not weigh, people with no event.
"""

from __future__ import annotations

import math
import random
from datetime import date, timedelta

from sqlalchemy import select

from db.models import Case, OffendingEvent
from workflow.facts import FactWindow, facts_for_cases
from workflow.offending import (
    BILLION,
    CURRENT_KINDS,
    DEFAULT_GRAVITY,
    DRUG_CATEGORIES,
    NO_RECORD,
    Record,
    activity_reference,
    records,
)
from workflow.scoring import sanctions_of

WINDOW = FactWindow()
CATEGORIES = ("theft", "robbery", "violence", "drug_possession_supply", "fraud",
              "drug_import_production", "not_weighted")


def _walk(events, today: date, since: date, sentenced_since: date) -> Record:
    """The specification: one walk over a person's events up to ``today``, by id."""
    ref = activity_reference()
    weights, gravity, half_life = ref["kind_weight"], ref["gravity"], ref["half_life_days"]
    score, arrests, drug, convicted, newly, last_arrest = 0.0, 0, 0, 0, False, None
    latest, convictions, cautions = {}, [], []
    for e in sorted((e for e in events if e.occurred_on <= today), key=lambda e: e.id):
        kind, on, category = e.kind, e.occurred_on, e.offence_category
        if kind in CURRENT_KINDS and (kind not in latest or (on, e.id) > latest[kind][0]):
            latest[kind] = ((on, e.id), category)
        if kind == "conviction":
            convictions.append((on, category))
            newly = newly or on >= sentenced_since
        elif kind == "caution":
            cautions.append((on, category))
        elif kind == "arrest" and (last_arrest is None or on > last_arrest):
            last_arrest = on
        if on >= since:
            term = (weights[kind] * gravity.get(category, DEFAULT_GRAVITY)
                    * 0.5 ** ((today - on).days / half_life))
            score += math.floor(term * BILLION + 0.5)  # in billionths: exact sums
            arrests += kind == "arrest"
            drug += kind == "arrest" and category in DRUG_CATEGORIES
            convicted += kind == "conviction"
    if not latest and not cautions:
        return NO_RECORD
    return Record(next((latest[k][1] for k in CURRENT_KINDS if k in latest), None), newly,
                  arrests, drug, convicted, round(score / BILLION, 2), last_arrest,
                  sanctions_of(convictions, cautions))


def _people(session, make_person, today: date) -> list:
    """Edge cases first, then a random population."""
    since = today - timedelta(days=WINDOW.window_days)
    sentenced = today - timedelta(days=WINDOW.newly_sentenced_days)
    d = today - timedelta(days=100)
    edge = [
        [],  # no event
        [("conviction", d, "theft"), ("conviction", d, "robbery"), ("caution", d, "fraud"),
         ("charge", d, "violence"), ("arrest", d, "theft")],  # ties on a date
        [("caution", d, "fraud"), ("caution", d, "theft"), ("arrest", d - timedelta(1),
                                                            "robbery")],  # cautions only
        [("caution", today - timedelta(5), "theft")],  # a caution and nothing else
        [("conviction", today + timedelta(1), "robbery"), ("arrest", today, "theft"),
         ("arrest", today + timedelta(30), "violence")],  # after today
        [("arrest", since, "drug_possession_supply"), ("conviction", since, "robbery"),
         ("arrest", since - timedelta(1), "drug_import_production"),
         ("conviction", since - timedelta(1), "theft")],  # the window's first day
        [("conviction", sentenced, "theft")], [("conviction", sentenced - timedelta(1),
                                                "theft")],  # newly sentenced boundary
        [("future", today + timedelta(2), "theft")],  # only events after today
        [("arrest", d, "not_weighted"), ("charge", d, "not_weighted")],  # default gravity
    ]
    rng, people = random.Random(16), []
    for _ in range(40):
        kinds = ("arrest", "charge", "conviction", "caution")
        edge.append([(rng.choice(kinds), today - timedelta(days=rng.randint(-20, 1200)),
                      rng.choice(CATEGORIES)) for _ in range(rng.randint(0, 9))])
    for i, events in enumerate(edge):
        person = make_person(f"R{i:03d}")
        for k, (kind, on, category) in enumerate(events):
            if kind == "future":
                kind = "arrest"
            session.add(OffendingEvent(partner_ref=f"R{i}-{k}", person=person, kind=kind,
                                       occurred_on=on, offence_category=category))
        people.append(person)
    session.flush()
    return people


def test_the_summary_is_the_walk_over_the_events(session, make_person, now):
    today = now.date()
    since = today - timedelta(days=WINDOW.window_days)
    sentenced = today - timedelta(days=WINDOW.newly_sentenced_days)
    people = _people(session, make_person, today)
    events = session.scalars(select(OffendingEvent)).all()

    got = records(session, [p.id for p in people], today, since, sentenced)

    for person in people:
        mine = [e for e in events if e.person_id == person.id]
        assert got.get(person.id, NO_RECORD) == _walk(mine, today, since, sentenced), person
    # one at a time (another plan, another order of rows): the same records
    for person in people[:12]:
        assert records(session, [person.id], today, since, sentenced) == (
            {person.id: got[person.id]} if person.id in got else {})
    assert NO_RECORD not in got.values() and len(got) < len(people)
    assert got[people[1].id].sanctions.category == "robbery"  # the later conviction
    assert got[people[1].id].offence_category == "robbery"
    assert got[people[2].id].offence_category == "robbery"  # the arrest: no conviction
    assert got[people[3].id].offence_category is None and got[people[3].id].sanctions


def test_one_case_and_a_chunk_get_the_same_facts_from_edge_records(session, make_person,
                                                                   now):
    people = _people(session, make_person, now.date())
    cases = []
    for person in people:
        if any(e.offence_category == "not_weighted" for e in person.events):
            continue  # not a catalogue category: no facts
        cases.append(Case(person=person, state="mapping", state_since=now, opened_at=now,
                          next_due_at=now))
    session.add_all(cases)
    session.flush()
    chunk = facts_for_cases(session, cases, now)
    assert chunk == {c.id: facts_for_cases(session, [c], now)[c.id] for c in cases}
    assert chunk[cases[0].id]["offence_category"] is None  # no event
    assert chunk[cases[0].id]["ogrs_source"] is None
