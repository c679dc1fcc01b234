"""The synthetic borough: deterministic, seed-shaped arrests, and a loadable demo."""

from __future__ import annotations

import collections
import csv
import json
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select

from db.models import Supervision, User
from rules.decisions import outcome_of
from rules.engine import default_engine
from rules.library import SETS_DIR, load_file
from workflow.cases import open_missing_cases
from workflow.demo import generate_borough, load_demo
from workflow.demo.generate import DEMO_OFFENDER_MANAGERS
from workflow.facts import facts_for_cases
from workflow.partners import import_csv
from workflow.reports import top_arrested
from workflow.users import authenticate

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2025, 3, 1)
WINDOW = (AS_OF - timedelta(days=729), AS_OF)  # two years, both ends inclusive
# Seed 002: average arrests of the top 0.145%, 0.29%, 1.45% and 2.9% of individuals
# arrested (153/10, 214/20, 735/100, 1196/200).
SEED_AVERAGES = {0.00145: 15.3, 0.0029: 10.7, 0.0145: 7.35, 0.029: 5.98}


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    a = generate_borough(tmp_path / "a", people=300, seed=11, as_of=AS_OF)
    b = generate_borough(tmp_path / "b", people=300, seed=11, as_of=AS_OF)
    c = generate_borough(tmp_path / "c", people=300, seed=12, as_of=AS_OF)
    assert sorted(a) == ["assessments", "events", "flags", "people", "supervision"]
    assert all(a[k].read_bytes() == b[k].read_bytes() for k in a)
    assert a["events"].read_bytes() != c["events"].read_bytes()


def _window_arrests(path) -> list[int]:
    start, end = (d.isoformat() for d in WINDOW)
    with path.open(newline="") as f:
        per_person = collections.Counter(r["person_ref"] for r in csv.DictReader(f)
                                         if r["kind"] == "arrest"
                                         and start <= r["occurred_on"] <= end)
    return sorted(per_person.values(), reverse=True)


def test_borough_of_the_seed_size_reproduces_the_seed_table(tmp_path):
    # About 7,000 individuals arrested, as in Barnet: top 10 / 20 / 100 / 200 arrests.
    files = generate_borough(tmp_path, people=7600, seed=1, as_of=AS_OF)
    counts = _window_arrests(files["events"])
    assert 6700 <= len(counts) <= 7300
    top = {n: sum(counts[:n]) for n in (10, 20, 100, 200)}
    assert 110 <= top[10] <= 200  # seed: 153
    assert 170 <= top[20] <= 300  # seed: 214
    assert 620 <= top[100] <= 850  # seed: 735
    assert 1050 <= top[200] <= 1350  # seed: 1196


def test_top_arrested_shape_at_2000_people_through_the_database(session, now, tmp_path):
    files = generate_borough(tmp_path, people=2000, seed=3, as_of=AS_OF)
    for kind in ("people", "events"):
        with files[kind].open(newline="") as stream:
            assert import_csv(session, kind, stream, filename=kind, actor="t",
                              now=now).rejected == 0
    arrested = len(_window_arrests(files["events"]))
    tops = tuple(max(1, round(q * arrested)) for q in SEED_AVERAGES)
    result = top_arrested(session, start=WINDOW[0], end=WINDOW[1], tops=(10, 20, *tops))

    assert result["individuals_arrested"] == arrested
    assert 0.89 <= arrested / 2000 <= 0.95  # about 92% arrested in the window
    ten, twenty, *scaled = result["rows"]
    assert ten["share_of_individuals_pct"] == round(1000 / arrested, 2)  # ~0.54%
    assert twenty["share_of_individuals_pct"] == round(2000 / arrested, 2)  # ~1.09%
    assert ten["arrests"] > twenty["arrests"] / 2 > 0  # the head is heavier than the rest
    for row, seed_avg in zip(scaled[2:], list(SEED_AVERAGES.values())[2:], strict=True):
        assert 0.7 * seed_avg <= row["arrests"] / row["people"] <= 1.4 * seed_avg, row
    assert scaled[0]["arrests"] / scaled[0]["people"] >= 8  # the top 0.145%: prolific
    assert 9 <= scaled[3]["share_of_arrests_pct"] <= 15  # the top 2.9%: ~12% of arrests


