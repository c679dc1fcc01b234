"""PostgreSQL roles: migrations run as the owner, the service as a least-privilege role.

The owner (``database.owner_url``) owns every table and so could disable the audit
guard triggers; the app role (the user of ``database.url``) gets, on every table of the
``public`` schema, SELECT/INSERT/UPDATE/DELETE, except on ``audit_entry`` and the access
log ``access_read`` (SELECT and INSERT only: no UPDATE, DELETE or TRUNCATE) and
``alembic_version`` (SELECT), plus USAGE on the sequences. Not owning a table, it
cannot ``ALTER TABLE ... DISABLE TRIGGER`` either. :func:`grant_app_role` is idempotent
and safe when several processes run it at once on one cluster (roles are cluster-wide,
grants per database).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Engine, text

_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_GRANT_LOCK = 0x10A_A0D2  # advisory lock id: one grant_app_role at a time per database

# One transaction, as the owner. Re-run on every upgrade, so new tables get their grants.
_GRANTS = (
    "GRANT USAGE ON SCHEMA public TO {role}",
    "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
    "REVOKE UPDATE, DELETE, TRUNCATE ON audit_entry FROM {role}",
    "REVOKE UPDATE, DELETE, TRUNCATE ON access_read FROM {role}",
    "REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {role}",
    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
)

# CREATE ROLE has no IF NOT EXISTS; two processes creating it at once collide on the
# catalogue's unique index (unique_violation) rather than on duplicate_object.
_CREATE = """
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN
        CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
            NOBYPASSRLS;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$
"""


def _quoted(role: str) -> str:
    if not _ROLE.match(role):
        raise ValueError(f"app role {role!r}: lower-case letters, digits and '_' only")
    return f'"{role}"'


def grant_app_role(owner: Engine, role: str, password: str | None = None) -> None:
    """Create ``role`` if missing (LOGIN, nothing else) and grant it the app's rights in
    the database ``owner`` is connected to. ``password``: set it (else left as it is)."""
    quoted = _quoted(role)
    with owner.begin() as conn:
        conn.execute(text(_CREATE.format(role=quoted, name=role)))
    with owner.begin() as conn:
        # Concurrent GRANTs on one object fail ("tuple concurrently updated"): take turns
        # (advisory locks are per database, as these grants are).
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _GRANT_LOCK})
        if password is not None:
            statement = conn.execute(text("SELECT format('ALTER ROLE %I PASSWORD %L', "
                                          ":role, :password)"),
                                     {"role": role, "password": password}).scalar_one()
            conn.execute(text(statement))
        for grant in _GRANTS:
            conn.execute(text(grant.format(role=quoted)))


@dataclass(frozen=True)
class Connected:
    """Who a PostgreSQL connection is, and whether it could switch the audit guard off."""

    user: str
    superuser: bool
    owns_audit: bool

    @property
    def privileged(self) -> bool:
        return self.superuser or self.owns_audit


def connected_as(engine: Engine) -> Connected | None:
    """The role ``engine`` connects as (None on SQLite, which has no roles)."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT current_user AS user, r.rolsuper AS superuser, coalesce(("
            "  SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c"
            "  WHERE c.oid = to_regclass('audit_entry')), false) AS owns_audit "
            "FROM pg_roles r WHERE r.rolname = current_user")).one()
    return Connected(row.user, row.superuser, row.owns_audit)
