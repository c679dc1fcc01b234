"""The notification outbox: e-mails queued in the caller's transaction, delivered later.

Queuing (``enqueue``) is idempotent by ``dedupe_key`` (unique in the table): a prompt,
reminder or escalation queued again, after a restart or a second pass, is not queued
twice. Users without an e-mail address get nothing queued.

Delivery (``deliver_outbox``) sends due messages over SMTP, one transaction per message:
success marks it ``sent``; a failure keeps it ``pending`` with ``attempts``,
``last_error`` and ``next_attempt_at`` pushed back exponentially (base doubling up to a
maximum). A message is never dropped. Delivery is at-least-once: a crash between the SMTP
acceptance and the commit may send one message again; nothing else does. Such a copy
carries the same ``Message-ID`` (:func:`message_id`), so mail systems that collapse
duplicates show it once.
"""

from __future__ import annotations

import hashlib
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import Notification, Task, User
from db.session import transaction
from workflow.sharing.mail import task_for


def enqueue(session: Session, *, key: str, kind: str, user: User, subject: str, body: str,
            now: datetime, task: Task | None = None) -> Notification | None:
    """Queue one e-mail to ``user`` under ``key``; None when already queued or no address."""
    if not user.email or not user.active:
        return None
    if session.scalar(select(Notification.id).where(Notification.dedupe_key == key)):
        return None
    note = Notification(dedupe_key=key[:160], kind=kind, user_id=user.id,
                        recipient=user.email, subject=subject[:200], body=body,
                        task_id=task.id if task else None, status="pending", attempts=0,
                        next_attempt_at=now, created_at=now)
    session.add(note)
    session.flush()
    return note


def task_text(task: Task, title: str | None = None, body: str | None = None) -> str:
    """The e-mail text of ``task`` (``title``/``body``: as the recipient may see them)."""
    due = task.due_at.strftime("%a %d %b %Y %H:%M UTC") if task.due_at else "no due date"
    return (f"{task.title if title is None else title}\n\nCase {task.case_id}, priority "
            f"{task.priority}, due {due}.\n\n{task.body if body is None else body}\n\n"
            f"Task {task.id} ({task.template}).")


def notify_task(session: Session, task: Task, users: list[User], *, kind: str, event: str,
                now: datetime, prefix: str) -> int:
    """Queue ``kind`` e-mails about ``task`` to ``users`` (key ``task:{id}:{event}:{user}``),
    each worded as the sharing agreement lets its recipient see the task (none to a
    recipient it withholds the case's tasks from)."""
    queued = 0
    for user in users:
        shown = task_for(session, task, user, now=now) if user.email and user.active else None
        if shown is None:
            continue
        title, body = shown
        note = enqueue(session, key=f"task:{task.id}:{event}:{user.id}", kind=kind, user=user,
                       subject=f"[IOM] {prefix}: {title}", body=task_text(task, title, body),
                       now=now, task=task)
        queued += note is not None
    return queued


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    disabled: bool = False

    def lines(self) -> list[str]:
        if self.disabled:
            return ["outbox: SMTP disabled, nothing sent"]
        return [f"outbox: {len(self.sent)} sent, {len(self.failed)} failed (will retry)"]


def backoff(attempts: int, base: int, maximum: int) -> timedelta:
    """Delay before retry number ``attempts`` (1-based): base, 2*base, 4*base... capped."""
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), maximum))


def message_id(note: Notification, sender: str) -> str:
    """The same ``Message-ID`` every time ``note`` is sent: a copy resent after a crash
    between the server's acceptance and our commit is a duplicate mail systems collapse."""
    digest = hashlib.sha256(note.dedupe_key.encode()).hexdigest()[:16]
    domain = sender.rpartition("@")[2].strip(" >") or "iom.invalid"
    return f"<iom.{note.id}.{digest}@{domain}>"


def _message(note: Notification, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, note.recipient, note.subject
    msg["Message-ID"] = message_id(note, sender)
    msg["X-IOM-Notification"] = note.dedupe_key
    msg.set_content(note.body)
    return msg


def _due_ids(factory: sessionmaker[Session], now: datetime, limit: int) -> list[int]:
    with transaction(factory) as session:
        return list(session.scalars(select(Notification.id).where(
            Notification.status == "pending", Notification.next_attempt_at <= now)
            .order_by(Notification.next_attempt_at, Notification.id).limit(limit)))


def _claim(session: Session, note_id: int, now: datetime) -> Notification | None:
    query = select(Notification).where(Notification.id == note_id,
                                       Notification.status == "pending",
                                       Notification.next_attempt_at <= now)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.scalars(query).first()


class _Connection:
    """One SMTP connection per delivery run, opened on first use."""

    def __init__(self, smtp: Mapping):
        self.smtp, self.client = smtp, None

    def send(self, msg: EmailMessage) -> None:
        if self.client is None:
            self.client = smtplib.SMTP(self.smtp["host"], int(self.smtp["port"]),
                                       timeout=float(self.smtp.get("timeout_seconds", 10)))
        try:
            self.client.send_message(msg)
        except (smtplib.SMTPServerDisconnected, OSError):
            self.close()  # reconnect on the next message
            raise

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()


def deliver_outbox(session_factory: sessionmaker[Session], smtp_settings: Mapping, *,
                   now: datetime, retry_base_seconds: int = 60, retry_max_seconds: int = 3600,
                   limit: int = 200) -> DeliveryReport:
    """Send the pending messages due at ``now`` (see module docstring). Owns transactions."""
    report = DeliveryReport(disabled=not smtp_settings.get("enabled", False))
    if report.disabled:
        return report
    conn = _Connection(smtp_settings)
    try:
        for note_id in _due_ids(session_factory, now, limit):
            with transaction(session_factory) as session:
                note = _claim(session, note_id, now)
                if note is None:
                    continue
                note.attempts += 1
                try:
                    conn.send(_message(note, smtp_settings["sender"]))
                except (smtplib.SMTPException, OSError) as exc:
                    note.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                    note.next_attempt_at = now + backoff(note.attempts, retry_base_seconds,
                                                         retry_max_seconds)
                    report.failed.append(note.id)
                else:
                    note.status, note.sent_at, note.last_error = "sent", now, None
                    report.sent.append(note.id)
    finally:
        conn.close()
    return report
