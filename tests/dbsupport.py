"""Plain helpers shared by conftest.py and test modules.

Test modules import these from here, not from ``conftest``: with tests/browser/conftest.py
beside tests/conftest.py, ``import conftest`` names whichever was loaded first.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = [b.strip() for b in os.environ.get("IOM_TEST_BACKENDS",
                                              "sqlite,postgresql").split(",") if b.strip()]


# Above this many rows in a table, DELETE costs more than TRUNCATE: the reset truncates.
_DELETE_AT_MOST = 10_000

_OWNED_SEQUENCES = """
SELECT setval(s.oid, q.seqstart, false)
FROM pg_class s
JOIN pg_sequence q ON q.seqrelid = s.oid
JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
JOIN pg_class t ON t.oid = d.refobjid
WHERE s.relkind = 'S' AND t.relnamespace = 'public'::regnamespace
  AND t.relname <> 'alembic_version'
"""


def _truncate_pg(url: str) -> None:
    """Empty every table but ``alembic_version`` and restart the identities they own: what
    ``TRUNCATE ... RESTART IDENTITY CASCADE`` of them all does.

    A test leaves a few rows in a few tables. Those are DELETEd, with triggers and foreign
    keys off for the transaction (``session_replication_role = replica``, a superuser
    setting; the append-only guards are triggers), and the owned sequences set back to
    their start: milliseconds, where truncating every table (a new file for each table
    and index) took about 0.4 s a test. A table holding more than ``_DELETE_AT_MOST``
    rows, or a role that is not a superuser, gets the TRUNCATE of them all."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            tables = conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'")).scalars().all()
            if not tables:
                return
            rows = _row_counts(conn, tables)
            superuser = conn.execute(text("SHOW is_superuser")).scalar() == "on"
            if superuser and max(rows.values()) <= _DELETE_AT_MOST:
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                for table, count in rows.items():
                    if count:
                        conn.execute(text(f'DELETE FROM "{table}"'))
                conn.execute(text(_OWNED_SEQUENCES))
                return
            quoted = ", ".join(f'"{t}"' for t in tables)
            # The audit_entry guard (migration 0002) refuses TRUNCATE unless this is set.
            conn.execute(text("SET LOCAL iom.allow_truncate = 'on'"))
            conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


def _row_counts(conn, tables: list[str]) -> dict[str, int]:
    """Rows in each table, counted up to ``_DELETE_AT_MOST + 1``: one round trip."""
    limit = _DELETE_AT_MOST + 1
    query = " UNION ALL ".join(
        f"SELECT '{t}', (SELECT count(*) FROM (SELECT 1 FROM \"{t}\" LIMIT {limit}) s)"
        for t in tables)
    return dict(conn.execute(text(query)).all())
