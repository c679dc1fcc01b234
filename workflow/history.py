"""Audit attached to the lifecycle as a listener, and reading a case's history back."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from db.models import AuditEntry, Case
from db.session import read_rows
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


# What a reader is shown of an entry (``workflow.sharing.redact.redact_entry``), as plain
# rows: the history endpoint reads it on every request, so it is built once.
_SHOWN = select(AuditEntry.seq, AuditEntry.occurred_at, AuditEntry.actor, AuditEntry.kind,
                AuditEntry.case_id, AuditEntry.person_ref, AuditEntry.summary,
                AuditEntry.payload, AuditEntry.hash).where(
    AuditEntry.case_id == bindparam("case"), AuditEntry.kind != "case.read"
).order_by(AuditEntry.seq)


def history_rows(session: Session, case_id: int) -> list:
    """Every audit entry about the case, oldest first, without reads: those are the
    access log's (``workflow.sharing.access``; the ``case.read`` entries written before
    migration 0015 were copied there), so a history does not grow with its readers. Plain
    rows of the columns a reader is shown (``seq``, ``occurred_at``, ``actor``, ``kind``,
    ``case_id``, ``person_ref``, ``summary``, ``payload``, ``hash``): no mapped objects
    for a read-only answer."""
    return read_rows(session, _SHOWN, {"case": case_id}).all()
