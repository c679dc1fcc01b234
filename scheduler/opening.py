"""A pass's opening of cases for people who never had one, evaluated as they are opened.

The people are walked by id, a chunk at a time (:func:`people_pages`); while the pass's
evaluation budget (``batch_size``, after the cases already due) lasts, each chunk is
opened and evaluated in one transaction (``workflow.open_evaluate.open_evaluated``), the
rest opened due now for a later pass (``workflow.cases.open_people``). A chunk whose
evaluation or apply fails is rolled back and opened unevaluated instead, due now: the
pass's due walk then evaluates those cases one chunk, or one case, at a time and
records the failing case's error, as for any due case (``scheduler.jobs``). Chunks go
to the pass workers, if any (``scheduler.pass_workers``), like the due walk's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from db.session import run_in_transaction, transaction
from rules.engine import default_engine
from scheduler.pass_parts import PassReport, gc_paused
from workflow.cases import OPEN_CHUNK, open_people, people_without_case
from workflow.open_evaluate import STAGE, due_count, open_evaluated
from workflow.runtime import Runtime

log = logging.getLogger("iom.scheduler")


def people_pages(runtime: Runtime, *, now: datetime, policy) -> Iterator[tuple[list, bool]]:
    """``(people, evaluate)``: the people without a case, by id, read :data:`OPEN_CHUNK`
    at a time, in chunks of ``chunk_size`` to evaluate (else whole); ``evaluate`` while
    the pass's budget lasts: ``batch_size`` less the cases already due, which the due
    walk takes first (as when it took every case opened too)."""
    settings, after = runtime.settings, 0
    budget = 0
    if STAGE in policy.stages:
        with transaction(runtime.sessions) as session:
            budget = settings.batch_size - due_count(
                session, now=now, stages=tuple(policy.stages), limit=settings.batch_size)
    while True:
        evaluate = budget > 0
        with transaction(runtime.sessions) as session:  # one read, split: fewer queries
            people = people_without_case(session, after_id=after, limit=min(
                OPEN_CHUNK, budget) if evaluate else OPEN_CHUNK)
        if not people:
            return
        after = people[-1][0]
        if not evaluate:
            yield people, False
            continue
        budget -= len(people)
        for start in range(0, len(people), settings.chunk_size):
            yield people[start:start + settings.chunk_size], True


def open_chunk_isolated(runtime: Runtime, page: tuple[list, bool], *, now: datetime,
                        actor: str, policy) -> PassReport:
    """Open the cases of one page of :func:`people_pages`, evaluated when it says so; a
    failed evaluation rolls the chunk back and opens it unevaluated. What it did as a
    partial report (``due_again``: cases it moved, due now, that the due walk skips).
    Runs in the pass's process or in a pass worker."""
    people, evaluate = page
    report, engine = PassReport(now), default_engine()
    busy = engine.busy_seconds
    if evaluate:
        try:
            with gc_paused(), transaction(runtime.sessions) as session:
                opened = open_evaluated(session, people, now=now, actor=actor, policy=policy)
        except Exception:  # noqa: BLE001 - isolate the failure: the due walk retries them
            log.info("opening and evaluating %d people rolled back; opened unevaluated",
                     len(people))
        else:
            report.opened = report.evaluated = len(opened.results)
            report.moved = [r for r in opened.results if r.moved]
            report.due_again = opened.due
            report.engine_seconds = engine.busy_seconds - busy
            return report
    with gc_paused():
        report.opened = len(run_in_transaction(runtime.sessions, lambda session: open_people(
            session, people, now=now, actor=actor)))
    report.engine_seconds = engine.busy_seconds - busy
    return report
