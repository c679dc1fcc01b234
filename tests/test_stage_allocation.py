"""Allocation: one lead within capacity, waiting flagged once, retried; capacity report."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from db.models import AuditEntry, Case, Task
from scheduler.jobs import allocate_waiting
from workflow.allocation import allocate, capacity_report, caseload_limit
from workflow.config import load_settings
from workflow.runtime import Runtime


def _allocated(make_case, session, n):
    cases = [make_case(state="allocated", ogrs=92) for _ in range(n)]
    for c in cases:
        c.next_due_at = None
    session.commit()
    return cases


@pytest.mark.usefixtures("published")
def test_over_capacity_waits_flagged_once_then_allocates(session, settings, runtime,
                                                         make_case, make_user, now):
    from policy_helpers import publish_policy

    from workflow.policy.store import policy_in_force

    # Capacity is stage policy: a team lead publishes one nominal per police lead.
    publish_policy(session, settings, now=now, edit=lambda d: d["capacity"].update(
        nominals_per_unit=1, nonstat_police=1.0))
    one_each = settings
    assert caseload_limit(policy_in_force(session, settings, now).capacity, "police") == 1
    pc1, _ = make_user("pc1", role="police", agency="police")
    first, second = _allocated(make_case, session, 2)  # non-statutory: police-led
    assert allocate(session, first, now=now, actor="t", settings=one_each).lead_user_id == pc1.id
    waiting = allocate(session, second, now=now, actor="t", settings=one_each)
    session.commit()
    assert waiting.waiting and "capacity" in waiting.reason
    assert first.intensity == "very_high"  # intensity-by-risk: OGRS 92
    rt = Runtime(one_each, runtime.engine, runtime.sessions)
    assert allocate_waiting(rt, now=now).done == []  # still no room: no second prompt
    kinds = session.scalars(select(AuditEntry.kind).where(AuditEntry.case_id == second.id))
    assert list(kinds).count("allocation.waiting") == 1
    tasks = session.scalars(select(Task).where(Task.case_id == second.id)).all()
    assert [(t.role, t.status) for t in tasks] == [("team_lead", "open")]
    assert (tasks[0].ruleset, tasks[0].rule_id) == ("lead-professional", "wait-police")
    assert tasks[0].priority == "high" and tasks[0].due_at.date() == date(2025, 3, 4)
    assert "waits for a lead professional" in tasks[0].title
    pc2, _ = make_user("pc2", role="police", agency="police")
    assert allocate_waiting(rt, now=now).done == [second.id]
    assert allocate_waiting(rt, now=now).done == []
    session.expire_all()
    assert session.get(Case, second.id).lead_user_id == pc2.id
    assert session.get(Task, tasks[0].id).status == "done"


@pytest.mark.usefixtures("published")
def test_statutory_case_gets_least_loaded_offender_manager_of_its_provider(
        session, settings, make_case, make_user, now):
    from datetime import date

    from db.models import Supervision

    nps1, _ = make_user("nps1", role="offender_manager", agency="NPS")
    nps2, _ = make_user("nps2", role="offender_manager", agency="NPS")
    make_user("crc1", role="offender_manager", agency="CRC")
    make_user("pc1", role="police", agency="police")
    cases = _allocated(make_case, session, 3)
    for c in cases:
        session.add(Supervision(partner_ref=f"S{c.id}", person_id=c.person_id,
                                provider="NPS", start_on=date(2024, 1, 1)))
    session.commit()
    leads = [allocate(session, c, now=now, actor="t", settings=settings).lead_user_id
             for c in cases]
    assert leads == [nps1.id, nps2.id, nps1.id]


def test_capacity_report_reproduces_seed_002(tmp_path):
    """Seed 002: 180-200 clients need at least 2 more offender managers and 2 more police
    leads than 90-100, under the seed 001 section 5.3 mix (22 NPS, 34 CRC, 35 non-stat)."""
    from pathlib import Path

    cfg = load_settings(Path(__file__).resolve().parents[1] / "config.toml",
                        env={"IOM_DATABASE_URL": "sqlite://"}).capacity
    small = [capacity_report(n, cfg) for n in range(90, 101)]
    large = [capacity_report(n, cfg) for n in range(180, 201)]
    for key in ("offender_managers", "police_leads"):
        assert (min(r[key]["needed"] for r in large)
                - max(r[key]["needed"] for r in small)) >= 2, key
    # An all-CRC cohort needs more offender managers than an all-NPS one (1.3 vs 0.8).
    crc = capacity_report(40, cfg, {"CRC": 1})["offender_managers"]["fte"]
    nps = capacity_report(40, cfg, {"NPS": 1})["offender_managers"]["fte"]
    assert (crc, nps) == (1.3, 0.8)


def test_capacity_more_column_matches_seed_002():
    """Seed 002: the team in post was set up for 90-100 clients; "a caseload of 180-200
    would require a minimum addition of 2 probation offender managers, 2 more police
    leads". The "more" column says exactly that for every cohort in 180-200, and nothing
    more for the team's own cohort."""
    cfg = load_settings(Path(__file__).resolve().parents[1] / "config.toml",
                        env={"IOM_DATABASE_URL": "sqlite://"}).capacity
    for n in range(180, 201):
        r = capacity_report(n, cfg)
        assert (r["offender_managers"]["more"], r["police_leads"]["more"]) == (2, 2), n
    for n in range(90, 101):
        r = capacity_report(n, cfg)
        assert (r["offender_managers"]["more"], r["police_leads"]["more"]) == (0, 0), n
    assert capacity_report(0, cfg)["police_leads"] == {
        "fte": 0, "needed": 0, "in_post": 2, "more": 0}


