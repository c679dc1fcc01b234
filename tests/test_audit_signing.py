"""Signed entries and signed checkpoints (issue 12, item 2): `iom audit verify` detects a
cut tail, a re-hashed chain and an appended forgery with no head typed in, on both
backends. The attacker here has the database (even as superuser) but not the key file."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import delete, insert, select, text, update

from cli.main import main
from db.models import AuditEntry
from workflow import audit
from workflow.audit_signing import CHECKPOINT_FILE, generate_key, load_keyring
from workflow.config import load_settings
from workflow.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ["--config", str(ROOT / "config.toml")]


@pytest.fixture
def signed(db_url, audit_files, monkeypatch):
    """A key in the test's key file, and a runtime whose sessions sign with it."""
    monkeypatch.setenv("IOM_DATABASE_URL", db_url)
    key_id = generate_key(audit_files["IOM_AUDIT_KEY_FILE"], datetime.now(UTC))
    rt = Runtime.from_settings(load_settings(ROOT / "config.toml"))
    assert rt.keyring.current == key_id
    yield rt
    rt.close()


def write(rt, n: int, start: int = 1) -> None:
    now = datetime(2025, 3, 3, 9, tzinfo=UTC)
    with rt.sessions() as s:
        for i in range(start, start + n):
            audit.record(s, kind="test.entry", actor="om1", occurred_at=now + timedelta(i),
                         case_id=i % 3 or None, summary=f"entry {i}",
                         payload={"i": i, "score": i / 4})
        s.commit()


def iom(capsys, *args) -> tuple[int, str]:
    capsys.readouterr()
    code = main([*CONFIG, *args])
    return code, capsys.readouterr().out


def tamper(rt, change) -> None:
    """Change audit rows as an attacker holding the database would: past the guard
    (PostgreSQL superuser: triggers disabled for the change; SQLite: dropped from this
    test's private copy), committed so that a separate `iom audit verify` sees it."""
    with rt.sessions() as s:
        pg = s.get_bind().dialect.name == "postgresql"
        if pg:
            s.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER USER"))
        else:
            s.execute(text("DROP TRIGGER IF EXISTS audit_entry_no_update"))
            s.execute(text("DROP TRIGGER IF EXISTS audit_entry_no_delete"))
        change(s)
        if pg:
            s.execute(text("ALTER TABLE audit_entry ENABLE TRIGGER USER"))
        s.commit()


def rehash_from(s, seq: int, *, summary: str, keep_signatures: bool = True) -> None:
    """Edit entry ``seq`` and recompute every later hash: a consistent chain again."""
    prev = s.get(AuditEntry, seq - 1).hash if seq > 1 else audit.GENESIS
    last = s.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1))
    for n in range(seq, last + 1):
        row = s.execute(select(*audit.CHAIN_COLUMNS).where(AuditEntry.seq == n)).one()
        fields = {**row._asdict(), "prev_hash": prev}
        if n == seq:
            fields["summary"] = summary
        prev = audit.content_hash(SimpleNamespace(**fields))
        values = {"summary": fields["summary"], "prev_hash": fields["prev_hash"], "hash": prev}
        if not keep_signatures:
            values.update(key_id=None, signature=None)
        s.execute(update(AuditEntry).where(AuditEntry.seq == n).values(**values))


def forged_entry(s, **extra) -> None:
    """Append entry N+1 with a valid hash, as someone without the key can."""
    last = s.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(
        AuditEntry.seq.desc()).limit(1)).one()
    now = datetime.now(UTC)
    fields = {"seq": last.seq + 1, "occurred_at": now, "recorded_at": now, "actor": "om1",
              "kind": "case.decision", "case_id": 1, "person_ref": None,
              "summary": "panel accepted", "payload": {"decision": "accept"},
              "prev_hash": last.hash, "hash_version": audit.HASH_VERSION}
    digest = audit.content_hash(SimpleNamespace(**fields))
    s.execute(insert(AuditEntry).values(**fields, hash=digest, **extra))


