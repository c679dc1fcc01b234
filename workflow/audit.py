"""The append-only, hash-chained audit log.

Each entry's ``hash`` is SHA-256 over its canonical content and the previous entry's
hash; ``seq`` is assigned as previous + 1, so two writers racing for the same position
collide on the primary key instead of forking the chain. On PostgreSQL appenders are
serialised by a transaction-scoped advisory lock.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from db.models import AuditEntry

GENESIS = "0" * 64
_LOCK_KEY = 0x10A_A0D1  # advisory lock id for the audit chain


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def entry_hash(*, seq: int, occurred_at: datetime, actor: str, kind: str,
               case_id: int | None, person_ref: str | None, summary: str, payload: dict,
               prev_hash: str) -> str:
    """The chain hash of one entry (stable across backends: canonical JSON, UTC ISO times)."""
    content = {
        "seq": seq, "occurred_at": _iso(occurred_at), "actor": actor, "kind": kind,
        "case_id": case_id, "person_ref": person_ref, "summary": summary,
        "payload": payload, "prev_hash": prev_hash,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def record(session: Session, *, kind: str, actor: str, occurred_at: datetime, summary: str,
           payload: dict, case_id: int | None = None, person_ref: str | None = None
           ) -> AuditEntry:
    """Append one entry to the chain and flush. ``payload`` must be JSON-serialisable."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    last = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
    payload = json.loads(json.dumps(payload, default=str))  # what the database will return
    entry = AuditEntry(
        seq=seq, occurred_at=occurred_at, actor=actor, kind=kind, case_id=case_id,
        person_ref=person_ref, summary=summary, payload=payload, prev_hash=prev,
        hash=entry_hash(seq=seq, occurred_at=occurred_at, actor=actor, kind=kind,
                        case_id=case_id, person_ref=person_ref, summary=summary,
                        payload=payload, prev_hash=prev),
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None


def verify(session: Session, *, batch: int = 5000) -> VerifyResult:
    """Walk the whole chain in order; report the first entry edited, deleted or reordered."""
    prev, expected_seq, checked = GENESIS, 1, 0
    last_seq = 0
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.seq > last_seq)
            .order_by(AuditEntry.seq).limit(batch)
        ).all()
        if not rows:
            return VerifyResult(True, checked)
        for e in rows:
            if e.seq != expected_seq:
                return VerifyResult(False, checked, expected_seq,
                                    f"entry {expected_seq} is missing (next is {e.seq})")
            if e.prev_hash != prev:
                return VerifyResult(False, checked, e.seq,
                                    "previous-hash link broken (entry removed or reordered)")
            actual = entry_hash(seq=e.seq, occurred_at=e.occurred_at, actor=e.actor,
                                kind=e.kind, case_id=e.case_id, person_ref=e.person_ref,
                                summary=e.summary, payload=e.payload, prev_hash=e.prev_hash)
            if actual != e.hash:
                return VerifyResult(False, checked, e.seq, "content does not match its hash "
                                    "(entry edited)")
            prev, expected_seq, checked, last_seq = e.hash, e.seq + 1, checked + 1, e.seq
        session.expunge_all()
