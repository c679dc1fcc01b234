"""The access log (issue 16 item 3): reads are plain rows, append-only, sealed afterwards
in batches by a hash chain and a signed audit entry each; ``iom audit verify`` checks
the rows against their seals and counts the unsealed tail."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from cli.main import main
from db.migrate import downgrade, upgrade
from db.models import AccessRead, AuditEntry
from db.session import make_engine, make_session_factory
from scheduler.jobs import access_seal
from workflow import audit
from workflow.access_seal import SEAL_KIND, seal, verify_access
from workflow.audit_signing import generate_key
from workflow.explain import explain_case
from workflow.sharing.access import record_read
from workflow.sharing.decide import Viewer

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ["--config", str(ROOT / "config.toml")]
LEAD = Viewer(1, "lead1", "team_lead", "police")


def _reads(session, now, n: int, *, start: int = 0) -> None:
    for i in range(start, start + n):
        record_read(session, viewer=LEAD, what="detail", purpose="case_management",
                    now=now + timedelta(seconds=i), case_id=100 + i % 3,
                    person_ref=f"N{i}", via="api")
    record_read(session, viewer=LEAD, what="list", purpose="case_management",
                now=now + timedelta(seconds=start + n), query={"state": "mapping"},
                case_ids=[100, 101, 102])


def _unguarded(db_url: str, statement: str) -> None:
    """Run ``statement`` as the database's owner with the append-only triggers off (what
    only someone able to drop them could do: the seals must still show it)."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE access_read DISABLE TRIGGER USER"))
            conn.execute(text(statement))
            conn.execute(text("ALTER TABLE access_read ENABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER access_read_no_update"))
            conn.execute(text("DROP TRIGGER access_read_no_delete"))
            conn.execute(text(statement))
    engine.dispose()


def test_reads_are_sealed_in_order_in_batches_and_verified(session, now):
    _reads(session, now, 7)
    session.commit()
    later = now + timedelta(minutes=5)
    sealed = seal(session, now=later, batch=3, settle_seconds=60)
    session.commit()
    assert [(s.after, s.last, s.count) for s in sealed] == [(0, 3, 3), (3, 6, 3), (6, 8, 2)]
    assert [s.prev_hash for s in sealed[1:]] == [s.hash for s in sealed[:-1]]
    entries = session.scalars(select(AuditEntry).where(AuditEntry.kind == SEAL_KIND)
                              .order_by(AuditEntry.seq)).all()
    assert [(e.payload["after"], e.payload["last"], e.payload["hash"]) for e in entries] == [
        (s.after, s.last, s.hash) for s in sealed]
    assert entries[0].summary == "access log rows 1-3 sealed (3 reads)"
    check = verify_access(session)
    assert (check.ok, check.checked, check.batches, check.unsealed) == (True, 8, 3, 0)
    assert seal(session, now=later, batch=3) == []  # idempotent: nothing new, nothing written
    _reads(session, now, 1, start=20)
    session.commit()
    check = verify_access(session)
    assert (check.ok, check.checked, check.unsealed) == (True, 8, 2)
    assert "2 newest reads not sealed yet" in check.note()
    assert audit.verify(session).ok


def test_reads_younger_than_the_settle_time_wait_for_the_next_run(session, now):
    _reads(session, now, 4)  # reads at now+0..now+4 s
    session.commit()
    [first] = seal(session, now=now + timedelta(seconds=62), settle_seconds=60)
    assert (first.after, first.last) == (0, 3)  # now+0..now+2 settled; now+3 not yet
    session.commit()
    [second] = seal(session, now=now + timedelta(seconds=65), settle_seconds=60)
    assert (second.after, second.last, second.prev_hash) == (3, 5, first.hash)
    session.commit()
    assert verify_access(session).ok


def test_access_rows_are_append_only(session, now):
    _reads(session, now, 2)
    session.commit()
    for statement in ("UPDATE access_read SET actor = 'x'", "DELETE FROM access_read"):
        with pytest.raises((DBAPIError, IntegrityError), match="append-only"):
            session.execute(text(statement))
        session.rollback()
    assert session.scalar(select(func.count()).select_from(AccessRead)) == 3


