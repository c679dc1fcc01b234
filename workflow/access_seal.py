"""Tamper evidence for the access log: seal its rows in batches, and check the seals.

Reads are written to ``access_read`` by a plain INSERT (``workflow.sharing.access``),
outside the audit chain, so readers never wait for the chain's lock. :func:`seal` (a
scheduler job, ``scheduler/jobs.py``) then takes the unsealed rows in ``id`` order,
a batch at a time, hash-chains them (each row's hash covers every column and the
previous row's hash; the first row of the log starts from ``GENESIS``) and appends one
audit entry per batch, kind ``access.sealed``, signed like every entry, with payload
``{"after", "last", "count", "prev_hash", "hash"}``: batch N covers every row with
``after < id <= last``, and its ``prev_hash`` is batch N-1's ``hash``.

:func:`verify_access` recomputes every batch from the rows: a sealed row edited,
removed or added afterwards changes the batch's count or hash and is reported with the
seal's audit entry. Rows after the last seal are the *unsealed tail*, reported by count
(they are evidence only once sealed). :func:`with_access` adds that check to a chain
verification (``iom audit verify`` and the auditor's verify page). Offline:
:func:`export_access` writes the rows as JSON lines, :func:`verify_access_export` checks
such a file against the seals of a chain export (``iom audit export --access``,
``iom audit verify-export CHAIN --access FILE``).

Rows younger than ``settle_seconds`` are left for the next run: a row's id is taken at
INSERT but it is seen only at its transaction's commit, so sealing right up to the
newest id could seal past a read still being committed; that read would then lie
inside a sealed batch and be reported as added. Policy: ``[audit] access_seal_*``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import TextIO

from sqlalchemy import Text, select, text, type_coerce
from sqlalchemy.orm import Session

from db.models import AccessRead, AuditEntry
from workflow import audit
from workflow.errors import InvalidInput

SEAL_KIND = "access.sealed"
GENESIS = audit.GENESIS
ROW_COLUMNS = (AccessRead.id, AccessRead.at, AccessRead.actor, AccessRead.role,
               AccessRead.agency, AccessRead.what, AccessRead.purpose, AccessRead.via,
               AccessRead.case_id, AccessRead.person_ref,
               type_coerce(AccessRead.detail, Text).label("detail_text"),
               AccessRead.audit_seq)


def row_hash(row, prev: str) -> str:
    """SHA-256 of one access row (every column, ``detail`` as its stored text, times as
    UTC ISO with microseconds) and the previous row's hash, as canonical JSON."""
    content = {"id": row.id, "at": row.at.isoformat(timespec="microseconds"),
               "actor": row.actor, "role": row.role, "agency": row.agency,
               "what": row.what, "purpose": row.purpose, "via": row.via,
               "case_id": row.case_id, "person_ref": row.person_ref,
               "detail": row.detail_text, "audit_seq": row.audit_seq, "prev": prev}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Seal:
    """One ``access.sealed`` audit entry: rows ``after < id <= last``."""

    seq: int
    after: int
    last: int
    count: int
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, entry) -> Seal:
        p = entry.payload
        return cls(entry.seq, int(p["after"]), int(p["last"]), int(p["count"]),
                   str(p["prev_hash"]), str(p["hash"]))


# The kind as a literal, not a bound parameter: so PostgreSQL's plan for this query can
# always use the partial index ``ix_audit_entry_access_seal`` (migration 0015).
_IS_SEAL = text(f"audit_entry.kind = '{SEAL_KIND}'")


def last_seal(session: Session) -> Seal | None:
    entry = session.execute(select(AuditEntry.seq, AuditEntry.payload).where(
        _IS_SEAL).order_by(AuditEntry.seq.desc()).limit(1)).first()
    return Seal.of(entry) if entry else None


def _rows(session: Session, after: int, batch: int) -> Iterator:
    """Access rows with ``id > after`` in id order, ``batch`` a query (keyset)."""
    while True:
        rows = session.execute(select(*ROW_COLUMNS).where(AccessRead.id > after)
                               .order_by(AccessRead.id).limit(batch)).all()
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].id


def seal(session: Session, *, now: datetime, actor: str = "scheduler", batch: int = 5000,
         settle_seconds: int = 60, max_batches: int = 20) -> list[Seal]:
    """Seal up to ``max_batches`` batches of ``batch`` unsealed rows, in id order, that
    are at least ``settle_seconds`` old; one signed audit entry per batch (flushed, not
    committed). Idempotent: nothing to seal writes nothing. Holds the audit chain from
    the start, so two sealers (two scheduler processes) take turns and never seal one
    row twice."""
    audit.hold_chain(session)
    last = last_seal(session)
    after, prev = (last.last, last.hash) if last else (0, GENESIS)
    cutoff, sealed = now - timedelta(seconds=settle_seconds), []
    for _ in range(max_batches):
        rows = session.execute(select(*ROW_COLUMNS).where(AccessRead.id > after)
                               .order_by(AccessRead.id).limit(batch)).all()
        young = next((i for i, r in enumerate(rows) if r.at > cutoff), len(rows))
        rows = rows[:young]
        if not rows:
            break
        start = prev
        for row in rows:
            prev = row_hash(row, prev)
        entry = audit.record(
            session, kind=SEAL_KIND, actor=actor, occurred_at=now,
            summary=f"access log rows {rows[0].id}-{rows[-1].id} sealed ({len(rows)} reads)",
            payload={"after": after, "last": rows[-1].id, "count": len(rows),
                     "prev_hash": start, "hash": prev})
        sealed.append(Seal(entry.seq, after, rows[-1].id, len(rows), start, prev))
        after = rows[-1].id
        if young < batch:
            break
    session.flush()
    return sealed


