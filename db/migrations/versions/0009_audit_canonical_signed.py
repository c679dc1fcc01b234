"""audit_entry: payload stored as canonical JSON text; key_id and signature columns

The payload column becomes text on every backend: new entries (hash version 3) hash the
exact stored text, which PostgreSQL ``jsonb`` did not give back (``1e16`` came back as
``10000000000000000`` and the entry then failed verification). Existing payloads are
kept as their JSON text and parse to the values they had, so version 1 and 2 entries
verify as before. ``key_id``/``signature``: the HMAC signature of each entry's hash
(workflow/audit_signing.py); null for entries written without a key.

No row is updated: PostgreSQL rewrites the table for ``ALTER COLUMN ... TYPE`` without
firing row triggers; SQLite recreates the table (batch), so the append-only triggers of
0002 are created again here.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_SQLITE_GUARD = tuple(
    f"CREATE TRIGGER audit_entry_no_{name.lower()} BEFORE {name} ON audit_entry "
    f"BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only: {name} refused'); END"
    for name in ("UPDATE", "DELETE"))


def _payload_type(new_type, using: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("audit_entry", "payload", type_=new_type,
                        postgresql_using=f"payload::{using}")
        return
    with op.batch_alter_table("audit_entry", recreate="always") as batch_op:
        batch_op.alter_column("payload", type_=new_type)
    for statement in _SQLITE_GUARD:  # the recreated table has no triggers
        op.execute(statement)


def upgrade() -> None:
    op.add_column("audit_entry", sa.Column("key_id", sa.String(40), nullable=True))
    op.add_column("audit_entry", sa.Column("signature", sa.String(64), nullable=True))
    _payload_type(sa.Text(), "text")


def downgrade() -> None:
    """Refused once version-3 entries exist: their hash covers the stored text, which
    ``jsonb`` would not keep."""
    written = op.get_bind().execute(
        sa.text("SELECT count(*) FROM audit_entry WHERE hash_version >= 3")).scalar()
    if written:
        raise RuntimeError(f"cannot downgrade below 0009: {written} audit entries hash "
                           "their payload text (hash_version 3)")
    _payload_type(sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql"),
                  "jsonb")
    with op.batch_alter_table("audit_entry") as batch_op:
        batch_op.drop_column("signature")
        batch_op.drop_column("key_id")
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_GUARD:
            op.execute(statement)