def test_capacity_refuses_a_negative_cohort(capsys, db_url):
    from cli.main import main
    from workflow.errors import InvalidInput

    with pytest.raises(InvalidInput, match="cohort must be 0 or more"):
        capacity_report(-5, load_settings(
            Path(__file__).resolve().parents[1] / "config.toml",
            env={"IOM_DATABASE_URL": "sqlite://"}).capacity)
    env = {"IOM_DATABASE_URL": db_url}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        assert main(["capacity", "--cohort", "-5"]) == 2
    err = capsys.readouterr()
    assert "cohort must be 0 or more" in err.err and "-" not in err.out


def test_capacity_cli_reads_the_published_policy(capsys, monkeypatch, session, settings,
                                                  published, make_user, now):
    """Staff in post are policy: a published policy version changes the report at once."""
    import json

    from policy_helpers import publish_policy

    from cli.main import main

    monkeypatch.setenv("IOM_DATABASE_URL", settings.database_url)
    assert main(["capacity", "--cohort", "200", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cohort"] == 200 and out["police_leads"]["needed"] == 5
    assert out["offender_managers"]["in_post"] == 3
    publish_policy(session, settings, make_user, now=now,
                   edit=lambda d: d["capacity"].update(staff_offender_managers=5))
    assert main(["capacity", "--cohort", "200", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["offender_managers"]["in_post"] == 5


@pytest.mark.usefixtures("published")
def test_a_task_rule_added_by_a_team_lead_is_raised_when_a_lead_is_named(
        session, settings, make_case, make_user, now):
    """Allocation applies every task its rule sets ask for, not only the waiting one: a
    team lead adds a rule (draft, examples, preview, second lead's approval, publish)."""
    from pathlib import Path

    from workflow import ruleset_admin as admin

    text = (Path(__file__).resolve().parents[1] / "rules" / "sets" / "lead-professional.yaml"
            ).read_text(encoding="utf-8")
    rule = """  - id: police-lead-intro
    principles: [1]
    description: A very high risk police-led case - the new lead makes contact in 3 days.
    priority: 5
    when:
      all:
        - {fact: supervision, eq: none}
        - {fact: ogrs_2yr, gte: 90}
    then:
      action: create_task
      params: {template: panel_invite, role: police, sla_working_days: 3}
examples:
  - name: police-led case gets an introduction task
    facts: {supervision: none, ogrs_2yr: 92, lead_room_police: true}
    expect: {outcome: null, rules: [lead-police, police-lead-intro]}
"""
    text = text.replace("examples:\n", rule, 1)
    author, _ = make_user("lead1", role="team_lead")
    second, _ = make_user("lead2", role="team_lead")
    row = admin.save_draft(session, text, file="lead-professional.yaml", user=author, now=now,
                           reason="police leads introduce themselves")
    assert all(r.passed for r in admin.check_examples(session, row, now=now, actor="lead1"))
    admin.mark_previewed(session, row, now=now, actor="lead1", counts={})
    admin.approve(session, row, user=second, now=now, reason="agreed at the IOM board")
    admin.publish(session, row, user=second, now=now, reason="agreed at the IOM board")
    pc1, _ = make_user("pc1", role="police", agency="police")
    [case] = _allocated(make_case, session, 1)  # non-statutory: police-led
    assert allocate(session, case, now=now, actor="t", settings=settings).lead_user_id == pc1.id
    tasks = session.scalars(select(Task).where(Task.case_id == case.id)).all()
    assert [(t.rule_id, t.assignee_id, t.status) for t in tasks] == [
        ("police-lead-intro", pc1.id, "open")]
