"""Signatures and signed checkpoints: a chain that cannot be quietly cut or extended.

The hash chain shows edits in the middle; it cannot show entries removed from its end,
a chain re-hashed from some entry on, or an entry appended with a valid hash. Those
need a secret the database does not hold:

* **Keys** (:class:`KeyRing`): HMAC-SHA256 keys in a file outside the database
  (``[audit] key_file``), one ``KEY_ID HEX_SECRET`` a line; the last line signs, older
  lines stay to check what they signed (rotation = append a line: ``iom audit keygen``).
* **Entry signatures**: every entry written with a key carries ``key_id`` and
  ``signature`` = HMAC(key, ``iom-audit-entry|SEQ|HASH``). Once one entry is signed,
  every later entry must be.
* **Checkpoints**: ``SEQ, HASH, AT, KEY_ID`` of the head, signed, appended as one JSON
  line to ``checkpoints.jsonl`` in ``[audit] checkpoint_dir`` (where the auditor keeps
  them) by ``iom audit checkpoint`` and by the scheduler, after verifying the chain.

:class:`SignatureCheck` plugs into :func:`workflow.audit.walk`: an unsigned, wrongly
signed or unknown-key entry, an entry that differs from a checkpoint, and a chain that
ends before the last checkpoint are each reported with the entry's seq.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AuditEntry
from workflow import audit
from workflow.errors import ConfigError

CHECKPOINT_FILE = "checkpoints.jsonl"
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
_MIN_SECRET_BYTES = 32


@dataclass(frozen=True)
class KeyRing:
    """Signing keys by id; ``current`` signs (None: no key, nothing is signed)."""

    keys: dict[str, bytes] = field(default_factory=dict)
    current: str | None = None
    source: str = ""
    missing: str | None = None  # why there is no key, for messages

    def _mac(self, key_id: str, message: str) -> str | None:
        key = self.keys.get(key_id)
        if key is None:
            return None
        # The same HMAC-SHA256 from a copy of the key's prepared state (a chunk signs
        # thousands: the key's padding is hashed once, not once an entry).
        mac = _prepared(key).copy()
        mac.update(message.encode())
        return mac.hexdigest()

    def sign_entry(self, seq: int, digest: str) -> tuple[str, str]:
        return self.current, self._mac(self.current, _entry_message(seq, digest))

    def check_entry(self, key_id: str, seq: int, digest: str, signature: str) -> bool | None:
        """True/False; None when ``key_id`` is not in the ring."""
        expected = self._mac(key_id, _entry_message(seq, digest))
        return None if expected is None else hmac.compare_digest(expected, signature or "")


@lru_cache(maxsize=64)
def _prepared(key: bytes) -> hmac.HMAC:
    """An HMAC-SHA256 of ``key`` over nothing yet: copied, never updated itself."""
    return hmac.new(key, digestmod=hashlib.sha256)


def _entry_message(seq: int, digest: str) -> str:
    return f"iom-audit-entry|{seq}|{digest}"


def _checkpoint_message(seq: int, digest: str, at: str, key_id: str) -> str:
    return f"iom-audit-checkpoint|{seq}|{digest}|{at}|{key_id}"


def _parse_key_line(line: str, number: int, path: Path) -> tuple[str, bytes]:
    parts = line.split()
    try:
        key_id, secret = parts
        key = bytes.fromhex(secret)
    except ValueError as exc:
        raise ConfigError(f"{path} line {number}: expected 'KEY_ID HEX_SECRET'") from exc
    if not _KEY_ID.match(key_id):
        raise ConfigError(f"{path} line {number}: key id {key_id!r}: letters, digits, "
                          "'.', '_' or '-', at most 40")
    if len(key) < _MIN_SECRET_BYTES:
        raise ConfigError(f"{path} line {number}: secret shorter than "
                          f"{_MIN_SECRET_BYTES} bytes")
    return key_id, key


def load_keyring(key_file: str) -> KeyRing:
    """The keys in ``key_file``. No file configured or found: an empty ring (the service
    runs unsigned, verify says so). A malformed file: :class:`ConfigError`."""
    if not key_file:
        return KeyRing(missing="audit.key_file is not set")
    path = Path(key_file)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return KeyRing(source=str(path), missing=f"key file {path} not found")
    except OSError as exc:
        raise ConfigError(f"audit.key_file {path}: cannot read: {exc}") from exc
    keys: dict[str, bytes] = {}
    for number, line in enumerate(lines, start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            key_id, key = _parse_key_line(line, number, path)
            if key_id in keys:
                raise ConfigError(f"{path} line {number}: key id {key_id!r} given twice")
            keys[key_id] = key
    if not keys:
        return KeyRing(source=str(path), missing=f"key file {path} holds no key")
    return KeyRing(keys, current=list(keys)[-1], source=str(path))


def generate_key(key_file: str | os.PathLike, now: datetime) -> str:
    """Append a new random key to ``key_file`` (created mode 0600): it signs from now on,
    older keys stay to check older signatures. Returns the new key id."""
    path = Path(key_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    key_id = f"{now:%Y%m%d}-{secrets.token_hex(4)}"
    new = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        if new:
            fh.write("# IOM audit signing keys: KEY_ID HEX_SECRET; the last line signs.\n"
                     "# Keep this file out of the database and its backups. Never commit it.\n")
        fh.write(f"{key_id} {secrets.token_hex(32)}\n")
    return key_id


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: str
    key_id: str
    signature: str

    def line(self) -> str:
        return json.dumps({"seq": self.seq, "hash": self.hash, "at": self.at,
                           "key_id": self.key_id, "signature": self.signature},
                          sort_keys=True) + "\n"


def read_checkpoints(directory: str | os.PathLike, keyring: KeyRing
                     ) -> tuple[list[Checkpoint], str | None]:
    """The checkpoints in ``directory`` (none if there is no file) and the first problem
    (an unreadable line, an unknown key, a signature that does not match)."""
    path = Path(directory) / CHECKPOINT_FILE
    if not path.exists():
        return [], None
    found = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"checkpoint file {path} line {number}"
            try:
                data = json.loads(line)
                cp = Checkpoint(int(data["seq"]), str(data["hash"]), str(data["at"]),
                                str(data["key_id"]), str(data["signature"]))
            except (ValueError, KeyError, TypeError) as exc:
                return found, f"{where}: unreadable ({exc})"
            expected = keyring._mac(cp.key_id, _checkpoint_message(cp.seq, cp.hash, cp.at,
                                                                    cp.key_id))
            if expected is None:
                return found, f"{where}: signed with key {cp.key_id!r}, not in the key file"
            if not hmac.compare_digest(expected, cp.signature):
                return found, f"{where}: signature does not match (forged or edited)"
            found.append(cp)
    return found, None


class SignatureCheck:
    """Per-entry signature and checkpoint checks for :func:`workflow.audit.walk`."""

    def __init__(self, keyring: KeyRing, checkpoints: list[Checkpoint]):
        self.keyring, self.checkpoints = keyring, checkpoints
        self.by_seq = {cp.seq: cp for cp in checkpoints}
        self.signed = self.unsigned = 0

    def entry(self, e) -> tuple[int, str] | None:
        if e.signature is None:
            if self.signed:
                return e.seq, ("not signed, although earlier entries are: written without "
                               "the signing key, or forged")
            self.unsigned += 1
        else:
            valid = self.keyring.check_entry(e.key_id, e.seq, e.hash, e.signature)
            if valid is None:
                return e.seq, (f"signed with key {e.key_id!r}, which is not in the key "
                               f"file {self.keyring.source}")
            if not valid:
                return e.seq, ("signature does not match: entry forged, or the chain "
                               "re-hashed without the key")
            self.signed += 1
        cp = self.by_seq.get(e.seq)
        if cp is not None and cp.hash != e.hash:
            return e.seq, (f"differs from the signed checkpoint of {cp.at}: the chain was "
                           "rewritten at or before this entry")
        return None

    def end(self, last_seq: int) -> tuple[int, str] | None:
        top = max(self.checkpoints, key=lambda cp: cp.seq, default=None)
        if top is not None and top.seq > last_seq:
            return last_seq + 1, (f"the chain ends at entry {last_seq} but the signed "
                                  f"checkpoint of {top.at} records entry {top.seq}: "
                                  "entries were removed from the end")
        return None

    def notes(self) -> tuple[str, ...]:
        out = [f"signatures checked: {self.signed} entries signed"]
        if self.unsigned:
            out.append(f"{self.unsigned} entries from before signing began are not signed")
        top = max(self.checkpoints, key=lambda cp: cp.seq, default=None)
        out.append(f"{len(self.checkpoints)} signed checkpoints checked (latest: entry "
                   f"{top.seq} at {top.at})" if top else
                   "no signed checkpoint yet: run 'iom audit checkpoint'")
        return tuple(out)


def unchecked_note(keyring: KeyRing) -> str:
    return (f"WARNING: signatures and checkpoints NOT checked ({keyring.missing}): removal "
            "of the newest entries, a re-hashed chain or an appended entry would not be "
            "detected. Create a key with 'iom audit keygen'.")


def verify_signed(session: Session, keyring: KeyRing, checkpoint_dir: str | os.PathLike,
                  *, expect_head: str | None = None) -> audit.VerifyResult:
    """:func:`workflow.audit.verify` plus signatures and signed checkpoints when there is
    a key; without one, the chain alone, with a note saying what was not checked."""
    if not keyring.current:
        result = audit.verify(session, expect_head=expect_head)
        return audit.VerifyResult(result.ok, result.checked, result.first_bad_seq,
                                  result.reason, result.head_hash,
                                  notes=(unchecked_note(keyring),))
    checkpoints, problem = read_checkpoints(checkpoint_dir, keyring)
    if problem:
        return audit.VerifyResult(False, 0, None, problem)
    return audit.verify(session, expect_head=expect_head,
                        checks=SignatureCheck(keyring, checkpoints))


def _since_checkpoint(session: Session, keyring: KeyRing, anchor: Checkpoint
                      ) -> audit.VerifyResult:
    """Check only what was written after ``anchor`` (the latest checkpoint): that its
    entry is still there, unchanged and validly signed, then every later entry. What
    lies before it is covered by the checkpoints and by ``iom audit verify``."""
    row = session.execute(select(*audit.VERIFY_COLUMNS).where(
        AuditEntry.seq == anchor.seq)).first()
    check = SignatureCheck(keyring, [anchor])
    if row is None:
        return audit.VerifyResult(False, 0, anchor.seq, f"entry {anchor.seq}, recorded by "
                                  f"the signed checkpoint of {anchor.at}, is gone")
    problem = check.entry(row) or (None if audit.content_hash(row) == row.hash else (
        row.seq, "content does not match its hash (entry edited)"))
    if problem:
        return audit.VerifyResult(False, 0, *problem)
    return audit.walk(audit.iter_chain(session, batch=5000, columns=audit.VERIFY_COLUMNS,
                                       after=anchor.seq),
                      checks=check, start=(anchor.seq, anchor.hash))


def write_checkpoint(session: Session, keyring: KeyRing, checkpoint_dir: str | os.PathLike,
                     *, now: datetime | None = None, full: bool = False
                     ) -> tuple[Checkpoint | None, audit.VerifyResult]:
    """Verify the chain, then append a signed checkpoint of its head (fsync'd).

    Verifies what was written since the latest checkpoint (``full``: the whole chain,
    as the first checkpoint always does). Returns ``(checkpoint, result)``: no
    checkpoint when the check fails (a broken chain is never blessed), when the chain is
    empty, or when its head is already checkpointed (a periodic job is idempotent).
    Needs a key (ConfigError).
    """
    if not keyring.current:
        raise ConfigError(f"no audit signing key ({keyring.missing}): cannot sign a "
                          "checkpoint; create one with 'iom audit keygen'")
    existing, problem = read_checkpoints(checkpoint_dir, keyring)
    if problem:
        return None, audit.VerifyResult(False, 0, None, problem)
    anchor = max(existing, key=lambda cp: cp.seq, default=None)
    result = (_since_checkpoint(session, keyring, anchor) if anchor and not full else
              audit.verify(session, checks=SignatureCheck(keyring, existing)))
    if not result.ok or result.head_hash is None or (
            anchor and (anchor.seq, anchor.hash) == (result.last_seq, result.head_hash)):
        return None, result
    at = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    seq, digest, key_id = result.last_seq, result.head_hash, keyring.current
    cp = Checkpoint(seq, digest, at, key_id, keyring._mac(
        key_id, _checkpoint_message(seq, digest, at, key_id)))
    directory = Path(checkpoint_dir)
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / CHECKPOINT_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        os.write(fd, cp.line().encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return cp, result
