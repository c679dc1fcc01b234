"""Caseload and flow (issue 14 item 6): what the team holds and how it moves.

Open cases by stream and state, entries (panel accepts) and exits (accepted episodes
closed) per month, time in each stage and candidates by source (from the audit trail,
:mod:`.flow`), panel outcomes, tasks done on time / late / overdue per agency, and the
active cohort against a target size (dated reference data, ``cohort_targets.toml``).
Grouped queries; month buckets are made from the grouped rows (one row per decision or
closure, never per event).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from db.models import Case, PanelItem, Task
from workflow.errors import InvalidInput
from workflow.lifecycle import ACTIVE
from workflow.reports.flow import candidate_sources, stage_times
from workflow.reports.reference import cohort_targets, pick, source_sets
from workflow.reports.targets import months
from workflow.tasks.routing import OUTSTANDING

METHOD = (
    "Caseload and flow. Open cases: episodes not closed, by cohort stream (fixed / flex / "
    "free, '-' when not yet set) and state, as stored now. Entries: panel acceptances "
    "dated in the month; exits: accepted episodes closed in the month (de-selected, "
    "excluded, transferred or closed by hand). Panel outcomes: decisions dated in the "
    "period. Tasks per agency: completed on or before their due time (on time) or after "
    "it (late) in the period; overdue = still outstanding (open or escalated) and past "
    "due at {as_of}. Active cohort = cases allocated, in review or suspended (custody), "
    "against {target}. Time in "
    "stage: from the audit trail's transitions (a case's first stay, in mapping, from "
    "when it was opened); median and 90th percentile (nearest rank) days of the stays "
    "that ended in the period, and the cases still in each stage at its end. Candidates "
    "by source: cases selected (moved out of mapping) in the period, by the rule that "
    "selected them ({sources}); a case several rules selected counts under each. "
    "Limits: stays ended by a hand-made move are counted like any other; a stage's "
    "times reflect the panel's monthly cycle as well as the team's pace.")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _flow(session: Session, start: date, end: date) -> list[dict]:
    lo, hi = _midnight(start), _midnight(end + timedelta(days=1))
    accepted = session.scalars(select(PanelItem.decided_at).where(
        PanelItem.decision == "accept", PanelItem.decided_at >= lo,
        PanelItem.decided_at < hi)).all()
    closed = session.scalars(
        select(Case.closed_at).join(PanelItem, PanelItem.case_id == Case.id)
        .where(PanelItem.decision == "accept", Case.closed_at >= lo, Case.closed_at < hi)
        .distinct()).all()
    entries = Counter(d.strftime("%Y-%m") for d in accepted)
    exits = Counter(d.strftime("%Y-%m") for d in closed)
    return [{"month": m, "entries": entries[m], "exits": exits[m]}
            for m in (a.strftime("%Y-%m") for a, _b in months(start, end))]


def _tasks(session: Session, start: date, end: date, as_of: datetime) -> list[dict]:
    lo, hi = _midnight(start), _midnight(end + timedelta(days=1))
    done = (Task.status == "done") & (Task.completed_at >= lo) & (Task.completed_at < hi)
    on_time = func.sum(case((done & (Task.completed_at <= Task.due_at), 1), else_=0))
    late = func.sum(case((done & (Task.completed_at > Task.due_at), 1), else_=0))
    overdue = func.sum(case((Task.status.in_(OUTSTANDING) & (Task.due_at < as_of), 1),
                            else_=0))
    rows = session.execute(select(Task.agency, on_time, late, overdue)
                           .group_by(Task.agency)).all()
    return [{"agency": a or "-", "on_time": int(t or 0), "late": int(x or 0),
             "overdue": int(o or 0)} for a, t, x, o in sorted(rows, key=lambda r: r[0] or "-")]


def caseload_report(session: Session, *, start: date, end: date,
                    as_of: datetime | None = None, target_size: int | None = None) -> dict:
    """Caseload and flow over ``start``..``end``; ``as_of`` (default: end of ``end``) is
    when overdue is judged; ``target_size`` compares the active cohort with a target."""
    if end < start:
        raise InvalidInput("the period ends before it starts", details={"field": "to"})
    if target_size is not None and target_size < 1:
        raise InvalidInput("target size must be positive", details={"field": "target_size"})
    as_of = as_of or _midnight(end + timedelta(days=1))
    open_rows = session.execute(
        select(Case.cohort, Case.state, func.count()).where(Case.closed_at.is_(None))
        .group_by(Case.cohort, Case.state)).all()
    open_rows = sorted((cohort or "-", state, n) for cohort, state, n in open_rows)
    decisions = dict(session.execute(
        select(PanelItem.decision, func.count())
        .where(PanelItem.decision.is_not(None), PanelItem.decided_at >= _midnight(start),
               PanelItem.decided_at < _midnight(end + timedelta(days=1)))
        .group_by(PanelItem.decision)).all())
    active = sum(n for _s, state, n in open_rows if state in ACTIVE)
    target, by = _target(target_size, end)
    lo, hi = _midnight(start), _midnight(end + timedelta(days=1))
    sources = pick(source_sets(), name=None, on=end)
    return {"report": "caseload", "start": start.isoformat(), "end": end.isoformat(),
            "as_of": as_of.isoformat(),
            "open_cases": [{"stream": s, "state": st, "cases": n}
                           for s, st, n in open_rows],
            "rows": _flow(session, start, end),
            "panel_outcomes": {d: decisions.get(d, 0) for d in ("accept", "defer", "reject")},
            "tasks": _tasks(session, start, end, as_of),
            "stages": stage_times(session, lo, hi),
            "sources": candidate_sources(session, lo, hi, sources),
            "active_cohort": active, "target_size": target.size if target else target_size,
            "target_by": target.by.isoformat() if target else None,
            "target_gap": None if by is None else by - active,
            "method": METHOD.format(as_of=as_of.isoformat(), target=_target_text(
                target, target_size), sources=f"candidate_sources.toml {sources.name}")}


def _target(size: int | None, end: date):
    """(the dated reference target or None, the size to compare with): a given size
    wins; otherwise the newest ``cohort_targets.toml`` set dated on or before ``end``."""
    if size is not None:
        return None, size
    dated = [t for t in cohort_targets() if t.as_of <= end]
    if not dated:
        return None, None
    target = max(dated, key=lambda t: t.as_of)
    return target, target.size


def _target_text(target, size: int | None) -> str:
    if target is not None:
        return (f"the target of {target.size} by {target.by} ({target.name}: "
                f"{' '.join(target.source.split())})")
    return f"the target size given ({size})" if size is not None else "no target"
