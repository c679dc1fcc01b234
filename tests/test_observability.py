"""Health, metrics, request logs and a quiet scheduler, against the real app and
database (both backends)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from cli.logs import JsonFormatter
from db.models import Notification, SchedulerHeartbeat, Task
from scheduler import runner
from scheduler.jobs import JobReport, PassReport
from workflow.operations import record_pass


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


@pytest.mark.usefixtures("published")
def test_live_and_ready_need_no_token_and_say_only_ok_or_not(client, session):
    live = client.get("/api/v1/health/live", headers={"Authorization": "Bearer wrong"})
    assert live.status_code == 200 and live.get_json() == {"status": "ok"}
    ready = client.get("/api/v1/health/ready")
    # No scheduler has beaten yet (scheduler.enabled is true in the config): not ready.
    assert ready.status_code == 503
    assert ready.get_json() == {"status": "not_ready", "checks": {
        "database": "ok", "migrations": "ok", "scheduler": "stale"}}
    now = datetime.now(UTC)
    record_pass(session, "test:1:1", started=now, now=now, seconds=0.0, moved=0)
    session.commit()
    ready = client.get("/api/v1/health/ready")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ready"
    stale = now - timedelta(hours=1)
    session.execute(SchedulerHeartbeat.__table__.update().values(beat_at=stale))
    session.commit()
    assert client.get("/api/v1/health/ready").status_code == 503
    assert client.get("/api/v1/health").status_code == 401  # the detailed one: signed in


@pytest.mark.usefixtures("published")
def test_metrics_count_requests_by_route_and_read_the_gauges(client, session, make_case,
                                                             make_user, now):
    _, token = make_user("lead", role="team_lead")
    case = make_case(state="mapping", ogrs=81)
    case_id, real_now = case.id, datetime.now(UTC)
    session.add_all([
        Task(case_id=case_id, template="t", title="late", status="open",
             due_at=real_now - timedelta(days=2)),
        Task(case_id=case_id, template="t", title="late but done", status="done",
             due_at=real_now - timedelta(days=2)),
        Task(case_id=case_id, template="t", title="not yet", status="open",
             due_at=real_now + timedelta(days=2)),
        Notification(dedupe_key="k1", kind="prompt", recipient="a@b.c", subject="s",
                     body="b", status="pending", next_attempt_at=real_now),
        Notification(dedupe_key="k2", kind="prompt", recipient="a@b.c", subject="s",
                     body="b", status="sent", next_attempt_at=real_now)])
    record_pass(session, "w:1:1", started=real_now, now=real_now, seconds=1.5, moved=3)
    record_pass(session, "w:2:1", started=real_now, now=real_now, seconds=0.5, moved=2)
    session.commit()
    auth = {"Authorization": f"Bearer {token}"}
    for _ in range(3):
        assert client.get(f"/api/v1/cases/{case_id}", headers=auth).status_code == 200
    assert client.get("/api/v1/cases/999999", headers=auth).status_code == 404
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    route = 'route="/api/v1/cases/<int:case_id>"'
    assert f'iom_http_requests_total{{method="GET",{route},status="200"}} 3.0' in text
    assert f'iom_http_requests_total{{method="GET",{route},status="404"}} 1.0' in text
    assert f'iom_http_request_duration_seconds_count{{method="GET",{route}}} 4.0' in text
    assert _metric(text, "iom_tasks_overdue") == 1
    assert _metric(text, "iom_outbox_backlog") == 1
    assert _metric(text, "iom_cases_moved_total") == 5
    assert _metric(text, "iom_scheduler_pass_seconds_count") == 2
    assert _metric(text, "iom_scheduler_pass_seconds_sum") == pytest.approx(2.0)
    assert 0 <= _metric(text, "iom_audit_head_age_seconds") < 10 ** 9
    assert _metric(text, "iom_database_up") == 1
    assert "partner_ref" not in text and "Person" not in text


def test_metrics_token_when_configured(db_url, audit_files):
    from api import create_app
    from workflow.config import load_settings
    from workflow.runtime import Runtime

    settings = load_settings(Path(__file__).resolve().parents[1] / "config.toml", env={
        "IOM_DATABASE_URL": db_url, "IOM_METRICS_TOKEN": "scrape-secret", **audit_files})
    rt = Runtime.from_settings(settings)
    try:
        client = create_app(rt).test_client()
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer nope"}
                          ).status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"}
                          ).status_code == 200
    finally:
        rt.close()


def test_request_id_is_echoed_or_made_and_each_request_logged_once(client, make_user,
                                                                   caplog):
    _, token = make_user("om", role="offender_manager")
    caplog.set_level(logging.DEBUG, logger="iom.request")
    given = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}",
                                                 "X-Request-ID": "trace-42.a"})
    assert given.status_code == 200 and given.headers["X-Request-ID"] == "trace-42.a"
    made = client.get("/api/v1/cases", headers={"X-Request-ID": "bad id;forged"})
    assert made.status_code == 401
    assert made.headers["X-Request-ID"] != "bad id;forged"
    assert len(made.headers["X-Request-ID"]) == 32
    records = [r for r in caplog.records if r.name == "iom.request"]
    assert len(records) == 2
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["route"] == "/api/v1/cases" and line["status"] == 200
    assert line["request_id"] == "trace-42.a" and isinstance(line["user_id"], int)
    assert line["duration_ms"] >= 0 and line["level"] == "INFO"
    second = records[1].fields
    assert second["status"] == 401 and second["user_id"] is None
    assert second["request_id"] == made.headers["X-Request-ID"]
    caplog.clear()
    assert client.get("/api/v1/health/live").status_code == 200
    probe = [r for r in caplog.records if r.name == "iom.request"]
    assert [r.levelno for r in probe] == [logging.DEBUG]  # polled often: not at INFO


@pytest.mark.usefixtures("published")
def test_scheduler_logs_a_pass_only_when_it_did_something(runtime, session, make_person,
                                                          caplog):
    caplog.set_level(logging.DEBUG, logger="iom.scheduler")
    beat = runner.Heartbeat()
    runner._run_job(runtime, "advance_due", beat)  # nothing to do
    idle = [r for r in caplog.records if r.name == "iom.scheduler"]
    assert idle and all(r.levelno == logging.DEBUG for r in idle)
    caplog.clear()
    make_person()
    session.commit()
    runner._run_job(runtime, "advance_due", beat)  # opens the new person's case
    busy = [r for r in caplog.records if r.getMessage().startswith("pass at")]
    assert busy[0].levelno == logging.INFO and "opened 1" in busy[0].getMessage()
    assert "failed 0" in busy[0].getMessage()
    row = session.scalars(select(SchedulerHeartbeat)).one()
    assert row.worker == beat.worker and row.passes == 2
    assert not runner.did_something(JobReport("allocation", note="2 waiting for capacity"))
    assert runner.did_something(JobReport("allocation", failed={1: "boom"}))
    assert not runner.did_something(PassReport(datetime.now(UTC), evaluated=40))
