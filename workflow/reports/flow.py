"""Caseload flow from the audit trail: time in each stage and candidates by source.

Both read the ``case.transition`` entries the lifecycle writes for every move (payload
``from`` / ``to`` / ``event`` and, for a rule's move, the decisions with rule and rule
set), streamed in case order; memory grows with the cases of one batch, not the log.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AuditEntry, Case
from workflow.lifecycle import TERMINAL
from workflow.reports.reference import SourceSet

TRANSITION = "case.transition"


def _days(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 86400


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (the value at rank ceil(share x n)), 1 dp; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(1, math.ceil(share * len(ordered))) - 1], 1)


def _stays(moves: list[tuple[datetime, str, str]], opened: datetime | None):
    """(stage, entered, left or None) for each stay of one case, in order."""
    stage, since = ("mapping", opened) if opened else (None, None)
    for at, source, target in moves:
        if stage == source and since is not None:
            yield stage, since, at
        stage, since = target, at
    if stage is not None:
        yield stage, since, None


def _moves(session: Session, hi: datetime):
    rows = session.execute(
        select(AuditEntry.case_id, AuditEntry.occurred_at, AuditEntry.payload)
        .where(AuditEntry.kind == TRANSITION, AuditEntry.occurred_at < hi,
               AuditEntry.case_id.is_not(None))
        .order_by(AuditEntry.case_id, AuditEntry.seq)).yield_per(2000)
    current, moves = None, []
    for case_id, at, payload in rows:
        if case_id != current and current is not None:
            yield current, moves
            moves = []
        current = case_id
        moves.append((at, payload.get("from"), payload.get("to")))
    if current is not None:
        yield current, moves


def stage_times(session: Session, lo: datetime, hi: datetime) -> list[dict]:
    """Per stage: stays that ended in [lo, hi) with their median and 90th percentile
    days, and the cases still in the stage at ``hi`` (terminal states are not stages). A
    case's first stay (mapping) runs from when it was opened."""
    opened = dict(session.execute(select(Case.id, Case.opened_at)
                                  .where(Case.opened_at < hi)).all())
    ended: dict[str, list[float]] = defaultdict(list)
    still: dict[str, int] = defaultdict(int)
    for case_id, moves in _moves(session, hi):
        for stage, since, left in _stays(moves, opened.pop(case_id, None)):
            if left is None:
                still[stage] += stage not in TERMINAL
            elif lo <= left < hi:
                ended[stage].append(_days(since, left))
    still["mapping"] += len(opened)  # opened, never moved
    return [{"stage": s, "stays_ended": len(ended[s]), "median_days": percentile(ended[s], 0.5),
             "p90_days": percentile(ended[s], 0.9), "still_in_stage": still[s]}
            for s in sorted(set(ended) | {k for k, n in still.items() if n})]


def _label(decision: dict, sources: SourceSet) -> str:
    key = f"{decision.get('ruleset')}/{decision.get('rule')}"
    for label, patterns in sources.sources.items():
        if any(key.startswith(p) for p in patterns):
            return label
    return f"other ({decision.get('ruleset')})"


def candidate_sources(session: Session, lo: datetime, hi: datetime,
                      sources: SourceSet) -> list[dict]:
    """Cases selected in [lo, hi) per source (the rule that selected them, from the
    audit); a case several rules selected counts under each; a last row ``all``
    counts each case once."""
    rows = session.execute(
        select(AuditEntry.case_id, AuditEntry.payload)
        .where(AuditEntry.kind == TRANSITION, AuditEntry.occurred_at >= lo,
               AuditEntry.occurred_at < hi)).yield_per(2000)
    by_source: dict[str, set[int]] = defaultdict(set)
    everyone: set[int] = set()
    for case_id, payload in rows:
        if payload.get("event") != "select":
            continue
        everyone.add(case_id)
        decisions = (payload.get("cause") or {}).get("decisions") or []
        for decision in decisions:
            if decision.get("action", "select") == "select":
                by_source[_label(decision, sources)].add(case_id)
    out = [{"source": label, "candidates": len(by_source[label])}
           for label in [*sources.sources, *sorted(set(by_source) - set(sources.sources))]
           if by_source[label] or label in sources.sources]
    return out + [{"source": "all (each case once)", "candidates": len(everyone)}]
