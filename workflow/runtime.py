"""Process-wide wiring built from validated settings: database engine and sessions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db.session import make_engine, make_session_factory
from workflow.config import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.database_url)
        return cls(settings, engine, make_session_factory(engine))

    def close(self) -> None:
        self.engine.dispose()
