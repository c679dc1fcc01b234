"""Agencies working with a case (case_agency) and an expiry on every user token

``case_agency``: an agency added to a case by a team lead, with who, when and why.
``app_user.token_expires_at``: tokens issued before this revision had no expiry; they
are given 90 days from the upgrade (the default of ``[server] token_days``), so no
token is valid for ever.

Revision ID: 0012
Revises: 0011
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import db.base

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

LEGACY_TOKEN_DAYS = 90


def upgrade() -> None:
    op.create_table(
        "case_agency",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("iom_case.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("agency", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("added_by", sa.String(60), nullable=False),
        sa.Column("added_at", db.base.UTCDateTime(), nullable=False),
        sa.Column("ended_at", db.base.UTCDateTime()),
    )
    op.create_index("ix_case_agency_case", "case_agency", ["case_id", "agency"])
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("token_expires_at", db.base.UTCDateTime()))
    expires = datetime.now(UTC) + timedelta(days=LEGACY_TOKEN_DAYS)
    op.get_bind().execute(
        sa.text("UPDATE app_user SET token_expires_at = :at WHERE token_hash IS NOT NULL")
        .bindparams(sa.bindparam("at", type_=db.base.UTCDateTime())), {"at": expires})


def downgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("token_expires_at")
    op.drop_index("ix_case_agency_case", table_name="case_agency")
    op.drop_table("case_agency")
