"""Exports: the whole chain as JSON lines / CSV, verified offline; one case's chronology."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from test_audit_explain import build_case_history

from workflow import audit
from workflow.audit_export import export_case, export_chain, verify_export
from workflow.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def history(session, make_person, now):
    case = build_case_history(session, make_person, now)
    other = build_case_history(session, make_person, now, ref="N-OTHER", accept=False)
    return case, other


def _export(session, path, fmt, **kw):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        return export_chain(session, fh, fmt=fmt, **kw)


def _lines(path):
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def _first_move(lines) -> int:
    """Index of the first exported transition (its summary says "Moved")."""
    return next(i for i, line in enumerate(lines) if "Moved" in json.loads(line)["summary"])


def _edit_summary(lines, index=None):
    index = _first_move(lines) if index is None else index
    entry = json.loads(lines[index])
    assert "Moved" in entry["summary"], "the tamper must change something"
    entry["summary"] = entry["summary"].replace("Moved", "Was not moved")
    return lines[:index] + [json.dumps(entry) + "\n"] + lines[index + 1:]


def _set(line: str, **changes) -> str:
    return json.dumps({**json.loads(line), **changes}) + "\n"


TAMPERED_JSONL = [  # (change to the exported lines, first bad seq, reason)
    (lambda ls: _edit_summary(ls), lambda ls: _first_move(ls) + 1, "entry edited"),
    (lambda ls: ls[:2] + [_set(ls[2], recorded_at="2020-01-01T00:00:00.000000+00:00")]
     + ls[3:], 3, "entry edited"),
    (lambda ls: ls[:2] + [_set(ls[2], hash_version=1)] + ls[3:], 3, "entry edited"),
    (lambda ls: ls[:4] + ls[5:], 5, "missing or out of order"),
    (lambda ls: ls[:4] + [ls[5], ls[4]] + ls[6:], 5, "missing or out of order"),
    (lambda ls: ls[:6] + ['{"seq": 7, "summary": "x"}\n'] + ls[7:], 7, "line 7: missing"),
    (lambda ls: ls[:6] + ["{not json\n"] + ls[7:], 7, "line 7: not valid JSON"),
]


def test_jsonl_export_verifies_offline_and_tampering_is_detected(session, history, tmp_path):
    path = tmp_path / "chain.jsonl"
    report = _export(session, path, "jsonl", batch=3)  # several batches
    in_db = audit.verify(session)
    assert report.count == in_db.checked > 10 and report.head == in_db.head
    result = verify_export(path, expect_head=report.head)
    assert result.ok and result.checked == report.count and result.head == report.head
    for i, (tamper, bad_seq, reason) in enumerate(TAMPERED_JSONL):
        copy = tmp_path / f"tampered{i}.jsonl"
        copy.write_text("".join(tamper(_lines(path))), encoding="utf-8")
        result = verify_export(copy)
        assert not result.ok, reason
        bad_seq = bad_seq(_lines(path)) if callable(bad_seq) else bad_seq
        assert result.first_bad_seq == bad_seq and reason in result.reason
    # Dropping the last line leaves a valid chain: only the recorded head shows it.
    path.write_text("".join(_lines(path)[:-1]), encoding="utf-8")
    assert verify_export(path).ok
    assert not verify_export(path, expect_head=report.head).ok


def test_csv_export_verifies_offline_and_a_tampered_payload_is_detected(session, history,
                                                                       tmp_path):
    path = tmp_path / "chain.csv"
    report = _export(session, path, "csv")
    result = verify_export(path)
    assert result.ok and result.checked == report.count and result.head == report.head
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    victim = next(r for r in rows if '"ogrs_2yr": 81' in r["payload"])
    victim["payload"] = victim["payload"].replace('"ogrs_2yr": 81', '"ogrs_2yr": 91')
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = verify_export(path)
    assert not result.ok and result.first_bad_seq == int(victim["seq"])


def test_case_extract_and_subject_access_export(session, history, tmp_path, now):
    case, other = history
    path = tmp_path / "case.jsonl"
    report = _export(session, path, "jsonl", case_id=case.id)
    lines = _lines(path)
    assert report.count == len(lines) == 4
    assert {json.loads(x)["case_id"] for x in lines} == {case.id}
    assert verify_export(path, extract=True).ok
    assert not verify_export(path).ok  # not the whole chain
    path.write_text("".join(_edit_summary(lines, 1)), encoding="utf-8")
    assert not verify_export(path, extract=True).ok

    # The subject-access export of the same case: its explained chronology.
    out = io.StringIO()
    assert export_case(session, case.id, out, fmt="json", now=now) == 4
    doc = json.loads(out.getvalue())
    assert doc["case_id"] == case.id and doc["person_refs"] == ["N-EXPLAIN"]
    assert [e["kind"] for e in doc["entries"]][:2] == ["case.opened", "case.transition"]
    assert "pan-london-selection/ogrs-75" in doc["entries"][1]["text"]
    assert all(len(e["hash"]) == 64 for e in doc["entries"])
    out = io.StringIO()
    export_case(session, case.id, out, fmt="text", now=now)
    assert out.getvalue().startswith(f"Case {case.id} (person N-EXPLAIN)")
    assert "N-OTHER" not in out.getvalue()


def test_unknown_formats_are_refused(session, tmp_path):
    with pytest.raises(InvalidInput):
        export_chain(session, io.StringIO(), fmt="xml")
    with pytest.raises(InvalidInput):
        export_case(session, 1, io.StringIO(), fmt="pdf", now=None)


def test_cli_audit_commands(session, history, db_url, tmp_path, monkeypatch, capsys):
    """explain, export, verify-export and purge through the real argument parser."""
    from cli.main import main

    case, _ = history
    session.close()
    monkeypatch.setenv("IOM_DATABASE_URL", db_url)
    config = ["--config", str(ROOT / "config.toml")]

    assert main([*config, "audit", "explain", str(case.id), "--as-admin"]) == 0
    assert "Case opened in mapping" in capsys.readouterr().out
    assert main([*config, "audit", "explain", str(case.id), "--as-admin", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[-1]["kind"] == "case.read"  # reads audited

    out = tmp_path / "chain.jsonl"
    assert main([*config, "audit", "export", "--format", "jsonl", "--out", str(out),
                 "--as-admin"]) == 0
    head = capsys.readouterr().err.split("head ")[1].split()[0]
    assert main([*config, "audit", "verify-export", str(out), "--expect-head", head]) == 0
    assert capsys.readouterr().out.startswith("OK: exported chain intact")
    edited = _first_move(_lines(out)) + 1
    out.write_text("".join(_edit_summary(_lines(out))), encoding="utf-8")
    assert main([*config, "audit", "verify-export", str(out)]) == 1
    assert capsys.readouterr().out.startswith(f"FAILED: entry {edited}: content does not match")
    assert main([*config, "audit", "export", "--format", "text", "--out", "-",
                 "--as-admin"]) == 2  # no --case

    assert main([*config, "audit", "purge", "--retention-days", "1",
                 "--as-admin"]) == 0  # dry run
    assert "would delete 0 cases" in capsys.readouterr().out
    assert main([*config, "audit", "verify"]) == 0
    assert "OK: audit chain intact" in capsys.readouterr().out


def test_an_export_made_before_hash_versions_verifies(session, now, tmp_path):
    """Files exported before hash_version existed hold version 1 entries only."""
    from sqlalchemy import insert

    from db.models import AuditEntry

    prev = audit.GENESIS
    for seq in (1, 2, 3):
        fields = {"seq": seq, "occurred_at": now, "actor": "old", "kind": "test.old",
                  "case_id": seq, "person_ref": "N1", "summary": f"old {seq}",
                  "payload": {"n": seq}, "prev_hash": prev}
        prev = audit.entry_hash(**fields)
        session.execute(insert(AuditEntry).values(**fields, hash=prev, recorded_at=now))
    session.commit()
    path = tmp_path / "old.jsonl"
    _export(session, path, "jsonl")
    old = [json.loads(line) for line in _lines(path)]
    assert [e.pop("hash_version") for e in old] == [1, 1, 1]
    path.write_text("".join(json.dumps(e) + "\n" for e in old), encoding="utf-8")
    assert verify_export(path, expect_head=f"3:{prev}").ok


def test_cli_explain_reads_as_a_proven_user(session, history, db_url, monkeypatch, capsys,
                                             make_user):
    """``iom audit explain --as USER`` needs USER's own token, shows what the agreement's
    audit purpose lets USER see, and records the read under USER's name."""
    from cli.main import main

    case, _ = history
    _, auditor_token = make_user("aud1", role="auditor")
    _, police_token = make_user("pol9", role="police", agency="police")
    _, housing_token = make_user("hou9", role="resettlement_officer", agency="housing")
    session.commit()
    session.close()
    monkeypatch.setenv("IOM_DATABASE_URL", db_url)
    explain = ["--config", str(ROOT / "config.toml"), "audit", "explain", str(case.id)]

    monkeypatch.delenv("IOM_TOKEN", raising=False)
    assert main([*explain, "--as", "aud1"]) != 0
    assert "IOM_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("IOM_TOKEN", police_token)  # someone else's token
    assert main([*explain, "--as", "aud1"]) != 0
    capsys.readouterr()

    monkeypatch.setenv("IOM_TOKEN", auditor_token)
    assert main([*explain, "--as", "aud1"]) == 0
    assert "pan-london-selection/ogrs-75" in capsys.readouterr().out
    monkeypatch.setenv("IOM_TOKEN", housing_token)
    assert main([*explain, "--as", "hou9"]) == 0  # housing: risk and offending withheld
    out = capsys.readouterr().out
    assert "ogrs-75" not in out and "a rule on a risk score you may not see" in out
    monkeypatch.setenv("IOM_TOKEN", auditor_token)
    assert main([*explain, "--as", "aud1", "--json"]) == 0
    reads = [line for line in json.loads(capsys.readouterr().out) if line["kind"] == "case.read"]
    assert [r["actor"] for r in reads] == ["aud1", "hou9"]  # each read under its reader


