"""A lost or unreachable database ends ``iom import`` / ``iom tick`` with one clear line
(exit 4), not a traceback, and nothing of the interrupted transaction is stored."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from db.models import Person

ROOT = Path(__file__).resolve().parents[1]
LOST = "error: the database connection was lost or refused: "
TAIL = ("(the interrupted transaction was rolled back: nothing of it was stored; run the "
        "command again once the database is available)")


def _iom(url: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "IOM_CONFIG": str(ROOT / "config.toml"), "IOM_DATABASE_URL": url}
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main())",
         *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("command", [["tick", "--now", "2025-03-03T09:00"],
                                     ["import", "people", "docs/formats/examples/people.csv"]])
def test_an_unreachable_database_is_one_line(command):
    proc = _iom("postgresql://postgres@127.0.0.1:1/iom", *command)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, (out, err)
    assert err.count("\n") == 1 and err.startswith(LOST) and err.rstrip().endswith(TAIL)
    assert "Connection refused" in err and "Traceback" not in err


def test_an_import_whose_connection_is_killed_midway_ends_with_one_line(
        db_url, session, tmp_path):
    if not db_url.startswith("postgresql"):
        pytest.skip("killing one server connection from outside is a PostgreSQL matter")
    rows = "".join(f"K{i:07d},Ann,Lee,F,1990-01-01\n" for i in range(400_000))
    path = tmp_path / "people.csv"
    path.write_text("partner_ref,given_name,family_name,sex,date_of_birth\n" + rows)
    proc = _iom(db_url + "?application_name=iom_lost_import", "import", "people", str(path))
    admin = create_engine(db_url, isolation_level="AUTOCOMMIT")
    killed = False
    try:
        with admin.connect() as conn:
            deadline = time.monotonic() + 60
            while not killed and time.monotonic() < deadline and proc.poll() is None:
                killed = bool(conn.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                    "application_name = 'iom_lost_import' AND xact_start IS NOT NULL "
                    "AND now() - xact_start > interval '300 milliseconds'")).scalars().all())
                time.sleep(0.05)
    finally:
        admin.dispose()
    out, err = proc.communicate(timeout=120)
    assert killed, (out, err)
    assert proc.returncode == 4, (out, err)
    assert err.count("\n") == 1 and err.startswith(LOST), err
    assert "Traceback" not in err and err.rstrip().endswith(TAIL)
    assert session.scalar(select(func.count()).select_from(Person)) == 0
