"""The life of a rule set: draft -> test -> preview -> approve (a second team lead) ->
publish -> rollback. Every version is kept, identified by its content hash, with who,
when and why; every step is audited.

Rules of the road, enforced here (not in the views):

* a draft is stored only if it validates (:class:`rules.errors.RuleSetError` otherwise),
  so the version in force is never touched by a broken document;
* approval needs passing examples, a preview, and an approver other than the author;
* publishing takes effect at the next evaluation in every process (no cache to flush);
* rollback puts the previously published version back in force, recorded as such.

The stage policy (``workflow/policy``) is stored and lived the same way under the
reserved name ``stage-policy``: its "examples" are the check that every rule set it
names is published and written for a stage of its purpose. So is the information
sharing agreement (``workflow/sharing``, reserved name ``sharing-agreement``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import RuleSetPublication, RuleSetVersion, User
from rules.document import load_document
from rules.engine import RuleEngine, default_engine
from rules.errors import Problem, RuleSetError
from rules.examples import ExampleResult, run_examples
from workflow import audit, rulesets
from workflow.errors import Conflict, Forbidden, InvalidInput, NotFound
from workflow.policy.document import POLICY_NAME, is_policy_text, load_policy
from workflow.policy.store import POLICY_STAGE, policy_document_of, reference_problems
from workflow.rulesets import document_of, publications_changed, published_row
from workflow.sharing.agreement import (
    AGREEMENT_NAME,
    AGREEMENT_STAGE,
    is_agreement_text,
    load_agreement,
)
from workflow.sharing.store import agreement_checks

AUTHORS = ("team_lead", "admin")


def require_author(user: User, what: str) -> None:
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


def is_policy(row: RuleSetVersion) -> bool:
    """True for a version of the stage policy (not a rule set)."""
    return row.name == POLICY_NAME


def _load(session: Session, text: str, *, file: str, now: datetime):
    """``(name, version, stage column)`` of a validated rule set or stage policy."""
    if is_policy_text(text):
        policy = load_policy(text, file=file)
        problems = reference_problems(session, policy, now=now, file=file)
        if problems:
            raise RuleSetError(problems)
        return POLICY_NAME, policy.version, POLICY_STAGE
    if is_agreement_text(text):
        return AGREEMENT_NAME, load_agreement(text, file=file).version, AGREEMENT_STAGE
    doc = load_document(text, file=file)
    if doc.name in (POLICY_NAME, AGREEMENT_NAME):
        raise RuleSetError([Problem(file, None, "name", f"{doc.name} is reserved for the "
                                    "stage policy and the sharing agreement (kind: "
                                    f"{doc.name})")])
    return doc.name, doc.version, ",".join(doc.stages)


def save_draft(session: Session, text: str, *, file: str, user: User, now: datetime,
               reason: str) -> RuleSetVersion:
    """Validate ``text`` (a rule set, or the stage policy: ``kind: stage-policy``) and
    store it as a draft (idempotent for identical content).

    Raises :class:`rules.errors.RuleSetError` with every problem; nothing is stored then.
    """
    require_author(user, "draft a rule set")
    if not reason.strip():
        raise InvalidInput("say why the rule set changes", details={"field": "reason"})
    name, version, stage = _load(session, text, file=file, now=now)
    existing = session.scalar(select(RuleSetVersion).where(
        RuleSetVersion.name == name, RuleSetVersion.version == version))
    if existing is not None:
        return existing
    row = RuleSetVersion(name=name, version=version, stage=stage,
                         document=text, status="draft", reason=reason,
                         created_by=user.username, created_at=now)
    session.add(row)
    session.flush()
    _audit(session, row, "ruleset.drafted", actor=user.username, now=now, reason=reason,
           summary=f"Draft {name} version {version[:12]} saved by {user.username}: "
                   f"{reason}")
    return row


def check_examples(session: Session, row: RuleSetVersion, *, now: datetime, actor: str,
                 engine: RuleEngine | None = None) -> list[ExampleResult]:
    """Run the document's examples through the real engine and record the result (for
    the stage policy: check every rule set it names is published and fits its stage)."""
    if is_policy(row):
        results = _policy_checks(session, row, now=now)
    elif row.name == AGREEMENT_NAME:
        results = agreement_checks(row)
    else:
        results = run_examples(document_of(row), engine or default_engine())
    row.tested_at, row.tested_ok = now, bool(results) and all(r.passed for r in results)
    failed = [r.describe() for r in results if not r.passed]
    _audit(session, row, "ruleset.tested", actor=actor, now=now, passed=row.tested_ok,
           examples=len(results), failures=failed,
           summary=f"Examples of {row.name} {row.version[:12]}: "
                   f"{len(results) - len(failed)}/{len(results)} passed")
    session.flush()
    return results


def _policy_checks(session: Session, row: RuleSetVersion, *, now: datetime
                   ) -> list[ExampleResult]:
    problems = reference_problems(session, policy_document_of(row), now=now,
                                  file=f"{row.name}@{row.version[:12]}")
    return [ExampleResult(POLICY_NAME, "every named rule set is published and written "
                          "for a stage of its purpose", None, None, None, (),
                          "; ".join(str(p) for p in problems) or None)]


def mark_previewed(session: Session, row: RuleSetVersion, *, now: datetime, actor: str,
                   counts: dict, warnings: list[str] | None = None,
                   cases: list[int] | None = None) -> None:
    """Record that a preview of ``row`` was produced (evidence for approval), with its
    warnings and the cases it says would change."""
    row.previewed_at, row.previewed_by = now, actor
    _audit(session, row, "ruleset.previewed", actor=actor, now=now, counts=counts,
           warnings=warnings or [], cases=cases or [],
           summary=f"Impact of {row.name} {row.version[:12]} previewed by {actor}: "
                   + (", ".join(f"{k}: {v}" for k, v in counts.items()) or "no change")
                   + "".join(f" WARNING: {w}" for w in warnings or []))
    session.flush()


def approve(session: Session, row: RuleSetVersion, *, user: User, now: datetime,
            reason: str) -> RuleSetVersion:
    """Four-eyes approval by a second *team lead* (not the author; not an administrator
    nor the host's administrator acting on anyone's behalf). Raises :class:`Forbidden` or
    :class:`Conflict` with the reason."""
    if user.role != "team_lead":
        raise Forbidden("a second team lead must approve, with their own credentials",
                        details={"role": user.role, "user": user.username})
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
    publications_changed(session)


def check_can_publish(row: RuleSetVersion, user: User) -> None:
    """Raise unless ``user`` may publish ``row`` now (a team lead; an approved version)."""
    require_author(user, "publish a rule set")
    if row.status != "approved":
        raise Conflict(f"{row.name} {row.version[:12]} is {row.status}: only an approved "
                       "version can be published")


def publish(session: Session, row: RuleSetVersion, *, user: User, now: datetime,
            reason: str, notes: dict | None = None) -> RuleSetVersion:
    """Put an approved version in force from ``now`` on. ``notes`` (warnings, the cases
    made due) go into the audit entry."""
    check_can_publish(row, user)
    if is_policy(row):
        problems = reference_problems(session, policy_document_of(row), now=now)
        if problems:
            raise Conflict("the policy names rule sets that cannot run: "
                           + "; ".join(str(p) for p in problems),
                           details={"problems": [p.as_dict() for p in problems]})
    _put_in_force(session, row, kind="publish", user=user, now=now, reason=reason)
    _audit(session, row, "ruleset.published", actor=user.username, now=now, reason=reason,
           **(notes or {}),
           summary=f"{row.name} {row.version[:12]} published by {user.username}: {reason}"
                   + "".join(f" WARNING: {w}" for w in (notes or {}).get("warnings", [])))
    return row


def rollback_target(session: Session, name: str) -> tuple[RuleSetVersion, RuleSetVersion]:
    """``(current, previous)``: the version in force and the one a rollback restores."""
    current = published_row(session, name)
    previous = session.scalars(
        select(RuleSetPublication).where(RuleSetPublication.name == name,
                                         RuleSetPublication.version_id != current.id)
        .order_by(RuleSetPublication.published_at.desc(), RuleSetPublication.id.desc())
    ).first()
    if previous is None:
        raise Conflict(f"{name} has no earlier published version to roll back to")
    return current, previous.version


def rollback(session: Session, name: str, *, user: User, now: datetime, reason: str,
             notes: dict | None = None) -> RuleSetVersion:
    """Put back in force the version that was in force before the current one."""
    require_author(user, "roll back a rule set")
    current, target = rollback_target(session, name)
    _put_in_force(session, target, kind="rollback", user=user, now=now, reason=reason)
    _audit(session, target, "ruleset.rolled_back", actor=user.username, now=now,
           reason=reason, replaced=current.version, **(notes or {}),
           summary=f"{name} rolled back from {current.version[:12]} to "
                   f"{target.version[:12]} by {user.username}: {reason}")
    return target


def publication_note(session: Session, row: RuleSetVersion) -> str:
    """How ``row`` came to be in force (see :func:`workflow.rulesets.publication_note`)."""
    return rulesets.publication_note(session, row)


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
