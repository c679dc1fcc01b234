"""The sharing agreement in force, looked up in the database at each use.

Stored as versions of the reserved name :data:`AGREEMENT_NAME` (stage ``sharing``), so it
has the rule-set life of ``workflow.ruleset_admin``: draft, check, preview (what each
agency and role would see of a sample case), approval by a second team lead,
publication, rollback, as-of. The shipped default (``default_agreement.yaml``) is seeded
by ``iom db upgrade`` (:func:`seed_agreement`) and used until one is stored.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import RuleSetVersion
from rules.examples import ExampleResult
from workflow.errors import NotFound
from workflow.rulesets import (
    SHIPPED_IN_FORCE_FROM,
    parsed_once,
    publish_shipped,
    published_document,
    published_row,
)
from workflow.sharing.agreement import (
    AGREEMENT_NAME,
    AGREEMENT_STAGE,
    AgreementDocument,
    default_agreement,
    load_agreement,
)
from workflow.sharing.groups import AGENCIES, PURPOSES, ROLES

_parsed: dict[str, AgreementDocument] = {}
_lock = threading.Lock()


def agreement_document_of(row: RuleSetVersion) -> AgreementDocument:
    """The parsed agreement of a stored version (cached by content hash)."""
    return parsed_once(row, _parsed, _lock, load_agreement)


def agreement_row(session: Session, *, on: datetime | None = None) -> RuleSetVersion | None:
    """The stored agreement version in force at ``on`` (latest when None), or None."""
    try:
        return published_row(session, AGREEMENT_NAME, on=on)
    except NotFound:
        return None


def agreement_in_force(session: Session, now: datetime) -> AgreementDocument:
    """The agreement in force at ``now``; the shipped default when none was yet. From the
    published-documents cache (``workflow.rulesets.published_document``: checked once a
    transaction against the publication table, so a publication by any process is seen
    by the next transaction), not two queries and the document's text every read."""
    try:
        return published_document(session, AGREEMENT_NAME, on=now,
                                  parse=agreement_document_of)
    except NotFound:
        return default_agreement()


def seed_agreement(session: Session, *, now: datetime, actor: str = "system") -> str | None:
    """Publish the shipped default agreement if none is stored (in force from
    :data:`SHIPPED_IN_FORCE_FROM`, recorded at ``now``); returns its version or None."""
    if session.scalar(select(RuleSetVersion.id).where(
            RuleSetVersion.name == AGREEMENT_NAME).limit(1)) is not None:
        return None
    doc = default_agreement()
    in_force = datetime.combine(SHIPPED_IN_FORCE_FROM, time(), tzinfo=UTC)
    publish_shipped(session, name=AGREEMENT_NAME, version=doc.version, stage=AGREEMENT_STAGE,
                    text=doc.text, in_force=in_force, now=now, actor=actor,
                    reason="shipped default information sharing agreement",
                    summary=f"Sharing agreement version {doc.version[:12]} published "
                            f"(shipped default, in force from {in_force.date()})")
    session.flush()
    return doc.version


def agreement_checks(row: RuleSetVersion) -> list[ExampleResult]:
    """The agreement's "examples": it resolves for every agency, role and purpose, and
    every withheld group has someone to ask."""
    doc = agreement_document_of(row)
    missing = sorted({group for agency in (*AGENCIES, None) for role in ROLES
                      for purpose in PURPOSES
                      for group, level in doc.levels(agency, role, purpose).items()
                      if level == "mask" and not doc.ask_for(group).strip()})
    return [ExampleResult(AGREEMENT_NAME, "resolves for every agency, role and purpose; "
                          "every masked group names whom to ask", None, None, None, (),
                          f"no one to ask for {', '.join(missing)}" if missing else None)]
