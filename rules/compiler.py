"""Compile validated conditions into durable-rules JSON.

Facts are sent to the engine with nulls omitted and booleans as 0/1. Negation is
pushed down to the leaves (De Morgan); a negated comparison also holds when the fact
is missing, matching the reference semantics in ``rules/conditions.py``.
Every rule is anchored under ``$and`` with a positive test on the fact index: durable
hangs on a bare or top-level-``$or`` ``$nex`` (measured), never when anchored.
Nested groups of the same kind are merged (``$and`` in ``$and``, ``$or`` in ``$or``):
durable refuses a pattern with more than :data:`MAX_GROUPS` ``$and``/``$or`` groups
(error 113, measured), and :func:`engine_problem` lets a document be refused at load.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rules.document imports this module to check rules at load
    from rules.document import RuleSetDocument

INDEX = "_i"  # position of the fact object within its evaluation batch
MAX_GROUPS = 15  # durable-rules 2.0.28: at most 15 $and/$or groups in one pattern
MAX_TESTS = 200  # durable hangs registering ~510 tests in one group (measured)

_DURABLE = {"eq": "$eq", "ne": "$neq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}
_NEGATE = {"eq": "ne", "ne": "eq", "lt": "gte", "lte": "gt", "gt": "lte", "gte": "lt"}


def encode_value(value):
    """Booleans travel as 0/1: durable compares them reliably as numbers."""
    if isinstance(value, bool):
        return int(value)
    return value


def encode_facts(facts: dict, index: int, names: Iterable[str] | None = None) -> dict:
    """One engine message: non-null facts (only ``names`` if given), encoded, plus the index."""
    message = {INDEX: index}  # first: the engine reads it back from the start of a match
    for name in facts if names is None else names:
        value = facts.get(name)
        if value is not None:
            message[name] = int(value) if value.__class__ is bool else value
    return message


def _cmp(op: str, name: str, value) -> dict:
    return {_DURABLE[op]: {name: encode_value(value)}}


def _missing(name: str) -> dict:
    return {"$nex": {name: 1}}


def _leaf(node: dict, negate: bool) -> dict:
    name = node["fact"]
    op = next(k for k in node if k != "fact")
    value = node[op]
    if op == "known":
        present = value != negate
        return {"$ex": {name: 1}} if present else _missing(name)
    if op in _DURABLE:
        if not negate:
            return _cmp(op, name, value)
        return {"$or": [_cmp(_NEGATE[op], name, value), _missing(name)]}
    if op == "between":
        low, high = value
        if not negate:
            return {"$and": [_cmp("gte", name, low), _cmp("lte", name, high)]}
        return {"$or": [_cmp("lt", name, low), _cmp("gt", name, high), _missing(name)]}
    # in / not_in
    positive = (op == "in") != negate
    if positive:
        members = [_cmp("eq", name, v) for v in value]
        if negate:  # not(not_in): an absent fact is not "not in", so the negation holds
            members.append(_missing(name))
        return {"$or": members}
    excluded = {"$and": [_cmp("ne", name, v) for v in value]}
    if op == "not_in" and not negate:
        return excluded
    return {"$or": [excluded, _missing(name)]}  # not(in): absent also satisfies


def compile_condition(node: dict, negate: bool = False) -> dict:
    """durable-rules expression for a validated condition (optionally negated)."""
    if "fact" in node:
        return _leaf(node, negate)
    if "not" in node:
        return compile_condition(node["not"], not negate)
    key, children = next(iter(node.items()))
    conjunction = (key == "all") != negate
    return _group("$and" if conjunction else "$or",
                  [compile_condition(c, negate) for c in children])


def _group(kind: str, children: list[dict]) -> dict:
    """``{kind: children}`` with same-kind children merged in and a single child unwrapped."""
    merged: list[dict] = []
    for child in children:
        merged.extend(child[kind] if kind in child else [child])
    return merged[0] if len(merged) == 1 else {kind: merged}


def compile_pattern(when: dict) -> dict:
    """The anchored durable expression of one rule's validated condition."""
    return _group("$and", [{"$gte": {INDEX: 0}}, compile_condition(when)])  # always $and


def count_groups(expr: dict) -> int:
    """Number of ``$and``/``$or`` groups in a compiled expression."""
    for kind in ("$and", "$or"):
        if kind in expr:
            return 1 + sum(count_groups(child) for child in expr[kind])
    return 0


def count_tests(expr: dict) -> int:
    """Number of comparisons in a compiled expression."""
    for kind in ("$and", "$or"):
        if kind in expr:
            return sum(count_tests(child) for child in expr[kind])
    return 1


def engine_problem(when: dict) -> str | None:
    """Why the engine would refuse this validated condition, or None when it fits."""
    pattern = compile_pattern(when)
    tests = count_tests(pattern)
    if tests > MAX_TESTS:
        return (f"too many tests for the rule engine: {tests} comparisons once 'in' and "
                f"'not' are expanded (at most {MAX_TESTS}); split it into several rules")
    groups = count_groups(pattern)
    if groups <= MAX_GROUPS:
        return None
    return (f"too complex for the rule engine: {groups} all/any groups once 'not' is "
            f"expanded (at most {MAX_GROUPS}); split it into several rules")


def compile_ruleset(doc: RuleSetDocument) -> dict[str, dict]:
    """``{rule_id: {"all": [{"m": expr}]}}`` ready for the engine (actions added there)."""
    return {rule.id: {"all": [{"m": compile_pattern(rule.when)}]} for rule in doc.rules}
