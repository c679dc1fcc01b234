"""First-run mistakes, each made with the real ``iom`` console script in a subprocess,
from a directory outside the checkout with no config.toml: each ends in one clear line
naming the fix (no traceback) and a non-zero exit, or in silence for a closed pipe."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

IOM = str(Path(sys.executable).with_name("iom"))
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def elsewhere(tmp_path, audit_files):
    """A working directory outside the checkout, and an environment with no IOM_*
    setting but the test's own audit paths."""
    work = tmp_path / "elsewhere"
    work.mkdir()
    assert not (work / "config.toml").exists() and ROOT not in work.parents
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOM_")}
    env.update(audit_files)
    return work, env


def _iom(work: Path, env: dict, *args: str, timeout: float = 60, **kw):
    return subprocess.run([IOM, *args], cwd=work, env=env, capture_output=True, text=True,
                          timeout=timeout, **kw)


def _one_line_error(proc, *needles: str) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0, proc
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("command", [
    ("tick",), ("rules", "list"), ("tasks", "list", "--as-admin"), ("audit", "verify"),
    ("report", "caseload"), ("serve",), ("scheduler",),
])
def test_every_command_on_a_missing_database_says_so_in_one_line(elsewhere, command):
    work, env = elsewhere
    proc = _iom(work, env, *command)
    line = _one_line_error(proc, "iom db upgrade", "no database at sqlite:///var/iom.sqlite3")
    assert "IOM API on" not in proc.stdout and proc.stdout == ""
    assert not (work / "var" / "iom.sqlite3").exists(), line  # nothing created by asking


def test_from_any_directory_with_packaged_defaults(elsewhere):
    work, env = elsewhere
    upgraded = _iom(work, env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert (work / "var" / "iom.sqlite3").exists()  # relative to the working directory
    tick = _iom(work, env, "tick", "--now", "2026-12-01T09:00")
    assert tick.returncode == 0 and tick.stdout.startswith("pass at 2026-12-01"), tick


def test_a_named_config_file_that_is_missing_names_its_source(elsewhere):
    work, env = elsewhere
    _one_line_error(_iom(work, env, "--config", "prod.toml", "tick"),
                    "prod.toml: configuration file not found", "--config")
    _one_line_error(_iom(work, {**env, "IOM_CONFIG": "/etc/iom/iom.toml"}, "tick"),
                    "/etc/iom/iom.toml", "IOM_CONFIG")


def test_unmigrated_and_outdated_databases_say_so_in_one_line(elsewhere):
    import sqlite3

    from db.migrate import head_revision, upgrade

    work, env = elsewhere
    sqlite3.connect(work / "empty.sqlite3").execute("CREATE TABLE other (x)").connection.close()
    env_empty = {**env, "IOM_DATABASE_URL": "sqlite:///empty.sqlite3"}
    _one_line_error(_iom(work, env_empty, "tick"), "is not migrated", "iom db upgrade")
    upgrade(f"sqlite:///{work / 'old.sqlite3'}", "0009")
    proc = _iom(work, {**env, "IOM_DATABASE_URL": "sqlite:///old.sqlite3"}, "rules", "list")
    _one_line_error(proc, "at schema 0009", f"not {head_revision()}", "iom db upgrade")


def test_a_missing_postgresql_database_is_one_line(elsewhere):
    work, env = elsewhere
    env = {**env, "IOM_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/iom_no_such_db"}
    _one_line_error(_iom(work, env, "tick"), "there is no database at postgresql",
                    "iom_no_such_db", "iom db upgrade")


def test_serve_reports_a_port_in_use_before_claiming_to_serve(elsewhere):
    work, env = elsewhere
    assert _iom(work, env, "db", "upgrade").returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = _iom(work, {**env, "IOM_SERVER_PORT": str(port)}, "serve")
    _one_line_error(proc, f"port {port} on 127.0.0.1 is already in use", "server.port")
    assert "IOM API on" not in proc.stdout


def _closed_pipe_run(work, env, *args):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written (| head)
    try:
        return subprocess.run([IOM, *args], cwd=work, env=env, stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)


def test_a_closed_pipe_ends_silently(elsewhere):
    work, env = elsewhere
    proc = _closed_pipe_run(work, env, "rules", "facts")
    assert proc.stderr == "" and proc.returncode == 141, proc.stderr
    assert _iom(work, env, "db", "upgrade").returncode == 0
    proc = _closed_pipe_run(work, env, "tick", "--now", "2026-12-01T09:00")
    assert proc.stderr == "" and proc.returncode == 141, proc.stderr
