"""audit guard: the database itself refuses to change or remove audit entries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:00:00

PostgreSQL: one trigger function, ``audit_entry_append_only()``, used by a row-level
``BEFORE UPDATE OR DELETE`` trigger and a statement-level ``BEFORE TRUNCATE`` trigger.
UPDATE and DELETE are refused unconditionally. TRUNCATE (which fires no row triggers
and would empty the log in one statement) is refused unless the transaction has set
``SET LOCAL iom.allow_truncate = 'on'``: the test suite resets its database that way,
and anyone able to set it is already able to drop the trigger, so the switch weakens
nothing; it only makes the refusal deliberate rather than accidental.

SQLite: ``BEFORE UPDATE`` and ``BEFORE DELETE`` triggers that ``RAISE(ABORT, ...)``.
SQLite has no TRUNCATE; ``DELETE FROM audit_entry`` fires the DELETE trigger (the
truncate optimisation is disabled when a table has triggers).

The triggers stop casual and accidental edits; they cannot stop the owner of the
database (who can drop them). That is what the hash chain and ``iom audit verify`` are
for: an edit made after dropping a trigger is still detected and named. NOTE: an
Alembic *batch* migration that recreates ``audit_entry`` on SQLite drops its triggers;
such a migration must create them again (copy ``_SQLITE_UP``).
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       AND coalesce(current_setting('iom.allow_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit_entry is append-only: % refused', TG_OP
        USING HINT = 'audit entries can only be added; see docs/audit.md';
END
$$
"""

_PG_UP = (
    _PG_FUNCTION,
    "CREATE TRIGGER audit_entry_no_update_delete BEFORE UPDATE OR DELETE ON audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()",
    "CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()",
)
_PG_DOWN = (
    "DROP TRIGGER IF EXISTS audit_entry_no_truncate ON audit_entry",
    "DROP TRIGGER IF EXISTS audit_entry_no_update_delete ON audit_entry",
    "DROP FUNCTION IF EXISTS audit_entry_append_only()",
)

_SQLITE_UP = tuple(
    f"CREATE TRIGGER audit_entry_no_{op_name.lower()} BEFORE {op_name} ON audit_entry "
    f"BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only: {op_name} refused'); END"
    for op_name in ("UPDATE", "DELETE")
)
_SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS audit_entry_no_update",
    "DROP TRIGGER IF EXISTS audit_entry_no_delete",
)


def _statements(up: bool) -> tuple[str, ...]:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        return _PG_UP if up else _PG_DOWN
    if dialect == "sqlite":
        return _SQLITE_UP if up else _SQLITE_DOWN
    raise NotImplementedError(f"audit guard: unsupported database {dialect}")


def upgrade() -> None:
    for statement in _statements(up=True):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(up=False):
        op.execute(statement)
