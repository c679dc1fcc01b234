"""Why a case moved: its audit entries told as a plain-language chronology.

:func:`explain_case` reads only the audit log, the access log (who read the case) and
the stored rule-set versions (for publisher and condition wording), so it works after
the case itself was deleted under the retention policy. Rule-driven moves name the
rule, its version, who published it and when, and the facts that matched against what
the rule required; human decisions name who and why; manual overrides are marked and
listed apart (:func:`render_text`). Nothing is written.
"""

from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AccessRead, RuleSetVersion
from rules.actions import REGISTRY
from rules.catalogue import CATALOGUE
from rules.errors import RuleSetError
from workflow import audit
from workflow.errors import IllegalTransition, NotFound
from workflow.lifecycle import transition_for
from workflow.rulesets import document_of, publication_note

READ_KIND = "case.read"  # reads: the access log's rows (audit entries before 0015)
SECTIONS = ("system", "rule", "schedule", "human", "override", "access")
_PLAIN_UNITS = ("", "level", "category", "provider", "grade")
_OPS = {"ne": "not {}", "lt": "less than {}", "lte": "at most {}", "gt": "more than {}",
        "gte": "at least {}", "eq": "required: {}"}


@dataclass(frozen=True)
class ExplainLine:
    """One audit entry, explained. ``section`` is one of :data:`SECTIONS`; ``intact`` is
    False when the entry no longer matches its own hash (run ``iom audit verify``)."""

    seq: int
    at: datetime
    kind: str
    section: str
    actor: str
    text: str
    person_ref: str | None
    hash: str
    intact: bool
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


def day(value: datetime) -> str:
    """``3 March 2025``."""
    return f"{value.day} {value:%B %Y}"


def fact_label(name: str) -> str:
    """A readable label from the fact catalogue (its meaning, up to any colon)."""
    fact = CATALOGUE.get(name)
    return fact.meaning.split(":")[0] if fact else name.replace("_", " ")


