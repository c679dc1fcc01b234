"""Indexes for the listings' filters and keyset order (GET /cases, /tasks, /imports)

The case list is ordered by id (newest first) and filtered by state, stream (cohort),
lead professional or due date: each filter gets an index ending in the id, so a page is
an index range read backwards from the cursor, not a sort of every matching case
(``ix_iom_case_state`` on the state alone is superseded, and ``ix_iom_case_due`` by the
due date and id: a due listing is read in index order, not sorted). The task queue (unassigned
tasks of a role) and the import history by kind get theirs.

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

NEW = (
    ("ix_iom_case_state_id", "iom_case", ["state", "id"]),
    ("ix_iom_case_cohort_id", "iom_case", ["cohort", "id"]),
    ("ix_iom_case_lead_id", "iom_case", ["lead_user_id", "id"]),
    ("ix_iom_case_due_id", "iom_case", ["next_due_at", "id"]),
    ("ix_task_role_status_due", "task", ["role", "status", "due_at"]),
    ("ix_import_batch_kind_id", "import_batch", ["kind", "id"]),
    ("ix_app_user_agency", "app_user", ["agency"]),
)


def upgrade() -> None:
    for name, table, columns in NEW:
        op.create_index(name, table, columns)
    op.drop_index("ix_iom_case_state", table_name="iom_case")
    op.drop_index("ix_iom_case_due", table_name="iom_case")


def downgrade() -> None:
    op.create_index("ix_iom_case_due", "iom_case", ["next_due_at"])
    op.create_index("ix_iom_case_state", "iom_case", ["state"])
    for name, table, _columns in reversed(NEW):
        op.drop_index(name, table_name=table)
