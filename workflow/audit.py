"""The append-only, hash-chained audit log.

Each entry's ``hash`` is SHA-256 over its canonical content and the previous entry's
hash; ``seq`` is assigned as previous + 1, so two writers racing for the same position
collide on the primary key instead of forking the chain. On PostgreSQL appenders are
serialised by a transaction-scoped advisory lock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import Text, event, select, text, type_coerce
from sqlalchemy.orm import Session

from db.canonical import CanonicalDict, NotCanonical, canonical_text, check_string
from db.models import AuditEntry
from workflow.errors import InvalidInput

GENESIS = "0" * 64
HASH_VERSION = 3  # what new entries' hash covers (see AuditEntry.hash_version)
SIGNER = "iom.audit.signer"  # session.info key: a KeyRing that signs new entries
_LOCK_KEY = 0x10A_A0D1  # advisory lock id for the audit chain


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def entry_hash(*, seq: int, occurred_at: datetime, actor: str, kind: str,
               case_id: int | None, person_ref: str | None, summary: str,
               payload: dict | str, prev_hash: str, recorded_at: datetime | None = None
               ) -> str:
    """The chain hash of one entry (stable across backends: canonical JSON, UTC ISO times).

    ``recorded_at`` is covered from hash version 2; version 1 entries (written before
    migration 0007) pass None and keep their original hash. From version 3 ``payload``
    is the stored canonical text (``db.canonical``), hashed as that string; versions 1
    and 2 pass the parsed value.
    """
    content = {
        "seq": seq, "occurred_at": _iso(occurred_at), "actor": actor, "kind": kind,
        "case_id": case_id, "person_ref": person_ref, "summary": summary,
        "payload": payload, "prev_hash": prev_hash,
    }
    if recorded_at is not None:
        content["recorded_at"] = _iso(recorded_at)
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


_HEAD = "iom.audit.head"  # (seq, hash) of the last entry this transaction appended
_LOCKED = "iom.audit.locked"  # this root transaction holds the PostgreSQL advisory lock


@event.listens_for(Session, "after_soft_rollback")
def _forget_head_on_rollback(session: Session, previous_transaction) -> None:
    """A rollback (of the transaction, a savepoint or a failed flush) may undo appends:
    re-read the head next time. A successful flush or savepoint release keeps it."""
    session.info.pop(_HEAD, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_head(session: Session, transaction) -> None:
    """When the root transaction ends, the chain is released: forget head and lock.

    Flushes and savepoints (``transaction.parent`` set) keep the head this transaction
    carries, so a pass appending thousands of entries reads the head once.
    """
    if transaction.parent is None:
        session.info.pop(_HEAD, None)
        session.info.pop(_LOCKED, None)


def _head(session: Session) -> tuple[int, str]:
    """The chain head; cached once this transaction holds the chain (it appended)."""
    cached = session.info.get(_HEAD)
    if cached is not None:
        return cached
    if session.get_bind().dialect.name == "postgresql" and not session.info.get(_LOCKED):
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        session.info[_LOCKED] = True
    last = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    return (last.seq, last.hash) if last else (0, GENESIS)


def hold_chain(session: Session) -> tuple[int, str]:
    """Take the chain for this transaction, as its first append would (the advisory lock
    on PostgreSQL), and return the head ``(seq, hash)``: what a writer reads after this
    stays current until it appends and commits (``workflow.access_seal``)."""
    return _head(session)


def canonical_payload(payload, field_name: str = "payload") -> tuple[str, dict]:
    """``(canonical text, parsed value)`` of ``payload`` as the audit stores it.

    Raises :class:`InvalidInput` naming the path when it cannot be stored as-is (NUL,
    lone surrogate, NaN or infinity, nesting too deep): see ``db.canonical``.
    """
    try:
        text_ = canonical_text(payload)
    except NotCanonical as exc:
        where = field_name + exc.path[1:]
        raise InvalidInput(f"{where}: {exc.reason}",
                           details={"field": where, "reason": exc.reason}) from exc
    return text_, CanonicalDict.parse(text_)


def _check_strings(**values: str | None) -> None:
    for name, value in values.items():
        if value is None:
            continue
        try:
            check_string(value, name)
        except NotCanonical as exc:
            raise InvalidInput(str(exc), details={"field": name, "reason": exc.reason}
                               ) from exc


def record(session: Session, *, kind: str, actor: str, occurred_at: datetime, summary: str,
           payload: dict, case_id: int | None = None, person_ref: str | None = None
           ) -> AuditEntry:
    """Append one entry to the chain (added to the session; written by the caller's next
    flush or autoflush). ``payload`` is stored as canonical JSON text; a value that has
    none, or a text field holding NUL, raises :class:`InvalidInput` before anything is
    added. Signed when the session carries a key (``session.info[SIGNER]``).

    The first append of a transaction takes the chain (advisory lock on PostgreSQL; the
    write lock on SQLite when written) and reads its head; later appends in the same
    transaction continue from the cached head, so many entries go out in one flush.
    """
    payload_text, payload = canonical_payload(payload)
    _check_strings(actor=actor, kind=kind, summary=summary, person_ref=person_ref)
    last_seq, prev = _head(session)
    seq = last_seq + 1
    recorded_at = datetime.now(UTC)
    entry = AuditEntry(
        seq=seq, occurred_at=occurred_at, recorded_at=recorded_at, actor=actor, kind=kind,
        case_id=case_id, person_ref=person_ref, summary=summary, payload=payload,
        prev_hash=prev, hash_version=HASH_VERSION,
        hash=entry_hash(seq=seq, occurred_at=occurred_at, actor=actor, kind=kind,
                        case_id=case_id, person_ref=person_ref, summary=summary,
                        payload=payload_text, prev_hash=prev, recorded_at=recorded_at),
    )
    signer = session.info.get(SIGNER)
    if signer is not None and signer.current:
        entry.key_id, entry.signature = signer.sign_entry(seq, entry.hash)
    session.add(entry)
    session.info[_HEAD] = (seq, entry.hash)
    return entry


class Pending(NamedTuple):
    """One entry for :func:`append_chunk`: the fields :func:`record` takes (a named
    tuple: a chunk makes thousands)."""

    kind: str
    actor: str
    occurred_at: datetime
    summary: str
    payload: dict
    case_id: int | None = None
    person_ref: str | None = None


_json_str = json.encoder.encode_basestring_ascii  # what json.dumps writes for a str


def _v3_middle(kind: str, occurred_iso: str, payload_text: str) -> str:
    """The part of a version 3 hash text from ``kind`` to the ``person_ref`` key: the
    same for a chunk's entries of one kind, instant and payload (made once)."""
    return (f',"kind":{_json_str(kind)},"occurred_at":"{occurred_iso}",'
            f'"payload":{_json_str(payload_text)},"person_ref":')


