"""app_user.password_hash (argon2) and sign_in_attempt (rate limiting for the web pages)

``password_hash``: the argon2id hash of the user's web password (null: no password set,
web sign-in refused; the API keeps bearer tokens). ``sign_in_attempt``: one row per web
sign-in attempt, by username and client address, so the lock-out survives restarts and
holds across processes.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

import db.base

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch_op:
        batch_op.add_column(sa.Column("password_hash", sa.String(200), nullable=True))
        batch_op.add_column(sa.Column("password_set_at", db.base.UTCDateTime(), nullable=True))
    op.create_table(
        "sign_in_attempt",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(60), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("at", db.base.UTCDateTime(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_sign_in_attempt_who_at", "sign_in_attempt",
                    ["username", "address", "at"])


def downgrade() -> None:
    op.drop_index("ix_sign_in_attempt_who_at", table_name="sign_in_attempt")
    op.drop_table("sign_in_attempt")
    with op.batch_alter_table("app_user") as batch_op:
        batch_op.drop_column("password_set_at")
        batch_op.drop_column("password_hash")