def fact_value(name: str, value) -> str:
    """``81%``, ``yes``, ``12.5 points``, ``domestic burglary``, ``unknown``..."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        text = str(value) if isinstance(value, int) else f"{value:.2f}".rstrip("0").rstrip(".")
        unit = CATALOGUE[name].unit if name in CATALOGUE else ""
        return f"{text}%" if unit == "%" else text if unit in _PLAIN_UNITS else f"{text} {unit}"
    return str(value).replace("_", " ")


def _one_of(items: list[str], word: str) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


def _leaves(node: dict, negated: bool = False):
    if "fact" in node:
        yield node, negated
    elif "not" in node:
        yield from _leaves(node["not"], not negated)
    else:
        for child in next(iter(node.values())):
            yield from _leaves(child, negated)


def requirement(leaf: dict, value, negated: bool = False) -> str | None:
    """What one condition leaf asks of its fact, or None when stating it adds nothing."""
    name = leaf["fact"]
    op = next(k for k in leaf if k != "fact")
    arg = leaf[op]
    if op == "eq" and not negated and arg == value:
        return None
    if op == "known":
        return "must be known" if bool(arg) != negated else "must be unknown"
    if op in ("in", "not_in"):
        items = [fact_value(name, v) for v in arg]
        text = f"one of {_one_of(items, 'or')}" if op == "in" else f"none of {', '.join(items)}"
    elif op == "between":
        text = f"between {fact_value(name, arg[0])} and {fact_value(name, arg[1])}"
    else:
        text = _OPS[op].format(fact_value(name, arg))
    return f"not {text}" if negated else text


def describe_matched(matched: dict, when: dict | None) -> str:
    """``fact = value (requirement), ...`` for the facts a rule's condition named, in the
    order the condition names them (JSONB does not keep key order)."""
    leaves = list(_leaves(when)) if when else []
    order = list(dict.fromkeys(leaf["fact"] for leaf, _neg in leaves))  # the rule's order
    names = sorted(matched, key=lambda n: (order.index(n) if n in order else len(order), n))
    parts = []
    for name in names:
        value = matched[name]
        reqs = [r for leaf, neg in leaves if leaf["fact"] == name
                if (r := requirement(leaf, value, neg))]
        suffix = f" ({'; '.join(reqs)})" if reqs else ""
        parts.append(f"{fact_label(name)} = {fact_value(name, value)}{suffix}")
    return ", ".join(parts) or "no facts named"


class _Versions:
    """Stored rule-set versions looked up once per explanation."""

    def __init__(self, session: Session):
        self.session, self.rows = session, {}

    def row(self, name: str, version: str) -> RuleSetVersion | None:
        key = (name, version)
        if key not in self.rows:
            self.rows[key] = self.session.scalars(select(RuleSetVersion).where(
                RuleSetVersion.name == name, RuleSetVersion.version == version)).first()
        return self.rows[key]

    def rule(self, name: str, version: str, rule_id: str):
        row = self.row(name, version)
        try:
            doc = document_of(row) if row is not None else None
        except RuleSetError:  # a version no longer loadable: explain without conditions
            return None
        return next((r for r in doc.rules if r.id == rule_id), None) if doc else None

    def provenance(self, name: str, version: str) -> str:
        row = self.row(name, version)
        if row is None:
            return f"version {version[:12]}, not found among stored versions"
        return f"version {version[:12]}, {publication_note(self.session, row)}"


def describe_decision(d: dict, versions: _Versions) -> str:
    """One rule decision: rule, version, publisher, matched facts, the rule's own words
    (a decision redacted for the reader, ``withheld``, says only what it withholds)."""
    if d.get("withheld"):
        return f"a rule on {d.get('text')} ({d.get('ask')})"
    rule = versions.rule(d["ruleset"], d["version"], d["rule"])
    text = (f"rule {d['ruleset']}/{d['rule']} ({versions.provenance(d['ruleset'], d['version'])}"
            f") matched: {describe_matched(d.get('matched') or {}, rule.when if rule else None)}")
    return f"{text}. The rule says: {rule.description.rstrip('.')}" if rule else text


def _explain_rule_cause(cause: dict, versions: _Versions) -> str:
    decisions = cause.get("decisions") or []
    outcome = cause.get("outcome")
    decisive = [d for d in decisions if REGISTRY.get(d.get("action")) is None
                or REGISTRY[d["action"]].outcome == outcome] or decisions
    others = [d for d in decisions if d not in decisive]
    text = "; and ".join(describe_decision(d, versions) for d in decisive) or "no rule matched"
    if others:
        text += ". Also matched: " + "; ".join(describe_decision(d, versions) for d in others)
    if cause.get("policy"):
        text += f". Stage policy in force: version {cause['policy'][:12]}"
    return text


def _reason(data: dict) -> str:
    reason = data.get("reason")
    if isinstance(reason, dict) and reason.get("withheld"):  # redacted for the reader
        reason = f"{reason.get('text')} ({reason.get('ask')})"
    extra = {k: v for k, v in data.items() if k not in ("kind", "reason")
             and isinstance(v, str | int | float | bool)}
    text = f" Reason given: {reason}." if reason else " No reason was recorded."
    if extra:
        text += " Details: " + ", ".join(f"{k.replace('_', ' ')} = {v}" for k, v in extra.items())
    return text


def _meaning(source: str, event: str) -> str:
    try:
        return transition_for(source, event).meaning
    except IllegalTransition:
        return event.replace("_", " ")


def _is_override(entry) -> bool:
    cause = entry.payload.get("cause") if isinstance(entry.payload, dict) else None
    return entry.kind == "case.override" or (isinstance(cause, dict) and (
        cause.get("kind") == "override" or bool(cause.get("override"))))


def _overridden(override) -> str:
    """The exclusion a panel overrode (workflow/guards.py), in words."""
    if not isinstance(override, dict) or not override.get("rules"):
        return ""
    return (f" The panel accepted it although {', '.join(override['rules'])} excluded it "
            f"({override.get('exclusion', '')}); override reason: "
            f"{override.get('reason', '')}.")


def _transition(entry, versions: _Versions) -> tuple[str, str]:
    p, when = entry.payload, day(entry.occurred_at)
    cause = p.get("cause") or {}
    move = f"Moved from {p.get('from')} to {p.get('to')} on {when}"
    if _is_override(entry):
        return "override", (f"MANUAL OVERRIDE: {move[0].lower()}{move[1:]} by {entry.actor}."
                            + _reason(cause) + _overridden(cause.get("override")))
    if cause.get("kind") == "rule":
        return "rule", f"{move} because {_explain_rule_cause(cause, versions)}."
    meaning = _meaning(p.get("from"), p.get("event", ""))
    if cause.get("kind") == "schedule" or p.get("by") == "schedule":
        return "schedule", f"{move} automatically ({meaning})." + _reason(cause)
    return "human", f"{move} by {entry.actor} ({meaning})." + _reason(cause)


def _evaluated(entry, versions: _Versions) -> tuple[str, str]:
    p = entry.payload
    cause = p["cause"] if isinstance(p.get("cause"), dict) else p  # older entries: p is it
    stage = p.get("state") or "its stage"
    head = f"Checked against the rules in {stage} on {day(entry.occurred_at)}"
    if not cause.get("decisions"):
        return "rule", f"{head}: no rule matched, so the case stayed where it was."
    return "rule", (f"{head}: outcome {cause.get('outcome') or 'none'}, no move, because "
                    f"{_explain_rule_cause(cause, versions)}.")


def _describe(entry, versions: _Versions) -> tuple[str, str]:
    """(section, text) for one audit entry."""
    p, when, who = entry.payload, day(entry.occurred_at), entry.actor
    if entry.kind == "case.transition":
        return _transition(entry, versions)
    if entry.kind == "case.evaluated":
        return _evaluated(entry, versions)
    if _is_override(entry):
        return "override", f"MANUAL OVERRIDE by {who} on {when}: {entry.summary}." + _reason(p)
    if entry.kind == "case.opened":
        return "system", (f"Case opened in {p.get('state', 'mapping')} on {when} by {who} "
                          f"(episode {p.get('episode', 1)}).")
    if entry.kind == "case.decision":
        decision = p.get("decision") or p.get("event") or "decision"
        return "human", f"Panel decision '{decision}' recorded by {who} on {when}." + _reason(p)
    if entry.kind == "case.purged":
        return "system", (f"Case data deleted under the retention policy on {when} by {who} "
                          "(the audit trail is kept).")
    return "system", f"{entry.summary.rstrip('.')} ({who}, {when})."


def explain_case(session: Session, case_id: int, *, redact=None,
                 reads: bool = True) -> list[ExplainLine]:
    """Every audit entry about ``case_id``, oldest first, explained in plain language,
    with the reads of the case from the access log (``access_read``, section
    ``access``, ``seq`` = the read's row, ``hash`` empty: the rows are checked against
    their seals by ``iom audit verify``) merged in by time; without them when ``reads``
    is False, so that a timeline's cost does not grow with how often the case is read.
    ``case.read`` audit entries (reads before migration 0015) are skipped: they were
    copied into the access log.

    ``redact`` (``workflow.sharing``: an entry -> the entry as the reader may see it,
    with ``payload_shown``) is applied before wording, so an explanation never names a
    fact the reader may not see; the hash check is on the stored entry.
    Raises :class:`NotFound` when the audit (and, with ``reads``, the access log) holds
    nothing about the case.
    """
    versions, lines = _Versions(session), []
    for entry in audit.iter_chain(session, case_id=case_id, skip_kinds=(READ_KIND,)):
        shown = redact(entry) if redact else entry
        section, text = _describe(shown, versions)
        payload = shown.payload_shown if redact else entry.payload
        lines.append(ExplainLine(
            seq=entry.seq, at=entry.occurred_at, kind=entry.kind, section=section,
            actor=entry.actor, text=text, person_ref=shown.person_ref, hash=entry.hash,
            intact=audit.content_hash(entry) == entry.hash,
            details={"summary": shown.summary, "payload": payload}))
    if reads:
        lines = list(heapq.merge(lines, _read_lines(session, case_id), key=lambda x: x.at))
    if not lines:
        raise NotFound(f"the audit holds no entry about case {case_id}",
                       details={"case_id": case_id})
    return lines


def _read_lines(session: Session, case_id: int) -> list[ExplainLine]:
    """The case's reads from the access log, oldest first, as lines."""
    rows = session.execute(select(
        AccessRead.id, AccessRead.at, AccessRead.actor, AccessRead.what, AccessRead.role,
        AccessRead.agency, AccessRead.purpose, AccessRead.via
    ).where(AccessRead.case_id == case_id).order_by(AccessRead.id)).all()
    return [ExplainLine(
        seq=r.id, at=r.at, kind=READ_KIND, section="access", actor=r.actor,
        text=f"The {r.what} of the case was read by {r.actor} on {day(r.at)}.",
        person_ref=None, hash="", intact=True,
        details={"summary": f"{r.actor} read the {r.what}", "payload": {
            "role": r.role, "agency": r.agency, "purpose": r.purpose, "via": r.via}})
        for r in rows]


