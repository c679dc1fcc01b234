"""Process-wide wiring built from validated settings: database engine, sessions and the
audit signing keys (every session signs the audit entries it writes when there is a key).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db.session import make_engine, make_session_factory
from workflow.audit import SIGNER
from workflow.audit_signing import KeyRing, load_keyring
from workflow.config import Settings
from workflow.errors import NotReady


def pool_options(settings: Settings) -> dict:
    """PostgreSQL: keep as many connections open as the process has requests at work
    (``[server] max_in_flight``) and two more (the in-process scheduler, a refused read's
    own record). With SQLAlchemy's default of five, requests beyond the fifth opened a
    connection and closed it after use: a new server process and cold caches for the
    requests of a busy moment, the more the busier. SQLite: the defaults."""
    if not settings.database_url.startswith("postgresql"):
        return {}
    return {"pool_size": max(5, settings.shedding["max_in_flight"] + 2), "max_overflow": 10}


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keyring: KeyRing = field(default_factory=KeyRing)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        """Raises ConfigError for a malformed key file; a missing one means unsigned."""
        keyring = load_keyring(settings.audit["key_file"])
        engine = make_engine(settings.database_url, **pool_options(settings))
        return cls(settings, engine, make_session_factory(engine, info={SIGNER: keyring}),
                   keyring)

    def require_schema(self) -> None:
        """Raise :class:`NotReady` (one line naming ``iom db upgrade``) unless the database
        exists and is migrated to head. Never creates a SQLite file."""
        from sqlalchemy.exc import OperationalError

        from db.migrate import schema_problem

        where = f"database.url in {self.settings.source} or IOM_DATABASE_URL"
        try:
            problem = schema_problem(self.engine)
        except OperationalError as exc:
            first = next((x.strip() for x in str(exc.orig).splitlines() if x.strip()), "")
            if "does not exist" not in first:
                raise  # unreachable: the CLI's one line for a lost database (exit 4)
            url = self.engine.url.render_as_string(hide_password=True)
            raise NotReady(f"there is no database at {url} ({first.split('FATAL:')[-1].strip()}"
                           f"): create it, then run `iom db upgrade` ({where})") from None
        if problem:
            raise NotReady(f"{problem}: run `iom db upgrade` first ({where})")

    def close(self) -> None:
        self.engine.dispose()
