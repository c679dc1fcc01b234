"""access_read: the access log leaves the audit chain (issue 16)

Every read of case data appended a ``case.read`` entry to the hash-chained audit log,
so every reader took the chain's lock and readers queued behind each other. Reads now go
to ``access_read`` by a plain INSERT; a scheduler job seals them afterwards (a hash chain
over the rows and one signed ``access.sealed`` audit entry per batch,
``workflow/access_seal.py``).

A partial index on ``audit_entry`` (the ``access.sealed`` entries) finds the last seal.
The table is append-only like ``audit_entry`` (0002): triggers refuse UPDATE and DELETE
(TRUNCATE on PostgreSQL unless ``iom.allow_truncate`` is set), and the app role gets
SELECT and INSERT only (``db/roles.py``). The existing ``case.read`` audit entries are
copied into it, in ``seq`` order, each naming its entry (``audit_seq``); the entries stay
in the chain (it is append-only) and are no longer read as the access log.

Revision ID: 0015
Revises: 0014
"""

import json

import sqlalchemy as sa
from alembic import op

import db.base
import db.canonical

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_COLUMNS = ("what", "role", "agency", "purpose", "via")

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION access_read_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       AND coalesce(current_setting('iom.allow_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'access_read is append-only: % refused', TG_OP
        USING HINT = 'reads can only be added; see docs/sharing.md';
END
$$
"""
_PG_UP = (
    _PG_FUNCTION,
    "CREATE TRIGGER access_read_no_update_delete BEFORE UPDATE OR DELETE ON access_read "
    "FOR EACH ROW EXECUTE FUNCTION access_read_append_only()",
    "CREATE TRIGGER access_read_no_truncate BEFORE TRUNCATE ON access_read "
    "FOR EACH STATEMENT EXECUTE FUNCTION access_read_append_only()",
)
_SQLITE_UP = tuple(
    f"CREATE TRIGGER access_read_no_{name.lower()} BEFORE {name} ON access_read "
    f"BEGIN SELECT RAISE(ABORT, 'access_read is append-only: {name} refused'); END"
    for name in ("UPDATE", "DELETE"))


def _row(entry) -> dict:
    """The access row of one ``case.read`` audit entry (its payload as stored text)."""
    payload = json.loads(entry.payload) if entry.payload else {}
    payload = payload if isinstance(payload, dict) else {}
    rest = {k: v for k, v in payload.items() if k not in _COLUMNS}
    return {"at": entry.occurred_at, "actor": entry.actor,
            "role": payload.get("role"), "agency": payload.get("agency"),
            "what": str(payload.get("what") or "record")[:120],
            "purpose": payload.get("purpose"), "via": str(payload.get("via") or "unknown"),
            "case_id": entry.case_id, "person_ref": entry.person_ref,
            "detail": db.canonical.canonical_text(rest) if rest else None,
            "audit_seq": entry.seq}


def _copy_reads(batch: int = 5000) -> None:
    conn = op.get_bind()
    table = sa.table("access_read", sa.column("at", db.base.UTCDateTime()), *(
        sa.column(c) for c in ("actor", "role", "agency", "what", "purpose", "via",
                               "case_id", "person_ref", "detail", "audit_seq")))
    last = 0
    while True:
        rows = conn.execute(sa.text(
            "SELECT seq, occurred_at, actor, case_id, person_ref, payload FROM audit_entry "
            "WHERE kind = 'case.read' AND seq > :last ORDER BY seq LIMIT :n"
        ).columns(occurred_at=db.base.UTCDateTime()), {"last": last, "n": batch}).all()
        if not rows:
            return
        conn.execute(table.insert(), [_row(r) for r in rows])
        last = rows[-1].seq


def upgrade() -> None:
    op.create_table(
        "access_read",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("at", db.base.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(60), nullable=False),
        sa.Column("role", sa.String(20), nullable=True),
        sa.Column("agency", sa.String(20), nullable=True),
        sa.Column("what", sa.String(120), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=True),
        sa.Column("via", sa.String(10), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("person_ref", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("audit_seq", _ID, nullable=True),
    )
    op.create_index("ix_access_read_case", "access_read", ["case_id", "id"])
    op.create_index("ix_access_read_actor", "access_read", ["actor", "id"])
    op.create_index("ix_audit_entry_access_seal", "audit_entry", ["seq"],
                    postgresql_where=sa.text("kind = 'access.sealed'"),
                    sqlite_where=sa.text("kind = 'access.sealed'"))
    _copy_reads()
    dialect = op.get_bind().dialect.name
    for statement in _PG_UP if dialect == "postgresql" else _SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_audit_entry_access_seal", table_name="audit_entry")
    op.drop_index("ix_access_read_actor", table_name="access_read")
    op.drop_index("ix_access_read_case", table_name="access_read")
    op.drop_table("access_read")  # its triggers go with it
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS access_read_append_only()")
