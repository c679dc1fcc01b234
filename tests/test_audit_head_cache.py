"""The chain head cached within a transaction never survives an undone append."""

from __future__ import annotations

from workflow import audit


def _append(session, now, n):
    return audit.record(session, kind="test", actor="t", occurred_at=now, summary=f"e{n}",
                        payload={"n": n})


def test_appends_after_a_rolled_back_savepoint_continue_the_real_chain(session, now):
    _append(session, now, 1)
    savepoint = session.begin_nested()
    _append(session, now, 2)
    savepoint.rollback()
    third = _append(session, now, 3)
    session.commit()
    assert third.seq == 2
    assert audit.verify(session).ok and audit.verify(session).checked == 2


def test_many_appends_in_one_transaction_chain_in_order(session, now):
    entries = [_append(session, now, n) for n in range(5)]
    session.commit()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert all(b.prev_hash == a.hash for a, b in zip(entries, entries[1:], strict=False))
    session.rollback()
    assert _append(session, now, 9).seq == 6  # a new transaction re-reads the head
    session.commit()
    assert audit.verify(session).ok


def test_the_head_is_carried_across_flushes_not_read_again(session, now, db_engine):
    from sqlalchemy import event

    _append(session, now, 0)
    session.commit()
    heads = []

    def count(conn, cursor, statement, *args):
        if "FROM audit_entry ORDER BY audit_entry.seq DESC" in statement:
            heads.append(statement)

    event.listen(db_engine, "before_cursor_execute", count)
    try:
        for n in range(1, 6):
            _append(session, now, n)
            session.flush()  # each flush ends an inner transaction: the head stays
        session.commit()
    finally:
        event.remove(db_engine, "before_cursor_execute", count)
    assert len(heads) == 1
    assert audit.verify(session).ok and audit.verify(session).checked == 6


def test_a_failed_flush_forgets_the_head(session, now):
    from sqlalchemy.exc import IntegrityError

    from db.models import AuditEntry

    _append(session, now, 1)
    session.flush()
    session.add(AuditEntry(seq=1, occurred_at=now, actor="x", kind="dup", summary="",
                           payload={}, prev_hash="0" * 64, hash="f" * 64))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
    assert _append(session, now, 2).seq == 1  # the rolled-back append is not built on
    session.commit()
    assert audit.verify(session).ok


def test_a_chunk_is_chained_like_single_appends(session, now):
    """append_chunk writes what record() writes: same hash text, chain and signature
    (strings with quotes, non-ASCII, no case id), in order after earlier appends."""
    _append(session, now, 1)
    pending = [audit.Pending(kind="case.opened", actor="sché\"duler", occurred_at=now,
                             summary=f"Opened «{n}»\n", payload={"n": n, "é": [1.5, None]},
                             case_id=n if n % 2 else None,
                             person_ref=None if n == 3 else f"P{n}") for n in range(6)]
    seq, head = audit.append_chunk(session, pending)
    after = _append(session, now, 99)
    session.commit()
    assert seq == 7 and after.seq == 8 and after.prev_hash == head
    result = audit.verify(session)
    assert result.ok and result.checked == 8, result
