"""case_access_list: per-case restriction and exclusion lists (issue 15); an index on
audit_entry (actor, seq) so auditors can list one user's reads

Reads of case data go to the audit chain (kind ``case.read``), so ``iom audit verify``
covers them; listing them by user needs the index. New table and index: no row touched.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

import db.base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_access_list",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(),
                  sa.ForeignKey("iom_case.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("users", db.base.JSONType, nullable=False),
        sa.Column("agencies", db.base.JSONType, nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(60), nullable=False),
        sa.Column("set_at", db.base.UTCDateTime(), nullable=False),
        sa.Column("removed_by", sa.String(60), nullable=True),
        sa.Column("removed_at", db.base.UTCDateTime(), nullable=True),
        sa.Column("removed_reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_case_access_list_case", "case_access_list", ["case_id", "removed_at"])
    op.create_index("ix_audit_entry_actor", "audit_entry", ["actor", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_entry_actor", table_name="audit_entry")
    op.drop_index("ix_case_access_list_case", table_name="case_access_list")
    op.drop_table("case_access_list")
