"""Retention purge: personal data goes, the audit stays verifiable and explainable."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from test_audit_explain import build_case_history

from db.models import (
    Assessment,
    AuditEntry,
    Case,
    OffendingEvent,
    PartnerFlag,
    Person,
    Supervision,
    Task,
)
from workflow import audit
from workflow.errors import InvalidInput
from workflow.explain import explain_case, render_text
from workflow.lifecycle import fire
from workflow.retention import purge_case_data

CUTOFF = datetime(2025, 6, 1, tzinfo=UTC)
LATER = datetime(2025, 9, 1, tzinfo=UTC)


def _close(session, case, when):
    fire(session, case, "close", now=when, actor="lead1",
         cause={"kind": "human", "reason": "left the area"})


@pytest.fixture
def estate(session, make_person, now):
    """Three people: A closed long ago (alone), B closed long ago but with a newer open
    case, C closed after the cutoff."""
    a = build_case_history(session, make_person, now, ref="N-A")
    b = build_case_history(session, make_person, now, ref="N-B", accept=False)
    c = build_case_history(session, make_person, now, ref="N-C", accept=False)
    session.add(Task(case=a, template="review", title="Quarterly review"))
    session.add(PartnerFlag(partner_ref="N-A-F", person=a.person, kind="ppo", value="true",
                            recorded_on=now.date()))
    session.add(Supervision(partner_ref="N-A-S", person=a.person, provider="CRC",
                            start_on=now.date()))
    _close(session, a, now + timedelta(days=20))
    _close(session, b, now + timedelta(days=20))
    _close(session, c, CUTOFF + timedelta(days=1))
    session.add(Case(person=b.person, episode=2, state="mapping", state_since=LATER,
                     opened_at=LATER, next_due_at=LATER))
    session.commit()
    return a, b, c


def _count(session, model, **where):
    query = select(func.count()).select_from(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    return session.scalar(query)


def test_dry_run_then_purge_keeps_a_verifiable_explainable_audit(session, estate):
    a, b, c = estate
    a_id, a_person, b_id, b_person = a.id, a.person_id, b.id, b.person_id
    entries = _count(session, AuditEntry)
    dry = purge_case_data(session, older_than=CUTOFF, now=LATER, actor="dpo", dry_run=True)
    session.commit()
    assert sorted(dry.case_ids) == sorted([a_id, b_id])
    assert dry.counts == {"cases": 2, "tasks": 1, "persons": 1, "events": 4,
                          "assessments": 1, "flags": 1, "supervisions": 1}
    assert _count(session, Case) == 4 and _count(session, AuditEntry) == entries

    report = purge_case_data(session, older_than=CUTOFF, now=LATER, actor="dpo")
    session.commit()
    assert report.counts == dry.counts and not report.dry_run
    assert session.get(Case, a_id) is None and session.get(Case, b_id) is None
    assert session.get(Person, a_person) is None
    for model in (OffendingEvent, Assessment, PartnerFlag, Supervision):
        assert _count(session, model, person_id=a_person) == 0
    assert _count(session, Task) == 0
    # B keeps their data for the open case; C's case closed after the cutoff stays.
    assert session.get(Person, b_person) is not None
    assert _count(session, OffendingEvent, person_id=b_person) == 4
    assert session.get(Case, c.id) is not None and _count(session, Case) == 2

    assert audit.verify(session).ok
    lines = explain_case(session, a_id)
    assert "pan-london-selection/ogrs-75" in lines[1].text
    assert lines[-1].kind == "case.purged" and "retention policy" in lines[-1].text
    assert "Case " + str(a_id) + " (person N-A)" in render_text(a_id, lines)

    purge = session.scalars(select(AuditEntry).where(
        AuditEntry.kind == "retention.purge")).one()
    assert purge.payload["counts"] == report.counts and purge.person_ref is None
    recorded = json.dumps(purge.payload) + purge.summary + "".join(
        e.summary + json.dumps(e.payload) for e in session.scalars(
            select(AuditEntry).where(AuditEntry.kind == "case.purged")))
    assert "N-A" not in recorded and "Alex" not in recorded  # no personal data

    entries = _count(session, AuditEntry)
    again = purge_case_data(session, older_than=CUTOFF, now=LATER, actor="dpo")
    session.commit()
    assert again.counts["cases"] == 0 and _count(session, AuditEntry) == entries


def test_cutoff_in_the_future_is_refused(session):
    with pytest.raises(InvalidInput):
        purge_case_data(session, older_than=LATER, now=CUTOFF, actor="dpo")