def explain_task(session: Session, case_id: int, task_id: int, *,
                 redact=None) -> str | None:
    """Why a task was raised, in plain words: the rule, its version and publisher, the
    facts that matched against what the rule requires (from the task's ``task.created``
    audit entry); None when the task was not raised by a rule decision. ``redact``
    (``workflow.sharing``: a decision -> as the reader may see it) is applied first: a
    decision on a fact the reader may not see is named only as such."""
    for entry in audit.iter_chain(session, case_id=case_id, kinds=("task.created",)):
        p = entry.payload if isinstance(entry.payload, dict) else {}
        if p.get("task_id") == task_id:
            decision = p.get("decision")
            if isinstance(decision, dict) and decision.get("ruleset") and redact:
                decision = redact(decision)
                if decision.get("withheld"):
                    return f"Raised by a rule on {decision['text']} ({decision['ask']})."
            if isinstance(decision, dict) and decision.get("ruleset"):
                return describe_decision(decision, _Versions(session))
            return None
    return None


def _stamp(line: ExplainLine) -> str:
    ref = f"read {line.seq}" if line.section == "access" else f"entry {line.seq}"
    return f"  {day(line.at)} {line.at:%H:%M} UTC  [{ref}]  {line.text}"


def render_text(case_id: int, lines: list[ExplainLine]) -> str:
    """The explanation as text a non-developer can read; overrides and reads apart."""
    refs = sorted({line.person_ref for line in lines if line.person_ref})
    out = [f"Case {case_id}" + (f" (person {', '.join(refs)})" if refs else ""), "",
           "What happened, oldest first:"]
    out += [_stamp(x) for x in lines if x.section != "access"]
    overrides = [x for x in lines if x.section == "override"]
    out += ["", "Manual overrides (decisions that set the rules aside):"]
    out += [_stamp(x) for x in overrides] or ["  none"]
    reads = [x for x in lines if x.section == "access"]
    if reads:
        out += ["", "Who looked at this case:"] + [_stamp(x) for x in reads]
    broken = [str(x.seq) for x in lines if not x.intact]
    out += ["", f"WARNING: entries {', '.join(broken)} no longer match their hashes; run "
            "'iom audit verify'." if broken else
            f"Each of these {len(lines)} entries matches its hash; 'iom audit verify' checks "
            "the whole chain."]
    return "\n".join(out) + "\n"

