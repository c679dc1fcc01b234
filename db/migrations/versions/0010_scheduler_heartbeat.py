"""scheduler_heartbeat: one row per scheduler process, upserted after every pass

Read by /health/ready (a scheduler beat recently) and /metrics (passes, pass seconds,
cases moved), so every API process sees every scheduler process's figures.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduler_heartbeat",
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("beat_at", UTCDateTime(), nullable=False),
        sa.Column("passes", sa.Integer(), nullable=False),
        sa.Column("pass_seconds_total", sa.Float(), nullable=False),
        sa.Column("last_pass_seconds", sa.Float(), nullable=False),
        sa.Column("cases_moved_total", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("worker", name=op.f("pk_scheduler_heartbeat")),
    )
    op.create_index(op.f("ix_scheduler_heartbeat_beat_at"), "scheduler_heartbeat",
                    ["beat_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_scheduler_heartbeat_beat_at"), table_name="scheduler_heartbeat")
    op.drop_table("scheduler_heartbeat")