def test_signed_chain_with_checkpoints_verifies_and_says_what_it_checked(signed, capsys,
                                                                          audit_files):
    write(signed, 5)
    code, out = iom(capsys, "audit", "checkpoint")
    assert code == 0 and out.startswith("checkpoint: entry 5 ")
    code, out = iom(capsys, "audit", "checkpoint")
    assert code == 0 and "already records entry 5" in out  # idempotent
    write(signed, 2, start=6)
    code, out = iom(capsys, "audit", "verify")
    assert code == 0, out
    assert out.startswith("OK: audit chain intact, 7 entries checked")
    assert "signatures checked: 7 entries signed" in out
    assert "1 signed checkpoints checked (latest: entry 5" in out
    lines = (Path(audit_files["IOM_AUDIT_CHECKPOINT_DIR"]) / CHECKPOINT_FILE).read_text(
        ).splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [5]


def test_truncated_tail_is_detected_without_a_head(signed, capsys):
    write(signed, 6)
    assert iom(capsys, "audit", "checkpoint")[0] == 0
    tamper(signed, lambda s: s.execute(delete(AuditEntry).where(AuditEntry.seq >= 5)))
    code, out = iom(capsys, "audit", "verify")
    assert code == 1
    assert out.startswith("FAILED: entry 5: the chain ends at entry 4 but the signed "
                          "checkpoint of ")
    assert "entries were removed from the end" in out


@pytest.mark.parametrize(("keep", "reason"), [
    (True, "signature does not match: entry forged, or the chain re-hashed"),
    (False, "not signed, although earlier entries are"),
])
def test_rehashed_chain_is_detected_without_a_head(signed, capsys, keep, reason):
    write(signed, 6)
    tamper(signed, lambda s: rehash_from(s, 3, summary="nothing happened",
                                         keep_signatures=keep))
    code, out = iom(capsys, "audit", "verify")
    assert code == 1 and out.startswith(f"FAILED: entry 3: {reason}")


def test_chain_rehashed_from_the_first_entry_is_caught_by_the_checkpoint(signed, capsys):
    write(signed, 6)
    assert iom(capsys, "audit", "checkpoint")[0] == 0
    tamper(signed, lambda s: rehash_from(s, 1, summary="rewritten", keep_signatures=False))
    code, out = iom(capsys, "audit", "verify")
    assert code == 1
    assert out.startswith("FAILED: entry 6: differs from the signed checkpoint of ")


@pytest.mark.parametrize(("extra", "reason"), [
    ({}, "not signed, although earlier entries are"),
    ({"key_id": "KEY", "signature": "ab" * 32}, "signature does not match"),
    ({"key_id": "attacker", "signature": "ab" * 32}, "signed with key 'attacker', which is "
                                                     "not in the key file"),
])
def test_appended_forged_entry_is_detected(signed, capsys, extra, reason):
    write(signed, 4)
    assert iom(capsys, "audit", "checkpoint")[0] == 0
    extra = {k: (signed.keyring.current if v == "KEY" else v) for k, v in extra.items()}
    tamper(signed, lambda s: forged_entry(s, **extra))
    code, out = iom(capsys, "audit", "verify")
    assert code == 1 and out.startswith(f"FAILED: entry 5: {reason}"), out


