"""Several real processes on one PostgreSQL database: each due case is advanced exactly
once, and a process killed mid-pass leaves no case half-moved (PostgreSQL only)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from db.models import Assessment, AuditEntry, Case, OffendingEvent, Person
from scheduler.jobs import advance_due
from workflow.audit import verify

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def pg_only(db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("row locking across processes is a PostgreSQL property")
    return db_url


def _bulk_due_cases(session, now, n: int) -> None:
    """``n`` mapping cases due now that pan-London selects (OGRS 81) and matrixing keeps."""
    day = (now - timedelta(days=30)).date()
    people = [Person(partner_ref=f"MP{i:05d}", given_name="A", family_name=f"P{i}", sex="M",
                     date_of_birth=day.replace(year=1990)) for i in range(n)]
    session.add_all(people)
    session.flush()
    for p in people:
        session.add(OffendingEvent(partner_ref=f"MC{p.id}", person_id=p.id, kind="conviction",
                                   occurred_on=day, offence_category="theft"))
        session.add(Assessment(partner_ref=f"MO{p.id}", person_id=p.id, assessed_on=day,
                               ogrs_2yr=81))
        session.add(Case(person_id=p.id, state="mapping", state_since=now, opened_at=now,
                         next_due_at=now))
    session.commit()


def _tick(url: str, now) -> subprocess.Popen:
    # Chunks of 50 (the configured 1000 would put all 400 cases in one chunk, leaving no
    # moment where the pass is half done to kill it in).
    env = {**os.environ, "IOM_CONFIG": str(ROOT / "config.toml"), "IOM_DATABASE_URL": url,
           "IOM_SCHEDULER_CHUNK_SIZE": "50"}
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main())",
         "tick", "--now", now.isoformat()],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _transitions_per_case(session) -> dict[int, int]:
    rows = session.execute(select(AuditEntry.case_id, func.count()).where(
        AuditEntry.kind == "case.transition").group_by(AuditEntry.case_id))
    return dict(rows.all())


def _assert_no_half_moves(session) -> dict[str, int]:
    counts = _transitions_per_case(session)
    states = dict(session.execute(select(Case.id, Case.state)).all())
    for case_id, state in states.items():
        assert counts.get(case_id, 0) == (1 if state == "matrixing" else 0), (case_id, state)
    return {s: list(states.values()).count(s) for s in set(states.values())}


@pytest.mark.usefixtures("published")
def test_two_processes_advance_each_case_exactly_once(pg_only, session, now):
    _bulk_due_cases(session, now, 300)
    procs = [_tick(pg_only, now) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    session.expire_all()
    assert _assert_no_half_moves(session) == {"matrixing": 300}
    moved = [int(o[0].splitlines()[0].split("moved ")[1].split(",")[0]) for o in outs]
    assert sum(moved) == 300, moved  # split between the processes, none moved twice
    assert verify(session).ok


@pytest.mark.usefixtures("published")
def test_killed_mid_pass_leaves_no_half_moved_case(pg_only, session, now):
    _bulk_due_cases(session, now, 400)
    proc = _tick(pg_only, now)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        moved = session.scalar(select(func.count()).where(Case.state == "matrixing"))
        session.rollback()
        if moved >= 1:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    session.expire_all()
    states = _assert_no_half_moves(session)
    assert states.get("mapping", 0) > 0, states  # killed before the end of the pass
    assert verify(session).ok
    rt = _runtime(pg_only)
    try:
        advance_due(rt, now=now)
    finally:
        rt.close()
    session.expire_all()
    assert _assert_no_half_moves(session) == {"matrixing": 400}
    assert verify(session).ok


def _runtime(url):
    from workflow.config import load_settings
    from workflow.runtime import Runtime

    return Runtime.from_settings(load_settings(ROOT / "config.toml",
                                               env={"IOM_DATABASE_URL": url}))
