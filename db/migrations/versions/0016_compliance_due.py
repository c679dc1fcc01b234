"""iom_case.compliance_due_at: the periodic compliance pass walks every active case

The task jobs evaluated the compliance rule sets over the first 1,000 active cases by id
on every pass: the same 1,000 each time (a second of CPU every pass on a large borough),
and never any case after them. Now each active case says when the pass next evaluates
it (NULL: at once); a pass takes the due ones, oldest first, and sets them
``[tasks] compliance_recheck_minutes`` ahead; partner data about the person makes the
case due at once. The partial index holds only open, active cases.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

import db.base

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ACTIVE = sa.text("closed_at IS NULL AND state IN ('allocated', 'review', 'suspended')")


def upgrade() -> None:
    op.add_column("iom_case", sa.Column("compliance_due_at", db.base.UTCDateTime(),
                                        nullable=True))
    op.create_index("ix_iom_case_compliance_due", "iom_case", ["compliance_due_at", "id"],
                    postgresql_where=ACTIVE, sqlite_where=ACTIVE)


def downgrade() -> None:
    op.drop_index("ix_iom_case_compliance_due", table_name="iom_case")
    with op.batch_alter_table("iom_case") as batch_op:
        batch_op.drop_column("compliance_due_at")