def test_checkpoint_file_edits_are_detected_and_a_broken_chain_is_never_checkpointed(
        signed, capsys, audit_files):
    write(signed, 3)
    assert iom(capsys, "audit", "checkpoint")[0] == 0
    path = Path(audit_files["IOM_AUDIT_CHECKPOINT_DIR"]) / CHECKPOINT_FILE
    original = path.read_text()
    record = json.loads(original)
    path.write_text(json.dumps({**record, "seq": 2}) + "\n")
    code, out = iom(capsys, "audit", "verify")
    assert code == 1 and "line 1: signature does not match (forged or edited)" in out
    path.write_text(original)
    write(signed, 2, start=4)

    def edit(seq):
        tamper(signed, lambda s: s.execute(update(AuditEntry).where(
            AuditEntry.seq == seq).values(summary="edited")))

    edit(2)  # before the last checkpoint: the periodic (incremental) check skips it...
    code, out = iom(capsys, "audit", "checkpoint", "--full")  # ...a full one does not
    assert code == 1 and out.startswith("no checkpoint written: the chain does not verify")
    assert "FAILED: entry 2: content does not match its hash" in out
    edit(5)  # after it: the periodic check refuses too
    code, out = iom(capsys, "audit", "checkpoint")
    assert code == 1 and "FAILED: entry 5: content does not match its hash" in out
    assert path.read_text() == original


def test_rotated_keys_verify_and_a_dropped_key_is_named(signed, capsys, audit_files,
                                                        db_url):
    write(signed, 2)
    key_file = Path(audit_files["IOM_AUDIT_KEY_FILE"])
    old = signed.keyring.current
    new = generate_key(key_file, datetime.now(UTC))
    rotated = Runtime.from_settings(load_settings(ROOT / "config.toml"))
    try:
        assert rotated.keyring.current == new != old
        write(rotated, 2, start=3)
        with rotated.sessions() as s:
            assert s.scalars(select(AuditEntry.key_id).order_by(AuditEntry.seq)).all() == [
                old, old, new, new]
    finally:
        rotated.close()
    assert iom(capsys, "audit", "verify")[0] == 0
    key_file.write_text("\n".join(line for line in key_file.read_text().splitlines()
                                  if not line.startswith(old)) + "\n")
    code, out = iom(capsys, "audit", "verify")
    assert code == 1 and out.startswith(f"FAILED: entry 1: signed with key '{old}'")


def test_without_a_key_verify_says_plainly_that_signatures_are_not_checked(
        session, now, capsys, db_url, monkeypatch):
    monkeypatch.setenv("IOM_DATABASE_URL", db_url)
    audit.record(session, kind="t", actor="a", occurred_at=now, summary="s", payload={})
    session.commit()
    code, out = iom(capsys, "audit", "verify")
    assert code == 0 and out.startswith("OK: audit chain intact, 1 entries checked")
    assert "WARNING: signatures and checkpoints NOT checked (key file " in out
    assert "not found)" in out
    assert main([*CONFIG, "audit", "checkpoint"]) != 0
    assert "cannot sign a checkpoint" in capsys.readouterr().err


def test_a_malformed_key_file_stops_start_up(tmp_path):
    from workflow.errors import ConfigError

    bad = tmp_path / "k"
    bad.write_text(f"k1 {secrets.token_hex(8)}\n")
    with pytest.raises(ConfigError, match="line 1: secret shorter than 32 bytes"):
        load_keyring(str(bad))
    bad.write_text(f"k1 {secrets.token_hex(32)}\nk1 {secrets.token_hex(32)}\n")
    with pytest.raises(ConfigError, match="given twice"):
        load_keyring(str(bad))


def test_keygen_if_missing_creates_a_private_key_file_once(tmp_path, capsys):
    path = tmp_path / "var" / "audit.key"
    assert main([*CONFIG, "audit", "keygen", "--file", str(path), "--if-missing"]) == 0
    first = path.read_text()
    assert path.stat().st_mode & 0o777 == 0o600
    assert main([*CONFIG, "audit", "keygen", "--file", str(path), "--if-missing"]) == 0
    assert path.read_text() == first and "exists" in capsys.readouterr().out
    assert load_keyring(str(path)).current


