"""Jobs: select due work, call one workflow service per case, isolate failures per case.

Each case is handled in its own transaction after claiming its row (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL); a failure rolls back that case only, is logged, and is recorded
on the case so it is visible and retried at the next pass. Every job is idempotent:
running it twice at the same ``now`` does nothing the second time. A transaction that
loses to a concurrent one (``db.session.retryable``: the SQLite write lock not obtained
in time, a deadlock, a unique-key race) is run again from the start
(``run_in_transaction``) before it counts as failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from db.models import Case
from db.session import run_in_transaction, transaction
from rules.engine import default_engine
from scheduler.opening import open_chunk_isolated, people_pages
from scheduler.pass_parts import PassReport, gc_frozen, gc_paused
from scheduler.pass_workers import ChunkRunner, pass_workers
from workflow.advance import advance, due_page
from workflow.advance_chunk import advance_chunk
from workflow.allocation import allocate, waiting_case_ids
from workflow.cases import after_opening, claim, claim_many
from workflow.guards import guard_chunk, guard_due_ids
from workflow.panel import build_agenda
from workflow.policy.store import policy_in_force
from workflow.review import due_in_state, reopen_returning, represent, start_review
from workflow.runtime import Runtime
from workflow.tasks.jobs import run_task_jobs

log = logging.getLogger("iom.scheduler")


@dataclass
class JobReport:
    """What one per-case job did: ``done`` case ids, ``failed`` {case id: error}."""

    name: str
    done: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    note: str = ""

    def lines(self) -> list[str]:
        out = [f"{self.name}: {len(self.done)} done, {len(self.failed)} failed"
               + (f" ({self.note})" if self.note else "")]
        out += [f"  case {cid}: FAILED {err}" for cid, err in self.failed.items()]
        return out


def _record_failure(runtime: Runtime, case_id: int, exc: Exception) -> str:
    log.exception("case %s failed", case_id)
    message = f"{type(exc).__name__}: {exc}"
    run_in_transaction(runtime.sessions, lambda session: session.execute(
        update(Case).where(Case.id == case_id).values(last_error=message[:2000])))
    return message


def for_each_case(runtime: Runtime, ids: list, work: Callable[[Session, Case], object],
                  failed: dict[int, str]) -> list[tuple[int, object]]:
    """Run ``work(session, case)`` per claimed case, one transaction each.

    ``ids`` holds case ids or ``(id, version)`` pairs; with a version the case is skipped
    when another process changed it since it was selected. Returns ``(id, result)`` for
    each case ``work`` returned a truthy result for; failures go to ``failed``.
    """
    out = []
    for item in ids:
        case_id, version = item if isinstance(item, tuple) else (item, None)

        def one(session: Session, case_id=case_id, version=version):
            case = claim(session, case_id)
            if case is None or (version is not None and case.version != version):
                return None  # locked or already handled by another process
            return work(session, case)

        try:
            result = run_in_transaction(runtime.sessions, one)
        except Exception as exc:  # noqa: BLE001 - isolate one case's failure from the pass
            failed[case_id] = _record_failure(runtime, case_id, exc)
            continue
        if result:
            out.append((case_id, result))
    return out


def _advance_chunk(runtime: Runtime, due: list[tuple[int, int]], *, now, actor, policy,
                   report: PassReport) -> bool:
    """Advance a chunk in one transaction: claim its rows, evaluate them together, apply.

    Optimistic: if evaluating or applying any case fails, the whole chunk is rolled back
    (nothing written) and False is returned, so the caller redoes it one case per
    transaction and only the failing case fails. Returns True when committed.
    """
    try:
        with gc_paused(), transaction(runtime.sessions) as session:
            results = advance_chunk(session, due, now=now, actor=actor, policy=policy)
    except Exception:  # noqa: BLE001 - isolate the failure: redo this chunk case by case
        log.info("chunk of %d cases rolled back; retrying one case at a time", len(due))
        return False
    report.evaluated += len(results)
    report.moved += [r for r in results if r.moved]
    return True


def _advance_one(session: Session, case: Case, *, now, actor, policy):
    if case.next_due_at is None or case.next_due_at > now:
        return None
    return advance(session, case, now=now, actor=actor, policy=policy)


def advance_chunk_isolated(runtime: Runtime, chunk: list[tuple[int, int]], *, now: datetime,
                           actor: str, policy) -> PassReport:
    """Advance one chunk of due ``(id, version)`` in one transaction, redone one case per
    transaction if it fails (only the failing case fails); what it did as a partial
    report, with the time this process's engine spent on it. Runs in the pass's process
    or in a pass worker (``scheduler.pass_workers``)."""
    report, engine = PassReport(now), default_engine()
    busy = engine.busy_seconds
    if not _advance_chunk(runtime, chunk, now=now, actor=actor, policy=policy, report=report):
        for _, result in for_each_case(runtime, chunk, lambda s, c: _advance_one(
                s, c, now=now, actor=actor, policy=policy), report.failed):
            report.evaluated += 1
            if result.moved:
                report.moved.append(result)
    report.engine_seconds = engine.busy_seconds - busy
    return report


def _due_pages(runtime: Runtime, *, now: datetime, policy, left: int,
               skip: set[int]) -> Iterator[list]:
    """The due cases ``(id, version)`` by id, a chunk (``chunk_size``) at a time, at most
    ``left`` in all (keyset: a case moved in this pass is not taken again), less those in
    ``skip`` (opened and moved in this pass)."""
    size, after = runtime.settings.chunk_size, 0
    while left > 0:
        with transaction(runtime.sessions) as session:
            page = due_page(session, now=now, stages=tuple(policy.stages), after_id=after,
                            limit=min(size, left + len(skip)))
        if not page:
            return
        after = page[-1][0]
        chunk = [item for item in page if item[0] not in skip][:left]
        left -= len(chunk)
        if chunk:
            yield chunk


def advance_due(runtime: Runtime, *, now: datetime, actor: str = "scheduler") -> PassReport:
    """One pass: open cases for new and returning people, then advance every due case once.

    Cases for people who never had one are opened and evaluated together, a transaction
    per chunk of people (``scheduler.opening``); then due cases are walked by id, a
    transaction per chunk (``chunk_size``; at most ``batch_size`` evaluations a pass,
    those at opening included), redone one case per transaction when one fails
    (:func:`advance_chunk_isolated`). With ``pass_workers`` > 1 (PostgreSQL) the chunks
    go to that many processes (``scheduler.pass_workers``); the report sums theirs."""
    report = PassReport(now)
    with transaction(runtime.sessions) as session:
        policy = policy_in_force(session, runtime.settings, now)
    with gc_frozen(), ChunkRunner(runtime, pass_workers(runtime)) as runner:
        for part in runner.map(open_chunk_isolated, people_pages(
                runtime, now=now, policy=policy), now=now, actor=actor, policy=policy):
            report.add(part)
        run_in_transaction(runtime.sessions, lambda session: after_opening(
            session, report.opened))
        report.reopened = run_in_transaction(runtime.sessions, lambda session: len(
            reopen_returning(session, now=now, actor=actor)))
        pages = _due_pages(runtime, now=now, policy=policy,
                           left=runtime.settings.batch_size - report.evaluated,
                           skip=set(report.due_again))
        for part in runner.map(advance_chunk_isolated, pages, now=now, actor=actor,
                               policy=policy):
            report.add(part)
    report.workers, (report.worker_cpu_seconds, report.worker_peak_rss_mb) = (
        runner.used, runner.worker_usage())
    report.moved.sort(key=lambda r: r.case_id)  # workers finish in any order
    report.due_again = []
    return report


def _due_job(runtime: Runtime, name: str, state: str, service, *, now, actor) -> JobReport:
    report = JobReport(name)
    with transaction(runtime.sessions) as session:
        policy = policy_in_force(session, runtime.settings, now)
        ids = due_in_state(session, state, now=now, limit=runtime.settings.batch_size)
    done = for_each_case(runtime, ids, lambda s, c: service(s, c, now=now, actor=actor,
                                                            policy=policy),
                         report.failed)
    report.done = [cid for cid, _ in done]
    return report


def reviews_due(runtime: Runtime, *, now: datetime, actor: str = "scheduler") -> JobReport:
    """Move allocated cases whose review date has passed to review."""
    return _due_job(runtime, "reviews due", "allocated", start_review, now=now, actor=actor)


def represent_deferred(runtime: Runtime, *, now: datetime, actor: str = "scheduler"
                       ) -> JobReport:
    """Bring deferred cases whose date is reached back to panel."""
    return _due_job(runtime, "deferred represented", "deferred", represent, now=now,
                    actor=actor)


def allocate_waiting(runtime: Runtime, *, now: datetime, actor: str = "scheduler"
                     ) -> JobReport:
    """Try again to name a lead professional for allocated cases waiting for one."""
    report = JobReport("allocation")
    with transaction(runtime.sessions) as session:
        ids = waiting_case_ids(session, limit=runtime.settings.batch_size)

    def work(session: Session, case: Case):
        if case.state != "allocated" or case.lead_user_id is not None:
            return None
        return allocate(session, case, now=now, actor=actor, settings=runtime.settings)

    results = for_each_case(runtime, ids, work, report.failed)
    report.done = [cid for cid, r in results if not r.waiting]
    waiting = sum(1 for _, r in results if r.waiting)
    report.note = f"{waiting} waiting for capacity" if waiting else ""
    return report


def build_agendas(runtime: Runtime, *, now: datetime, actor: str = "scheduler") -> JobReport:
    """Build the next panel meeting's agenda once its agenda window has opened."""
    report = JobReport("panel agenda")

    def build(session: Session) -> None:
        report.done, report.note = [], ""  # what this attempt did, if it commits
        meeting = build_agenda(session, now=now, settings=runtime.settings, actor=actor)
        if meeting is not None:
            report.done = [item.case_id for item in meeting.items]
            report.note = f"meeting {meeting.id} on {meeting.held_on}"

    try:
        run_in_transaction(runtime.sessions, build)
    except Exception as exc:  # noqa: BLE001 - a job run fails alone; the next run retries
        log.exception("building the panel agenda failed")
        report.note = f"FAILED {type(exc).__name__}: {exc}"
    return report