def _v3_digest(seq: int, e: Pending, actor_json: str, middle: str, prev: str,
               recorded_iso: str) -> str:
    """:func:`entry_hash` of a version 3 entry, the canonical text written directly (the
    same bytes as ``json.dumps(..., sort_keys=True)``: keys in sorted order), from the
    entry's ``actor`` as JSON and its :func:`_v3_middle`."""
    text_ = (f'{{"actor":{actor_json},'
             f'"case_id":{"null" if e.case_id is None else int(e.case_id)}{middle}'
             f'{"null" if e.person_ref is None else _json_str(e.person_ref)},'
             f'"prev_hash":"{prev}","recorded_at":"{recorded_iso}","seq":{seq},'
             f'"summary":{_json_str(e.summary)}}}')
    return hashlib.sha256(text_.encode()).hexdigest()


# The columns append_chunk writes, in the order of its rows' values.
_CHUNK_COLUMNS = ("seq", "occurred_at", "recorded_at", "actor", "kind", "case_id",
                  "person_ref", "summary", "payload", "prev_hash", "hash", "hash_version",
                  "key_id", "signature")


def append_chunk(session: Session, entries: Sequence[Pending]) -> tuple[int, str]:
    """Append ``entries`` in order as one chunk: one chain computation from the head this
    transaction carries and one bulk insert (``COPY`` on PostgreSQL), not one ORM object
    each. Content, hashes and signatures are what :func:`record` writes one by one.

    Entries already added with :func:`record` are flushed first (the chain stays in
    ``seq`` order). Raises :class:`InvalidInput` before anything is written when one
    entry cannot be stored. Returns the new head ``(seq, hash)``, carried on.
    """
    from db.bulk import insert_rows

    if not entries:
        return _head(session)
    session.flush()
    seq, prev = _head(session)
    recorded_at = datetime.now(UTC)
    recorded_iso = _iso(recorded_at)
    signer = session.info.get(SIGNER)
    sign = signer.sign_entry if signer is not None and signer.current else None
    rows = []
    # What consecutive entries share (one payload object, instant, kind, actor: a chunk
    # of case.opened entries) is encoded once: (the object, what it gives).
    payload_of, middle_of, actor_of = (None, None), (None, None, None), (None, None)
    for e in entries:
        if e.payload is not payload_of[0]:
            payload_of = (e.payload, canonical_payload(e.payload))
            middle_of = (None, None, None)
        if e.kind is not middle_of[0] or e.occurred_at is not middle_of[1]:
            middle_of = (e.kind, e.occurred_at,
                         _v3_middle(e.kind, _iso(e.occurred_at), payload_of[1][0]))
        if e.actor is not actor_of[0]:
            actor_of = (e.actor, _json_str(e.actor))
        _check_strings(actor=e.actor, kind=e.kind, summary=e.summary, person_ref=e.person_ref)
        seq += 1
        digest = _v3_digest(seq, e, actor_of[1], middle_of[2], prev, recorded_iso)
        key_id, signature = sign(seq, digest) if sign else (None, None)
        rows.append((seq, e.occurred_at, recorded_at, e.actor, e.kind, e.case_id,
                     e.person_ref, e.summary, payload_of[1][1], prev, digest, HASH_VERSION,
                     key_id, signature))
        prev = digest
    insert_rows(session, AuditEntry.__table__, rows, _CHUNK_COLUMNS)
    session.info[_HEAD] = (seq, prev)
    return seq, prev


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of walking a chain. ``head_hash`` is the hash of the last entry checked;
    keep ``head`` (``"SEQ:HASH"``) somewhere else to detect later deletion at the end."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None
    head_hash: str | None = None
    notes: tuple[str, ...] = field(default=())  # what was (not) checked beyond the chain
    last_seq: int | None = None  # seq of the head (= checked when walked from entry 1)

    @property
    def head(self) -> str | None:
        seq = self.checked if self.last_seq is None else self.last_seq
        return f"{seq}:{self.head_hash}" if self.head_hash else None


