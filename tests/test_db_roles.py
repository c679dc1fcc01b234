"""PostgreSQL least privilege (issue 12, item 2): migrations as the owner, the service as
an app role that cannot change, remove or unguard audit entries, yet runs the service."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from cli.main import main
from db.roles import connected_as, grant_app_role
from db.session import make_engine, make_session_factory
from workflow import audit

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ["--config", str(ROOT / "config.toml")]
APP_ROLE = "iom_app_test"  # cluster-wide, shared by concurrent test runs: never dropped


@pytest.fixture
def app_url(db_url, monkeypatch, capsys):
    """`iom db upgrade` with database.url = the app role, owner_url = the owner."""
    if not db_url.startswith("postgresql"):
        pytest.skip("roles are a PostgreSQL matter")
    url = make_url(db_url).set(username=APP_ROLE).render_as_string(hide_password=False)
    monkeypatch.setenv("IOM_DATABASE_URL", url)
    monkeypatch.setenv("IOM_DATABASE_OWNER_URL", db_url)
    assert main([*CONFIG, "db", "upgrade"]) == 0
    assert f"app role {APP_ROLE}: " in capsys.readouterr().out
    return url


@pytest.fixture
def app_session(app_url):
    engine = make_engine(app_url)
    with make_session_factory(engine)() as s:
        yield s
    engine.dispose()


@pytest.mark.parametrize(("statement", "message"), [
    ("UPDATE audit_entry SET summary = 'x'", "permission denied for table audit_entry"),
    ("DELETE FROM audit_entry", "permission denied for table audit_entry"),
    ("TRUNCATE audit_entry", "permission denied for table audit_entry"),
    ("ALTER TABLE audit_entry DISABLE TRIGGER USER", "must be owner of table audit_entry"),
    ("DROP TRIGGER audit_entry_no_update_delete ON audit_entry", "must be owner of"),
    ("UPDATE alembic_version SET version_num = '0001'", "permission denied for table"),
])
def test_app_role_cannot_change_remove_or_unguard_audit_entries(app_session, now, statement,
                                                               message):
    audit.record(app_session, kind="t", actor="a", occurred_at=now, summary="s",
                 payload={"n": 1})
    app_session.commit()  # the app role may append and read
    before = audit.verify(app_session).checked
    if statement.startswith("TRUNCATE"):
        app_session.execute(text("SET LOCAL iom.allow_truncate = 'on'"))
    with pytest.raises(DBAPIError, match=message):
        app_session.execute(text(statement))
    app_session.rollback()
    after = audit.verify(app_session)
    assert after.ok and after.checked == before > 1


@pytest.mark.parametrize("statement", [
    "UPDATE access_read SET actor = 'x'", "DELETE FROM access_read", "TRUNCATE access_read",
    "ALTER TABLE access_read DISABLE TRIGGER USER"])
def test_app_role_may_only_read_and_append_the_access_log(app_session, now, statement):
    from sqlalchemy import func, select

    from db.models import AccessRead
    from workflow.sharing.access import record_read
    from workflow.sharing.decide import Viewer

    record_read(app_session, viewer=Viewer(1, "om1", "offender_manager"), what="detail",
                purpose="case_management", now=now, case_id=1)
    app_session.commit()  # the app role may append and read
    with pytest.raises(DBAPIError, match="permission denied|must be owner"):
        app_session.execute(text(statement))
    app_session.rollback()
    assert app_session.scalar(select(func.count()).select_from(AccessRead)) == 1


def test_app_role_is_not_privileged_and_the_owner_is(app_url, db_url):
    app, owner = make_engine(app_url), make_engine(db_url)
    try:
        assert connected_as(app).user == APP_ROLE and not connected_as(app).privileged
        assert connected_as(owner).privileged
    finally:
        app.dispose()
        owner.dispose()


@pytest.mark.usefixtures("app_url")
def test_the_service_runs_as_the_app_role(capsys):
    """Imports (COPY), scheduler pass, rule evaluation and audit, all as the app role."""
    assert main([*CONFIG, "demo", "load", "--people", "40", "--seed", "3"]) == 0
    assert main([*CONFIG, "tick", "--now", "2026-12-01T09:00"]) == 0
    capsys.readouterr()
    assert main([*CONFIG, "audit", "verify"]) == 0
    assert capsys.readouterr().out.startswith("OK: audit chain intact")


def test_granting_is_idempotent_and_safe_from_several_processes_at_once(db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("roles are a PostgreSQL matter")
    role = f"iom_app_race_{os.getpid()}"
    owner = make_engine(db_url, pool_size=6)
    errors: list[BaseException] = []

    def grant():
        try:
            grant_app_role(owner, role)
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    try:
        threads = [threading.Thread(target=grant) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        grant_app_role(owner, role)  # again: nothing changes, nothing fails
        with owner.connect() as conn:
            rights = conn.execute(text(
                "SELECT privilege_type FROM information_schema.role_table_grants "
                "WHERE grantee = :r AND table_name IN ('audit_entry', 'access_read') "
                "ORDER BY table_name, 1"), {"r": role}).scalars().all()
        assert rights == ["INSERT", "SELECT"] * 2
    finally:
        with owner.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        owner.dispose()
