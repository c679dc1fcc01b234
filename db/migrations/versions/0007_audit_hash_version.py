"""audit_entry.hash_version: new entries' hash also covers recorded_at

Entries already written keep version 1 (their hash does not cover recorded_at) and are
verified as they were; entries written from now on are version 2. Adding a column
touches no row, so the append-only guard triggers stay as they are.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_entry", sa.Column("hash_version", sa.Integer(), nullable=False,
                                           server_default=sa.text("1")))


def downgrade() -> None:
    """Refused once version-2 entries exist: without the column they would be checked as
    version 1 and every one of them would fail verification."""
    written = op.get_bind().execute(
        sa.text("SELECT count(*) FROM audit_entry WHERE hash_version >= 2")).scalar()
    if written:
        raise RuntimeError(f"cannot downgrade below 0007: {written} audit entries have a "
                           "hash covering recorded_at (hash_version 2)")
    with op.batch_alter_table("audit_entry") as batch_op:
        batch_op.drop_column("hash_version")
