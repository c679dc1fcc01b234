"""Redaction at serialisation: facts, audit entries, explanations, tasks and events as a
:class:`~workflow.sharing.decide.Decision` allows. Rule evaluation never goes through
here: the rules see every fact; only what people are shown is redacted.

* a fact of a group not shown is replaced by the group's marker (``mask``) or left
  out (``none``);
* a rule decision that matched such a fact is replaced by
  ``{"withheld": true, "text": "a partner flag you may not see", "ask": ...}``: its
  rule and rule-set names are withheld too (``marac-repeat`` names the flag);
* free text (``reason``, ``details``, notes) needs the ``notes`` group; an audit
  summary that named a withheld fact is rebuilt from the redacted payload;
* the person's names in free text are replaced when identity is not shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from workflow.sharing.decide import Decision
from workflow.sharing.groups import ENTRY_KIND_GROUPS, FACT_GROUPS, MASK, phrase
from workflow.tasks.templates import template

FREE_TEXT_KEYS = ("reason", "details", "note", "notes", "comment", "outcome_note")


class _Walk:
    def __init__(self, decision: Decision):
        self.decision, self.groups = decision, set()

    def withheld_fact(self, name: str) -> str | None:
        group = FACT_GROUPS.get(name)
        return group if group and not self.decision.shows(group) else None

    def decision_entry(self, d: dict):
        """A rule decision; one that matched a withheld fact says only that (not which
        group: "a rule on a partner flag you may not see, ask the team lead")."""
        matched = d.get("matched") if isinstance(d.get("matched"), dict) else {}
        hidden = sorted({g for n in matched if (g := self.withheld_fact(n))})
        if not hidden:
            return {k: self.value(k, v) for k, v in d.items()}
        self.groups.update(hidden)
        return {"withheld": True, "text": phrase(hidden[0]),
                "ask": self.decision.general_ask, "action": d.get("action")}

    def left_out(self, key) -> bool:
        """A fact of a group at ``none`` is left out (and noted as withheld)."""
        group = self.withheld_fact(key) if isinstance(key, str) else None
        if group and self.decision.level(group) == "none":
            self.groups.add(group)
            return True
        return False

    def value(self, key, value):
        if isinstance(key, str) and (group := self.withheld_fact(key)):
            self.groups.add(group)
            return self.decision.marker(group)
        if key in FREE_TEXT_KEYS and not self.decision.shows("notes"):
            self.groups.add("notes")
            return self.decision.marker("notes")
        if key == "decisions" and isinstance(value, list):
            return [self.decision_entry(d) if isinstance(d, dict) else d for d in value]
        if isinstance(value, dict):
            return {k: self.value(k, v) for k, v in value.items() if not self.left_out(k)}
        if isinstance(value, list):
            return [self.value(None, v) for v in value]
        if isinstance(value, str):
            return scrub_names(value, self.decision)
        return value


def redact_facts(facts: dict, decision: Decision) -> dict:
    """A facts mapping (or any payload) as ``decision`` allows."""
    return _Walk(decision).value(None, facts)


def scrub_names(text: str, decision: Decision) -> str:
    """``text`` with the person's names replaced when identity is not shown."""
    if decision.shows("identity") or not decision.names:
        return text
    pattern = "|".join(re.escape(n) for n in sorted(decision.names, key=len, reverse=True))
    return re.sub(rf"\b(?:{pattern})\b", MASK, text)


@dataclass(frozen=True)
class RedactedEntry:
    """An audit entry as a viewer may see it (same attributes as an ``AuditEntry``)."""

    seq: int
    occurred_at: datetime
    actor: str
    kind: str
    case_id: int | None
    person_ref: str | None
    summary: str
    payload: dict
    hash: str
    withheld: list[str] = field(default_factory=list)  # groups redacted from it
    payload_shown: object = None  # the payload for output: itself, a marker or None

    def as_dict(self) -> dict:
        out = {"seq": self.seq, "occurred_at": self.occurred_at, "actor": self.actor,
               "kind": self.kind, "summary": self.summary, "hash": self.hash}
        if self.payload_shown is not None:
            out["payload"] = self.payload_shown
        return out


def _describe_decisions(decisions: list) -> str:
    parts = []
    for d in decisions:
        if not isinstance(d, dict):
            continue
        if d.get("withheld"):
            parts.append(f"a rule on {d['text']} ({d['ask']})")
            continue
        matched = ", ".join(f"{k} = {v}" for k, v in (d.get("matched") or {}).items())
        parts.append(f"rule {d.get('ruleset')}/{d.get('rule')} matched: {matched}")
    return "; ".join(parts) or "no rule matched"


