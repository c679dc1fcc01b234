"""An IOM case (one per person per episode) and the tasks raised on it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, JSONType, UTCDateTime, utcnow
from db.models.people import Person

# Open cases in the active states (workflow.lifecycle.ACTIVE), as partial indexes say it.
ACTIVE_CASE = text("closed_at IS NULL AND state IN ('allocated', 'review', 'suspended')")


def _set(column: str) -> dict:
    """A partial index's predicate on both backends: rows where ``column`` is set."""
    where = text(f"{column} IS NOT NULL")
    return {"sqlite_where": where, "postgresql_where": where}


class Case(Base):
    __tablename__ = "iom_case"
    __table_args__ = (
        # At most one open episode per person.
        Index(
            "uq_iom_case_open_person",
            "person_id",
            unique=True,
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
        Index("ix_iom_case_person", "person_id"),  # every episode: anti-joins, FK checks
        Index("ix_iom_case_due_id", "next_due_at", "id"),  # due passes; list by due (0013)
        # The case list's filters, each ending in its keyset order (0013). A new case
        # has no stream, lead or guard mark: those indexes hold only cases with one
        # (0017; every query compares them with a value).
        Index("ix_iom_case_state_id", "state", "id"),
        Index("ix_iom_case_cohort_id", "cohort", "id", **_set("cohort")),
        Index("ix_iom_case_lead_id", "lead_user_id", "id", **_set("lead_user_id")),
        Index("ix_iom_case_guard_due", "guard_due_at", **_set("guard_due_at")),
        # The periodic compliance pass's due cases: open and active ones only (0016).
        Index("ix_iom_case_compliance_due", "compliance_due_at", "id",
              sqlite_where=ACTIVE_CASE, postgresql_where=ACTIVE_CASE),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"))
    episode: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(20), default="mapping")
    state_since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Last rule outcome and the versions that produced it, to audit only real changes.
    last_outcome: Mapped[str | None] = mapped_column(String(20))
    last_versions: Mapped[list | None] = mapped_column(JSONType)
    cohort: Mapped[str | None] = mapped_column(String(20))
    intensity: Mapped[str | None] = mapped_column(String(20))
    activity_score: Mapped[float | None]
    lead_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    last_error: Mapped[str | None] = mapped_column(Text)
    # Exclusion guards (workflow/guards.py): when partner data about the person changed,
    # the guard pass re-checks the case at once; a panel's recorded override of named
    # exclusion rules (who, when, why) holds for the rest of the episode.
    guard_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    guard_override: Mapped[dict | None] = mapped_column(JSONType)
    # When the periodic compliance pass next evaluates this (active) case; None: at once
    # (workflow/tasks/compliance_pass.py). Scheduler bookkeeping: no version bump.
    compliance_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped by every flush that changes the case (db/versioning.py), in batches.
    version: Mapped[int] = mapped_column(Integer, default=1)

    person: Mapped[Person] = relationship()
    tasks: Mapped[list[Task]] = relationship(back_populates="case")


class Task(Base):
    __tablename__ = "task"
    __table_args__ = (
        Index("ix_task_status_due", "status", "due_at"),
        Index("ix_task_case_template_status", "case_id", "template", "status"),
        Index("ix_task_assignee_status", "assignee_id", "status"),
        Index("ix_task_role_status_due", "role", "status", "due_at"),  # team queues
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("iom_case.id", ondelete="CASCADE"))
    template: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    role: Mapped[str | None] = mapped_column(String(20))
    agency: Mapped[str | None] = mapped_column(String(20))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    status: Mapped[str] = mapped_column(String(12), default="open")
    outcome: Mapped[str | None] = mapped_column(String(60))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rule_id: Mapped[str | None] = mapped_column(String(80))
    ruleset: Mapped[str | None] = mapped_column(String(80))
    ruleset_version: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[Case] = relationship(back_populates="tasks")


class CaseAgency(Base):
    """An agency working with a case, added by a team lead with a reason (who, when).

    The agencies a case involves are these rows plus those its data implies (the
    supervising provider, the lead professional's agency): ``workflow/agencies.py``.
    Ended rows are kept (``ended_at``) so the history stays readable.
    """

    __tablename__ = "case_agency"
    __table_args__ = (Index("ix_case_agency_case", "case_id", "agency"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("iom_case.id", ondelete="CASCADE"))
    agency: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(String(60))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
