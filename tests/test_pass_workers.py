"""``[scheduler] pass_workers``: a pass's chunks advanced by several real processes (spawned
workers, each with its own database engine and durable-rules engine) on PostgreSQL; one
process on SQLite, where more is a configuration error."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from db.models import AuditEntry, Case, Person
from scheduler.jobs import advance_due
from workflow.audit import verify
from workflow.audit_signing import generate_key
from workflow.config import load_settings
from workflow.errors import ConfigError
from workflow.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]


def _runtime(url: str, audit_files: dict, **env) -> Runtime:
    return Runtime.from_settings(load_settings(ROOT / "config.toml", env={
        "IOM_DATABASE_URL": url, **audit_files, **env}))


def _versions(session) -> dict[int, int]:
    session.expire_all()
    versions = dict(session.execute(select(Case.id, Case.version)).all())
    session.rollback()  # end the read: the pass's processes write
    return versions


def _due_at(session, moment) -> set[int]:
    due = set(session.scalars(select(Case.id).where(Case.next_due_at <= moment,
                                                    Case.closed_at.is_(None))))
    session.rollback()
    return due


@pytest.mark.usefixtures("published")
def test_two_workers_advance_each_due_case_once_and_isolate_a_failure(
        db_url, session, make_case, make_person, now, audit_files):
    if not db_url.startswith("postgresql"):
        pytest.skip("pass workers need PostgreSQL (SQLite: see the test below)")
    generate_key(audit_files["IOM_AUDIT_KEY_FILE"], now - timedelta(days=1))
    selected = [make_case(ogrs=81) for _ in range(4)]  # pan-London selects: to matrixing
    quiet = [make_case(ogrs=30) for _ in range(8)]  # evaluated, stay in mapping
    later = [make_case(ogrs=81) for _ in range(3)]  # due in 3 days: not this pass
    for case in later:
        case.next_due_at = now + timedelta(days=3)
    broken = make_case(ogrs=81)
    session.get(Person, broken.person_id).sex = "X"  # its facts cannot be built
    fresh = [make_person() for _ in range(5)]  # no case yet: the pass opens theirs
    session.commit()
    before, head = _versions(session), session.scalar(select(func.max(AuditEntry.seq)))
    due = [c.id for c in selected + quiet]
    rt = _runtime(db_url, audit_files, IOM_SCHEDULER_PASS_WORKERS="2",
                  IOM_SCHEDULER_CHUNK_SIZE="3")  # 6 chunks: both workers get several
    try:
        first = advance_due(rt, now=now)
        after = _versions(session)
        due_later = _due_at(session, now + timedelta(days=3)) - {broken.id}
        second = advance_due(rt, now=now + timedelta(days=3))  # the clock moved
    finally:
        rt.close()
    assert first.workers == 2 and first.opened == len(fresh)
    assert sorted(r.case_id for r in first.moved) == [c.id for c in selected]
    assert set(first.failed) == {broken.id} and "sex" in first.failed[broken.id]
    opened = set(after) - set(before)
    assert first.evaluated == len(due) + len(opened)  # each due case once, summed
    assert all(after[i] == before[i] + 1 for i in due)  # advanced exactly once
    assert all(after[c.id] == before[c.id] for c in later + [broken])
    assert all(after[i] == 2 for i in opened)  # opened (1), then evaluated once (2)
    assert first.engine_seconds > 0
    # Three days on: the later cases are due (and move), the broken one fails again.
    assert {c.id for c in later} <= due_later and not due_later & ({c.id for c in quiet} | opened)
    assert {c.id for c in later} <= {r.case_id for r in second.moved}
    assert set(second.failed) == {broken.id} and second.evaluated == len(due_later)
    session.expire_all()
    states = dict(session.execute(select(Case.id, Case.state)).all())
    assert all(states[c.id] != "mapping" for c in selected + later)
    assert all(states[i] == "mapping" for i in [broken.id, *(c.id for c in quiet), *opened])
    transitions = dict(session.execute(
        select(AuditEntry.case_id, func.count()).where(AuditEntry.kind == "case.transition")
        .group_by(AuditEntry.case_id)).all())
    moves = Counter(r.case_id for r in first.moved + second.moved)
    assert transitions == moves  # every move audited once, none repeated by two workers
    assert verify(session).ok  # one chain, whichever process appended
    signed = session.execute(select(AuditEntry.key_id.is_not(None), func.count()).where(
        AuditEntry.seq > head).group_by(AuditEntry.key_id.is_not(None))).all()
    assert dict(signed).keys() == {True}  # every process signed with the service's key
    assert dict(signed)[True] >= len(fresh) + sum(moves.values())


def test_sqlite_refuses_more_than_one_pass_worker(tmp_path, audit_files):
    url = f"sqlite:///{tmp_path / 'iom.sqlite3'}"
    with pytest.raises(ConfigError, match=r"scheduler\.pass_workers: 2 pass workers need "
                                          r"PostgreSQL: SQLite has one writer"):
        load_settings(ROOT / "config.toml", env={"IOM_DATABASE_URL": url,
                                                 "IOM_SCHEDULER_PASS_WORKERS": "2"})
    with pytest.raises(ConfigError, match="scheduler.pass_workers"):
        load_settings(ROOT / "config.toml", env={"IOM_DATABASE_URL": url,
                                                 "IOM_SCHEDULER_PASS_WORKERS": "0"})
    assert load_settings(ROOT / "config.toml", env={"IOM_DATABASE_URL": url}).pass_workers == 1


@pytest.mark.usefixtures("published")
def test_settings_built_past_validation_run_one_process_on_sqlite(
        db_url, runtime, make_case, now, caplog):
    if not db_url.startswith("sqlite"):
        pytest.skip("the SQLite guard")
    moving = make_case(ogrs=81)
    runtime.settings = dataclasses.replace(runtime.settings, pass_workers=2, chunk_size=1)
    make_case(ogrs=30)
    with caplog.at_level(logging.WARNING, logger="iom.scheduler"):
        report = advance_due(runtime, now=now)
    assert report.workers == 1 and [r.case_id for r in report.moved] == [moving.id]
    assert "pass_workers = 2 ignored: SQLite has one writer" in caplog.text


def _dies_on_first_chunk(runtime, chunk, *, parent: int, first: int, **kwargs):
    """``advance_chunk_isolated``, except that a worker given the first chunk dies."""
    from scheduler.jobs import advance_chunk_isolated

    if os.getpid() != parent and chunk[0][0] == first:
        os._exit(3)  # a worker process lost mid-pass (killed, out of memory, a crash)
    return advance_chunk_isolated(runtime, chunk, **kwargs)


@pytest.mark.usefixtures("published")
def test_a_worker_that_dies_loses_no_chunk_and_repeats_none(
        db_url, session, make_case, now, audit_files, policy, caplog):
    if not db_url.startswith("postgresql"):
        pytest.skip("pass workers need PostgreSQL")
    from scheduler.jobs import PassReport
    from scheduler.pass_workers import ChunkRunner

    cases = [make_case(ogrs=81 if i % 3 == 0 else 30) for i in range(9)]
    due = [(c.id, c.version) for c in cases]
    chunks = [due[i:i + 2] for i in range(0, len(due), 2)]
    rt = _runtime(db_url, audit_files, IOM_SCHEDULER_PASS_WORKERS="2")
    report = PassReport(now)
    try:
        with caplog.at_level(logging.WARNING, logger="iom.scheduler"), \
                ChunkRunner(rt, 2) as runner:
            for part in runner.map(_dies_on_first_chunk, chunks, parent=os.getpid(),
                                   first=due[0][0], now=now, actor="scheduler",
                                   policy=policy):
                report.add(part)
    finally:
        rt.close()
    assert "BrokenProcessPool" in caplog.text and "redone in this process" in caplog.text
    # The other worker is stopped with the pool: a chunk it committed but had not reported
    # yet is skipped when redone (its versions moved), so the report may count fewer.
    assert report.evaluated <= len(cases) and not report.failed
    assert {r.case_id for r in report.moved} <= {c.id for c in cases[::3]}
    assert all(v == 2 for v in _versions(session).values())  # every case advanced once
    assert {i for i, s in session.execute(select(Case.id, Case.state)).all()
            if s == "matrixing"} == {c.id for c in cases[::3]}
    assert verify(session).ok


def _descendants(pid: int) -> set[int]:
    """Live processes below ``pid`` (from /proc: parent ids), at this moment."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        if entry.name.isdigit():
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(
                int(entry.name))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


