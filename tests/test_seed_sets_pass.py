"""The Sunderland and neighbourhood-crime sets, switched into the mapping stage, select
from stored partner data through a real scheduler pass (facts built from the database,
rules through the real engine, transitions audited with the rule that selected)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from db.models import AuditEntry, Case, OffendingEvent, PartnerFlag, Supervision
from scheduler.jobs import advance_due
from workflow.runtime import Runtime


def _with_mapping(runtime: Runtime, *names: str, now) -> Runtime:
    """Switch the mapping stage as a borough does: publish a stage-policy version."""
    from policy_helpers import publish_policy

    with runtime.sessions() as session:
        publish_policy(session, runtime.settings, now=now - timedelta(hours=1),
                       edit=lambda d: d["purposes"]["mapping"].update(
                           rulesets=["mappa-exclusion", *names]))
    return runtime


def _arrests(session, person, categories, today, *, kind="arrest"):
    session.add_all(OffendingEvent(partner_ref=f"{person.partner_ref}-{kind}-{i}",
                                   person=person, kind=kind, offence_category=c,
                                   occurred_on=today - timedelta(days=20 + i))
                    for i, c in enumerate(categories))


def _flag(session, person, kind, value, today):
    session.add(PartnerFlag(partner_ref=f"{person.partner_ref}-{kind}", person=person,
                            kind=kind, value=value, recorded_on=today - timedelta(days=5)))


def _supervised(session, person, today, provider="CRC"):
    session.add(Supervision(partner_ref=f"{person.partner_ref}-sup", person=person,
                            provider=provider, start_on=today - timedelta(days=300)))


def _selected_by(session) -> dict[str, set[str]]:
    """``{person_ref: rules that selected}`` from the audited transitions."""
    out = {}
    for entry in session.scalars(select(AuditEntry).where(
            AuditEntry.kind == "case.transition")):
        cause = entry.payload["cause"]
        if cause.get("outcome") == "select":
            out[entry.person_ref] = {d["rule"] for d in cause["decisions"]
                                     if d["action"] == "select"}
    return out


@pytest.mark.usefixtures("published")
def test_sunderland_selects_top_200_drr_and_treatment_dropouts(runtime, session,
                                                               make_person, now):
    today = now.date()
    for i in range(200):  # 200 people with 3 arrests each: all share place 1
        _arrests(session, make_person(f"T{i:03d}"), ["theft"] * 3, today)
    _arrests(session, make_person("PLACE201"), ["robbery"] * 2, today)  # place 201
    drr = make_person("DRR")
    _flag(session, drr, "drr", "true", today)
    _supervised(session, drr, today)
    dropout = make_person("DROPOUT")
    _flag(session, dropout, "treatment", "not_retained", today)
    supervised_dropout = make_person("SUPDROP")
    _flag(session, supervised_dropout, "treatment", "not_retained", today)
    _supervised(session, supervised_dropout, today, "NPS")
    session.commit()

    report = advance_due(_with_mapping(runtime, "sunderland-selection", now=now), now=now)

    assert report.opened == 204 and not report.failed
    selected = _selected_by(session)
    assert len(selected) == 202
    assert {ref: rules for ref, rules in selected.items() if not ref.startswith("T")} == {
        "DRR": {"on-drr"}, "DROPOUT": {"not-retained-in-treatment"}}
    assert all(selected[f"T{i:03d}"] == {"top-200-crime-causers"} for i in range(200))
    states = dict(session.execute(select(Case.person_id, Case.state)).all())
    assert sorted(states.values()).count("mapping") == 2  # place 201 and the NPS case


@pytest.mark.usefixtures("published")
def test_neighbourhood_crime_streams_record_the_stream(runtime, session, make_person, now):
    today = now.date()
    fixed = make_person("FIXED")
    _arrests(session, fixed, ["domestic_burglary"], today, kind="conviction")
    _supervised(session, fixed, today)
    flex = make_person("FLEX")
    _arrests(session, flex, ["robbery", "theft_from_vehicle", "other_burglary"], today)
    free = make_person("FREE")
    _arrests(session, free, ["taking_vehicle"], today)
    _flag(session, free, "ppo", "true", today)
    other = make_person("OTHER")  # supervised, but convicted of violence only
    _arrests(session, other, ["violence"], today, kind="conviction")
    _supervised(session, other, today)
    session.commit()

    advance_due(_with_mapping(runtime, "neighbourhood-crime-streams", now=now), now=now)

    cohorts = {c.person.partner_ref: (c.state, c.cohort) for c in session.scalars(select(Case))}
    assert cohorts["FIXED"] == ("matrixing", "fixed")
    assert cohorts["FLEX"][1] == "flex" and cohorts["FREE"][1] == "free"
    assert cohorts["OTHER"] == ("mapping", None)
    # FLEX is also among the 100 highest-harm arrested people: both Flex rules fired
    assert _selected_by(session)["FLEX"] == {"flex-repeat-neighbourhood-crime",
                                             "flex-high-harm"}
