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
