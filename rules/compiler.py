"""Compile validated conditions into durable-rules JSON.

Facts are sent to the engine with nulls omitted and booleans as 0/1. Negation is
pushed down to the leaves (De Morgan); a negated comparison also holds when the fact
is missing, matching the reference semantics in ``rules/conditions.py``.
Every rule is anchored under ``$and`` with a positive test on the fact index: durable
hangs on a bare or top-level-``$or`` ``$nex`` (measured), never when anchored.
"""

from __future__ import annotations

from rules.document import RuleSetDocument

INDEX = "_i"  # position of the fact object within its evaluation batch

_DURABLE = {"eq": "$eq", "ne": "$neq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}
_NEGATE = {"eq": "ne", "ne": "eq", "lt": "gte", "lte": "gt", "gt": "lte", "gte": "lt"}


def encode_value(value):
    """Booleans travel as 0/1: durable compares them reliably as numbers."""
    if isinstance(value, bool):
        return int(value)
    return value


def encode_facts(facts: dict, index: int) -> dict:
    """One engine message: non-null facts, encoded, plus the batch index."""
    message = {name: encode_value(v) for name, v in facts.items() if v is not None}
    message[INDEX] = index
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
        return {"$or": [_cmp("eq", name, v) for v in value]}
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
    compiled = [compile_condition(c, negate) for c in children]
    return {"$and" if conjunction else "$or": compiled}


def compile_ruleset(doc: RuleSetDocument) -> dict[str, dict]:
    """``{rule_id: {"all": [{"m": expr}]}}`` ready for the engine (actions added there)."""
    return {
        rule.id: {"all": [{"m": {"$and": [{"$gte": {INDEX: 0}},
                                          compile_condition(rule.when)]}}]}
        for rule in doc.rules
    }