@dataclass(frozen=True)
class AccessCheck:
    """What :func:`verify_access` found: ``checked`` rows in ``batches`` seals; the first
    bad seal's audit entry ``seq`` and why; ``unsealed`` rows after the last seal."""

    ok: bool
    checked: int
    batches: int
    unsealed: int
    bad_seq: int | None = None
    reason: str | None = None

    def note(self) -> str:
        tail = (f"; {self.unsealed} newest reads not sealed yet (sealed by the scheduler)"
                if self.unsealed else "; no unsealed reads")
        return (f"access log: {self.checked} reads in {self.batches} sealed batches match "
                f"their seals{tail}")


def _batch_problem(seal_: Seal, rows: list, expected_after: int, prev: str) -> str | None:
    if seal_.after != expected_after or seal_.prev_hash != prev:
        return (f"seal of access rows {seal_.after + 1}-{seal_.last} does not follow the "
                f"previous seal (a seal was removed or rewritten)")
    digest = prev
    for row in rows:
        digest = row_hash(row, digest)
    if len(rows) != seal_.count:
        return (f"access rows {seal_.after + 1}-{seal_.last}: {len(rows)} rows where "
                f"{seal_.count} were sealed (a read was removed or added after sealing)")
    if digest != seal_.hash:
        return (f"access rows {seal_.after + 1}-{seal_.last} do not match their seal (a "
                "sealed read was edited)")
    return None


def check_rows(seals: Iterable[Seal], rows: Iterable) -> AccessCheck:
    """Check ``rows`` (access rows in ``id`` order, with :data:`ROW_COLUMNS`' names)
    against ``seals`` (in order): each batch recomputed from the rows in its range;
    rows after the last seal are counted as unsealed. Memory: one batch."""
    rows = iter(rows)
    pending = next(rows, None)
    after, prev, checked, batches = 0, GENESIS, 0, 0
    for seal_ in seals:
        batch = []
        while pending is not None and pending.id <= seal_.last:
            batch.append(pending)
            pending = next(rows, None)
        problem = _batch_problem(seal_, batch, after, prev)
        if problem:
            return AccessCheck(False, checked, batches, 0, seal_.seq, problem)
        after, prev = seal_.last, seal_.hash
        checked, batches = checked + len(batch), batches + 1
    unsealed = 0 if pending is None else 1 + sum(1 for _ in rows)
    return AccessCheck(True, checked, batches, unsealed)


def verify_access(session: Session, *, batch: int = 5000) -> AccessCheck:
    """Recompute every sealed batch from the rows, in order; count the unsealed tail.
    Reads only. The seals themselves are audit entries: ``audit.verify`` checks them."""
    seals = (Seal.of(entry) for entry in audit.iter_chain(
        session, kinds=(SEAL_KIND,), columns=(AuditEntry.seq, AuditEntry.payload)))
    return check_rows(seals, _rows(session, 0, batch))


# --- offline: the access log exported next to the chain --------------------------------

EXPORT_FIELDS = ("id", "at", "actor", "role", "agency", "what", "purpose", "via",
                 "case_id", "person_ref", "detail", "audit_seq")


def export_access(session: Session, out: TextIO, *, batch: int = 5000) -> int:
    """Write every access row, in id order, as JSON lines (``detail`` as its stored text,
    so the file can be checked against the seals of a chain export); returns the count."""
    count = 0
    for row in _rows(session, 0, batch):
        data = {name: getattr(row, name) for name in EXPORT_FIELDS if name != "detail"}
        data["at"] = row.at.isoformat(timespec="microseconds")
        data["detail"] = row.detail_text
        out.write(json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n")
        count += 1
    return count


def _file_rows(fh: TextIO) -> Iterator[SimpleNamespace]:
    for number, line in enumerate(fh, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            data["at"] = datetime.fromisoformat(data["at"])
            data["detail_text"] = data.pop("detail")
            row = SimpleNamespace(**{k: data[k] for k in (*EXPORT_FIELDS[:-2], "audit_seq",
                                                          "detail_text")})
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"access log export, line {number}: unreadable ({exc})"
                               ) from exc
        yield row


def verify_access_export(path: str | Path, seals: Iterable[Seal]) -> AccessCheck:
    """Check an :func:`export_access` file against ``seals`` (the ``access.sealed``
    entries of a verified chain export); no database. Raises ``InvalidInput`` when the
    file cannot be read."""
    try:
        with open(path, encoding="utf-8") as fh:
            return check_rows(seals, _file_rows(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}") from exc


def with_access(session: Session, result: audit.VerifyResult) -> audit.VerifyResult:
    """``result`` of a chain verification with the access log's check added: its note,
    or, when a sealed batch does not match, a failure naming the seal's audit entry."""
    if not result.ok:
        return result
    check = verify_access(session)
    if not check.ok:
        return audit.VerifyResult(False, result.checked, check.bad_seq, check.reason,
                                  notes=result.notes)
    return audit.VerifyResult(True, result.checked, head_hash=result.head_hash,
                              notes=(*result.notes, check.note()), last_seq=result.last_seq)
