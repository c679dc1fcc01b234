"""lifecycle: panel meetings and agenda items (with decisions)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:00:00
"""

import sqlalchemy as sa
from alembic import op

import db.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "panel_meeting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("starts_at", db.base.UTCDateTime(), nullable=False),
        sa.Column("agenda_built_at", db.base.UTCDateTime(), nullable=True),
        sa.Column("created_at", db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_panel_meeting")),
        sa.UniqueConstraint("held_on", name="uq_panel_meeting_held_on"),
    )
    op.create_table(
        "panel_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("activity_score", sa.Float(), nullable=True),
        sa.Column("invited_user_id", sa.Integer(), nullable=True),
        sa.Column("invited_name", sa.String(length=120), nullable=True),
        sa.Column("invited_at", db.base.UTCDateTime(), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("defer_until", sa.Date(), nullable=True),
        sa.Column("decided_by", sa.String(length=60), nullable=True),
        sa.Column("decided_role", sa.String(length=20), nullable=True),
        sa.Column("decided_at", db.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["meeting_id"], ["panel_meeting.id"], ondelete="CASCADE",
                                name=op.f("fk_panel_item_meeting_id_panel_meeting")),
        sa.ForeignKeyConstraint(["case_id"], ["iom_case.id"], ondelete="CASCADE",
                                name=op.f("fk_panel_item_case_id_iom_case")),
        sa.ForeignKeyConstraint(["invited_user_id"], ["app_user.id"],
                                name=op.f("fk_panel_item_invited_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_panel_item")),
        sa.UniqueConstraint("meeting_id", "case_id", name="uq_panel_item_meeting_case"),
    )
    op.create_index("ix_panel_item_case", "panel_item", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_panel_item_case", table_name="panel_item")
    op.drop_table("panel_item")
    op.drop_table("panel_meeting")
