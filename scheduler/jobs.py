"""Jobs: select due work, call one workflow service per case, isolate failures per case.

Each case is advanced in its own transaction; a failure rolls back that case only,
is logged, and is recorded on the case so it is visible and retried at the next pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update

from db.models import Case
from db.session import transaction
from workflow.advance import AdvanceResult, Policy, advance, due_case_ids
from workflow.cases import claim, open_missing_cases
from workflow.runtime import Runtime

log = logging.getLogger("iom.scheduler")


@dataclass
class PassReport:
    now: datetime
    opened: int = 0
    evaluated: int = 0
    moved: list[AdvanceResult] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"pass at {self.now.isoformat()}: opened {self.opened}, evaluated "
               f"{self.evaluated}, moved {len(self.moved)}, failed {len(self.failed)}"]
        for r in self.moved:
            rules = ", ".join(f"{d.ruleset}/{d.rule}@{d.version[:12]}" for d in r.decisions)
            out.append(f"  case {r.case_id}: {r.source} -> {r.target} ({rules})")
        for case_id, error in self.failed.items():
            out.append(f"  case {case_id}: FAILED {error}")
        return out


def _advance_one(runtime: Runtime, case_id: int, *, now, actor, policy) -> AdvanceResult | None:
    with transaction(runtime.sessions) as session:
        case = claim(session, case_id)
        if case is None or case.next_due_at is None or case.next_due_at > now:
            return None  # claimed elsewhere, or already advanced by another process
        return advance(session, case, now=now, actor=actor, policy=policy)


def advance_due(runtime: Runtime, *, now: datetime, actor: str = "scheduler") -> PassReport:
    """One pass: open cases for new people, then advance every due case once."""
    policy = Policy.from_settings(runtime.settings)
    report = PassReport(now)
    with transaction(runtime.sessions) as session:
        report.opened = len(open_missing_cases(session, now=now, actor=actor))
    with transaction(runtime.sessions) as session:
        ids = due_case_ids(session, now=now, stages=tuple(policy.stages),
                           limit=runtime.settings.batch_size)
    for case_id in ids:
        try:
            result = _advance_one(runtime, case_id, now=now, actor=actor, policy=policy)
        except Exception as exc:  # noqa: BLE001 - isolate one case's failure from the pass
            log.exception("advancing case %s failed", case_id)
            report.failed[case_id] = f"{type(exc).__name__}: {exc}"
            with transaction(runtime.sessions) as session:
                session.execute(update(Case).where(Case.id == case_id)
                                .values(last_error=report.failed[case_id][:2000]))
            continue
        if result is None:
            continue
        report.evaluated += 1
        if result.moved:
            report.moved.append(result)
    return report
