"""Reminders, escalation, digests and e-mail delivery through a real local SMTP server."""

from __future__ import annotations

import socket
from datetime import UTC, date, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from db.models import AuditEntry, Notification, Supervision, Task
from rules.decisions import Decision
from workflow.tasks.jobs import run_task_jobs
from workflow.tasks.outbox import deliver_outbox
from workflow.tasks.reminders import remind_and_escalate
from workflow.tasks.service import raise_tasks

TASKS_CFG = {"escalate_after_working_days": 0, "digest_hour": 7}


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
        return "250 OK"


def _header(content: str, name: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in content.splitlines()
                if line.lower().startswith(name.lower() + ":"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    """A real aiosmtpd server on 127.0.0.1 and a fixed free port, restartable."""

    def __init__(self, inbox: _Inbox):
        self.inbox, self.port, self.controller = inbox, _free_port(), None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        controller, self.controller = self.controller, None
        if controller is not None:
            controller.stop()


@pytest.fixture
def smtp_server():
    """``(server, inbox)``: started; the test may ``stop()`` and ``start()`` it again."""
    inbox = _Inbox()
    server = _Server(inbox)
    server.start()
    yield server, inbox
    server.stop()


def _smtp(controller, enabled=True):
    return {"enabled": enabled, "host": "127.0.0.1", "port": controller.port,
            "sender": "iom@example.org", "timeout_seconds": 5}


def _setup(session, make_case, make_user, now, *, template="panel_invite", sla=2):
    om, _ = make_user("om1", role="offender_manager", agency="NPS")
    lead, _ = make_user("lead1", role="team_lead")
    om.email, lead.email = "om1@example.org", "lead1@example.org"
    case = make_case(state="allocated")
    session.add(Supervision(partner_ref="S1", person_id=case.person_id, provider="NPS",
                            offender_manager_user_id=om.id, start_on=date(2024, 1, 1)))
    decision = Decision("r1", "set", "v1", "create_task",
                        {"template": template, "role": "offender_manager",
                         "sla_working_days": sla, "priority": "normal"}, 10, {})
    [task] = raise_tasks(session, case, [decision], now=now, actor="t")
    session.commit()
    return om, lead, task


def test_reminder_then_escalation_each_once(session, make_case, make_user, now):
    om, lead, task = _setup(session, make_case, make_user, now)  # due end of Wed 5 March
    assert remind_and_escalate(session, now=now, actor="s", settings=TASKS_CFG).reminded == 0
    tuesday = now + timedelta(days=1)
    report = remind_and_escalate(session, now=tuesday, actor="s", settings=TASKS_CFG)
    assert (report.reminded, report.escalated) == (1, 0)
    again = remind_and_escalate(session, now=tuesday + timedelta(hours=1), actor="s",
                                settings=TASKS_CFG)
    assert (again.reminded, again.escalated) == (0, 0)
    thursday = now + timedelta(days=3)
    report = remind_and_escalate(session, now=thursday, actor="s", settings=TASKS_CFG)
    assert report.escalated == 1 and task.status == "escalated"
    assert remind_and_escalate(session, now=thursday, actor="s",
                               settings=TASKS_CFG).escalated == 0
    session.commit()
    notes = session.scalars(select(Notification).order_by(Notification.id)).all()
    assert [(n.kind, n.recipient) for n in notes if n.kind != "digest"] == [
        ("prompt", "om1@example.org"), ("reminder", "om1@example.org"),
        ("escalation", "lead1@example.org")]
    digests = [n for n in notes if n.kind == "digest"]
    assert [n.recipient for n in digests] == ["om1@example.org"] * 3  # one a day, 3 days
    kinds = session.scalars(select(AuditEntry.kind).where(
        AuditEntry.kind.in_(("task.reminded", "task.escalated")))).all()
    assert sorted(kinds) == ["task.escalated", "task.reminded"]


def test_prompt_arrives_once_and_failed_sends_are_retried(session, make_case, make_user, now,
                                                          runtime, smtp_server):
    controller, inbox = smtp_server
    _setup(session, make_case, make_user, now)
    smtp = _smtp(controller)
    first = deliver_outbox(runtime.sessions, smtp, now=now)
    second = deliver_outbox(runtime.sessions, smtp, now=now + timedelta(minutes=1))
    assert len(first.sent) == 1 and second.sent == [] and len(inbox.messages) == 1
    rcpts, content = inbox.messages[0]
    assert rcpts == ["om1@example.org"] and "Invite the offender manager" in content
    # A crash after the server accepted it but before our commit: sent again, same id.
    session.execute(update(Notification).values(status="pending"))
    session.commit()
    assert len(deliver_outbox(runtime.sessions, smtp, now=now).sent) == 1
    ids = [_header(c, "Message-ID") for _, c in inbox.messages]
    assert len(ids) == 2 and ids[0] == ids[1] and ids[0].endswith("@example.org>")
    inbox.messages.pop()

    remind_and_escalate(session, now=now + timedelta(days=1), actor="s", settings=TASKS_CFG)
    session.commit()
    controller.stop()
    later = now + timedelta(days=1, minutes=1)
    failed = deliver_outbox(runtime.sessions, smtp, now=later, retry_base_seconds=60)
    assert failed.sent == [] and len(failed.failed) == 2  # reminder and digest
    session.expire_all()
    pending = session.scalars(select(Notification).where(Notification.status == "pending")).all()
    assert {n.attempts for n in pending} == {1} and all(n.last_error for n in pending)
    assert {n.next_attempt_at for n in pending} == {later + timedelta(seconds=60)}
    session.commit()  # end this read: delivery needs the write lock (SQLite)
    assert deliver_outbox(runtime.sessions, smtp, now=later + timedelta(seconds=30)).failed == []

    controller.start()
    retried = deliver_outbox(runtime.sessions, smtp, now=later + timedelta(seconds=61))
    assert len(retried.sent) == 2 and len(inbox.messages) == 3
    session.expire_all()
    assert set(session.scalars(select(Notification.status))) == {"sent"}


def test_disabled_smtp_sends_nothing_and_loses_nothing(session, make_case, make_user, now,
                                                       runtime, smtp_server):
    controller, inbox = smtp_server
    _setup(session, make_case, make_user, now)
    report = deliver_outbox(runtime.sessions, _smtp(controller, enabled=False), now=now)
    assert report.disabled and inbox.messages == []
    assert session.scalar(select(Notification.status)) == "pending"


@pytest.mark.usefixtures("published")
def test_run_task_jobs_raises_reminds_and_delivers(session, make_case, make_user, runtime,
                                                   smtp_server, now):
    from dataclasses import replace

    from workflow.tasks.compliance import record_event

    controller, inbox = smtp_server
    om, lead, _ = _setup(session, make_case, make_user, now)
    case = session.scalars(select(Task)).first().case
    record_event(session, case, event_id="arr-1", kind="arrest",
                 occurred_at=now - timedelta(days=1), details={}, actor="police", now=now)
    session.commit()
    runtime.settings = replace(runtime.settings, smtp=_smtp(controller))
    report = run_task_jobs(runtime, now + timedelta(hours=1))
    assert report.raised == 2  # new_arrest_follow_up (police queue) + case_review
    assert len(report.delivery.sent) >= 2 and len(inbox.messages) == len(report.delivery.sent)
    assert run_task_jobs(runtime, now + timedelta(hours=2)).raised == 0
    assert datetime.now(UTC) > now  # the pass ran as of the given time, not the clock
