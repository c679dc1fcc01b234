"""Shared fixtures: a real database per test on SQLite and on PostgreSQL.

``db_url`` is parametrized over both backends. SQLite: a migrated template file is
copied per test. PostgreSQL: one database per test session (``iom_test_<pid>``),
migrated once and truncated between tests. Set ``IOM_TEST_BACKENDS=sqlite`` to run
SQLite only on a machine without PostgreSQL (CI always runs both).
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, date, datetime

import pytest
from dbsupport import BACKENDS, ROOT, _truncate_pg  # noqa: F401  (ROOT: fixtures below)
from sqlalchemy import create_engine, text

from db.migrate import upgrade
from db.session import make_engine, make_session_factory

PG_ADMIN_URL = os.environ.get("IOM_TEST_PG_ADMIN_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def audit_files(tmp_path, monkeypatch):
    """Every test (and every `iom` it runs) gets its own audit key file path (absent:
    unsigned, unless the test creates a key) and checkpoint directory, never ./var."""
    paths = {"IOM_AUDIT_KEY_FILE": str(tmp_path / "audit.key"),
             "IOM_AUDIT_CHECKPOINT_DIR": str(tmp_path / "audit-checkpoints"),
             "IOM_WEB_SECRET_KEY_FILE": str(tmp_path / "web-secret.key")}
    for name, value in paths.items():
        monkeypatch.setenv(name, value)
    return paths


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database():
    name = f"iom_test_{os.getpid()}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()




@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """A migrated, empty database for this test, on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "iom.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    _truncate_pg(url)
    return url


@pytest.fixture
def db_engine(db_url):
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(db_engine):
    """A session on the per-test database; the test decides when to commit."""
    factory = make_session_factory(db_engine)
    s = factory()
    yield s
    s.rollback()
    s.close()


@pytest.fixture
def now():
    return NOW


@pytest.fixture
def make_person(session):
    """Factory: ``make_person(ref="P1", sex="M", dob=date(1990,1,1))`` -> Person (flushed)."""
    from db.models import Person

    counter = iter(range(1, 1_000_000))

    def make(ref: str | None = None, *, sex: str = "M", dob: date = date(1990, 1, 1),
             **kw):
        n = next(counter)
        person = Person(partner_ref=ref or f"N{n:05d}", given_name=kw.pop("given", "Alex"),
                        family_name=kw.pop("family", f"Person{n}"), sex=sex,
                        date_of_birth=dob, **kw)
        session.add(person)
        session.flush()
        return person

    return make




@pytest.fixture
def settings(db_url, audit_files):
    from workflow.config import load_settings

    return load_settings(ROOT / "config.toml", env={"IOM_DATABASE_URL": db_url,
                                                    **audit_files})


@pytest.fixture
def policy(settings):
    from workflow.advance import Policy

    return Policy.from_settings(settings)


@pytest.fixture
def published(session, now, settings):
    """The shipped rule sets and the stage policy seeded from config.toml, published as
    of a date before ``now`` (what ``iom db upgrade`` does)."""
    from workflow.policy.store import seed_policy
    from workflow.rulesets import sync_shipped

    names = sync_shipped(session, now=now.replace(year=now.year - 1))
    seed_policy(session, settings, now=now.replace(year=now.year - 1))
    session.commit()
    return names


@pytest.fixture
def runtime(settings):
    from workflow.runtime import Runtime

    rt = Runtime.from_settings(settings)
    yield rt
    rt.close()


@pytest.fixture
def app(runtime):
    from api import create_app

    application = create_app(runtime)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def user_tokens():
    """``{username: token}`` of every user ``make_user`` made in this test."""
    return {}


@pytest.fixture
def make_user(session, user_tokens):
    """Factory: ``make_user("lead1", role="team_lead")`` -> (User, token), committed."""
    from workflow.users import create_user

    def make(username: str, *, role: str, agency: str | None = None):
        user, token = create_user(session, username=username, display_name=username,
                                  role=role, agency=agency)
        session.commit()
        user_tokens[username] = token
        return user, token

    return make


@pytest.fixture
def make_case(session, make_person, now):
    """Factory: ``make_case(state="mapping", ogrs=81, newly_sentenced=True, offence=...,
    mappa=0, **person_kw)`` -> Case with the partner data that yields those facts."""
    from datetime import timedelta

    from db.models import Assessment, Case, OffendingEvent, PartnerFlag

    counter = iter(range(1, 1_000_000))

    def make(state: str = "mapping", *, ogrs: int | None = None, newly_sentenced=True,
             offence: str = "theft", mappa: int = 0, arrests: int = 0, **person_kw):
        n = next(counter)
        person = make_person(**person_kw)
        conviction_day = (now - timedelta(days=30 if newly_sentenced else 400)).date()
        session.add(OffendingEvent(partner_ref=f"C{person.id}-{n}", person=person,
                                   kind="conviction", occurred_on=conviction_day,
                                   offence_category=offence))
        for i in range(arrests):
            session.add(OffendingEvent(partner_ref=f"A{person.id}-{n}-{i}", person=person,
                                       kind="arrest", offence_category=offence,
                                       occurred_on=(now - timedelta(days=10 + i)).date()))
        if ogrs is not None:
            session.add(Assessment(partner_ref=f"O{person.id}-{n}", person=person,
                                   assessed_on=conviction_day, ogrs_2yr=ogrs))
        if mappa:
            session.add(PartnerFlag(partner_ref=f"M{person.id}-{n}", person=person,
                                    kind="mappa_level", value=str(mappa),
                                    recorded_on=conviction_day))
        case = Case(person=person, state=state, state_since=now - timedelta(days=1),
                    opened_at=now - timedelta(days=1), next_due_at=now)
        session.add(case)
        session.commit()
        return case

    return make
