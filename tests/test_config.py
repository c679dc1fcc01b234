"""Configuration: file + IOM_ overrides, validated with precise errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflow.config import load_settings
from workflow.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_from_shipped_file():
    s = load_settings(ROOT / "config.toml", env={})
    assert s.database_url.startswith("sqlite:///")
    assert s.stages["mapping"].rulesets == ("mappa-exclusion", "pan-london-selection")


def test_environment_overrides_each_known_key():
    s = load_settings(ROOT / "config.toml", env={
        "IOM_DATABASE_URL": "postgresql+psycopg://x@h/db",
        "IOM_SCHEDULER_INTERVAL_SECONDS": "5",
        "IOM_STAGES_MAPPING_RULESETS": "bromley-selection, mappa-exclusion",
        "IOM_UNRELATED": "ignored",
    })
    assert s.database_url == "postgresql+psycopg://x@h/db"
    assert s.interval_seconds == 5
    assert s.stages["mapping"].rulesets == ("bromley-selection", "mappa-exclusion")


@pytest.mark.parametrize(("env", "needle"), [
    ({"IOM_SCHEDULER_INTERVAL_SECONDS": "often"}, "scheduler.interval_seconds"),
    ({"IOM_SERVER_PORT": "70000"}, "server.port"),
    ({"IOM_FACTS_WINDOW_DAYS": "0"}, "facts.window_days"),
])
def test_invalid_values_name_the_key(env, needle):
    with pytest.raises(ConfigError) as err:
        load_settings(ROOT / "config.toml", env=env)
    assert needle in str(err.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[database\nurl=1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad, env={})
    missing = tmp_path / "missing.toml"
    missing.write_text("[database]\nurl='sqlite:///x'\n")
    with pytest.raises(ConfigError, match="stages"):
        load_settings(missing, env={})


@pytest.mark.parametrize(("given", "used"), [
    ("postgresql://postgres@127.0.0.1:5432/iom", "postgresql+psycopg://postgres@127.0.0.1:5432/iom"),
    ("postgres://u:p%40ss@db/iom", "postgresql+psycopg://u:p%40ss@db/iom"),
    ("postgresql+psycopg://u@db/iom", "postgresql+psycopg://u@db/iom"),
    ("sqlite:///var/iom.sqlite3", "sqlite:///var/iom.sqlite3"),
])
def test_a_plain_postgresql_url_gets_the_installed_driver(given, used):
    """SQLAlchemy would look for psycopg2 behind postgresql://; psycopg 3 is installed."""
    s = load_settings(ROOT / "config.toml", env={"IOM_DATABASE_URL": given})
    assert s.database_url == used


@pytest.mark.parametrize(("url", "reason"), [
    ("mysql://u@db/iom", "database.url: 'mysql': expected sqlite or postgresql"),
    ("iom database", "database.url: not a database URL"),
])
def test_an_unusable_database_url_is_refused_at_start_up(url, reason):
    with pytest.raises(ConfigError, match=reason):
        load_settings(ROOT / "config.toml", env={"IOM_DATABASE_URL": url})