def _summary(kind: str, payload: dict, groups: set[str], decision: Decision) -> str:
    cause = payload.get("cause") if isinstance(payload.get("cause"), dict) else payload
    if kind == "case.transition" and "from" in payload:
        return (f"Moved from {payload.get('from')} to {payload.get('to')} because "
                f"{_describe_decisions(cause.get('decisions') or [])}")
    if kind == "case.evaluated":
        return f"Checked against the rules: {_describe_decisions(cause.get('decisions') or [])}"
    first = sorted(groups)[0]
    return f"{kind}: the summary names {phrase(first)} ({decision.general_ask})"


def redact_entry(entry, decision: Decision) -> RedactedEntry:
    """An audit entry (row or chain tuple) as ``decision`` allows: facts of withheld
    groups out of its payload and summary; the payload itself needs the ``audit`` group
    (a marker when masked, left out when none)."""
    payload = entry.payload if isinstance(entry.payload, dict) else {}
    walk = _Walk(decision)
    group = ENTRY_KIND_GROUPS.get(entry.kind)
    if group and not decision.shows(group):  # the entry is a record of that group
        walk.groups.add(group)
        shown = {"withheld": decision.marker(group)}
    else:
        shown = walk.value(None, payload)
    summary = (_summary(entry.kind, shown, walk.groups, decision) if walk.groups
               else scrub_names(entry.summary, decision))
    level = decision.level("audit")
    out = shown if level == "show" else decision.marker("audit") if level == "mask" else None
    return RedactedEntry(entry.seq, entry.occurred_at, entry.actor, entry.kind,
                         entry.case_id, None if decision.restricted else entry.person_ref,
                         summary, shown, entry.hash,
                         sorted(walk.groups), out)


def task_view(task, decision: Decision) -> dict | None:
    """A task as ``decision`` allows: None when the ``tasks`` group is ``none``; title
    and body as markers when masked; else the person's names scrubbed when identity is
    not shown, and the body withheld when its template names a withheld fact."""
    level = decision.level("tasks")
    if level == "none":
        return None
    data = {name: getattr(task, name) for name in (
        "id", "case_id", "template", "title", "body", "role", "agency", "assignee_id",
        "priority", "status", "outcome", "due_at", "rule_id", "ruleset", "ruleset_version",
        "created_at", "completed_at")}
    if level == "mask":
        data.update(title=decision.marker("tasks"), body=decision.marker("tasks"))
        return data
    data["title"] = scrub_names(task.title, decision)
    data["body"] = scrub_names(task.body or "", decision)
    hidden = {g for g in _template_groups(task.template) if not decision.shows(g)}
    if hidden:
        data["body"] = decision.marker(sorted(hidden)[0])
    return data


@cache  # the templates are read once per process (``load_templates``)
def _template_groups(name: str) -> frozenset[str]:
    """The field groups of the facts a task template's wording names (``$fact``)."""
    found = template(name)
    text = f"{found.get('title', '')} {found.get('body', '')}"
    return frozenset(FACT_GROUPS[n] for n in re.findall(r"\$\{?([a-z0-9_]+)", text)
                     if n in FACT_GROUPS)


# A masked event keeps its row id, case and times; its partner reference (``E-ZX-1``
# names the record in the partner's system), kind, details and recorder are withheld.
_EVENT_MASKED = ("event_id", "kind", "details", "recorded_by")


def event_view(event, decision: Decision) -> dict | None:
    """A compliance event as ``decision`` allows (None: the group is ``none``; masked:
    only its row id, case and times are shown)."""
    level = decision.level("compliance")
    if level == "none":
        return None
    data = {"id": event.id, "event_id": event.event_id, "case_id": event.case_id,
            "kind": event.kind, "occurred_at": event.occurred_at,
            "details": event.details or {}, "recorded_by": event.recorded_by,
            "recorded_at": event.recorded_at}
    if level == "mask":  # the row exists; what, whose reference and who recorded it do not
        data.update({key: decision.marker("compliance") for key in _EVENT_MASKED})
    elif not decision.shows("notes"):
        data["details"] = decision.marker("notes")
    return data


def plain(value) -> str:
    """Text for an e-mail: the value, or a marker said in words."""
    if isinstance(value, dict) and value.get("withheld"):
        return f"[{value.get('text')}: {value.get('ask')}]"
    return str(value)
