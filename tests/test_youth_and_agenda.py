"""Youth (issue 11 item 4): the age floor keeps under-18s out of adult IOM, the YOS
transition protocol raises its two tasks and the case is assessed on the 18th birthday;
agenda order as rules (item 6): Bromley's burglary-and-robbery-first is data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from db.models import PartnerFlag, Task
from scheduler.jobs import advance_due
from workflow.facts import days_to_18th_birthday
from workflow.panel import build_agenda


def test_days_to_18th_birthday():
    assert days_to_18th_birthday(date(2007, 3, 10), date(2025, 3, 3)) == 7
    assert days_to_18th_birthday(date(2007, 3, 3), date(2025, 3, 3)) == 0  # the birthday
    assert days_to_18th_birthday(date(1990, 1, 1), date(2025, 3, 3)) == 0  # adult
    assert days_to_18th_birthday(date(2008, 2, 29), date(2026, 2, 27)) == 2  # 1 March 2026
    assert days_to_18th_birthday(date(2010, 1, 1), date(2025, 1, 1)) == 1095


def _young(make_case, session, now, *, days: int, yos: bool):
    """A newly sentenced OGRS-90 young person turning 18 in ``days`` days, in mapping."""
    birthday = now.date() + timedelta(days=days)
    case = make_case(ogrs=90, offence="robbery", dob=birthday.replace(year=birthday.year - 18))
    if yos:
        session.add(PartnerFlag(partner_ref=f"Y{case.id}", person_id=case.person_id,
                                kind="yos_referral", value="true",
                                recorded_on=now.date() - timedelta(days=40)))
    session.commit()
    return case, birthday


@pytest.mark.usefixtures("published")
def test_under_18_is_not_selected_gets_transition_tasks_and_is_assessed_on_the_birthday(
        runtime, session, make_case, make_user, now):
    make_user("yos1", role="offender_manager", agency="yos")
    make_user("lead1", role="team_lead")
    soon, birthday = _young(make_case, session, now, days=3, yos=True)
    later, _ = _young(make_case, session, now, days=100, yos=True)
    not_yos, _ = _young(make_case, session, now, days=3, yos=False)
    adult = make_case(ogrs=90, offence="robbery")
    report = advance_due(runtime, now=now)
    assert {r.case_id for r in report.moved} == {adult.id}  # only the adult is selected
    session.expire_all()
    for case in (soon, later, not_yos):
        assert (case.state, case.last_outcome) == ("mapping", "exclude")
    midnight = datetime.combine(birthday, datetime.min.time(), UTC)
    assert soon.next_due_at == midnight  # before the weekly recheck
    assert later.next_due_at == now + timedelta(days=7)
    tasks = session.scalars(select(Task).order_by(Task.template)).all()
    assert [(t.case_id, t.template, t.role, t.agency) for t in tasks] == [
        (soon.id, "yos_transition", "offender_manager", "yos"),
        (soon.id, "yos_transition_team_lead", "team_lead", None)]
    assert "turns 18 in 3 days" in tasks[0].title
    assert all(t.ruleset == "youth-age-floor" for t in tasks)
    # The day before the birthday nothing is due; on it the case is assessed and selected.
    session.commit()  # end this read: the pass needs the write lock (SQLite)
    before = advance_due(runtime, now=midnight - timedelta(hours=1))
    assert not {soon.id, not_yos.id, later.id} & {r.case_id for r in before.moved}
    on_the_day = advance_due(runtime, now=midnight + timedelta(hours=1))
    moved = {(r.case_id, r.target) for r in on_the_day.moved}
    assert {(soon.id, "matrixing"), (not_yos.id, "matrixing")} <= moved
    assert later.id not in {r.case_id for r in on_the_day.moved}


def _panel(make_case, session, offence, ogrs, activity):
    case = make_case(state="panel", ogrs=ogrs, offence=offence)
    case.activity_score, case.next_due_at = activity, None
    session.commit()
    return case


@pytest.mark.usefixtures("published")
@pytest.mark.parametrize("agenda, expected", [
    (("agenda-priority",), ["theft", "robbery", "burglary"]),
    (("bromley-agenda-priority",), ["robbery", "burglary", "theft"]),
])
def test_agenda_order_comes_from_the_agenda_rule_sets(session, settings, make_case, now,
                                                      agenda, expected):
    cases = {"theft": _panel(make_case, session, "theft", 80, 9.0),
             "robbery": _panel(make_case, session, "robbery", 76, 3.0),
             "burglary": _panel(make_case, session, "domestic_burglary", 60, 5.0)}
    names = {c.id: name for name, c in cases.items()}
    if agenda != ("agenda-priority",):  # the agenda sets are stage policy: publish
        from policy_helpers import publish_policy

        publish_policy(session, settings, now=now - timedelta(days=1), edit=lambda d:
                       d["purposes"]["agenda"].update(rulesets=list(agenda)))
    meeting = build_agenda(session, now=now, settings=settings)
    session.commit()
    assert [names[i.case_id] for i in meeting.items] == expected
    assert [i.rank for i in meeting.items] == [1, 2, 3]


def test_recheck_in_and_set_priority_parameters_are_checked_at_load():
    from rules.document import load_document
    from rules.errors import RuleSetError

    def doc(then: str) -> str:
        return ("name: tt\nstages: [agenda]\ntitle: t\ndescription: t\nowner: t\nrules:\n"
                "  - id: rr\n    principles: [5]\n    description: t\n"
                f"    when: {{fact: ogrs_2yr, gte: 1}}\n    then: {then}\n")

    load_document(doc("{action: set_priority, params: {score: 5, reason: ok}}"))
    load_document(doc("{action: recheck_in, params: {days_fact: days_to_18th_birthday, "
                      "reason: ok}}"))
    for bad, words in [
            ("{action: set_priority, params: {score: high, reason: x}}", "score"),
            ("{action: set_priority, params: {score: 5000, reason: x}}", "score"),
            ("{action: recheck_in, params: {days_fact: days_in_state, reason: x}}",
             "days_fact")]:
        with pytest.raises(RuleSetError) as refused:
            load_document(doc(bad), file="t.yaml")
        assert "rule rr" in str(refused.value) and words in str(refused.value), bad


@pytest.mark.usefixtures("published")
def test_evaluate_the_guards_the_agenda_and_a_stage_as_the_scheduler_does(session, policy,
                                                                          now):
    from workflow.evaluate import evaluate_facts

    young = {"id": "y", "age": 16, "days_to_18th_birthday": 400, "ogrs_2yr": 90,
             "newly_sentenced": True}
    (guard,) = evaluate_facts(session, [young], now=now, policy=policy, stage="exclusion")
    assert guard["outcome"] == "exclude"
    assert {d["ruleset"] for d in guard["decisions"]} == {"youth-age-floor"}
    (mapping,) = evaluate_facts(session, [young], now=now, policy=policy, stage="mapping")
    assert mapping["outcome"] == "exclude"  # the guard beats pan-london's select
    assert "pan-london-selection" in {d["ruleset"] for d in mapping["decisions"]}
    (agenda,) = evaluate_facts(session, [{"id": "a", "ogrs_2yr": 80, "ppo": True}], now=now,
                               policy=policy, stage="agenda")
    assert sum(d["params"]["score"] for d in agenda["decisions"]) == 25