def _mapping_outcomes(session, now) -> collections.Counter:
    docs = [load_file(SETS_DIR / f"{name}.yaml")
            for name in ("mappa-exclusion", "pan-london-selection")]
    cases = open_missing_cases(session, now=now, actor="t")
    facts = facts_for_cases(session, cases, now)
    results = default_engine().evaluate_all(docs, [facts[c.id] for c in cases])
    sources = collections.Counter(f["ogrs_source"] for f in facts.values())
    assert sources["computed"] > 0 and sources["supplied"] > 0
    return collections.Counter(outcome_of(d) for d in results)


def test_load_demo_creates_users_links_managers_and_is_idempotent(session, now, tmp_path):
    first = load_demo(session, people=300, seed=1, now=now, actor="demo",
                      workdir=tmp_path / "w")
    session.commit()

    assert [(u["username"], u["role"], u["agency"]) for u in first.users] == [
        ("lead1", "team_lead", "police"), ("lead2", "team_lead", "local_authority"),
        ("om1", "offender_manager", "CRC"), ("om2", "offender_manager", "NPS"),
        ("police1", "police", "police"), ("auditor1", "auditor", None),
        ("admin1", "admin", None), ("housing1", "resettlement_officer", "housing"),
        ("employ1", "resettlement_officer", "employment"),
        ("mh1", "resettlement_officer", "mental_health"), ("lead3", "team_lead", "NPS")]
    assert all(authenticate(session, u["token"]).username == u["username"]
               for u in first.users)
    assert [r.kind for r in first.imports] == ["people", "events", "supervision",
                                               "assessments", "flags"]
    assert all(r.rejected == 0 and r.created == r.total > 0 for r in first.imports)

    users = {u.username: u.id for u in session.scalars(select(User))}
    links = collections.Counter(
        (s.provider, s.offender_manager, s.offender_manager_user_id)
        for s in session.scalars(select(Supervision)))
    for username, provider in (("om1", "CRC"), ("om2", "NPS")):
        assert links[(provider, DEMO_OFFENDER_MANAGERS[provider], users[username])] > 0
    assert all(uid is None for (_, name, uid) in links
               if name not in DEMO_OFFENDER_MANAGERS.values())

    outcomes = _mapping_outcomes(session, now)
    assert outcomes["select"] >= 2 and outcomes["exclude"] >= 1  # Pan-London; MAPPA 2/3
    assert outcomes[None] >= 0.8 * 300  # most are out of scope

    second = load_demo(session, people=300, seed=1, now=now, actor="demo",
                       workdir=tmp_path / "w")
    assert [u["created"] for u in second.users] == [False] * len(first.users)
    old = {u["username"]: u["token"] for u in first.users}
    assert all(u["token"] != old[u["username"]] for u in second.users)  # rotated
    assert all(authenticate(session, u["token"]).username == u["username"]
               for u in second.users)
    assert all((r.created, r.updated, r.rejected) == (0, 0, 0) and r.unchanged == r.total
               for r in second.imports)


def test_cli_demo_generate_load_and_report(tmp_path):
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    env = {**os.environ, "IOM_CONFIG": str(tmp_path / "config.toml"),
           "IOM_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}"}

    def iom(*args):
        done = subprocess.run([str(Path(sys.executable).with_name("iom")), *args], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    iom("db", "upgrade")
    assert iom("demo", "generate", "--people", "40", "--seed", "5", "--out", "gen",
               "--as-of", "2025-03-01")[0] == f"people: {Path('gen') / 'people.csv'}"
    loaded = iom("demo", "load", "--people", "40", "--seed", "5", "--now",
                 "2025-03-03T09:00")
    assert loaded[0] == "people people.csv: 40 rows, 40 created, 0 updated, 0 unchanged, " \
                        "0 rejected"
    users = [line for line in loaded if line.startswith("user ")]
    assert len(users) == 11 and users[2].startswith("user om1 (offender_manager, CRC): ")
    report = json.loads("\n".join(iom("report", "top-arrested", "--from", "2023-03-04",
                                       "--to", "2025-03-03", "--json")))
    assert 30 <= report["individuals_arrested"] <= 40
    assert [r["top"] for r in report["rows"]] == [10, 20, 100, 200]
    defaulted = json.loads("\n".join(iom("report", "top-arrested", "--now",
                                          "2025-03-03T09:00", "--json")))
    assert defaulted == report  # the default window is the two years up to today
