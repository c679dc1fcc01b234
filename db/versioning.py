"""Optimistic versioning of cases, written in batches.

SQLAlchemy's ``version_id_col`` adds ``AND version = :v`` to every UPDATE and then
refuses to batch them: one round trip per case, which was half of a scheduler pass.
The same guarantee, kept here with one statement per flush at most:

* Every flush bumps ``version`` of each case whose columns changed, as a plain value, so
  a chunk of cases is written with one executemany.
* Rows this transaction holds with ``SELECT ... FOR UPDATE`` (the scheduler's claims,
  registered with :func:`hold`) cannot have changed under it: nothing more to check.
* Any other changed case is checked with one executemany per flush,
  ``UPDATE iom_case SET version = version WHERE id = :id AND version = :v`` with ``v``
  the version this session loaded: atomic on both backends, and the rows are then
  write-locked until the transaction ends. A row not updated raises
  :class:`~sqlalchemy.orm.exc.StaleDataError`, as ``version_id_col`` did, and the
  caller's transaction must be rolled back. (SQLite's claims take no lock, so the
  scheduler's cases are checked this way there; it costs no round trip.)

Versions are the only thing to compare: every ORM write to a case goes through this
listener. Core ``UPDATE iom_case`` statements must bump ``version`` themselves when they
change what a decision was based on (the scheduler's ``last_error`` note does not).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, event, select, update
from sqlalchemy.orm import Session, attributes
from sqlalchemy.orm.exc import StaleDataError

from db.models.cases import Case

_HELD = "iom.cases.held"  # ids of case rows this transaction holds (locked or checked)


def hold(session: Session, case_ids: Iterable[int]) -> None:
    """Record that this transaction holds these case rows (locked with FOR UPDATE)."""
    session.info.setdefault(_HELD, set()).update(case_ids)


@event.listens_for(Session, "after_transaction_end")
def _release(session: Session, transaction) -> None:
    """Locks end with the transaction and may end with a savepoint: forget them all then
    (a flush's own inner transaction ends every flush and releases nothing)."""
    if transaction.parent is None or transaction.nested:
        session.info.pop(_HELD, None)


@event.listens_for(Session, "before_flush")
def _bump_versions(session: Session, flush_context, instances) -> None:
    changed = [obj for obj in session.dirty
               if isinstance(obj, Case) and session.is_modified(obj, include_collections=False)]
    if not changed:
        return
    mine = session.info.get(_HELD, set())
    loaded = {case.id: _loaded_version(case) for case in changed}
    unchecked = [case_id for case_id in loaded if case_id not in mine]
    if unchecked:
        _check(session, {case_id: loaded[case_id] for case_id in unchecked})
    for case in changed:
        case.version = loaded[case.id] + 1


def _loaded_version(case: Case) -> int:
    history = attributes.get_history(case, "version")
    if history.deleted:  # someone set it in memory: compare with what was loaded
        return history.deleted[0]
    return history.unchanged[0] if history.unchanged else case.version


def _check(session: Session, expected: dict[int, int]) -> None:
    """Write-lock the rows still at the version this session loaded (one executemany of
    a no-op ``SET version = version``); raise StaleDataError naming any that moved."""
    table = Case.__table__
    statement = (update(table).values(version=table.c.version)
                 .where(table.c.id == bindparam("b_id"), table.c.version == bindparam("b_old")))
    rows = [{"b_id": i, "b_old": v} for i, v in expected.items()]
    with session.no_autoflush:
        result = session.connection().execute(statement, rows)
        if result.rowcount != len(rows):
            stored = dict(session.execute(select(table.c.id, table.c.version).where(
                table.c.id.in_(list(expected)))).all())
            stale = sorted(i for i, v in expected.items() if stored.get(i) != v)
            raise StaleDataError(
                f"case {', '.join(map(str, stale))} was changed by another transaction "
                "since it was read; reload it and try again")
    hold(session, expected)
