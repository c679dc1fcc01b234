"""Review by intensity tier (retain / deselect by rule), custody, re-selection, and the
idempotency of every scheduler job (a second pass at the same instant does nothing)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from db.models import AuditEntry, Case, OffendingEvent, RuleSetPublication, RuleSetVersion
from rules.document import load_document
from scheduler.jobs import advance_due, reviews_due, run_all
from workflow.audit import verify
from workflow.config import StagePolicy
from workflow.errors import Forbidden, IllegalTransition
from workflow.review import custody
from workflow.runtime import Runtime

REVIEW_DOC = """name: review-retention
stages: [review]
title: Review retention
description: Retain cases still active; de-select those whose activity fell.
owner: tests
source: tests
rules:
  - id: still-active
    principles: [5]
    description: Activity 5 or more keeps the case.
    priority: 10
    when: {fact: activity_score, gte: 5}
    then:
      action: retain
      params: {reason: still active}
  - id: risk-fell
    principles: [5]
    description: Activity below 5 takes the case out.
    priority: 10
    when: {fact: activity_score, lt: 5}
    then:
      action: deselect
      params: {reason: activity fell below 5}
"""


@pytest.fixture
def review_runtime(session, runtime, published, now):
    """A runtime whose review stage evaluates the review-retention rule set (published)."""
    doc = load_document(REVIEW_DOC, file="review-retention")
    row = RuleSetVersion(name=doc.name, version=doc.version, stage="review", document=doc.text,
                         status="published", reason="test", created_by="t", created_at=now,
                         published_by="t", published_at=now - timedelta(days=30))
    session.add(row)
    session.add(RuleSetPublication(name=doc.name, version=row, kind="publish", actor="t",
                                   published_at=now - timedelta(days=30), recorded_at=now,
                                   reason="test"))
    session.commit()
    stages = {**runtime.settings.stages, "review": StagePolicy(("review-retention",), 7)}
    return Runtime(dataclasses.replace(runtime.settings, stages=stages), runtime.engine,
                   runtime.sessions)


def _allocated(make_case, session, now, *, arrests, tier="high", due=None):
    """Robbery with arrests: activity 5+; theft without arrests: activity below 5."""
    case = make_case(state="allocated", ogrs=80, arrests=arrests,
                     offence="robbery" if arrests else "theft")
    case.intensity = tier
    case.next_due_at = due or now - timedelta(days=1)
    session.commit()
    return case


def test_review_retains_or_deselects_by_rule_and_reschedules_by_tier(
        review_runtime, session, make_case, now):
    active = _allocated(make_case, session, now, arrests=4)
    quiet = _allocated(make_case, session, now, arrests=0, tier="low")
    later = _allocated(make_case, session, now, arrests=4, due=now + timedelta(days=3))
    assert sorted(reviews_due(review_runtime, now=now).done) == sorted([active.id, quiet.id])
    report = advance_due(review_runtime, now=now)
    moves = {r.case_id: (r.source, r.target) for r in report.moved}
    assert moves[active.id] == ("review", "allocated")
    assert moves[quiet.id] == ("review", "exited")
    session.expire_all()
    assert session.get(Case, active.id).next_due_at == now + timedelta(days=56)  # high tier
    assert session.get(Case, later.id).state == "allocated"
    assert session.get(Case, quiet.id).closed_at == now
    assert verify(session).ok


@pytest.mark.usefixtures("published")  # a release is checked by the exclusion guards
def test_custody_suspends_and_release_reschedules_review(settings, session, make_case,
                                                         make_user, now):
    om, _ = make_user("om1", role="offender_manager", agency="CRC")
    auditor, _ = make_user("aud", role="auditor")
    case = _allocated(make_case, session, now, arrests=0, tier="very_high")
    with pytest.raises(Forbidden):
        custody(session, case, event="custody_in", reason="remand", now=now, user=auditor,
                settings=settings)
    custody(session, case, event="custody_in", reason="remanded", now=now, user=om,
            settings=settings)
    assert (case.state, case.next_due_at) == ("suspended", None)
    with pytest.raises(IllegalTransition):
        custody(session, case, event="custody_in", reason="again", now=now, user=om,
                settings=settings)
    out = now + timedelta(days=60)
    custody(session, case, event="custody_out", reason="released on licence", now=out,
            user=om, settings=settings)
    session.commit()
    assert case.state == "allocated" and case.next_due_at == out + timedelta(days=28)
    causes = [e.payload["cause"] for e in session.scalars(select(AuditEntry).where(
        AuditEntry.case_id == case.id, AuditEntry.kind == "case.transition"))]
    assert [c["reason"] for c in causes] == ["remanded", "released on licence"]
    assert all(c["role"] == "offender_manager" for c in causes)


@pytest.mark.usefixtures("published")
def test_new_offending_after_exit_opens_a_new_episode_once(runtime, session, make_case, now):
    old = make_case(state="exited", ogrs=80)
    old.closed_at, old.next_due_at = now - timedelta(days=20), None
    session.commit()
    assert advance_due(runtime, now=now).reopened == 0  # nothing new since it closed
    session.add(OffendingEvent(partner_ref="NEW1", person_id=old.person_id, kind="arrest",
                               occurred_on=(now - timedelta(days=2)).date(),
                               offence_category="robbery"))
    session.commit()
    assert advance_due(runtime, now=now).reopened == 1
    assert advance_due(runtime, now=now).reopened == 0
    episodes = session.scalars(select(Case).where(Case.person_id == old.person_id)
                               .order_by(Case.episode)).all()
    assert [(c.episode, c.closed_at is None) for c in episodes] == [(1, False), (2, True)]
    assert episodes[1].state in ("mapping", "matrixing", "panel")  # re-selected, moving on
    reopened = session.scalars(select(AuditEntry).where(AuditEntry.kind == "case.reopened")
                               ).one()
    assert reopened.case_id == episodes[1].id and "robbery" in reopened.summary


def test_every_job_is_idempotent_at_the_same_instant(review_runtime, session, make_case,
                                                     make_user, now):
    lead, _ = make_user("lead1", role="team_lead")
    _allocated(make_case, session, now, arrests=4)               # review due
    deferred = make_case(state="deferred", ogrs=80)              # deferral date reached
    deferred.next_due_at = now - timedelta(hours=1)
    _allocated(make_case, session, now, arrests=0, due=now + timedelta(days=9))
    waiting = make_case(state="allocated", ogrs=80)              # no police lead exists
    waiting.next_due_at = now + timedelta(days=50)
    make_case(ogrs=81)                                           # mapping, due
    flagged = make_case(state="allocated", ogrs=80, mappa=2)     # MAPPA flag arrived
    flagged.next_due_at, flagged.guard_due_at = now + timedelta(days=50), now
    session.commit()
    advanced, jobs = run_all(review_runtime, now=now)
    *case_jobs, task_job = jobs
    assert {j.name: bool(j.done or j.note) for j in case_jobs} == {
        "exclusion guards": True, "reviews due": True, "deferred represented": True,
        "allocation": True, "panel agenda": True}
    for _ in range(3):  # converge: cases entering a rule-driven stage are evaluated next pass
        run_all(review_runtime, now=now)
    count = session.scalar(select(func.count()).select_from(AuditEntry))
    session.commit()  # end this read: a pass needs the write lock (SQLite)
    again, jobs = run_all(review_runtime, now=now)
    *case_jobs, task_job = jobs
    assert again.evaluated == 0 and not again.moved and again.opened == 0
    assert all(not j.done and not j.failed for j in case_jobs)
    assert task_job.raised == 0
    assert (task_job.reminders.reminded, task_job.reminders.escalated) == (0, 0)
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == count
    session.expire_all()
    assert session.get(Case, waiting.id).lead_user_id is None
    assert verify(session).ok
