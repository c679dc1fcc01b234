"""advance(): rules decide, the workflow applies (transition + audit, one transaction)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from db.models import AuditEntry, RuleSetVersion
from workflow.advance import advance, evaluate_cases
from workflow.history import history_rows


@pytest.mark.usefixtures("published")
@pytest.mark.parametrize(("kw", "target", "rule"), [
    ({"ogrs": 81, "offence": "theft"}, "matrixing", "ogrs-75"),
    ({"ogrs": 60, "offence": "robbery"}, "matrixing", "ogrs-50-74-acquisitive"),
    ({"ogrs": 60, "offence": "theft"}, "mapping", None),
    ({"ogrs": 90, "newly_sentenced": False}, "mapping", None),
    ({"ogrs": 95, "mappa": 2}, "mapping", "mappa-level-2-3"),
])
def test_mapping_stage_moves_exactly_the_in_scope_cases(session, make_case, now, policy,
                                                         kw, target, rule):
    case = make_case(**kw)
    result = advance(session, case, now=now, actor="scheduler", policy=policy)
    session.commit()
    assert case.state == target
    assert result.moved == (target != "mapping")
    entries = history_rows(session, case.id)
    if rule:
        last = entries[-1]
        decision_rules = [d["rule"] for d in last.payload["cause"]["decisions"]]
        assert rule in decision_rules
        version = session.scalar(select(RuleSetVersion.version).where(
            RuleSetVersion.name == last.payload["cause"]["decisions"][0]["ruleset"]))
        assert version[:12] in last.summary
    if target == "matrixing":
        assert entries[-1].kind == "case.transition"
        assert case.next_due_at == now  # matrixing evaluates at the next pass
    else:
        assert case.next_due_at == now + timedelta(days=7)


@pytest.mark.usefixtures("published")
def test_unchanged_outcome_is_audited_once(session, make_case, now, policy):
    case = make_case(ogrs=95, mappa=3)
    advance(session, case, now=now, actor="scheduler", policy=policy)
    advance(session, case, now=now + timedelta(days=7), actor="scheduler", policy=policy)
    session.commit()
    evaluated = [e for e in history_rows(session, case.id) if e.kind == "case.evaluated"]
    assert len(evaluated) == 1
    assert evaluated[0].payload["cause"]["outcome"] == "exclude"


@pytest.mark.usefixtures("published")
def test_matrixing_forwards_active_cases_to_panel(session, make_case, now, policy):
    active = make_case(state="matrixing", ogrs=81, offence="robbery", arrests=3)
    quiet = make_case(state="matrixing", ogrs=81, offence="theft", newly_sentenced=False)
    for case in (active, quiet):
        advance(session, case, now=now, actor="scheduler", policy=policy)
    session.commit()
    assert active.state == "panel" and active.activity_score >= 5
    assert quiet.state == "matrixing"


@pytest.mark.usefixtures("published")
def test_evaluation_is_a_dry_run(session, make_case, now, policy):
    case = make_case(ogrs=81)
    before = session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()))
    [ev] = evaluate_cases(session, [case], now=now, policy=policy)
    session.flush()
    assert ev.outcome == "select" and ev.event == "select"
    assert case.state == "mapping"
    assert session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc())) == before


@pytest.mark.usefixtures("published")
def test_a_newly_published_version_applies_at_the_next_evaluation(session, make_case, now,
                                                                   policy, make_user):
    from rules.library import shipped_documents
    from workflow import ruleset_admin as admin

    lead1, _ = make_user("lead1", role="team_lead")
    lead2, _ = make_user("lead2", role="team_lead")
    case = make_case(ogrs=70, offence="theft")
    advance(session, case, now=now, actor="scheduler", policy=policy)
    assert case.state == "mapping"
    text = shipped_documents()["pan-london-selection"].text.replace(
        "{fact: ogrs_2yr, gte: 75}", "{fact: ogrs_2yr, gte: 70}")
    row = admin.save_draft(session, text, file="t", user=lead1, now=now, reason="widen")
    row.tested_ok, row.previewed_at = True, now  # the gates are tested elsewhere
    admin.approve(session, row, user=lead2, now=now, reason="ok")
    admin.publish(session, row, user=lead1, now=now, reason="go")
    advance(session, case, now=now + timedelta(minutes=1), actor="scheduler", policy=policy)
    session.commit()
    assert case.state == "matrixing"
    assert row.version[:12] in history_rows(session, case.id)[-1].summary
