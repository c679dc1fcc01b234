"""The audit chain: verify, the database guard (migration 0002), and `iom audit verify`."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from test_audit_explain import build_case_history

from db.migrate import downgrade, upgrade
from db.models import AuditEntry
from workflow import audit
from workflow.errors import InvalidInput
from workflow.explain import explain_case, render_text

ROOT = Path(__file__).resolve().parents[1]
IOM = str(Path(sys.executable).with_name("iom"))


def write_chain(session, now, n=6) -> list[AuditEntry]:
    entries = [audit.record(session, kind="test.entry", actor=f"user{i % 2}",
                            occurred_at=now + timedelta(minutes=i), case_id=i % 3 or None,
                            person_ref=f"N{i}", summary=f"entry number {i}",
                            payload={"i": i, "score": i / 4, "nested": {"ok": True}})
               for i in range(1, n + 1)]
    session.commit()
    return entries


def without_guard(session):
    """Let this session change audit rows, as someone editing the database by hand would.

    PostgreSQL: triggers disabled inside the test's transaction (rolled back afterwards, so
    the shared test database keeps its guard). SQLite: the triggers are dropped from this
    test's private copy of the database.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER USER"))
    else:
        session.execute(text("DROP TRIGGER audit_entry_no_update"))
        session.execute(text("DROP TRIGGER audit_entry_no_delete"))


def test_chain_built_by_the_services_verifies(session, make_person, now):
    build_case_history(session, make_person, now)
    count = session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1))
    result = audit.verify(session, batch=4)  # several batches
    assert result.ok and result.checked == count > 10
    last = session.get(AuditEntry, count)
    assert result.head == f"{count}:{last.hash}"
    assert audit.verify(session, expect_head=result.head).ok
    assert audit.verify(session, expect_head=last.hash).ok


def test_empty_chain_verifies(session):
    result = audit.verify(session)
    assert result.ok and result.checked == 0 and result.head is None


@pytest.mark.parametrize("statement", [
    update(AuditEntry).where(AuditEntry.seq == 2).values(summary="nothing happened"),
    delete(AuditEntry).where(AuditEntry.seq == 2),
    delete(AuditEntry),
])
def test_database_refuses_update_and_delete(session, now, statement):
    write_chain(session, now)
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(statement)
    session.rollback()
    assert audit.verify(session).checked == 6


def test_postgresql_refuses_truncate_unless_deliberately_allowed(session, now, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has no TRUNCATE (DELETE without WHERE is tested above)")
    write_chain(session, now)
    with pytest.raises(DBAPIError, match="append-only: TRUNCATE refused"):
        session.execute(text("TRUNCATE audit_entry"))
    session.rollback()
    session.execute(text("SET LOCAL iom.allow_truncate = 'on'"))
    session.execute(text("TRUNCATE audit_entry"))
    session.rollback()  # the switch lasts one transaction; nothing was lost
    assert audit.verify(session).checked == 6
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text("TRUNCATE audit_entry"))


def _swap_contents(session, a: int, b: int) -> None:
    rows = {r.seq: r for r in session.execute(select(*audit.CHAIN_COLUMNS).where(
        AuditEntry.seq.in_((a, b))))}
    for target, source in ((a, b), (b, a)):
        values = {k: v for k, v in rows[source]._asdict().items()
                  if k not in ("seq", "hash", "payload_text")}
        session.execute(update(AuditEntry).where(AuditEntry.seq == target).values(
            **values, hash=f"{target}-tmp"))
    for seq in (a, b):
        session.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(
            hash=rows[b if seq == a else a].hash))


@pytest.mark.parametrize(("tamper", "bad_seq", "reason"), [
    (lambda s: s.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(
        summary="entry number three")), 3, "entry edited"),
    (lambda s: s.execute(update(AuditEntry).where(AuditEntry.seq == 4).values(
        payload={"i": 4, "score": 1.0, "nested": {"ok": False}})), 4, "entry edited"),
    (lambda s: s.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(
        actor="someone else")), 2, "entry edited"),
    (lambda s: s.execute(update(AuditEntry).where(AuditEntry.seq == 5).values(
        recorded_at=datetime(2020, 1, 1, tzinfo=UTC))), 5, "entry edited"),
    (lambda s: s.execute(update(AuditEntry).where(AuditEntry.seq == 5).values(
        hash_version=1)), 5, "entry edited"),
    (lambda s: s.execute(delete(AuditEntry).where(AuditEntry.seq == 3)), 3, "missing"),
    (lambda s: _swap_contents(s, 2, 3), 2, ""),
])
def test_hand_edits_are_detected_naming_the_entry(session, now, tamper, bad_seq, reason):
    write_chain(session, now)
    without_guard(session)
    tamper(session)
    result = audit.verify(session)
    assert not result.ok
    assert result.first_bad_seq == bad_seq and reason in result.reason
    assert result.checked == bad_seq - 1


