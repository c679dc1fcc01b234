"""Which version of each rule set (and of the stage policy) is in force, without two
queries per name per evaluation.

Publications are append-only rows. Every process keeps one :class:`Snapshot` of them
(name, in-force instant, version id and content hash), read in one query and shared by
all threads; it is keyed by the table's *generation* (row count and highest id), which a
transaction reads once, so a publication committed by any process is seen by the next
transaction that looks. A session that has itself written a publication (publish,
rollback, seeding) bypasses the shared snapshot until its transaction ends, so it sees
its own uncommitted rows and never shares them. Stored versions are immutable and looked
up by content hash, so their parsed documents are cached for good
(:func:`workflow.rulesets.parsed_once`).
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from db.models import RuleSetPublication, RuleSetVersion

_SEEN = "iom_publications"  # session.info: this transaction's snapshot
_DIRTY = "iom_publications_written"  # session.info: this transaction wrote one


@dataclass(frozen=True)
class Pick:
    """A version in force: its row id, name and content hash."""

    version_id: int
    name: str
    version: str


@dataclass
class Snapshot:
    generation: tuple[int, int]
    # name -> [(published_at, publication id, Pick)] ascending
    by_name: dict[str, list[tuple[datetime, int, Pick]]] = field(default_factory=dict)

    def at(self, name: str, on: datetime | None) -> Pick | None:
        """The version of ``name`` in force at ``on`` (latest when None): the last
        publication at or before ``on`` (ties: the later row), as ``published_row``."""
        rows = self.by_name.get(name, [])
        if on is None:
            return rows[-1][2] if rows else None
        i = bisect.bisect_right(rows, on, key=lambda r: r[0])
        return rows[i - 1][2] if i else None


_shared: dict[str, Snapshot | None] = {"snapshot": None}
_shared_lock = threading.Lock()
_texts: dict[str, str] = {}  # content hash -> document text (immutable)
_texts_lock = threading.Lock()


def _generation(session: Session) -> tuple[int, int]:
    count, top = session.execute(select(func.count(), func.max(RuleSetPublication.id))).one()
    return int(count or 0), int(top or 0)


def _load(session: Session, generation: tuple[int, int]) -> Snapshot:
    snapshot = Snapshot(generation)
    rows = session.execute(
        select(RuleSetPublication.id, RuleSetPublication.name,
               RuleSetPublication.published_at, RuleSetVersion.id, RuleSetVersion.version)
        .join(RuleSetVersion, RuleSetVersion.id == RuleSetPublication.version_id)
        .order_by(RuleSetPublication.published_at, RuleSetPublication.id))
    for pub_id, name, published_at, version_id, version in rows:
        snapshot.by_name.setdefault(name, []).append(
            (published_at, pub_id, Pick(version_id, name, version)))
    return snapshot


def snapshot(session: Session) -> Snapshot:
    """The publications as this transaction sees them (one cheap query per transaction;
    the full read only when another process published since)."""
    seen = session.info.get(_SEEN)
    if seen is not None:
        return seen
    generation = _generation(session)
    if session.info.get(_DIRTY):
        seen = _load(session, generation)
    else:
        with _shared_lock:
            shared = _shared["snapshot"]
        if shared is None or shared.generation != generation:
            shared = _load(session, generation)
            with _shared_lock:
                _shared["snapshot"] = shared
        seen = shared
    session.info[_SEEN] = seen
    return seen


def document_text(session: Session, pick: Pick) -> SimpleNamespace:
    """A row-like ``(name, version, document)`` for :func:`parsed_once`; the text is
    read once per content hash."""
    with _texts_lock:
        text = _texts.get(pick.version)
    if text is None:
        text = session.scalar(select(RuleSetVersion.document).where(
            RuleSetVersion.id == pick.version_id))
        with _texts_lock:
            _texts[pick.version] = text
    return SimpleNamespace(name=pick.name, version=pick.version, document=text)


@event.listens_for(Session, "after_flush")
def _note_publications(session: Session, _context) -> None:
    if any(isinstance(obj, RuleSetPublication) for obj in session.new):
        session.info[_DIRTY] = True
        session.info.pop(_SEEN, None)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended
        session.info.pop(_SEEN, None)
        session.info.pop(_DIRTY, None)
