"""The stage policy in force, looked up in the database at each use.

The policy is stored as versions of the reserved rule-set name
:data:`~workflow.policy.document.POLICY_NAME` (stage ``policy``), so it has the rule-set
life: draft, examples (here: every named rule set is published and written for its
stage), preview, approval by a second team lead, publication, rollback, as-of.
``config.toml`` only seeds the first version (:func:`seed_policy`, run by ``iom db
upgrade``); afterwards :func:`policy_in_force` is what every process runs, without
restart. Parsed documents are cached by content hash; nothing else is cached.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import RuleSetVersion
from rules.errors import Problem
from workflow.advance import Policy
from workflow.config import Settings
from workflow.errors import NotFound
from workflow.facts import FactWindow
from workflow.policy.document import (
    POLICY_NAME,
    PURPOSES,
    PolicyDocument,
    load_policy,
    seed_document,
)
from workflow.rulesets import (
    SHIPPED_IN_FORCE_FROM,
    parsed_once,
    publish_shipped,
    published_document,
    published_row,
)

POLICY_STAGE = "policy"

_parsed: dict[str, PolicyDocument] = {}
_lock = threading.Lock()


def policy_document_of(row: RuleSetVersion) -> PolicyDocument:
    """The parsed policy of a stored version (cached by content hash)."""
    return parsed_once(row, _parsed, _lock, load_policy)


def policy_row(session: Session, *, on: datetime | None = None) -> RuleSetVersion | None:
    """The stored policy version in force at ``on`` (latest when None), or None."""
    try:
        return published_row(session, POLICY_NAME, on=on)
    except NotFound:
        return None


def policy_in_force(session: Session, settings: Settings, now: datetime) -> Policy:
    """The policy in force at ``now``; the ``config.toml`` seed when none is published
    yet (a database not yet upgraded with ``iom db upgrade``). From the published-documents
    cache (``workflow.rulesets.published_document``: one check a transaction against the
    publication table), not two queries every call."""
    try:
        document = published_document(session, POLICY_NAME, on=now, parse=policy_document_of)
    except NotFound:
        return Policy.from_settings(settings)
    return Policy.from_document(document, FactWindow(
        settings.newly_sentenced_days, settings.window_days))


def seed_policy(session: Session, settings: Settings, *, now: datetime,
                actor: str = "system") -> str | None:
    """Publish the ``config.toml`` policy as the shipped default if no policy is stored.

    In force from :data:`SHIPPED_IN_FORCE_FROM` (so replays of earlier dates see it),
    recorded at ``now``. Returns the version published, or None when one exists.
    """
    if session.scalar(select(RuleSetVersion.id).where(RuleSetVersion.name == POLICY_NAME)
                      .limit(1)) is not None:
        return None
    doc = seed_document(settings)
    in_force = datetime.combine(SHIPPED_IN_FORCE_FROM, time(), tzinfo=UTC)
    publish_shipped(session, name=POLICY_NAME, version=doc.version, stage=POLICY_STAGE,
                    text=doc.text, in_force=in_force, now=now, actor=actor,
                    reason="shipped default, seeded from config.toml",
                    summary=f"Stage policy version {doc.version[:12]} published (shipped "
                            f"default seeded from config.toml, in force from "
                            f"{in_force.date()})")
    session.flush()
    return doc.version


def reference_problems(session: Session, doc: PolicyDocument, *, now: datetime,
                       file: str = "policy") -> list[Problem]:
    """Every named rule set must be published and written for a stage of its purpose."""
    problems = []
    for purpose, entry in doc.purposes.items():
        allowed = PURPOSES[purpose]
        for i, name in enumerate(entry.rulesets):
            path = f"purposes.{purpose}.rulesets.{i}"
            if name == POLICY_NAME:
                problems.append(Problem(file, purpose, path, "the policy is not a rule set"))
                continue
            try:
                ruleset = published_document(session, name, on=now)
            except NotFound:
                problems.append(Problem(file, purpose, path,
                                        f"rule set {name!r} has no published version"))
                continue
            if not set(ruleset.stages) & set(allowed):
                problems.append(Problem(
                    file, purpose, path, f"rule set {name!r} is written for "
                    f"{', '.join(ruleset.stages)}, not for {' or '.join(allowed)}"))
    return problems