def guards_due(runtime: Runtime, *, now: datetime, actor: str = "scheduler") -> JobReport:
    """Check the exclusion guards, chunk by chunk, for open cases whose partner data
    changed (``guard_due_at``): an excluded case leaves the cohort (or panel) now.

    A chunk is evaluated set-based in one transaction; if it fails it is redone one
    case per transaction, isolating the failing case.
    """
    report = JobReport("exclusion guards")
    with transaction(runtime.sessions) as session:
        policy = policy_in_force(session, runtime.settings, now)
        ids = guard_due_ids(session, now=now, limit=runtime.settings.batch_size)
    size = runtime.settings.chunk_size
    checked = 0
    for start in range(0, len(ids), size):
        chunk = ids[start:start + size]
        try:
            with transaction(runtime.sessions) as session:
                cases = claim_many(session, chunk)
                moved = guard_chunk(session, cases, now=now, actor=actor, policy=policy)
            checked += len(cases)
        except Exception:  # noqa: BLE001 - isolate the failure: redo case by case
            log.info("guard chunk of %d cases rolled back; retrying one at a time", len(chunk))
            results = for_each_case(runtime, chunk, lambda s, c: guard_chunk(
                s, [c], now=now, actor=actor, policy=policy) or [None], report.failed)
            checked += len(results)
            moved = [r for _, rs in results for r in rs if r is not None]
        report.done += [r.case_id for r in moved]
    report.note = f"{checked} checked" if checked else ""
    return report


