"""The scheduler's chunk path and the per-case path build the same facts.

A pass claims a chunk of cases as plain rows, builds the facts of the whole chunk at
once and only the groups its rule sets read (``workflow.advance_chunk``); explain,
preview and the evaluate API build every fact of one case from its ORM object. On a
varied population (every event kind, in and out of the window and in the future,
assessments, flags, supervision, custody and compliance events, two states), both
paths must give every case the same facts and the same decisions, and what a pass
records for a case that moves holds every fact.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from sqlalchemy import select, text

from db.bulk import insert_rows
from db.models import (
    Assessment,
    AuditEntry,
    Case,
    ComplianceEvent,
    OffendingEvent,
    PartnerFlag,
    Person,
    Supervision,
)
from rules.catalogue import CATALOGUE
from scheduler.jobs import advance_due
from workflow.advance import evaluate_cases, full_facts, needed_facts, stage_documents
from workflow.advance_chunk import claim_rows
from workflow.cases import ANALYZE_OPENED
from workflow.facts import facts_for_cases
from workflow.policy.store import policy_in_force

KINDS = ("arrest", "charge", "conviction", "caution")
CATEGORIES = ("theft", "robbery", "domestic_burglary", "violence", "drug_possession_supply",
              "fraud", "other_burglary")
CASE_FACTS = {k for k in CATALOGUE if not k.startswith("lead_room_")}  # not allocation's
FLAGS = (("mappa_level", ("1", "2", "3")), ("yos_referral", ("true", "no")),
         ("ppo", ("yes", "false")), ("gang_grade", ("High", "low", "none")),
         ("drr", ("true",)), ("treatment", ("not_retained", "completed")))


def _population(session, make_person, now, n=36, seed=16) -> list[Case]:
    """``n`` people with a varied record each, one open case each (mapping or matrixing)."""
    rng, today = random.Random(seed), now.date()
    cases = []
    for i in range(n):
        person = make_person(f"V{i:03d}", sex="F" if i % 3 == 0 else "M",
                             dob=date(1960 + i % 45, 1 + i % 12, 1 + i % 28),
                             first_sanction_on=(today - timedelta(days=3000 + 40 * i)
                                                if i % 4 else None))
        for k in range(rng.randint(0, 7)):
            session.add(OffendingEvent(
                partner_ref=f"V{i}-E{k}", person=person, kind=rng.choice(KINDS),
                offence_category=rng.choice(CATEGORIES),
                occurred_on=today - timedelta(days=rng.randint(-20, 1200))))
        if i % 5 == 0:
            session.add(Assessment(partner_ref=f"V{i}-A", person=person,
                                   assessed_on=today - timedelta(days=30), ogrs_1yr=40 + i,
                                   ogrs_2yr=50 + i))
        for kind, values in rng.sample(FLAGS, rng.randint(0, 3)):
            session.add(PartnerFlag(partner_ref=f"V{i}-{kind}", person=person, kind=kind,
                                    value=rng.choice(values),
                                    recorded_on=today - timedelta(days=rng.randint(1, 90))))
        if i % 3 == 1:
            session.add(Supervision(partner_ref=f"V{i}-S", person=person,
                                    provider=rng.choice(("NPS", "CRC", "none")),
                                    start_on=today - timedelta(days=rng.randint(10, 400))))
        for k, kind in enumerate(rng.sample(("custody_in", "custody_out", "arrest",
                                             "appointment_missed", "drug_test_positive"),
                                            rng.randint(0, 3))):
            session.add(ComplianceEvent(
                event_id=f"V{i}-C{k}", person_id=person.id, kind=kind, recorded_by="test",
                occurred_at=now - timedelta(days=rng.randint(1, 400), hours=k)))
        case = Case(person=person, state="matrixing" if i % 4 == 3 else "mapping",
                    state_since=now - timedelta(days=i), opened_at=now - timedelta(days=i),
                    next_due_at=now - timedelta(minutes=1))
        session.add(case)
        cases.append(case)
    session.commit()
    return cases


@pytest.mark.usefixtures("published")
def test_chunk_rows_and_one_case_at_a_time_build_the_same_facts(session, make_person, now,
                                                                 settings):
    cases = _population(session, make_person, now)
    policy = policy_in_force(session, settings, now)
    one_at_a_time = {c.id: facts_for_cases(session, [c], now, policy.window)[c.id]
                     for c in cases}
    rows = claim_rows(session, [c.id for c in cases])
    chunk = facts_for_cases(session, rows, now, policy.window)

    assert len(rows) == len(cases)
    assert chunk == one_at_a_time
    assert {k for facts in chunk.values() for k in facts} == CASE_FACTS
    # the population is varied: the facts the mapping sets read take several values
    for fact in ("ogrs_2yr", "offence_category", "newly_sentenced", "mappa_level",
                 "activity_score", "in_custody", "arrest_rank"):
        assert len({repr(f[fact]) for f in chunk.values()}) > 1, fact


@pytest.mark.usefixtures("published")
def test_only_the_needed_groups_give_the_same_values_and_decisions(session, make_person,
                                                                   now, settings):
    cases = _population(session, make_person, now)
    policy = policy_in_force(session, settings, now)
    docs = [d for stage in ("mapping", "matrixing")
            for d in stage_documents(session, policy, stage, now=now)]
    needed = needed_facts(docs)
    full = facts_for_cases(session, cases, now, policy.window)
    some = facts_for_cases(session, cases, now, policy.window, needed)
    for case_id, facts in some.items():
        assert needed <= facts.keys()
        assert facts == {k: v for k, v in full[case_id].items() if k in facts}

    rows = claim_rows(session, [c.id for c in cases])
    quick = evaluate_cases(session, rows, now=now, policy=policy, only_needed=True)
    every = evaluate_cases(session, cases, now=now, policy=policy)
    assert [(e.case_id, e.outcome, e.event, e.decisions) for e in quick] == [
        (e.case_id, e.outcome, e.event, e.decisions) for e in every]
    assert {e.outcome for e in every} > {None}  # some cases are selected or excluded
    full_facts(session, rows, quick, now=now, policy=policy)
    assert [e.facts for e in quick] == [e.facts for e in every]


@pytest.mark.usefixtures("published")
def test_a_pass_records_every_fact_of_a_case_it_moves(runtime, session, make_person, now):
    cases = _population(session, make_person, now)

    report = advance_due(runtime, now=now)

    assert report.evaluated == len(cases) and not report.failed and report.moved
    session.expire_all()
    moves = session.scalars(select(AuditEntry).where(
        AuditEntry.kind == "case.transition")).all()
    assert {e.case_id for e in moves} == {r.case_id for r in report.moved}
    for entry in moves:
        assert set(entry.payload["cause"]["facts"]) == CASE_FACTS


@pytest.mark.usefixtures("published")
def test_a_pass_that_opens_a_borough_refreshes_the_cases_statistics(runtime, session, now,
                                                                    db_url):
    """Else the same pass's due pages are planned for an empty table: a bitmap scan of
    every case per page (0.9 s a page at 1M cases)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("planner statistics are a PostgreSQL matter here")

    def add_people(first: int, count: int) -> None:
        insert_rows(session, Person.__table__, [
            {"id": i, "partner_ref": f"B{i}", "given_name": "A", "family_name": f"P{i}",
             "sex": "M", "date_of_birth": date(1980, 1, 1), "created_at": now}
            for i in range(first, first + count)])
        session.execute(text(f"SELECT setval('person_id_seq', {first + count})"))
        session.commit()

    def reltuples() -> float:
        return session.scalar(text("SELECT reltuples FROM pg_class "
                                   "WHERE relname = 'iom_case'"))

    session.execute(text("ANALYZE iom_case"))
    session.commit()
    assert reltuples() == 0
    add_people(1, ANALYZE_OPENED)
    assert advance_due(runtime, now=now).opened == ANALYZE_OPENED
    assert reltuples() == ANALYZE_OPENED  # counted before the cases were evaluated
