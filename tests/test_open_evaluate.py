"""A pass opens and evaluates new people's cases in one step (``scheduler.opening``,
``workflow.open_evaluate``): it must leave exactly what opening every case first and
then advancing the due ones would (cases, tasks, audit entries, the pass's report), on
a varied borough, over passes with a moving clock, with a case whose facts cannot be
built, a returning person, and a per-pass cap that cuts the opened cases."""

from __future__ import annotations

import dataclasses
import random
import shutil
from datetime import date, timedelta

import pytest
from dbsupport import ROOT, _truncate_pg
from sqlalchemy import select

from db.models import (
    Assessment,
    AuditEntry,
    Case,
    ComplianceEvent,
    OffendingEvent,
    PartnerFlag,
    Person,
    Supervision,
    Task,
)
from db.session import transaction
from scheduler.jobs import advance_due
from workflow.audit import verify
from workflow.cases import open_missing, open_missing_cases, people_without_case
from workflow.config import load_settings
from workflow.open_evaluate import open_evaluated
from workflow.policy.store import policy_in_force, seed_policy
from workflow.rulesets import sync_shipped
from workflow.runtime import Runtime

CATEGORIES = ("theft", "robbery", "domestic_burglary", "violence", "fraud", "other_burglary")
FLAGS = (("mappa_level", ("1", "2", "3")), ("yos_referral", ("true", "no")),
         ("ppo", ("yes", "false")), ("gang_grade", ("High", "low")))
CASE_COLUMNS = ("episode", "state", "state_since", "opened_at", "closed_at", "next_due_at",
                "last_outcome", "last_versions", "cohort", "intensity", "activity_score",
                "lead_user_id", "last_error", "guard_due_at", "guard_override", "version")
TASK_COLUMNS = ("template", "title", "body", "role", "agency", "priority", "status",
                "due_at", "rule_id", "ruleset", "ruleset_version", "created_at")


def _person(session, i: int, rng: random.Random, now, *, prefix: str = "B") -> Person:
    """A person with a varied record: none, a little, or enough to be selected; some
    young, some flagged (MAPPA: excluded), some assessed, one whose facts fail (sex X)."""
    today = now.date()
    young = i % 9 == 4
    person = Person(partner_ref=f"{prefix}{i:03d}", given_name="A", family_name=f"P{i}",
                    sex="X" if i == 23 else ("F" if i % 3 == 0 else "M"),
                    date_of_birth=date(2008, 5, 1) if young else date(1965 + i % 35, 3, 1),
                    first_sanction_on=today - timedelta(days=2500 + 30 * i) if i % 4 else None)
    session.add(person)
    session.flush()
    for k in range(0 if i % 5 == 1 else rng.randint(1, 6)):
        session.add(OffendingEvent(
            partner_ref=f"{prefix}{i}-E{k}", person_id=person.id, offence_category=rng.choice(
                CATEGORIES), kind=rng.choice(("arrest", "charge", "conviction")),
            occurred_on=today - timedelta(days=rng.randint(5, 900))))
    if i % 4 == 0:
        session.add(Assessment(partner_ref=f"{prefix}{i}-A", person_id=person.id,
                               assessed_on=today - timedelta(days=20),
                               ogrs_2yr=rng.choice((30, 62, 81, 90))))
    for kind, values in rng.sample(FLAGS, rng.randint(0, 2)):
        session.add(PartnerFlag(partner_ref=f"{prefix}{i}-{kind}", person_id=person.id,
                                kind=kind, value=rng.choice(values),
                                recorded_on=today - timedelta(days=rng.randint(1, 60))))
    if i % 6 == 2:
        session.add(Supervision(partner_ref=f"{prefix}{i}-S", person_id=person.id,
                                provider=rng.choice(("NPS", "CRC")),
                                start_on=today - timedelta(days=rng.randint(10, 300))))
    if i % 7 == 3:
        session.add(ComplianceEvent(event_id=f"{prefix}{i}-C", person_id=person.id,
                                    kind="custody_out", recorded_by="test",
                                    occurred_at=now - timedelta(days=rng.randint(2, 90))))
    return person


def _borough(session, now) -> None:
    """60 people without a case, and some with one already: due and not, mapping and
    matrixing, and a closed case whose person offended again (reopened)."""
    rng = random.Random(16)
    people = [_person(session, i, rng, now) for i in range(60)]
    for n, person in enumerate(people[::11]):  # existing cases, before anyone new
        session.add(Case(person_id=person.id, state="matrixing" if n % 2 else "mapping",
                         state_since=now - timedelta(days=9), opened_at=now - timedelta(days=9),
                         next_due_at=now - timedelta(hours=1) if n % 3 else now
                         + timedelta(days=2)))
    back = people[5]
    session.add(Case(person_id=back.id, state="exited", state_since=now - timedelta(days=50),
                     opened_at=now - timedelta(days=200), closed_at=now - timedelta(days=50)))
    session.add(OffendingEvent(partner_ref="B5-again", person_id=back.id, kind="arrest",
                               offence_category="robbery",
                               occurred_on=(now - timedelta(days=3)).date()))


def _runtime(url: str, audit_files: dict, batch: int) -> Runtime:
    settings = load_settings(ROOT / "config.toml", env={
        "IOM_DATABASE_URL": url, **audit_files, "IOM_SCHEDULER_CHUNK_SIZE": "7"})
    return Runtime.from_settings(dataclasses.replace(settings, batch_size=batch))


