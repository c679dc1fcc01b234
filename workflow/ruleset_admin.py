"""The life of a rule set: draft -> test -> preview -> approve (a second team lead) ->
publish -> rollback. Every version is kept, identified by its content hash, with who,
when and why; every step is audited.

Rules of the road, enforced here (not in the views):

* a draft is stored only if it validates (:class:`rules.errors.RuleSetError` otherwise),
  so the version in force is never touched by a broken document;
* approval needs passing examples, a preview, and an approver other than the author;
* publishing takes effect at the next evaluation in every process (no cache to flush);
* rollback puts the previously published version back in force, recorded as such.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import RuleSetPublication, RuleSetVersion, User
from rules.document import load_document
from rules.engine import RuleEngine, default_engine
from rules.examples import ExampleResult, run_examples
from workflow import audit
from workflow.errors import Conflict, Forbidden, InvalidInput, NotFound
from workflow.rulesets import document_of, published_row

AUTHORS = ("team_lead", "admin")


def _require_author(user: User, what: str) -> None:
    if user.role not in AUTHORS:
        raise Forbidden(f"only a team lead may {what}", details={"role": user.role})


def _audit(session: Session, row: RuleSetVersion, kind: str, *, actor: str, now: datetime,
           summary: str, **extra) -> None:
    audit.record(session, kind=kind, actor=actor, occurred_at=now, summary=summary,
                 payload={"ruleset": row.name, "version": row.version, **extra})


def find_version(session: Session, name: str, version: str | None = None) -> RuleSetVersion:
    """A stored version by name and hash prefix (>= 6 characters); the newest if omitted."""
    query = select(RuleSetVersion).where(RuleSetVersion.name == name)
    if version:
        if len(version) < 6:
            raise InvalidInput("give at least 6 characters of the version hash",
                               details={"field": "version"})
        # autoescape: "_" and "%" are characters of the prefix, not LIKE wildcards
        query = query.where(RuleSetVersion.version.startswith(version, autoescape=True))
    rows = session.scalars(query.order_by(RuleSetVersion.id.desc())).all()
    if not rows:
        raise NotFound(f"rule set {name}{'@' + version if version else ''} not found")
    if version and len(rows) > 1:
        raise InvalidInput(f"version prefix {version} is ambiguous", details={"field": "version"})
    return rows[0]


def save_draft(session: Session, text: str, *, file: str, user: User, now: datetime,
               reason: str) -> RuleSetVersion:
    """Validate ``text`` and store it as a draft (idempotent for identical content).

    Raises :class:`rules.errors.RuleSetError` with every problem; nothing is stored then.
    """
    _require_author(user, "draft a rule set")
    if not reason.strip():
        raise InvalidInput("say why the rule set changes", details={"field": "reason"})
    doc = load_document(text, file=file)
    existing = session.scalar(select(RuleSetVersion).where(
        RuleSetVersion.name == doc.name, RuleSetVersion.version == doc.version))
    if existing is not None:
        return existing
    row = RuleSetVersion(name=doc.name, version=doc.version, stage=",".join(doc.stages),
                         document=text, status="draft", reason=reason,
                         created_by=user.username, created_at=now)
    session.add(row)
    session.flush()
    _audit(session, row, "ruleset.drafted", actor=user.username, now=now, reason=reason,
           summary=f"Draft {doc.name} version {doc.version[:12]} saved by {user.username}: "
                   f"{reason}")
    return row


def check_examples(session: Session, row: RuleSetVersion, *, now: datetime, actor: str,
                 engine: RuleEngine | None = None) -> list[ExampleResult]:
    """Run the document's examples through the real engine and record the result."""
    results = run_examples(document_of(row), engine or default_engine())
    row.tested_at, row.tested_ok = now, bool(results) and all(r.passed for r in results)
    failed = [r.describe() for r in results if not r.passed]
    _audit(session, row, "ruleset.tested", actor=actor, now=now, passed=row.tested_ok,
           examples=len(results), failures=failed,
           summary=f"Examples of {row.name} {row.version[:12]}: "
                   f"{len(results) - len(failed)}/{len(results)} passed")
    session.flush()
    return results


