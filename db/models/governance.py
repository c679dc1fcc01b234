"""Users, rule-set versions and the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, JSONType, UTCDateTime, utcnow
from db.canonical import CanonicalJSONText

ROLES = ("team_lead", "offender_manager", "police", "resettlement_officer", "auditor", "admin")
# The partnership's agencies, spelled as stored (NPS/CRC as the probation providers spell
# themselves in supervision files). The one vocabulary of workflow/agencies.py; rules/
# (which may not import db/) keeps an equal copy, checked by tests/test_agencies.py.
AGENCIES = ("police", "NPS", "CRC", "local_authority", "housing", "health", "mental_health",
            "substance_misuse", "employment", "yos", "prison")
# A resettlement officer works one pathway; the pathway is the officer's agency.
RESETTLEMENT_PATHWAYS = ("housing", "employment", "mental_health")


class User(Base):
    __tablename__ = "app_user"
    __table_args__ = (Index("ix_app_user_agency", "agency"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20))
    agency: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(200))
    # SHA-256 of a 256-bit random token: tokens are never stored in clear.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Every token expires ([server] token_days); rotate gives a new one, revoke none.
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # argon2id hash of the web password (workflow/passwords.py); None: no web sign-in.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignInAttempt(Base):
    """One web sign-in attempt, kept so that lock-outs hold across restarts and processes."""

    __tablename__ = "sign_in_attempt"
    __table_args__ = (Index("ix_sign_in_attempt_who_at", "username", "address", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(60))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    succeeded: Mapped[bool] = mapped_column()


class RuleSetVersion(Base):
    """One immutable version of a rule-set document, identified by its content hash."""

    __tablename__ = "ruleset_version"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_ruleset_version_name_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    version: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(120))  # comma-separated stages
    document: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))  # draft / approved / published / retired
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(String(60))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[str | None] = mapped_column(String(60))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Evidence required before approval: the examples passed, a preview was looked at.
    tested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tested_ok: Mapped[bool | None]
    previewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    previewed_by: Mapped[str | None] = mapped_column(String(60))


class AuditEntry(Base):
    """Append-only, hash-chained record. ``hash`` covers ``prev_hash`` and every field
    (``recorded_at`` from ``hash_version`` 2; the stored payload text from 3). ``key_id``
    and ``signature`` (HMAC-SHA256 of seq and hash, key outside the database) are not
    hashed: they are checked against the key file (workflow/audit_signing.py)."""

    __tablename__ = "audit_entry"
    # No index by actor (dropped in 0017): one user's reads are listed from
    # access_read, and nothing looks audit entries up by actor.
    __table_args__ = (Index("ix_audit_entry_case", "case_id", "seq"),
                      # The access log's seals (workflow/access_seal.py): the last one is
                      # found without walking back over every entry appended since.
                      Index("ix_audit_entry_access_seal", "seq",
                            postgresql_where=text("kind = 'access.sealed'"),
                            sqlite_where=text("kind = 'access.sealed'")))

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                      primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[int | None] = mapped_column(Integer)  # no FK: survives case deletion
    person_ref: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    # Canonical JSON text on every backend (db/canonical.py): given back byte-for-byte.
    payload: Mapped[dict] = mapped_column(CanonicalJSONText)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # What ``hash`` covers: 1 = every field but recorded_at (entries before migration
    # 0007), 2 = recorded_at too, 3 = the payload as its stored canonical text (0009).
    hash_version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    key_id: Mapped[str | None] = mapped_column(String(40))
    signature: Mapped[str | None] = mapped_column(String(64))


class ImportBatch(Base):
    """One CSV import: what came in, how many rows were applied or refused."""

    __tablename__ = "import_batch"
    __table_args__ = (Index("ix_import_batch_kind_id", "kind", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(260))
    sha256: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(60))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_created: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list | None] = mapped_column(JSONType)