def run_all(runtime: Runtime, *, now: datetime, actor: str = "scheduler"
            ) -> tuple[PassReport, list[JobReport]]:
    """One pass of every job, in lifecycle order (``iom tick``); the exclusion guards
    first, so no excluded case is reviewed, represented or allocated."""
    jobs = [guards_due(runtime, now=now, actor=actor),
            reviews_due(runtime, now=now, actor=actor),
            represent_deferred(runtime, now=now, actor=actor)]
    advanced = advance_due(runtime, now=now, actor=actor)
    jobs += [allocate_waiting(runtime, now=now, actor=actor),
             build_agendas(runtime, now=now, actor=actor),
             run_task_jobs(runtime, now, actor=actor)]
    return advanced, jobs


def audit_checkpoint(runtime: Runtime, now: datetime) -> JobReport:
    """Verify the audit chain and append a signed checkpoint of its head (nothing when
    there is no key or the head is already checkpointed). A chain that fails is logged
    as an error and never checkpointed."""
    from workflow.audit_signing import write_checkpoint

    report = JobReport("audit_checkpoint")
    if not runtime.keyring.current:
        report.note = f"skipped: {runtime.keyring.missing}"
        return report
    with transaction(runtime.sessions) as session:
        cp, result = write_checkpoint(session, runtime.keyring,
                                      runtime.settings.audit["checkpoint_dir"], now=now)
    if not result.ok:
        log.error("audit chain does not verify, no checkpoint: entry %s: %s",
                  result.first_bad_seq, result.reason)
        report.note = f"FAILED: entry {result.first_bad_seq}: {result.reason}"
    else:
        report.note = f"checkpoint of entry {cp.seq}" if cp else "head already checkpointed"
    return report


def access_seal(runtime: Runtime, now: datetime) -> JobReport:
    """Seal the access log's settled, unsealed rows (``workflow.access_seal``): thin, the
    policy in ``[audit] access_seal_*``; idempotent (nothing unsealed: nothing written)."""
    from workflow.access_seal import seal

    policy = runtime.settings.audit
    report = JobReport("access_seal")
    sealed = run_in_transaction(runtime.sessions, lambda session: seal(
        session, now=now, batch=policy["access_seal_batch"],
        settle_seconds=policy["access_settle_seconds"]))
    if sealed:
        report.note = (f"sealed access rows {sealed[0].after + 1}-{sealed[-1].last} in "
                       f"{len(sealed)} batch(es)")
    return report
