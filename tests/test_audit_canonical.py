"""Canonical audit payloads: one text per JSON value, stored and given back byte-for-byte
on SQLite and PostgreSQL, so honest input never breaks the chain (issue 12, item 1)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Text, func, select, text, type_coerce

from db.canonical import MAX_DEPTH, NotCanonical, canonical_text
from db.migrate import downgrade, upgrade
from db.models import AuditEntry, ComplianceEvent
from workflow import audit
from workflow.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[1]

# Any Unicode a text column can hold: everything but NUL and lone surrogates.
STORABLE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                   max_size=12)
SCALARS = (st.none() | st.booleans() | st.integers(-2**80, 2**80)
           | st.floats(allow_nan=False, allow_infinity=False) | STORABLE
           | st.sampled_from([1e16, 1.0, -0.0, 0.1, 1e308, 5e-324, 2**53 + 1, -(2**63)]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(STORABLE, inner, max_size=4), max_leaves=15)


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("value", "expected"), [
    (1e16, "10000000000000000"), (1.0, "1"), (-0.0, "0"), (0.1, "0.1"),
    (1.5e-07, "1.5e-07"), (2**64, "18446744073709551616"),
    ({"b": 1, "a": [True, None]}, '{"a":[true,null],"b":1}'),
    ({"é": "ß\u2028😀"}, '{"\\u00e9":"\\u00df\\u2028\\ud83d\\ude00"}'),
    ({1: "x", None: "y"}, '{"1":"x","null":"y"}'),
    (datetime(2025, 3, 3, tzinfo=UTC), '"2025-03-03 00:00:00+00:00"'),
])
def test_canonical_text_spells_a_value_one_way(value, expected):
    assert canonical_text(value) == expected


@pytest.mark.parametrize(("value", "path"), [
    ({"a": float("nan")}, "$.a"), ({"a": [1, float("inf")]}, "$.a[1]"),
    ({"note": "a\x00b"}, "$.note"), ({"k\x00": 1}, "$"), ({"s": "\ud800"}, "$.s"),
    ({"big": 2**2000}, "$.big"), ({1: 1, "1": 2}, "$"),
])
def test_values_that_no_backend_can_store_are_refused_naming_the_path(value, path):
    with pytest.raises(NotCanonical) as caught:
        canonical_text(value)
    assert caught.value.path == path


def test_nesting_is_bounded():
    deep = []
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(NotCanonical, match="nested deeper"):
        canonical_text(deep)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_parsing_canonical_text_and_encoding_again_gives_the_same_text(value):
    first = canonical_text(value)
    assert first.isascii()
    assert canonical_text(json.loads(first)) == first


def _client_with_case(client, make_user, make_case):
    _, token = make_user("pc1", role="police")  # police work every IOM case
    case = make_case(state="allocated")
    return f"/api/v1/cases/{case.id}/events", _auth(token)


def _event(event_id: str, details) -> dict:
    when = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    return {"event_id": event_id, "kind": "appointment_kept", "occurred_at": when,
            "details": details}


@pytest.mark.usefixtures("published")
def test_arbitrary_json_through_the_api_keeps_the_chain_verifying(
        client, make_user, make_case, session):
    """Property: any JSON object as an event's details is stored, audited and given back
    as the same value, and the chain verifies after every write, on both backends."""
    url, headers = _client_with_case(client, make_user, make_case)
    ids = itertools.count(1)

    @settings(max_examples=100, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.dictionaries(STORABLE, JSON, max_size=5))
    def write(details):
        event_id = f"prop-{next(ids)}"
        response = client.post(url, json=_event(event_id, details), headers=headers)
        assert response.status_code == 201, response.get_json()
        expected = json.loads(canonical_text(details))
        assert response.get_json()["event"]["details"] == expected
        session.expire_all()
        stored = session.execute(select(type_coerce(AuditEntry.payload, Text)).where(
            AuditEntry.kind == "compliance.event").order_by(AuditEntry.seq.desc()).limit(1)
        ).scalar_one()
        assert json.loads(stored)["details"] == expected
        assert stored == canonical_text(json.loads(stored))  # byte-for-byte canonical
        result = audit.verify(session)
        assert result.ok, result.reason
        session.rollback()

    write()
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(ComplianceEvent)) >= 1


@pytest.mark.usefixtures("published")
def test_1e16_and_nul_get_the_right_answer_and_verify_stays_ok(
        client, make_user, make_case, session, db_url, monkeypatch, capsys):
    from cli.main import main

    url, headers = _client_with_case(client, make_user, make_case)
    when = _event("x", {})["occurred_at"]
    raw = ('{"event_id": "e-1e16", "kind": "appointment_kept", "occurred_at": "' + when
           + '", "details": {"amount": 1e16, "ratio": 1.0}}')
    ok = client.post(url, data=raw, content_type="application/json", headers=headers)
    assert ok.status_code == 201, ok.get_json()
    assert ok.get_json()["event"]["details"] == {"amount": 10**16, "ratio": 1}
    again = client.post(url, data=raw, content_type="application/json", headers=headers)
    assert again.status_code == 201 and again.get_json()["created"] is False
    for details, field in (({"note": "a\x00b"}, "details.note"),
                           ({"lone": "\udc80"}, "details.lone")):
        refused = client.post(url, json=_event("e-bad", details), headers=headers)
        assert refused.status_code == 422, refused.get_json()
        error = refused.get_json()["error"]
        assert error["details"]["field"] == field
        assert error["message"].startswith(f"{field}: ")
    nan = client.post(url, data=raw.replace("1e16", "NaN").replace("e-1e16", "e-nan"),
                      content_type="application/json", headers=headers)
    assert nan.status_code == 422 and nan.get_json()["error"]["details"]["field"] == \
        "details.amount"
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(ComplianceEvent)) == 1
    session.commit()  # end this read: the CLI's transaction needs the write lock (SQLite)
    monkeypatch.setenv("IOM_DATABASE_URL", db_url)
    monkeypatch.setenv("IOM_AUDIT_KEY_FILE", "")
    capsys.readouterr()
    assert main(["--config", str(ROOT / "config.toml"), "audit", "verify"]) == 0
    assert capsys.readouterr().out.startswith("OK: audit chain intact")


def test_record_refuses_nul_in_any_text_field_before_adding_anything(session, now):
    with pytest.raises(InvalidInput, match="summary"):
        audit.record(session, kind="t", actor="a", occurred_at=now, summary="x\x00",
                     payload={})
    assert not session.new


def test_entries_written_before_0009_keep_verifying_after_it(db_url, db_engine, now):
    """Version 1 and 2 entries written into the old JSON/jsonb column (floats, Unicode)
    verify after the column became canonical text, and the chain continues in v3."""
    downgrade(db_url, "0008")
    try:
        prev = audit.GENESIS
        with db_engine.begin() as conn:
            for seq, version in ((1, 1), (2, 2), (3, 2)):
                fields = {"seq": seq, "occurred_at": now, "actor": "old", "kind": "t",
                          "case_id": None, "person_ref": None, "summary": f"old {seq}",
                          "payload": {"f": 0.1 * seq, "s": "Zoë ✓", "n": [1, 2.5]},
                          "prev_hash": prev}
                prev = audit.entry_hash(**fields, recorded_at=now if version == 2 else None)
                conn.execute(text(
                    "INSERT INTO audit_entry (seq, occurred_at, recorded_at, actor, kind, "
                    "summary, payload, prev_hash, hash, hash_version) VALUES (:seq, :t, :t,"
                    " 'old', 't', :summary, :payload, :prev, :hash, :v)"),
                    {"seq": seq, "t": now, "summary": fields["summary"],
                     "payload": json.dumps(fields["payload"]), "prev": fields["prev_hash"],
                     "hash": prev, "v": version})
    finally:
        upgrade(db_url)
    from db.session import make_session_factory

    with make_session_factory(db_engine)() as s:
        audit.record(s, kind="t", actor="new", occurred_at=now, summary="new",
                     payload={"x": 1e16})
        s.commit()
        result = audit.verify(s)
        assert result.ok and result.checked == 4, result.reason
        assert s.get(AuditEntry, 4).hash_version == 3


def test_guard_triggers_survive_migration_0009(session, now):
    audit.record(session, kind="t", actor="a", occurred_at=now, summary="s", payload={})
    session.commit()
    from sqlalchemy.exc import DBAPIError

    for statement in ("UPDATE audit_entry SET summary = 'x'", "DELETE FROM audit_entry"):
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(statement))
        session.rollback()
    assert audit.verify(session).checked == 1