def _snapshot(session) -> dict:
    """Everything a pass leaves, keyed by person (not by id): cases, tasks, the audit
    entries of each case in chain order."""
    ref = dict(session.execute(select(Person.id, Person.partner_ref)).all())
    cases = {(ref[c.person_id], c.episode): c for c in session.scalars(select(Case))}
    by_id = {c.id: key for key, c in cases.items()}
    tasks: dict = {}
    for t in session.scalars(select(Task).order_by(Task.id)):
        tasks.setdefault(by_id[t.case_id], []).append(
            tuple(getattr(t, k) for k in TASK_COLUMNS))
    entries: dict = {}
    for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
        entries.setdefault(by_id.get(e.case_id), []).append(
            (e.kind, e.actor, e.occurred_at, e.person_ref, e.summary, e.payload))
    return {"cases": {key: tuple(getattr(c, k) for k in CASE_COLUMNS)
                      for key, c in cases.items()},
            "tasks": {k: sorted(v, key=repr) for k, v in tasks.items()}, "audit": entries}


def _report(report, session) -> tuple:
    key = {c.id: (p, c.episode) for c, p in session.execute(
        select(Case, Person.partner_ref).join(Person, Person.id == Case.person_id))}
    return (report.opened, report.reopened, report.evaluated,
            sorted((key[r.case_id], r.source, r.target, r.outcome) for r in report.moved),
            sorted((key[i], message) for i, message in report.failed.items()))


def _passes(url: str, audit_files: dict, now, *, fused: bool, batch: int) -> tuple:
    """Three passes over the borough (new people arriving before the third), each
    opening first (``fused`` False: every missing case opened, then the pass) or not."""
    rt = _runtime(url, audit_files, batch)
    reports = []
    try:
        with transaction(rt.sessions) as session:
            sync_shipped(session, now=now.replace(year=now.year - 1))
            seed_policy(session, rt.settings, now=now.replace(year=now.year - 1))
            _borough(session, now)
        for n, moment in enumerate((now, now + timedelta(days=8), now + timedelta(days=16))):
            if n == 2:
                with transaction(rt.sessions) as session:
                    rng = random.Random(7)
                    for i in range(12):
                        _person(session, 100 + i, rng, moment, prefix="L")
            if not fused:
                with transaction(rt.sessions) as session:
                    open_missing(session, now=moment, actor="scheduler")
            report = advance_due(rt, now=moment)
            with transaction(rt.sessions) as session:
                reports.append(_report(report, session))
        with transaction(rt.sessions) as session:
            assert verify(session).ok
            return reports, _snapshot(session)
    finally:
        rt.close()


def _fresh(url: str, sqlite_template) -> str:
    """An empty migrated database again at ``url`` (ids from 1 again)."""
    if url.startswith("sqlite"):
        shutil.copy(sqlite_template, url.removeprefix("sqlite:///"))
    else:
        _truncate_pg(url)
    return url


@pytest.mark.parametrize("batch", [10_000, 30])
def test_opening_and_evaluating_together_leaves_what_opening_then_advancing_does(
        db_url, audit_files, now, batch, request):
    template = request.getfixturevalue("sqlite_template") if db_url.startswith(
        "sqlite") else None
    separate_reports, separate = _passes(db_url, audit_files, now, fused=False, batch=batch)
    fused_reports, fused = _passes(_fresh(db_url, template), audit_files, now, fused=True,
                                   batch=batch)

    # the borough is varied: cases moved, stayed, were excluded, got tasks, one failed
    assert separate_reports[0][:2] == (0, 1)  # opened before the pass; one reopened
    assert all(any(r[k] for r in separate_reports) for k in (3, 4))  # moves, a failure
    assert [r[0] for r in fused_reports] == [60 - 7, 0, 12]  # 7 had a case already
    states = {row[1] for row in separate["cases"].values()}
    assert {"mapping", "matrixing"} <= states and len(states) > 2, states
    assert separate["tasks"] and any(row[12] for row in separate["cases"].values())
    assert [r[1:] for r in fused_reports] == [r[1:] for r in separate_reports]
    for part in ("cases", "tasks", "audit"):
        differ = {k: (fused[part].get(k), separate[part].get(k))
                  for k in set(fused[part]) | set(separate[part])
                  if fused[part].get(k) != separate[part].get(k)}
        assert not differ, (part, differ)


@pytest.mark.usefixtures("published")
def test_a_person_opened_by_another_process_meanwhile_is_skipped(session, now, settings):
    """The chunk's people were read without a case; another process opens one of theirs
    before the chunk inserts: that person is not opened twice, evaluated or audited."""
    rng = random.Random(3)
    people = [_person(session, i, rng, now) for i in (0, 4, 8, 12)]
    session.commit()
    page = people_without_case(session, after_id=0, limit=10)
    assert [pid for pid, _ in page] == [p.id for p in people]
    other = open_missing_cases(session, now=now, actor="api", limit=2)  # "meanwhile"
    session.commit()
    policy = policy_in_force(session, settings, now)
    opened = open_evaluated(session, page, now=now, actor="scheduler", policy=policy)
    session.commit()

    cases = session.scalars(select(Case).order_by(Case.person_id)).all()
    assert [c.person_id for c in cases] == [p.id for p in people]  # one case each
    ours = [c.id for c in cases if c.id not in {o.id for o in other}]
    assert sorted(r.case_id for r in opened.results) == ours and len(ours) == 2
    actors = [(e.case_id, e.actor) for e in session.scalars(
        select(AuditEntry).where(AuditEntry.kind == "case.opened").order_by(AuditEntry.seq))]
    assert actors == [(o.id, "api") for o in other] + [(i, "scheduler") for i in ours]
    assert all(c.version == 1 and c.next_due_at == now for c in other)  # not evaluated
    assert verify(session).ok