def mark_previewed(session: Session, row: RuleSetVersion, *, now: datetime, actor: str,
                   counts: dict) -> None:
    """Record that a preview of ``row`` was produced (evidence for approval)."""
    row.previewed_at, row.previewed_by = now, actor
    _audit(session, row, "ruleset.previewed", actor=actor, now=now, counts=counts,
           summary=f"Impact of {row.name} {row.version[:12]} previewed by {actor}: "
                   + (", ".join(f"{k}: {v}" for k, v in counts.items()) or "no change"))
    session.flush()


def approve(session: Session, row: RuleSetVersion, *, user: User, now: datetime,
            reason: str) -> RuleSetVersion:
    """Four-eyes approval. Raises :class:`Forbidden` or :class:`Conflict` with the reason."""
    _require_author(user, "approve a rule set")
    if row.status != "draft":
        raise Conflict(f"{row.name} {row.version[:12]} is {row.status}, not a draft")
    if user.username == row.created_by:
        raise Forbidden("a second team lead must approve: you wrote this draft",
                        details={"author": row.created_by})
    if not row.tested_ok:
        raise Conflict("run the examples first (iom rules test): they must all pass",
                       details={"tested_at": row.tested_at, "tested_ok": row.tested_ok})
    if row.previewed_at is None:
        raise Conflict("preview the impact on the live caseload first (iom rules preview)")
    row.status, row.approved_by, row.approved_at = "approved", user.username, now
    _audit(session, row, "ruleset.approved", actor=user.username, now=now, reason=reason,
           summary=f"{row.name} {row.version[:12]} approved by {user.username}: {reason}")
    session.flush()
    return row


def _put_in_force(session: Session, row: RuleSetVersion, *, kind: str, user: User,
                  now: datetime, reason: str) -> None:
    for other in session.scalars(select(RuleSetVersion).where(
            RuleSetVersion.name == row.name, RuleSetVersion.status == "published",
            RuleSetVersion.id != row.id)):
        other.status = "retired"
    row.status, row.published_by, row.published_at = "published", user.username, now
    session.add(RuleSetPublication(name=row.name, version=row, kind=kind, published_at=now,
                                   recorded_at=now, actor=user.username, reason=reason))
    session.flush()


def publish(session: Session, row: RuleSetVersion, *, user: User, now: datetime,
            reason: str) -> RuleSetVersion:
    """Put an approved version in force from ``now`` on."""
    _require_author(user, "publish a rule set")
    if row.status != "approved":
        raise Conflict(f"{row.name} {row.version[:12]} is {row.status}: only an approved "
                       "version can be published")
    _put_in_force(session, row, kind="publish", user=user, now=now, reason=reason)
    _audit(session, row, "ruleset.published", actor=user.username, now=now, reason=reason,
           summary=f"{row.name} {row.version[:12]} published by {user.username}: {reason}")
    return row


def rollback(session: Session, name: str, *, user: User, now: datetime, reason: str
             ) -> RuleSetVersion:
    """Put back in force the version that was in force before the current one."""
    _require_author(user, "roll back a rule set")
    current = published_row(session, name)
    previous = session.scalars(
        select(RuleSetPublication).where(RuleSetPublication.name == name,
                                         RuleSetPublication.version_id != current.id)
        .order_by(RuleSetPublication.published_at.desc(), RuleSetPublication.id.desc())
    ).first()
    if previous is None:
        raise Conflict(f"{name} has no earlier published version to roll back to")
    target = previous.version
    _put_in_force(session, target, kind="rollback", user=user, now=now, reason=reason)
    _audit(session, target, "ruleset.rolled_back", actor=user.username, now=now,
           reason=reason, replaced=current.version,
           summary=f"{name} rolled back from {current.version[:12]} to "
                   f"{target.version[:12]} by {user.username}: {reason}")
    return target


def history(session: Session, name: str) -> tuple[list[RuleSetVersion], list[RuleSetPublication]]:
    """Every stored version (newest first) and every publication of ``name``."""
    versions = session.scalars(select(RuleSetVersion).where(RuleSetVersion.name == name)
                               .order_by(RuleSetVersion.id.desc())).all()
    if not versions:
        raise NotFound(f"rule set {name!r} not found")
    publications = session.scalars(select(RuleSetPublication).where(
        RuleSetPublication.name == name).order_by(RuleSetPublication.published_at.desc(),
                                                  RuleSetPublication.id.desc())).all()
    return list(versions), list(publications)
