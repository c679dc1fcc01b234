"""Publishing reaches the cases now: publish or roll back a rule set or the stage policy
and make due, at once, exactly the open cases whose outcome the preview says changes.

The preview is run at the publication instant against the policy in force (the same
evaluation twice: before and after), its warnings and case list go into the audit entry,
and each listed case gets ``next_due_at = now`` (only when it was due later), so the next
scheduler pass moves it and no other case is stampeded. Flushes, never commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Case, RuleSetVersion, User
from rules.engine import RuleEngine
from workflow import ruleset_admin as admin
from workflow.config import Settings
from workflow.policy.store import policy_in_force
from workflow.preview import PreviewReport, preview

CHUNK = 500


@dataclass
class PublishOutcome:
    row: RuleSetVersion
    kind: str  # "publish" or "rollback"
    warnings: list[str] = field(default_factory=list)
    due_cases: list[int] = field(default_factory=list)

    @property
    def note(self) -> str:
        if not self.due_cases:
            return "no open case changes outcome: nothing moves"
        return (f"{len(self.due_cases)} case(s) made due now: they move at the next "
                "scheduler pass")

    def lines(self) -> list[str]:
        verb = "now published" if self.kind == "publish" else "in force again (rollback)"
        out = [f"{self.row.name}@{self.row.version[:12]} is {verb}"]
        out += [f"WARNING: {w}" for w in self.warnings]
        out.append(self.note + (": cases " + ", ".join(map(str, self.due_cases))
                                if self.due_cases else ""))
        return out


def make_due(session: Session, case_ids: list[int], *, now: datetime) -> list[int]:
    """Set ``next_due_at = now`` on those open cases due later (or never); returns them."""
    changed = []
    for start in range(0, len(case_ids), CHUNK):
        chunk = case_ids[start:start + CHUNK]
        for case in session.scalars(select(Case).where(Case.id.in_(chunk),
                                                       Case.closed_at.is_(None))):
            if case.next_due_at is None or case.next_due_at > now:
                case.next_due_at = now
            changed.append(case.id)
    session.flush()
    return sorted(changed)


def preview_version(session: Session, row: RuleSetVersion, *, now: datetime,
                    settings: Settings, actor: str, engine: RuleEngine | None = None,
                    sample: dict | None = None) -> PreviewReport:
    """Preview ``row`` against the policy in force at ``now`` and record the preview
    (``sample``: the case and purpose a sharing-agreement preview shows)."""
    report = preview(session, row, now=now, policy=policy_in_force(session, settings, now),
                     engine=engine, sample=sample)
    admin.mark_previewed(session, row, now=now, actor=actor, counts=report.counts,
                         warnings=report.warnings, cases=report.case_ids)
    return report


def _notes(report: PreviewReport) -> dict:
    return {"warnings": report.warnings, "due_cases": report.case_ids,
            "policy_version": report.policy_version}


def publish_version(session: Session, row: RuleSetVersion, *, user: User, now: datetime,
                    reason: str, settings: Settings, engine: RuleEngine | None = None
                    ) -> PublishOutcome:
    """Publish ``row`` (see :func:`workflow.ruleset_admin.publish`) and make due the
    cases its preview at ``now`` says change."""
    admin.check_can_publish(row, user)
    report = preview(session, row, now=now, policy=policy_in_force(session, settings, now),
                     engine=engine)
    admin.publish(session, row, user=user, now=now, reason=reason, notes=_notes(report))
    return PublishOutcome(row, "publish", report.warnings,
                          make_due(session, report.case_ids, now=now))


def rollback_version(session: Session, name: str, *, user: User, now: datetime,
                     reason: str, settings: Settings, engine: RuleEngine | None = None
                     ) -> PublishOutcome:
    """Roll ``name`` back (see :func:`workflow.ruleset_admin.rollback`) and make due the
    cases whose outcome the restored version changes."""
    admin.require_author(user, "roll back a rule set")
    _current, target = admin.rollback_target(session, name)
    report = preview(session, target, now=now,
                     policy=policy_in_force(session, settings, now), engine=engine)
    row = admin.rollback(session, name, user=user, now=now, reason=reason,
                         notes=_notes(report))
    return PublishOutcome(row, "rollback", report.warnings,
                          make_due(session, report.case_ids, now=now))
