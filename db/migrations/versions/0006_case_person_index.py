"""iom_case.person_id index: "people without a case" was a scan per person on SQLite

The only index on the column was the partial unique one on open episodes, which neither
the anti-join that opens missing cases nor the foreign key's checks can use.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_iom_case_person", "iom_case", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_iom_case_person", table_name="iom_case")
