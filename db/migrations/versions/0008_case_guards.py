"""iom_case.guard_due_at and guard_override: exclusion guards at every step (issue 11)

guard_due_at marks a case whose person's partner data changed (a flag, an event, an
import) so the next scheduler pass re-checks the exclusion rule sets at once, whatever
the state; guard_override keeps a panel's recorded override of named exclusion rules.
Adding nullable columns touches no row.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

import db.base

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("iom_case", sa.Column("guard_due_at", db.base.UTCDateTime(), nullable=True))
    op.add_column("iom_case", sa.Column("guard_override", db.base.JSONType, nullable=True))
    op.create_index("ix_iom_case_guard_due", "iom_case", ["guard_due_at"])


def downgrade() -> None:
    op.drop_index("ix_iom_case_guard_due", table_name="iom_case")
    with op.batch_alter_table("iom_case") as batch_op:
        batch_op.drop_column("guard_override")
        batch_op.drop_column("guard_due_at")
