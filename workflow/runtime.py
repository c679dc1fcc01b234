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
        engine = make_engine(settings.database_url)
        return cls(settings, engine, make_session_factory(engine, info={SIGNER: keyring}),
                   keyring)

    def close(self) -> None:
        self.engine.dispose()
