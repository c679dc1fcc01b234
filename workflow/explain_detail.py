"""One audit entry laid out for an auditor, and a short "how it got here" for agendas.

:func:`explain_entry` takes one entry of a case's audit trail and lays out each rule
decision it records: the rule, its version and who put that version in force, and every
condition of the rule against the input the decision saw. :func:`latest_moves` says in
one sentence how each of some cases last reached a state. Both read the audit (and the
stored rule-set versions) only, built on :mod:`workflow.explain`'s wording.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow import audit
from workflow.errors import NotFound
from workflow.explain import (
    ExplainLine,
    _describe,
    _leaves,
    _Versions,
    day,
    fact_label,
    fact_value,
    requirement,
)
from workflow.rulesets import publication_note


@dataclass(frozen=True)
class ConditionRow:
    """One condition of a rule against the input the decision saw."""

    fact: str  # label
    required: str  # what the rule asks ("at least 75%", "must be known", "required: yes")
    value: str  # the input recorded with the decision ("not recorded" when absent)


@dataclass(frozen=True)
class DecisionRow:
    ruleset: str
    rule: str
    version: str
    provenance: str  # who put the version in force and when ("published by ... on ...")
    action: str
    says: str | None  # the rule's own description
    conditions: tuple[ConditionRow, ...]


def _conditions(when: dict | None, matched: dict) -> tuple[ConditionRow, ...]:
    if not when:
        return tuple(ConditionRow(fact_label(n), "", fact_value(n, v))
                     for n, v in sorted(matched.items()))
    rows = []
    for leaf, negated in _leaves(when):
        name = leaf["fact"]
        value = matched.get(name)
        op = next(k for k in leaf if k != "fact")
        wanted = requirement(leaf, None if op == "eq" else value, negated) or ""
        rows.append(ConditionRow(fact_label(name), wanted, "not recorded" if name not in
                                 matched else fact_value(name, value)))
    return tuple(rows)


def explain_entry(session: Session, case_id: int, seq: int
                  ) -> tuple[ExplainLine, list[DecisionRow]]:
    """Audit entry ``seq`` of ``case_id`` explained, with each rule decision it records
    laid out: rule, version and its publisher, and every condition against its input.

    Raises :class:`NotFound` when the case has no such entry.
    """
    entry = next((e for e in audit.iter_chain(session, case_id=case_id, after=seq - 1)
                  if e.seq == seq), None) if seq > 0 else None
    if entry is None:
        raise NotFound(f"case {case_id} has no audit entry {seq}",
                       details={"case_id": case_id, "seq": seq})
    versions = _Versions(session)
    section, text = _describe(entry, versions)
    line = ExplainLine(seq=entry.seq, at=entry.occurred_at, kind=entry.kind, section=section,
                       actor=entry.actor, text=text, person_ref=entry.person_ref,
                       hash=entry.hash, intact=audit.content_hash(entry) == entry.hash,
                       details={"summary": entry.summary, "payload": entry.payload})
    payload = entry.payload if isinstance(entry.payload, dict) else {}
    cause = payload.get("cause") if isinstance(payload.get("cause"), dict) else payload
    rows = []
    for d in cause.get("decisions") or [payload.get("decision")]:
        if not isinstance(d, dict) or not d.get("ruleset"):
            continue
        rule = versions.rule(d["ruleset"], d["version"], d["rule"])
        stored = versions.row(d["ruleset"], d["version"])
        note = (publication_note(session, stored) if stored is not None
                else "not found among stored versions")
        rows.append(DecisionRow(d["ruleset"], d["rule"], d["version"], note, d["action"],
                                rule.description if rule else None,
                                _conditions(rule.when if rule else None,
                                            d.get("matched") or {})))
    return line, rows


def latest_moves(session: Session, case_ids: list[int], *, to: str) -> dict[int, str]:
    """For each case, its latest move into state ``to`` in one short sentence: from
    where, when, by whom, and the rules or the reason that moved it (the full
    explanation is :func:`explain_case`'s). Cases the audit shows no such move for are
    left out. One query over the cases' transitions."""
    from db.models import AuditEntry

    if not case_ids:
        return {}
    rows = session.execute(select(AuditEntry.case_id, AuditEntry.occurred_at,
                                  AuditEntry.actor, AuditEntry.payload).where(
        AuditEntry.case_id.in_(case_ids), AuditEntry.kind == "case.transition")
        .order_by(AuditEntry.seq.desc())).all()
    out: dict[int, str] = {}
    for case_id, at, actor, payload in rows:
        if case_id in out or not isinstance(payload, dict) or payload.get("to") != to:
            continue
        cause = payload.get("cause") if isinstance(payload.get("cause"), dict) else {}
        rules = [f"{d.get('ruleset')}/{d.get('rule')}" for d in cause.get("decisions") or []
                 if isinstance(d, dict)]
        text = f"Moved from {payload.get('from')} on {day(at)} by {actor}"
        out[case_id] = (f"{text}: rules {', '.join(rules)} matched." if rules else
                        text + (f": {cause['reason']}." if cause.get("reason") else "."))
    return out
