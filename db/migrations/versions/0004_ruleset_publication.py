"""Rule-set publications (history of what was in force when) and review evidence.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

import db.base

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ruleset_publication",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("published_at", db.base.UTCDateTime(), nullable=False),
        sa.Column("recorded_at", db.base.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=60), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["ruleset_version.id"],
                                name=op.f("fk_ruleset_publication_version_id_ruleset_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ruleset_publication")),
    )
    op.create_index("ix_ruleset_publication_name_at", "ruleset_publication",
                    ["name", "published_at"])
    with op.batch_alter_table("ruleset_version") as batch:
        batch.add_column(sa.Column("tested_at", db.base.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("tested_ok", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("previewed_at", db.base.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("previewed_by", sa.String(length=60), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ruleset_version") as batch:
        for column in ("previewed_by", "previewed_at", "tested_ok", "tested_at"):
            batch.drop_column(column)
    op.drop_index("ix_ruleset_publication_name_at", table_name="ruleset_publication")
    op.drop_table("ruleset_publication")
