"""Case indexes of the columns a new case leaves empty hold only cases with a value; no
audit index by actor

A case opened in mapping has no stream (cohort), no lead professional and no guard mark;
a borough's or region's nominals mostly stay there. ``ix_iom_case_cohort_id``,
``ix_iom_case_lead_id`` and ``ix_iom_case_guard_due`` indexed every case anyway, so the
first mapping pass wrote three index entries per new case that no query reads (every
query on these columns compares them with a value, which no NULL matches, so the
planners of both backends use the partial index for it). Inserting a million mapping
cases into a table with the other indexes: 1.6-1.9 s against 1.0-1.2 s per 250,000 rows,
and 201 MB of indexes against 135 MB.

``ix_audit_entry_actor`` (actor, seq) was added in 0011 to list one user's reads, then
audit entries of kind ``case.read``; since 0015 reads are rows of ``access_read``, listed
by its own ``ix_access_read_actor``, and no query looks audit entries up by actor. It is
dropped: one index entry less for every audit entry appended (a case opened is one).

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

PARTIAL = (("ix_iom_case_cohort_id", ["cohort", "id"], "cohort"),
           ("ix_iom_case_lead_id", ["lead_user_id", "id"], "lead_user_id"),
           ("ix_iom_case_guard_due", ["guard_due_at"], "guard_due_at"))


def upgrade() -> None:
    op.drop_index("ix_audit_entry_actor", table_name="audit_entry")
    for name, columns, column in PARTIAL:
        op.drop_index(name, table_name="iom_case")
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, "iom_case", columns, postgresql_where=where,
                        sqlite_where=where)


def downgrade() -> None:
    for name, columns, _column in PARTIAL:
        op.drop_index(name, table_name="iom_case")
        op.create_index(name, "iom_case", columns)
    op.create_index("ix_audit_entry_actor", "audit_entry", ["actor", "seq"])
