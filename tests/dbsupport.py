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


def _truncate_pg(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'")).scalars().all()
        if tables:
            quoted = ", ".join(f'"{t}"' for t in tables)
            # The audit_entry guard (migration 0002) refuses TRUNCATE unless this is set.
            conn.execute(text("SET LOCAL iom.allow_truncate = 'on'"))
            conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    engine.dispose()