@pytest.mark.parametrize(("statement", "reason"), [
    ("UPDATE access_read SET what = 'nothing' WHERE id = 2", "a sealed read was edited"),
    ("DELETE FROM access_read WHERE id = 2", "3 rows where 4 were sealed"),
    ("INSERT INTO access_read (id, at, actor, what, via) "
     "VALUES (4, '2025-03-03 09:00:00', 'ghost', 'detail', 'api')",
     "5 rows where 4 were sealed"),
])
def test_iom_audit_verify_fails_on_a_tampered_sealed_read(session, now, db_url, statement,
                                                         reason, monkeypatch, capsys,
                                                         audit_files):
    generate_key(audit_files["IOM_AUDIT_KEY_FILE"], now)
    monkeypatch.setenv("IOM_DATABASE_URL", db_url)
    _reads(session, now, 2)  # rows 1-3, then row 5 (a gap, as a rolled-back read leaves)
    session.execute(text("INSERT INTO access_read (id, at, actor, what, via) VALUES "
                         "(5, '2025-03-03 09:00:00', 'later', 'detail', 'api')"))
    session.commit()
    [sealed] = seal(session, now=now + timedelta(hours=1), batch=10)
    session.commit()
    session.close()
    assert main([*CONFIG, "audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert "access log: 4 reads in 1 sealed batches match their seals" in out
    _unguarded(db_url, statement)
    assert main([*CONFIG, "audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"FAILED: entry {sealed.seq}: access rows 1-5"), out
    assert reason in out


def test_the_access_log_exported_is_checked_offline_against_the_chain_exports_seals(
        session, now, db_url, tmp_path, monkeypatch, capsys):
    import json

    _reads(session, now, 4)  # rows 1-5
    session.commit()
    seal(session, now=now + timedelta(hours=1), batch=3)  # 1-3, 4-5
    _reads(session, now + timedelta(hours=2), 0)  # row 6: not sealed
    session.commit()
    session.close()
    monkeypatch.setenv("IOM_DATABASE_URL", db_url)
    chain, reads = tmp_path / "chain.jsonl", tmp_path / "access.jsonl"
    assert main([*CONFIG, "audit", "export", "--format", "jsonl", "--out", str(chain),
                 "--as-admin"]) == 0
    assert main([*CONFIG, "audit", "export", "--access", "--format", "jsonl",
                 "--out", str(reads), "--as-admin"]) == 0
    capsys.readouterr()
    check = [*CONFIG, "audit", "verify-export", str(chain), "--access", str(reads)]
    assert main(check) == 0
    assert ("access log: 5 reads in 2 sealed batches match their seals; 1 newest reads not "
            "sealed yet") in capsys.readouterr().out
    rows = [json.loads(line) for line in reads.read_text().splitlines()]
    rows[4]["purpose"] = "audit"  # row 5, sealed in the second batch
    reads.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(check) == 1
    assert "access rows 4-5 do not match their seal" in capsys.readouterr().out
    reads.write_text("".join(json.dumps(r) + "\n" for r in rows[:3] + rows[5:]))
    assert main(check) == 1
    assert "access rows 4-5: 0 rows where 2 were sealed" in capsys.readouterr().out


def test_the_scheduler_job_seals_and_a_second_run_does_nothing(runtime, session, now):
    from datetime import UTC, datetime

    real_now = datetime.now(UTC)
    _reads(session, real_now - timedelta(minutes=10), 5)
    session.commit()
    report = access_seal(runtime, now=real_now)
    assert report.note == "sealed access rows 1-6 in 1 batch(es)"
    assert access_seal(runtime, now=real_now).note == ""
    session.expire_all()
    assert verify_access(session).checked == 6


def test_upgrade_copies_the_audited_reads_into_the_access_log(db_url, now):
    engine = make_engine(db_url)
    downgrade(db_url, "0014")
    with make_session_factory(engine)() as s:
        audit.record(s, kind="case.read", actor="om1", occurred_at=now, case_id=7,
                     person_ref="N7", summary="om1 read the detail of case 7",
                     payload={"what": "detail", "role": "offender_manager", "agency": "NPS",
                              "purpose": "case_management", "via": "api"})
        audit.record(s, kind="case.read", actor="lead1", occurred_at=now, summary="list",
                     payload={"what": "list", "role": "team_lead", "agency": None,
                              "purpose": "case_management", "via": "web",
                              "query": {"state": "panel"}, "case_ids": [7, 8]})
        s.commit()
    upgrade(db_url)
    with make_session_factory(engine)() as s:
        rows = s.scalars(select(AccessRead).order_by(AccessRead.id)).all()
        assert [(r.actor, r.what, r.via, r.case_id, r.person_ref, r.audit_seq, r.detail)
                for r in rows] == [
            ("om1", "detail", "api", 7, "N7", 1, None),
            ("lead1", "list", "web", None, None, 2,
             {"query": {"state": "panel"}, "case_ids": [7, 8]})]
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 2  # entries stay
        assert audit.verify(s).ok
        [line] = explain_case(s, 7)  # the read once: from the access log, not the entry
        assert (line.section, line.actor, line.seq) == ("access", "om1", rows[0].id)
    engine.dispose()
