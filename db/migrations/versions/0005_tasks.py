"""tasks: compliance events, notification outbox, task reminder/escalation marks

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import db.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "compliance_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=80), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("occurred_at", db.base.UTCDateTime(), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.Column("recorded_by", sa.String(length=60), nullable=False),
        sa.Column("recorded_at", db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["iom_case.id"], ondelete="CASCADE",
                                name=op.f("fk_compliance_event_case_id_iom_case")),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE",
                                name=op.f("fk_compliance_event_person_id_person")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_event")),
        sa.UniqueConstraint("event_id", name=op.f("uq_compliance_event_event_id")),
    )
    op.create_index("ix_compliance_event_case_at", "compliance_event", ["case_id", "occurred_at"])
    op.create_index("ix_compliance_event_person_at", "compliance_event",
                    ["person_id", "occurred_at"])
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", db.base.UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", db.base.UTCDateTime(), nullable=False),
        sa.Column("sent_at", db.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"],
                                name=op.f("fk_notification_user_id_app_user")),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], ondelete="SET NULL",
                                name=op.f("fk_notification_task_id_task")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notification_dedupe_key")),
    )
    op.create_index("ix_notification_status_next", "notification",
                    ["status", "next_attempt_at"])
    with op.batch_alter_table("task") as batch:
        batch.add_column(sa.Column("reminded_at", db.base.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("escalated_at", db.base.UTCDateTime(), nullable=True))
    op.create_index("ix_task_case_template_status", "task", ["case_id", "template", "status"])
    op.create_index("ix_task_assignee_status", "task", ["assignee_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_task_assignee_status", table_name="task")
    op.drop_index("ix_task_case_template_status", table_name="task")
    with op.batch_alter_table("task") as batch:
        batch.drop_column("escalated_at")
        batch.drop_column("reminded_at")
    op.drop_index("ix_notification_status_next", table_name="notification")
    op.drop_table("notification")
    op.drop_index("ix_compliance_event_person_at", table_name="compliance_event")
    op.drop_index("ix_compliance_event_case_at", table_name="compliance_event")
    op.drop_table("compliance_event")
