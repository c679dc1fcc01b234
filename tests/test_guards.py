"""Exclusion guards at every step (issue 11 item 3): a MAPPA 2/3 flag arriving in any
stage takes the case out at the next pass, agenda building and a chair's accept check it,
an override is recorded and shown, and the lifecycle table says which moves exist."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from db.models import AuditEntry, Case, PanelItem, PartnerFlag, Task
from scheduler.jobs import guards_due, run_all
from workflow.advance import Policy
from workflow.allocation import allocate
from workflow.errors import Conflict, Excluded, InvalidInput
from workflow.explain import explain_case
from workflow.guards import guard_chunk
from workflow.lifecycle import ACTIVE, OUTCOME_EVENTS, STATES, TERMINAL, transition_for
from workflow.panel import build_agenda, decide
from workflow.partners.imports import import_csv
from workflow.review import custody

pytestmark = pytest.mark.usefixtures("published")


def test_the_lifecycle_table_has_an_exclusion_move_from_every_state_but_mapping():
    for state in set(STATES) - TERMINAL - {"mapping"}:
        event = OUTCOME_EVENTS[(state, "exclude")]
        t = transition_for(state, event)
        assert t.by == "rule"
        assert t.target == ("exited" if state in ACTIVE else "mapping"), state
    assert ("mapping", "exclude") not in OUTCOME_EVENTS  # exclusion only blocks selection


def _flag(session, case, level, on):
    session.add(PartnerFlag(partner_ref=f"MF{case.id}-{level}-{on}", person_id=case.person_id,
                            kind="mappa_level", value=str(level), recorded_on=on))
    session.commit()


def _allocated_with_lead(session, settings, make_case, make_user, now):
    make_user("pc1", role="police")
    case = make_case(state="allocated", ogrs=80)
    case.next_due_at = now + timedelta(days=60)  # not due for review
    allocate(session, case, now=now - timedelta(days=20), actor="t", settings=settings)
    session.add(Task(case_id=case.id, template="panel_invite", title="t", body="", role="police",
                     priority="normal", status="open", due_at=now + timedelta(days=3),
                     created_at=now - timedelta(days=5)))
    session.commit()
    assert case.lead_user_id is not None
    return case


def test_a_mappa_flag_imported_for_an_allocated_case_takes_it_out_at_the_next_pass(
        runtime, session, settings, make_case, make_user, now):
    case = _allocated_with_lead(session, settings, make_case, make_user, now)
    lead_id = case.lead_user_id
    ref = case.person.partner_ref
    assert guards_due(runtime, now=now).done == []  # nothing marked yet: not due
    csv = f"partner_ref,person_ref,kind,value,recorded_on\nFX1,{ref},mappa_level,2,2025-03-01\n"
    import_csv(session, "flags", io.StringIO(csv), filename="f.csv", actor="imp", now=now)
    session.commit()
    session.expire_all()
    assert session.get(Case, case.id).guard_due_at == now
    session.commit()  # end this read: the pass needs the write lock (SQLite)
    report = guards_due(runtime, now=now + timedelta(minutes=1))
    assert report.done == [case.id]
    session.expire_all()
    case = session.get(Case, case.id)
    assert (case.state, case.lead_user_id, case.guard_due_at) == ("exited", None, None)
    task = session.scalars(select(Task).where(Task.case_id == case.id)).one()
    assert task.status == "cancelled" and "MAPPA level 2/3" in task.outcome
    entry = session.scalars(select(AuditEntry).where(
        AuditEntry.case_id == case.id, AuditEntry.kind == "case.excluded")).one()
    assert entry.payload["rules"] == ["mappa-exclusion/mappa-level-2-3"]
    assert entry.payload["versions"][0].startswith("mappa-exclusion@")
    assert entry.payload["matched"] == {"mappa_level": 2}
    assert entry.payload["lead_freed"] == "pc1" and lead_id is not None
    move = session.scalars(select(AuditEntry).where(
        AuditEntry.case_id == case.id, AuditEntry.kind == "case.transition")).all()[-1]
    assert (move.payload["event"], move.payload["to"]) == ("exclude", "exited")
    assert move.payload["cause"]["facts"]["mappa_level"] == 2
    session.commit()  # end this read: the pass needs the write lock (SQLite)
    assert guards_due(runtime, now=now + timedelta(minutes=2)).done == []  # idempotent


def test_a_level_1_flag_is_checked_but_changes_nothing(runtime, session, settings, make_case,
                                                       make_user, now):
    case = _allocated_with_lead(session, settings, make_case, make_user, now)
    ref = case.person.partner_ref
    csv = f"partner_ref,person_ref,kind,value,recorded_on\nFX2,{ref},mappa_level,1,2025-03-01\n"
    import_csv(session, "flags", io.StringIO(csv), filename="f.csv", actor="imp", now=now)
    session.commit()
    report = guards_due(runtime, now=now)
    assert report.done == [] and report.note == "1 checked"
    session.expire_all()
    case = session.get(Case, case.id)
    assert (case.state, case.guard_due_at) == ("allocated", None)
    assert case.lead_user_id is not None


def test_agenda_building_takes_excluded_cases_off_and_back_to_mapping(session, settings,
                                                                      make_case, now):
    keep = make_case(state="panel", ogrs=80)
    gone = make_case(state="panel", ogrs=90, mappa=3)  # flag arrived, no pass since
    for case in (keep, gone):
        case.activity_score, case.next_due_at = 5.0, None
    session.commit()
    meeting = build_agenda(session, now=now, settings=settings)
    session.commit()
    assert [i.case_id for i in meeting.items] == [keep.id]
    assert gone.state == "mapping" and gone.next_due_at > now
    entry = session.scalars(select(AuditEntry).where(
        AuditEntry.case_id == gone.id, AuditEntry.kind == "case.excluded")).one()
    assert entry.payload["guard"] == "agenda building"


def _on_agenda(session, settings, make_case, now):
    case = make_case(state="panel", ogrs=80)
    case.activity_score, case.next_due_at = 4.0, None
    session.commit()
    meeting = build_agenda(session, now=now, settings=settings)
    session.commit()
    return meeting, case


def test_accepting_an_excluded_case_needs_a_recorded_override(session, settings, make_case,
                                                               make_user, now):
    chair, _ = make_user("lead1", role="team_lead")
    make_user("pc1", role="police")
    meeting, case = _on_agenda(session, settings, make_case, now)
    _flag(session, case, 2, now.date())  # between the agenda and the meeting
    held = now + timedelta(days=3)
    with pytest.raises(Excluded) as refused:
        decide(session, meeting.id, case.id, decision="accept", reason="prolific",
               now=held, user=chair, settings=settings)
    assert "mappa-exclusion/mappa-level-2-3" in refused.value.message
    assert refused.value.details["rules"] == ["mappa-exclusion/mappa-level-2-3"]
    session.rollback()
    with pytest.raises(InvalidInput):  # an override is only for an accept
        decide(session, meeting.id, case.id, decision="reject", reason="no", override="x",
               now=held, user=chair, settings=settings)
    session.rollback()
    decide(session, meeting.id, case.id, decision="accept", reason="prolific burglar",
           override="MAPPA panel agreed joint management with IOM", now=held, user=chair,
           settings=settings)
    session.commit()
    case = session.get(Case, case.id)
    assert case.state == "allocated" and case.lead_user_id is not None
    assert case.guard_override["reason"] == "MAPPA panel agreed joint management with IOM"
    assert case.guard_override["by"] == "lead1"
    lines = explain_case(session, case.id)
    override = [ln for ln in lines if ln.section == "override"]
    assert len(override) == 1 and "mappa-exclusion/mappa-level-2-3" in override[0].text
    assert "joint management" in override[0].text
    # The override holds for the episode: the guards leave the case where it is.
    case.guard_due_at = held
    session.commit()
    moved = guard_chunk(session, [case], now=held, actor="t",
                        policy=Policy.from_settings(settings))
    session.commit()
    assert moved == [] and case.state == "allocated" and case.guard_due_at is None


def test_a_withdrawn_item_cannot_be_decided(session, settings, make_case, make_user, now):
    chair, _ = make_user("lead1", role="team_lead")
    meeting, case = _on_agenda(session, settings, make_case, now)
    _flag(session, case, 3, now.date())
    guard_chunk(session, [case], now=now, actor="t", policy=Policy.from_settings(settings))
    session.commit()
    item = session.scalars(select(PanelItem).where(PanelItem.case_id == case.id)).one()
    assert (item.decision, case.state) == ("withdrawn", "mapping")
    with pytest.raises(Conflict):
        decide(session, meeting.id, case.id, decision="accept", reason="x", now=now,
               user=chair, settings=settings)


def test_represent_and_custody_release_check_the_guards(session, settings, make_case,
                                                        make_user, runtime, now):
    om, _ = make_user("om1", role="offender_manager", agency="CRC")
    deferred = make_case(state="deferred", ogrs=80, mappa=2)
    deferred.next_due_at = now - timedelta(hours=1)
    suspended = make_case(state="suspended", ogrs=80)
    suspended.next_due_at = None
    session.commit()
    _flag(session, suspended, 2, now.date() - timedelta(days=3))
    run_all(runtime, now=now)
    session.expire_all()
    assert session.get(Case, deferred.id).state == "mapping"  # not brought back to panel
    suspended = session.get(Case, suspended.id)
    custody(session, suspended, event="custody_out", reason="released on licence", now=now,
            user=om, settings=settings)
    session.commit()
    assert suspended.state == "exited"
    kinds = [e.kind for e in session.scalars(select(AuditEntry).where(
        AuditEntry.case_id == suspended.id).order_by(AuditEntry.seq))]
    assert kinds[-2:] == ["case.transition", "case.excluded"]


def test_a_compliance_event_makes_the_case_due_for_the_guards(session, make_case, now):
    from workflow.tasks.compliance import record_event

    case = make_case(state="allocated", ogrs=80)
    case.next_due_at = now + timedelta(days=30)
    session.commit()
    other = make_case(state="panel", ogrs=80)
    mapping = make_case(ogrs=80)
    record_event(session, case, event_id="E1", kind="appointment_missed",
                 occurred_at=now - timedelta(hours=2), details={}, actor="om", now=now)
    for n, person_case in enumerate((other, mapping)):  # events about a person, no case
        record_event(session, None, person=person_case.person, event_id=f"P{n}",
                     kind="arrest", occurred_at=now - timedelta(hours=1), details={},
                     actor="police", now=now)
    session.commit()
    session.expire_all()
    assert session.get(Case, case.id).guard_due_at == now
    assert session.get(Case, other.id).guard_due_at == now
    assert session.get(Case, mapping.id).guard_due_at is None  # mapping checks it anyway


def test_guard_rule_sets_come_from_one_accessor(settings, db_url):
    from workflow.config import load_settings
    from workflow.guards import agenda_rulesets, exclusion_rulesets

    assert exclusion_rulesets(settings) == ("mappa-exclusion", "youth-age-floor")
    assert agenda_rulesets(settings) == ("agenda-priority",)
    other = load_settings(settings.source, env={
        "IOM_DATABASE_URL": db_url, "IOM_STAGES_EXCLUSION_RULESETS": "mappa-exclusion",
        "IOM_STAGES_AGENDA_RULESETS": "bromley-agenda-priority"})
    assert exclusion_rulesets(other) == ("mappa-exclusion",)
    assert agenda_rulesets(other) == ("bromley-agenda-priority",)
    assert "exclusion" not in other.stages and "agenda" not in other.stages


def test_an_unpublished_guard_rule_set_is_a_config_error(session, now):
    from workflow.errors import ConfigError
    from workflow.guards import guard_documents

    docs = guard_documents(session, ("youth-age-floor", "mappa-exclusion"), now=now)
    assert [d.name for d in docs] == ["youth-age-floor", "mappa-exclusion"]
    with pytest.raises(ConfigError, match=r"stage exclusion: .*out-of-area"):
        guard_documents(session, ("mappa-exclusion", "out-of-area"), now=now)


def test_the_api_refuses_an_excluded_accept_with_the_reason_and_records_an_override(
        client, session, settings, make_case, make_user, now):
    from datetime import UTC, datetime

    _, token = make_user("lead1", role="team_lead")
    make_user("pc1", role="police")
    meeting, case = _on_agenda(session, settings, make_case, now)
    _flag(session, case, 3, datetime.now(UTC).date() - timedelta(days=1))
    auth = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/panels/{meeting.id}/decisions"
    body = {"case_id": case.id, "decision": "accept", "reason": "prolific"}
    refused = client.post(url, json=body, headers=auth)
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "excluded" and "MAPPA level 2/3" in error["message"]
    assert error["details"]["rules"] == ["mappa-exclusion/mappa-level-2-3"]
    made = client.post(url, json={**body, "override": "MAPPA chair agreed IOM leads"},
                       headers=auth)
    assert made.status_code == 201, made.get_json()
    history = client.get(f"/api/v1/cases/{case.id}/history", headers=auth)
    assert history.status_code == 200
    assert "OVERRIDE of exclusion mappa-exclusion/mappa-level-2-3: MAPPA chair agreed IOM leads" \
        in history.get_data(as_text=True)
