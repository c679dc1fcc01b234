"""Evaluate hand-made facts against a stage's rule sets or one rule set (no case needed).

The CLI ``iom evaluate`` and ``POST /api/v1/evaluate`` both call :func:`evaluate_facts`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from rules.decisions import outcome_of
from rules.document import RuleSetDocument
from rules.engine import RuleEngine, default_engine
from rules.errors import FactError
from workflow.advance import Policy, stage_documents
from workflow.errors import InvalidInput
from workflow.guards import AGENDA_STAGE, GUARD_STAGE, guard_documents
from workflow.rulesets import active_documents, published_document


def _documents(session: Session, *, stage: str | None, ruleset: str | None, now: datetime,
               policy: Policy) -> list[RuleSetDocument]:
    if bool(stage) == bool(ruleset):
        raise InvalidInput("give exactly one of stage or ruleset")
    if ruleset:
        return [published_document(session, ruleset, on=now)]
    if stage == GUARD_STAGE:  # the exclusion guards alone
        return guard_documents(session, policy.exclusion, now=now)
    if stage == AGENDA_STAGE:
        return active_documents(session, stage, policy.agenda, now=now)
    if stage not in policy.stages:
        raise InvalidInput(f"stage {stage!r} has no rule sets configured; configured: "
                           f"{', '.join([*policy.stages, GUARD_STAGE, AGENDA_STAGE])}",
                           details={"field": "stage"})
    return stage_documents(session, policy, stage, now=now)  # as the scheduler does


def _check_items(items) -> None:
    if not isinstance(items, list):
        raise InvalidInput("facts: expected a JSON list of fact objects")
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "id" not in item:
            raise InvalidInput(f"facts[{i}]: expected an object with an 'id'",
                               details={"index": i, "field": "id"})


def evaluate_facts(session: Session, items: list, *, now: datetime, policy: Policy,
                   stage: str | None = None, ruleset: str | None = None,
                   documents: list[RuleSetDocument] | None = None,
                   engine: RuleEngine | None = None) -> list[dict]:
    """One result per input: ``{"id", "outcome", "decisions": [...]}``; writes nothing.

    ``documents`` (e.g. a draft file) replaces the published lookup. Raises
    :class:`InvalidInput` naming the item and fact when an input is malformed.
    """
    _check_items(items)
    docs = documents if documents is not None else _documents(
        session, stage=stage, ruleset=ruleset, now=now, policy=policy)
    facts = [{k: v for k, v in item.items() if k != "id"} for item in items]
    try:
        results = (engine or default_engine()).evaluate_all(docs, facts)
    except FactError as exc:
        raise InvalidInput(str(exc)) from exc
    return [
        {"id": item["id"], "outcome": outcome_of(decisions),
         "decisions": [{"rule": d.rule, "ruleset": d.ruleset, "version": d.version,
                        "action": d.action, "params": d.params, "matched": d.matched}
                       for d in decisions]}
        for item, decisions in zip(items, results, strict=True)
    ]