@pytest.mark.parametrize(("role", "agency", "command", "allowed"), [
    ("auditor", None, ["export", "--format", "jsonl"], True),
    ("police", "police", ["export", "--format", "jsonl"], False),
    ("auditor", None, ["export", "--access", "--format", "jsonl"], True),
    ("team_lead", "police", ["export", "--access", "--format", "jsonl"], False),
    ("police", "police", ["export", "--case", "{case}", "--format", "json"], True),
    ("admin", None, ["purge", "--retention-days", "1"], True),
    ("team_lead", "police", ["purge", "--retention-days", "1"], False),
    ("auditor", None, ["purge", "--retention-days", "1"], False),
])
def test_cli_audit_commands_follow_the_permission_table(session, history, db_url, tmp_path,
                                                        monkeypatch, capsys, make_user,
                                                        role, agency, command, allowed):
    """``iom audit export`` (chain, access log, one case) and ``purge`` run only for the
    roles ``workflow.permissions.COMMANDS`` names, the user proven by their token."""
    from cli.main import main

    case, _ = history
    _, token = make_user("someone", role=role, agency=agency)
    session.commit()
    session.close()
    monkeypatch.setenv("IOM_DATABASE_URL", db_url)
    monkeypatch.setenv("IOM_TOKEN", token)
    args = [a.replace("{case}", str(case.id)) for a in command]
    out = ["--out", str(tmp_path / "out")] if args[0] == "export" else []
    code = main(["--config", str(ROOT / "config.toml"), "audit", *args, *out,
                 "--as", "someone"])
    err = capsys.readouterr().err
    assert (code == 0) is allowed, (code, err)
    if not allowed:  # refused before anything is written
        assert f"is a {role}" in err and not (tmp_path / "out").exists(), err