# What the chain check reads: every hashed field (the payload as the exact stored text,
# ``payload_text``), the hash and the signature. CHAIN_COLUMNS adds the parsed payload.
VERIFY_COLUMNS = (AuditEntry.seq, AuditEntry.occurred_at, AuditEntry.recorded_at,
                  AuditEntry.actor, AuditEntry.kind, AuditEntry.case_id,
                  AuditEntry.person_ref, AuditEntry.summary,
                  type_coerce(AuditEntry.payload, Text).label("payload_text"),
                  AuditEntry.prev_hash, AuditEntry.hash, AuditEntry.hash_version,
                  AuditEntry.key_id, AuditEntry.signature)
CHAIN_COLUMNS = (*VERIFY_COLUMNS, AuditEntry.payload)


def iter_chain(session: Session, *, batch: int = 2000, case_id: int | None = None,
               columns=CHAIN_COLUMNS, after: int = 0, kinds: tuple[str, ...] = (),
               skip_kinds: tuple[str, ...] = ()) -> Iterator:
    """Yield audit rows (``columns`` as named tuples) in ``seq`` order, ``batch`` at a time,
    from the entry after ``after``; only ``kinds`` when given, never ``skip_kinds``.

    Keyset pagination: memory stays bounded by ``batch`` and no ORM objects are loaded,
    so the caller's session (and its identity map) is left as it was.
    """
    last_seq = after
    while True:
        query = select(*columns).where(AuditEntry.seq > last_seq)
        if case_id is not None:
            query = query.where(AuditEntry.case_id == case_id)
        if kinds:
            query = query.where(AuditEntry.kind.in_(kinds))
        if skip_kinds:
            query = query.where(AuditEntry.kind.not_in(skip_kinds))
        rows = session.execute(query.order_by(AuditEntry.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last_seq = rows[-1].seq


def _hashed_payload(entry, version: int) -> dict | str:
    """Version 3 hashes the stored text (``payload_text`` when read from the database,
    else re-encoded: canonical text parsed and encoded again is the same text)."""
    stored = getattr(entry, "payload_text", None)
    if version < 3:
        return entry.payload if hasattr(entry, "payload") else json.loads(stored)
    if stored is not None:
        return stored
    try:
        return canonical_text(entry.payload)
    except NotCanonical:
        return json.dumps(entry.payload, default=str)  # cannot match: reported as edited


def content_hash(entry) -> str:
    """Recompute :func:`entry_hash` from any object with the chain fields as attributes
    (``hash_version`` 2 covers ``recorded_at``, 3 hashes the canonical payload text; an
    object without it is version 1)."""
    version = getattr(entry, "hash_version", 1)
    return entry_hash(seq=entry.seq, occurred_at=entry.occurred_at, actor=entry.actor,
                      kind=entry.kind, case_id=entry.case_id, person_ref=entry.person_ref,
                      summary=entry.summary, payload=_hashed_payload(entry, version),
                      prev_hash=entry.prev_hash,
                      recorded_at=entry.recorded_at if version >= 2 else None)


def parse_head(text: str) -> tuple[int | None, str]:
    """``"SEQ:HASH"`` or ``"HASH"`` (as printed by ``iom audit verify``) -> (seq, hash)."""
    seq_text, _, digest = text.strip().rpartition(":")
    digest = digest.lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest) or (
            seq_text and not seq_text.isdigit()):
        raise InvalidInput(f"expected head as SEQ:HASH (64 hex digits), got {text!r}",
                           details={"field": "expect_head"})
    return (int(seq_text) if seq_text else None), digest


def _link_problem(entry, prev: str, expected_seq: int) -> tuple[int, str] | None:
    if entry.seq != expected_seq:
        return expected_seq, (f"entry {expected_seq} is missing or out of order "
                              f"(found entry {entry.seq} in its place)")
    if entry.prev_hash != prev:
        return entry.seq, "previous-hash link broken (entry removed, inserted or reordered)"
    if content_hash(entry) != entry.hash:
        return entry.seq, "content does not match its hash (entry edited)"
    return None


def _head_problem(head: tuple[int | None, str], last_seq: int, seen: dict[int, str],
                  found: bool) -> tuple[int | None, str] | None:
    seq, digest = head
    if seq is None:
        return None if found else (None, f"recorded head {digest[:12]} is not in the chain: "
                                         "entries were deleted from the end or rewritten")
    if seq > last_seq:
        return last_seq + 1, (f"the chain ends at entry {last_seq} but entry {seq} was "
                              "recorded as the head: entries were deleted from the end")
    if seen.get(seq) != digest:
        return seq, (f"entry {seq} is not the recorded head {digest[:12]}: the chain was "
                     "rewritten at or before this entry")
    return None


def walk(entries: Iterable, *, expect_head: str | None = None, checks=None,
         start: tuple[int, str] = (0, GENESIS)) -> VerifyResult:
    """Check a chain given in ``seq`` order (DB rows or parsed export lines).

    Reports the first entry missing, out of order, unlinked or edited. The chain alone
    cannot show that entries were removed from its *end* (or that the whole chain was
    recomputed): ``expect_head`` (``"SEQ:HASH"`` kept from an earlier run) can, and so
    can ``checks``, an object with ``entry(e) -> (seq, reason) | None``, ``end(last_seq)
    -> (seq, reason) | None`` and ``notes() -> tuple[str, ...]`` (signatures and signed
    checkpoints: ``workflow.audit_signing.SignatureCheck``). ``start`` = ``(seq, hash)`` of
    an entry already trusted, when ``entries`` begin after it (default: the beginning).
    """
    head = parse_head(expect_head) if expect_head else None
    prev, expected, checked, seen, found = start[1], start[0] + 1, 0, {}, False
    for entry in entries:
        problem = _link_problem(entry, prev, expected) or (checks and checks.entry(entry))
        if problem:
            return VerifyResult(False, checked, *problem)
        if head and (entry.seq == head[0] or entry.hash == head[1]):
            seen[entry.seq], found = entry.hash, found or entry.hash == head[1]
        prev, expected, checked = entry.hash, entry.seq + 1, checked + 1
    last = expected - 1
    problem = (_head_problem(head, last, seen, found) if head else None) or (
        checks and checks.end(last))
    if problem:
        return VerifyResult(False, checked, *problem)
    return VerifyResult(True, checked, head_hash=None if prev == GENESIS else prev,
                        notes=checks.notes() if checks else (), last_seq=last)


def verify(session: Session, *, batch: int = 5000, expect_head: str | None = None,
           checks=None) -> VerifyResult:
    """Walk the whole chain in order; report the first entry edited, deleted or reordered
    (and, with ``checks``, unsigned, forged or cut off: see :func:`walk`).

    Reads only (no ORM objects are loaded).
    """
    return walk(iter_chain(session, batch=batch, columns=VERIFY_COLUMNS),
                expect_head=expect_head, checks=checks)