def test_explain_flags_an_edited_entry(session, now):
    write_chain(session, now)  # entries 1 and 4 are about case 1
    without_guard(session)
    session.execute(update(AuditEntry).where(AuditEntry.seq == 4).values(summary="quiet"))
    lines = explain_case(session, 1)
    assert [(x.seq, x.intact) for x in lines] == [(1, True), (4, False)]
    assert "WARNING: entries 4 no longer match their hashes" in render_text(1, lines)


def test_deleted_tail_and_rewritten_chain_need_the_recorded_head(session, now):
    entries = write_chain(session, now)
    head6, head5 = audit.verify(session).head, f"5:{entries[4].hash}"
    without_guard(session)
    session.execute(delete(AuditEntry).where(AuditEntry.seq == 6))
    assert audit.verify(session).ok  # the chain alone cannot tell: documented limitation
    result = audit.verify(session, expect_head=head6)
    assert not result.ok and result.first_bad_seq == 6
    assert "deleted from the end" in result.reason
    # Rewrite entry 3 and recompute every later hash: internally consistent again...
    prev = session.get(AuditEntry, 2).hash
    for seq in range(3, 6):
        row = session.execute(select(*audit.CHAIN_COLUMNS).where(AuditEntry.seq == seq)).one()
        fields = {**row._asdict(), "prev_hash": prev}
        fields.pop("hash")
        if seq == 3:
            fields["summary"] = "rewritten"
        prev = audit.content_hash(SimpleNamespace(**fields))
        session.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(
            summary=fields["summary"], prev_hash=fields["prev_hash"], hash=prev))
    assert audit.verify(session).ok
    # ...but not the same as the head kept elsewhere.
    result = audit.verify(session, expect_head=head5)
    assert not result.ok and result.first_bad_seq == 5 and "rewritten" in result.reason


def test_entries_from_before_hash_version_2_still_verify(session, now):
    """Entries written before migration 0007 (version 1: recorded_at not hashed) keep
    their hashes; the chain continues with version 2 entries and verifies whole."""
    prev = audit.GENESIS
    for seq in (1, 2):
        fields = {"seq": seq, "occurred_at": now, "actor": "old", "kind": "test.old",
                  "case_id": None, "person_ref": None, "summary": f"old {seq}",
                  "payload": {}, "prev_hash": prev}
        prev = audit.entry_hash(**fields)  # as written before 0007
        session.execute(insert(AuditEntry).values(**fields, hash=prev, recorded_at=now))
    session.commit()
    assert session.scalars(select(AuditEntry.hash_version)).all() == [1, 1]
    new = audit.record(session, kind="test.new", actor="new", occurred_at=now,
                       summary="new", payload={})
    session.commit()
    assert new.seq == 3 and new.hash_version == audit.HASH_VERSION == 3
    assert audit.verify(session).ok and audit.verify(session).checked == 3


def test_expect_head_must_be_seq_colon_hash(session):
    with pytest.raises(InvalidInput):
        audit.verify(session, expect_head="12:not-a-hash")


def test_downgrade_removes_the_guard_and_upgrade_restores_it(db_url, now):
    from db.session import make_engine, make_session_factory

    engine = make_engine(db_url)
    try:
        downgrade(db_url, "0001")
        with make_session_factory(engine)() as s:  # the 0001 table, without hash_version
            s.execute(text(
                "INSERT INTO audit_entry (seq, occurred_at, recorded_at, actor, kind, summary,"
                " payload, prev_hash, hash) VALUES (1, :t, :t, 'a', 'k', 's', '{}', :p, :h)"),
                {"t": now, "p": "0" * 64, "h": "1" * 64})
            s.commit()
            s.execute(update(AuditEntry).values(actor="nobody"))  # no guard at 0001
            s.rollback()
    finally:
        upgrade(db_url)
    with make_session_factory(engine)() as s, pytest.raises(DBAPIError, match="append-only"):
        s.execute(update(AuditEntry).values(actor="nobody"))
    engine.dispose()


def test_cli_verify_names_a_row_edited_by_hand_in_sqlite(tmp_path):
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    db = tmp_path / "iom.sqlite3"
    env = {**os.environ, "IOM_CONFIG": str(tmp_path / "config.toml"),
           "IOM_DATABASE_URL": f"sqlite:///{db}"}

    def iom(*args):
        return subprocess.run([IOM, *args], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)

    assert iom("db", "upgrade").returncode == 0  # publishes shipped rule sets: audited
    ok = iom("audit", "verify")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("OK: audit chain intact,") and "head: " in ok.stdout
    head = ok.stdout.split("head: ")[1].split()[0]
    with sqlite3.connect(db) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit_entry SET summary = 'edited' WHERE seq = 2")
        conn.execute("DROP TRIGGER audit_entry_no_update")
        conn.execute("UPDATE audit_entry SET summary = 'edited' WHERE seq = 2")
    conn.close()
    bad = iom("audit", "verify", "--expect-head", head)
    assert bad.returncode == 1, bad.stderr
    assert bad.stdout.startswith("FAILED: entry 2: content does not match its hash")
