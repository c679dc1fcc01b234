"""Case versions (db/versioning.py): bumped once per changing flush, stale writes refused,
claimed rows written in batches without a per-case check."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm.exc import StaleDataError

from db.models import Case
from db.session import make_session_factory
from workflow.cases import claim_many


@pytest.fixture
def statements(db_engine):
    """The SQL statements run on the engine while the test runs."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()))
    event.listen(db_engine, "before_cursor_execute", record)
    yield seen
    event.remove(db_engine, "before_cursor_execute", record)


def _stored_version(session, case_id: int) -> int:
    return session.scalar(select(Case.version).where(Case.id == case_id))


def test_a_flush_that_changes_a_case_bumps_its_version_once(session, make_case):
    case = make_case()
    session.commit()
    before = case.version
    case.cohort = "fixed"
    case.intensity = "high"
    session.flush()
    assert case.version == _stored_version(session, case.id) == before + 1
    session.flush()  # nothing changed since: no bump
    case.cohort = "fixed"  # set to the value it has: not a change
    session.flush()
    assert _stored_version(session, case.id) == before + 1
    session.commit()
    case.cohort = "flexible"
    session.commit()
    assert _stored_version(session, case.id) == before + 2


def test_a_write_based_on_a_stale_read_is_refused_and_nothing_is_lost(
        session, db_engine, make_case):
    case = make_case()
    session.commit()
    other = make_session_factory(db_engine)()
    try:
        theirs = other.get(Case, case.id)  # read before our change...
        other.commit()  # ...in a transaction of its own (SQLite: it held the write lock)
        case.cohort = "fixed"
        session.commit()
        theirs.cohort = "flexible"
        with pytest.raises(StaleDataError, match=f"case {case.id} was changed"):
            other.flush()
        other.rollback()
    finally:
        other.close()
    session.expire_all()
    assert case.cohort == "fixed"


def test_claimed_cases_are_written_in_one_statement_without_a_check(
        session, make_case, statements, db_url):
    ids = [make_case().id for _ in range(5)]
    session.commit()
    cases = claim_many(session, ids)
    for case in cases:
        case.cohort = "fixed"
    statements.clear()
    session.flush()
    updates = [s for s in statements if s.startswith("UPDATE iom_case")]
    if db_url.startswith("postgresql"):  # rows locked by the claim: nothing to check
        assert len(updates) == 1 and "version=" in updates[0].replace(" ", "")
        assert "WHERE iom_case.id" in updates[0] and "version =" not in updates[0]
    else:  # SQLite claims lock nothing: one batched check, then one batched write
        assert len(updates) == 2
    session.commit()
    assert {_stored_version(session, i) for i in ids} == {2}
