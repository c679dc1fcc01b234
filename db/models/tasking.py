"""Compliance events and the notification outbox; reminder/escalation marks on tasks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, JSONType, UTCDateTime, utcnow

COMPLIANCE_KINDS = ("appointment_kept", "appointment_missed", "drug_test_negative",
                    "drug_test_positive", "arrest", "charge", "conviction", "custody_in",
                    "custody_out", "licence_breach")
NOTIFICATION_KINDS = ("prompt", "reminder", "escalation", "digest")

# Columns added to ``task`` by migration 0005 (reminder and escalation sent, once each).


class ComplianceEvent(Base):
    """Something the person did or that happened to them, reported by a partner.

    ``event_id`` is the reporter's identifier: recording the same event twice is a no-op.
    """

    __tablename__ = "compliance_event"
    __table_args__ = (Index("ix_compliance_event_case_at", "case_id", "occurred_at"),
                      Index("ix_compliance_event_person_at", "person_id", "occurred_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(80), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("iom_case.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    details: Mapped[dict] = mapped_column(JSONType, default=dict)
    recorded_by: Mapped[str] = mapped_column(String(60))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(Base):
    """One e-mail in the outbox. ``dedupe_key`` is unique: the same prompt is queued once.

    ``status``: pending (to send at ``next_attempt_at``), sent, or dead (no address).
    """

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(12))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    recipient: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
