"""Rule-set documents: YAML text -> validated :class:`RuleSetDocument` with a content hash.

Every problem found is reported at once as ``file, rule id, path, reason``
(:class:`rules.errors.RuleSetError`). Nothing is evaluated here and no user text is
ever executed: conditions are data, actions are names looked up in the registry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from rules.actions import REGISTRY
from rules.catalogue import STAGES
from rules.compiler import engine_problem
from rules.conditions import check_condition, condition_facts
from rules.errors import Problem, RuleSetError

NAME = validate.Regexp(r"^[a-z0-9][a-z0-9-]{1,78}$", error="lower-case letters, digits, '-'")


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class ThenSchema(_Strict):
    action = fields.String(required=True)
    params = fields.Dict(keys=fields.String(), load_default=dict)


class RuleSchema(_Strict):
    id = fields.String(required=True, validate=NAME)
    principles = fields.List(fields.Integer(validate=validate.Range(1, 5)), required=True,
                             validate=validate.Length(min=1))
    description = fields.String(required=True, validate=validate.Length(min=1))
    priority = fields.Integer(load_default=0)
    when = fields.Raw(required=True)
    then = fields.Nested(ThenSchema, required=True)


class ExpectSchema(_Strict):
    outcome = fields.String(allow_none=True, required=True)
    rules = fields.List(fields.String(), load_default=None)


class ExampleSchema(_Strict):
    name = fields.String(required=True)
    quote = fields.String(load_default=None, validate=validate.Length(min=1, max=1000))
    facts = fields.Dict(keys=fields.String(), required=True)
    expect = fields.Nested(ExpectSchema, required=True)


class DocumentSchema(_Strict):
    name = fields.String(required=True, validate=NAME)
    stages = fields.List(fields.String(validate=validate.OneOf(STAGES)), required=True,
                         validate=validate.Length(min=1))
    title = fields.String(required=True)
    description = fields.String(required=True)
    owner = fields.String(required=True)
    source = fields.String(load_default="")
    effective_from = fields.Date(load_default=None, allow_none=True)
    effective_to = fields.Date(load_default=None, allow_none=True)
    rules = fields.List(fields.Nested(RuleSchema), required=True,
                        validate=validate.Length(min=1))
    examples = fields.List(fields.Nested(ExampleSchema), load_default=list)


@dataclass(frozen=True)
class Rule:
    id: str
    principles: tuple[int, ...]
    description: str
    priority: int
    when: dict
    action: str
    params: dict
    facts: tuple[str, ...]  # facts the condition names, in first-use order


@dataclass(frozen=True)
class Example:
    name: str
    facts: dict
    outcome: str | None
    rules: tuple[str, ...] | None
    quote: str | None = None  # the source sentence (seed) the example encodes, verbatim


@dataclass(frozen=True)
class RuleSetDocument:
    name: str
    stages: tuple[str, ...]
    title: str
    description: str
    owner: str
    source: str
    effective_from: date | None
    effective_to: date | None
    rules: tuple[Rule, ...]
    examples: tuple[Example, ...]
    version: str  # sha256 of the canonical document
    text: str = field(repr=False, default="")

    @property
    def key(self) -> str:
        """The engine registration key, ``name@hash12``."""
        return f"{self.name}@{self.version[:12]}"

    def in_force(self, on: date) -> bool:
        return ((self.effective_from is None or self.effective_from <= on)
                and (self.effective_to is None or on <= self.effective_to))


def _flatten(messages, path: str) -> list[tuple[str, str]]:
    if isinstance(messages, dict):
        out = []
        for key, value in messages.items():
            out.extend(_flatten(value, f"{path}.{key}" if path else str(key)))
        return out
    return [(path, m) for m in (messages if isinstance(messages, list) else [messages])]


def _rule_id(raw, index) -> str | None:
    try:
        return str(raw["rules"][int(index)]["id"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def _schema_problems(raw: dict, file: str, exc: ValidationError) -> list[Problem]:
    problems = []
    for path, reason in _flatten(exc.messages, ""):
        parts = path.split(".")
        rule_id = _rule_id(raw, parts[1]) if parts[0] == "rules" and len(parts) > 1 else None
        problems.append(Problem(file, rule_id, path, reason))
    return problems


def _canonical(raw) -> str:
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)


MAX_CHARS = 256 * 1024  # a rule document's text; the largest shipped one is ~15 KB
MAX_NESTING = 40  # YAML levels: a condition nests at most MAX_DEPTH all/any/not
MAX_NODES = 20_000  # YAML values in one document


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases (``*name``: 638 bytes of them expanded to 10^7
    conditions) and stops composing past :data:`MAX_NESTING` levels or
    :data:`MAX_NODES` values, before building or walking anything large or deep."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def _refuse(self, problem: str):
        raise yaml.composer.ComposerError(None, None, problem, self.peek_event().start_mark)

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._refuse("aliases (*name) are not allowed in rule documents")
        self._nodes += 1
        if self._nodes > MAX_NODES:
            self._refuse(f"more than {MAX_NODES} values in one document")
        if self._depth >= MAX_NESTING:
            self._refuse(f"nested more than {MAX_NESTING} levels deep")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def parse_yaml(text: str, file: str) -> dict:
    """The top-level mapping of a YAML document, loaded within the limits above (also used
    for stage-policy documents); :class:`RuleSetError` names where it fails."""
    if len(text) > MAX_CHARS:
        raise RuleSetError([Problem(file, None, "document", f"is {len(text)} characters "
                                    f"long; a rule document may have at most {MAX_CHARS}")])
    try:
        raw = yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "document"
        reason = getattr(exc, "problem", None) or str(exc)
        raise RuleSetError([Problem(file, None, where, f"not valid YAML: {reason}")]) from exc
    if not isinstance(raw, dict):
        raise RuleSetError([Problem(file, None, "document", "expected a mapping at the top")])
    return raw


def _check_rules(data: dict, file: str) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, rule in enumerate(data["rules"]):
        rid, base = rule["id"], f"rules.{i}"
        if rid in seen:
            problems.append(Problem(file, rid, f"{base}.id", "duplicate rule id"))
        seen.add(rid)
        condition = [Problem(file, rid, path, reason)
                     for path, reason in check_condition(rule["when"], f"{base}.when")]
        problems.extend(condition)
        too_complex = None if condition else engine_problem(rule["when"])
        if too_complex:
            problems.append(Problem(file, rid, f"{base}.when", too_complex))
        action = REGISTRY.get(rule["then"]["action"])
        if action is None:
            problems.append(Problem(file, rid, f"{base}.then.action",
                                    f"unknown action {rule['then']['action']!r}; known: "
                                    + ", ".join(sorted(REGISTRY))))
            continue
        try:
            rule["then"]["params"] = action.params().load(rule["then"]["params"])
        except ValidationError as exc:
            for path, reason in _flatten(exc.messages, f"{base}.then.params"):
                problems.append(Problem(file, rid, path, reason))
    return problems


def _check_examples(data: dict, file: str) -> list[Problem]:
    from rules.catalogue import value_problem

    problems = []
    rule_ids = {r["id"] for r in data["rules"]}
    for i, example in enumerate(data["examples"]):
        for name, value in example["facts"].items():
            reason = value_problem(name, value)
            if reason:
                problems.append(Problem(file, None, f"examples.{i}.facts.{name}", reason))
        for rid in example["expect"]["rules"] or []:
            if rid not in rule_ids:
                problems.append(Problem(file, rid, f"examples.{i}.expect.rules",
                                        "names a rule not in this document"))
    return problems


def load_document(text: str, *, file: str = "<document>") -> RuleSetDocument:
    """Parse and validate a rule-set document: size and YAML limits, schema, conditions
    against the catalogue, then every rule compiled by the real engine, so a document
    that loads is never refused later at preview or evaluation.

    Raises :class:`RuleSetError` listing every problem (``file, rule id, path, reason``).
    """
    raw = parse_yaml(text, file)
    try:
        data = DocumentSchema().load(raw)
    except ValidationError as exc:
        raise RuleSetError(_schema_problems(raw, file, exc)) from exc
    problems = _check_rules(data, file) + _check_examples(data, file)
    if (data["effective_from"] and data["effective_to"]
            and data["effective_to"] < data["effective_from"]):
        problems.append(Problem(file, None, "effective_to", "is before effective_from"))
    if problems:
        raise RuleSetError(problems)
    rules = tuple(
        Rule(r["id"], tuple(r["principles"]), r["description"], r["priority"], r["when"],
             r["then"]["action"], r["then"]["params"], tuple(condition_facts(r["when"])))
        for r in data["rules"]
    )
    examples = tuple(
        Example(e["name"], e["facts"], e["expect"]["outcome"],
                tuple(e["expect"]["rules"]) if e["expect"]["rules"] is not None else None,
                e["quote"])
        for e in data["examples"]
    )
    doc = RuleSetDocument(
        name=data["name"], stages=tuple(data["stages"]), title=data["title"],
        description=data["description"], owner=data["owner"], source=data["source"],
        effective_from=data["effective_from"], effective_to=data["effective_to"],
        rules=rules, examples=examples,
        version=hashlib.sha256(_canonical(raw).encode()).hexdigest(), text=text,
    )
    from rules.engine import refusals  # the engine module imports this one

    position = {rule.id: i for i, rule in enumerate(rules)}
    refused = [Problem(file, rid, f"rules.{position[rid]}.when", reason)
               for rid, reason in refusals(doc)]
    if refused:
        raise RuleSetError(refused)
    return doc
