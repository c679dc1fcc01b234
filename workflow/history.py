"""Audit attached to the lifecycle as a listener, and reading a case's history back."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AuditEntry, Case
from workflow import audit
from workflow.lifecycle import Transition, on_transition


def _fmt(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "unknown" if value is None else str(value)


def explain_decisions(decisions: list[dict]) -> str:
    """``rule set/rule (version abc) matched: fact = value, ...`` for each decision."""
    parts = []
    for d in decisions:
        matched = ", ".join(f"{k} = {_fmt(v)}" for k, v in d["matched"].items())
        parts.append(f"rule {d['ruleset']}/{d['rule']} (version {d['version'][:12]}) "
                     f"matched: {matched}")
    return "; ".join(parts)


@on_transition
def audit_transition(session: Session, case: Case, transition: Transition, *, source: str,
                     now: datetime, actor: str, cause: dict) -> None:
    """Record every transition with what caused it, in the caller's transaction."""
    if cause.get("kind") == "rule":
        why = explain_decisions(cause["decisions"])
        if cause.get("policy"):
            why += f" (stage policy {cause['policy'][:12]})"
    else:
        why = f"{transition.event} by {actor}: {cause.get('reason', '')}".rstrip(": ")
        if isinstance(cause.get("override"), dict):  # a panel's recorded exclusion override
            why += (f" (OVERRIDE of exclusion {', '.join(cause['override']['rules'])}: "
                    f"{cause['override']['reason']})")
    audit.record(
        session, kind="case.transition", actor=actor, occurred_at=now, case_id=case.id,
        person_ref=case.person.partner_ref,
        summary=f"Moved from {source} to {transition.target} because {why}",
        payload={"event": transition.event, "from": source, "to": transition.target,
                 "by": transition.by, "cause": cause},
    )


def case_history(session: Session, case_id: int) -> list[AuditEntry]:
    """Every audit entry about the case, oldest first, without reads: those are the
    access log's (``workflow.sharing.access``; the ``case.read`` entries written before
    migration 0015 were copied there), so a history does not grow with its readers."""
    return list(session.scalars(
        select(AuditEntry).where(AuditEntry.case_id == case_id,
                                 AuditEntry.kind != "case.read").order_by(AuditEntry.seq)))
