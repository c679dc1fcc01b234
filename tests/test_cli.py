"""The ``iom`` console script, run as a real process against a temporary SQLite file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IOM = str(Path(sys.executable).with_name("iom"))


def _runner(env: dict, cwd: Path):
    def run(*args, check=True):
        proc = subprocess.run([IOM, *args], env=env, cwd=cwd, capture_output=True,
                              text=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"iom {' '.join(args)} -> {proc.returncode}\n{proc.stderr}")
        return proc
    return run


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory) -> Path:
    """A database file that ``iom db upgrade`` made (once for the module: it was most of
    each test's time); each test gets a copy of it."""
    where = tmp_path_factory.mktemp("cli-upgraded")
    shutil.copy(ROOT / "config.toml", where / "config.toml")
    env = {**os.environ, "IOM_CONFIG": str(where / "config.toml"),
           "IOM_DATABASE_URL": f"sqlite:///{where / 'cli.sqlite3'}",
           "IOM_AUDIT_KEY_FILE": str(where / "audit.key"),
           "IOM_AUDIT_CHECKPOINT_DIR": str(where / "audit-checkpoints"),
           "IOM_WEB_SECRET_KEY_FILE": str(where / "web-secret.key")}
    _runner(env, where)("db", "upgrade")
    return where / "cli.sqlite3"


@pytest.fixture
def iom(tmp_path, upgraded):
    """``iom(*args, check=True)`` in ``tmp_path``: its own config.toml copy and its own
    copy of the upgraded database."""
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    shutil.copy(upgraded, tmp_path / "cli.sqlite3")
    env = {**os.environ, "IOM_CONFIG": str(tmp_path / "config.toml"),
           "IOM_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}"}
    return _runner(env, tmp_path)


def test_evaluate_pan_london_outcomes_with_mappa_excluded(iom, tmp_path):
    facts = [
        {"id": "p1", "newly_sentenced": True, "ogrs_2yr": 75, "offence_category": "theft",
         "mappa_level": 0, "statutory": True, "sex": "M", "age": 24},
        {"id": "p2", "newly_sentenced": True, "ogrs_2yr": 50, "offence_category": "robbery"},
        {"id": "p3", "newly_sentenced": True, "ogrs_2yr": 74,
         "offence_category": "other_burglary", "sex": "F", "age": 31},
        {"id": "p4", "newly_sentenced": True, "ogrs_2yr": 74, "offence_category": "violence"},
        {"id": "p5", "newly_sentenced": False, "ogrs_2yr": 99,
         "offence_category": "robbery"},
        {"id": "p6", "newly_sentenced": True, "ogrs_2yr": 88, "mappa_level": 2},
        {"id": "p7", "newly_sentenced": True, "ogrs_2yr": 60,
         "offence_category": "domestic_burglary", "mappa_level": 3},
        {"id": "p8", "newly_sentenced": True, "ogrs_2yr": 91, "mappa_level": 1},
    ]
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(facts))
    out = json.loads(iom("evaluate", "--stage", "mapping", "--facts", str(path)).stdout)
    assert [r["id"] for r in out] == [f["id"] for f in facts]
    assert [r["outcome"] for r in out] == ["select", "select", "select", None, None,
                                          "exclude", "exclude", "select"]
    first = out[0]["decisions"][0]
    assert first["rule"] == "ogrs-75" and first["ruleset"] == "pan-london-selection"
    assert len(first["version"]) == 64 and first["action"] == "select"
    assert {d["rule"] for d in out[5]["decisions"]} == {"mappa-level-2-3", "ogrs-75"}


def test_evaluate_refuses_bad_input_precisely(iom, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"id": 1, "ogrs_2yr": 101}]))
    proc = iom("evaluate", "--stage", "mapping", "--facts", str(path), check=False)
    assert proc.returncode == 2 and "facts[0]: fact ogrs_2yr" in proc.stderr
    path.write_text("[{\"id\": 1,}")
    proc = iom("evaluate", "--stage", "mapping", "--facts", str(path), check=False)
    assert proc.returncode == 2 and "not valid JSON: line 1" in proc.stderr
    path.write_text(json.dumps([{"ogrs_2yr": 80}]))
    proc = iom("evaluate", "--stage", "mapping", "--facts", str(path), check=False)
    assert proc.returncode == 2 and "facts[0]: expected an object with an 'id'" in proc.stderr


def test_tick_runs_one_pass_and_prints_it(iom):
    proc = iom("tick", "--now", "2025-03-03T09:00:00")
    assert proc.stdout.startswith("pass at 2025-03-03T09:00:00+00:00: opened 0")
    proc = iom("tick", "--now", "yesterday", check=False)
    assert proc.returncode == 2 and "--now" in proc.stderr


def test_bad_config_is_refused_at_start(iom, tmp_path):
    (tmp_path / "config.toml").write_text("[database]\nurl = ''\n[server]\nport = 'x'\n")
    proc = iom("tick", check=False)
    assert proc.returncode == 2
    assert "server.port: Not a valid integer" in proc.stderr and "stages" in proc.stderr


def test_db_upgrade_seeds_the_stage_policy_once_then_config_is_not_read(iom, tmp_path):
    """`iom db upgrade` seeds the policy from config.toml; afterwards an edited config
    changes nothing: the published policy is what runs."""
    again = iom("db", "upgrade").stdout
    assert "stage policy: already published" in again
    shown = iom("rules", "show", "stage-policy").stdout
    assert "shipped default recorded by system on" in shown and "kind: stage-policy" in shown
    config = tmp_path / "config.toml"
    config.write_text(config.read_text().replace(
        'rulesets = ["mappa-exclusion", "pan-london-selection"]',
        'rulesets = ["mappa-exclusion", "bromley-selection"]'))
    facts = tmp_path / "f.json"
    facts.write_text(json.dumps([{"id": "x", "newly_sentenced": True, "ogrs_2yr": 80,
                                  "offence_category": "theft"}]))
    out = json.loads(iom("evaluate", "--stage", "mapping", "--facts", str(facts)).stdout)
    assert {d["ruleset"] for d in out[0]["decisions"]} == {"pan-london-selection"}


def test_db_upgrade_publishes_the_shipped_sharing_agreement_once(iom):
    """The agreement is seeded like the stage policy and lived with ``iom rules``."""
    assert "sharing agreement: already published" in iom("db", "upgrade").stdout
    shown = iom("rules", "show", "sharing-agreement").stdout
    assert "shipped default recorded by system on" in shown
    assert "kind: sharing-agreement" in shown
    history = iom("rules", "history", "sharing-agreement").stdout
    assert "shipped" in history and "1 stored version(s)" in history