@pytest.mark.usefixtures("published")
def test_workers_end_when_the_pass_process_is_killed(db_url, session, make_case, now,
                                                      audit_files):
    if not db_url.startswith("postgresql"):
        pytest.skip("pass workers need PostgreSQL")
    import subprocess
    import sys
    import time

    for i in range(40):
        make_case(ogrs=81 if i % 2 else 30)
    env = {**os.environ, "IOM_CONFIG": str(ROOT / "config.toml"), "IOM_DATABASE_URL": db_url,
           "IOM_SCHEDULER_CHUNK_SIZE": "2", "IOM_SCHEDULER_PASS_WORKERS": "2"}
    tick = subprocess.Popen(
        [sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main())",
         "tick", "--now", now.isoformat()], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, below = time.monotonic() + 60, set()
    while time.monotonic() < deadline and len(below) < 3:  # the fork server and 2 workers
        below = _descendants(tick.pid)
        time.sleep(0.02)
    time.sleep(0.3)  # into the pass's chunks
    below |= _descendants(tick.pid)
    tick.kill()
    tick.wait(timeout=30)
    assert len(below) >= 3, below
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in below):
        time.sleep(0.05)
    left = [p for p in below if Path(f"/proc/{p}").exists()]
    for pid in left:  # do not leave them behind even when the test fails
        os.kill(pid, 9)
    assert not left, "pass workers outlived the pass's process"
    assert verify(session).ok