def test_scheduler_job_writes_a_checkpoint_once_per_new_head(signed, audit_files):
    from scheduler.jobs import audit_checkpoint

    write(signed, 3)
    now = datetime.now(UTC)
    assert audit_checkpoint(signed, now).note == "checkpoint of entry 3"
    assert audit_checkpoint(signed, now).note == "head already checkpointed"
    write(signed, 1, start=4)
    assert audit_checkpoint(signed, now).note == "checkpoint of entry 4"
    tamper(signed, lambda s: forged_entry(s))
    assert audit_checkpoint(signed, now).note.startswith("FAILED: entry 5: not signed")
    path = Path(audit_files["IOM_AUDIT_CHECKPOINT_DIR"]) / CHECKPOINT_FILE
    assert [json.loads(x)["seq"] for x in path.read_text().splitlines()] == [3, 4]


def test_an_export_carries_signatures_and_verifies_offline_against_the_key(
        signed, capsys, audit_files, tmp_path):
    write(signed, 5)
    assert iom(capsys, "audit", "checkpoint")[0] == 0
    out = tmp_path / "chain.jsonl"
    assert iom(capsys, "audit", "export", "--format", "jsonl", "--out", str(out),
               "--as-admin")[0] == 0
    key = ["--key-file", audit_files["IOM_AUDIT_KEY_FILE"],
           "--checkpoint-dir", audit_files["IOM_AUDIT_CHECKPOINT_DIR"]]
    code, text_ = iom(capsys, "audit", "verify-export", str(out), *key)
    assert code == 0 and "signatures checked: 5 entries signed" in text_
    code, text_ = iom(capsys, "audit", "verify-export", str(out))
    assert code == 0 and "signatures not checked: give --key-file" in text_
    lines = out.read_text().splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[:3]))
    code, text_ = iom(capsys, "audit", "verify-export", str(cut), *key)
    assert code == 1 and "entries were removed from the end" in text_
    forged = json.loads(lines[-1])
    forged.update(seq=forged["seq"] + 1, prev_hash=forged["hash"], summary="forged")
    forged["hash"] = audit.content_hash(SimpleNamespace(**{
        **forged, "occurred_at": datetime.fromisoformat(forged["occurred_at"]),
        "recorded_at": datetime.fromisoformat(forged["recorded_at"])}))
    out.write_text("".join(lines) + json.dumps(forged) + "\n")
    code, text_ = iom(capsys, "audit", "verify-export", str(out), *key)
    assert code == 1 and text_.startswith(f"FAILED: entry {forged['seq']}: signature does "
                                          "not match")


def test_a_signed_chunk_verifies_with_iom_audit_verify_and_a_forged_one_does_not(
        signed, capsys):
    """Entries appended as one chunk (a pass opening cases) are signed like single
    appends: `iom audit verify` checks chain, signatures and checkpoint; an entry of the
    chunk re-hashed without the key is named."""
    now = datetime(2025, 3, 3, 9, tzinfo=UTC)
    write(signed, 2)
    with signed.sessions() as s:
        audit.append_chunk(s, [audit.Pending(kind="case.opened", actor="scheduler",
                                             occurred_at=now, case_id=i, person_ref=f"P{i}",
                                             summary=f"Case opened in mapping for P{i}",
                                             payload={"state": "mapping", "episode": 1})
                               for i in range(1, 6)])
        s.commit()
    write(signed, 1, start=8)
    code, out = iom(capsys, "audit", "checkpoint")
    assert code == 0, out
    code, out = iom(capsys, "audit", "verify")
    assert code == 0, out
    assert out.startswith("OK: audit chain intact, 8 entries checked")
    assert "signatures checked: 8 entries signed" in out
    with signed.sessions() as s:
        rows = s.execute(select(AuditEntry.seq, AuditEntry.key_id, AuditEntry.signature)
                         .where(AuditEntry.kind == "case.opened")).all()
    assert [r.seq for r in rows] == [3, 4, 5, 6, 7] and all(r.signature for r in rows)

    tamper(signed, lambda s: rehash_from(s, 5, summary="forged"))  # no key: bad signature
    code, out = iom(capsys, "audit", "verify")
    assert code == 1 and out.startswith("FAILED: entry 5"), out
