"""Alembic, driven programmatically so `iom db upgrade` works from any directory."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``; creates the SQLite file if needed."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


@cache
def head_revision() -> str:
    """The revision the code expects (the single head of the migration scripts)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(bind: Engine | Connection) -> str | None:
    """The revision the database is at (None: never migrated), read on ``bind``."""
    from alembic.runtime.migration import MigrationContext

    if isinstance(bind, Connection):
        return MigrationContext.configure(bind).get_current_revision()
    with bind.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def sqlite_file_missing(url: str) -> bool:
    """Whether ``url`` names a SQLite file that does not exist (connecting would create
    an empty one)."""
    parsed = make_url(url)
    return (parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "")
            and parsed.database != ":memory:" and not Path(parsed.database).exists())


def schema_problem(engine: Engine) -> str | None:
    """What keeps the database at ``engine`` from being used, in a few words, or None
    when it is migrated to head. Never creates a SQLite file."""
    url = engine.url.render_as_string(hide_password=True)
    if sqlite_file_missing(engine.url.render_as_string(hide_password=False)):
        return f"there is no database at {url}"
    current, head = current_revision(engine), head_revision()
    if current is None:
        return f"the database at {url} is not migrated"
    if current != head:
        return f"the database at {url} is at schema {current}, not {head}"
    return None
