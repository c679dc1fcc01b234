"""An independent, plain-Python evaluator of the rule condition language.

Written from the semantics stated in ``rules/conditions.py`` (and docs/rules.md), not
from the compiler, so the compiled durable-rules engine can be checked against it:

* ``{all: [...]}`` holds when every child holds; ``{any: [...]}`` when one does;
  ``{not: c}`` when ``c`` does not.
* A leaf compares one fact. A fact that is missing or None is *unknown*: every
  comparison (eq, ne, lt, lte, gt, gte, in, not_in, between) on it is false.
* ``known: true`` holds when the fact has a value, ``known: false`` when it has none.
* ``between: [low, high]`` is inclusive at both ends; ``in``/``not_in`` test membership.

Nothing here imports the ``rules`` package, so the benchmark may load it by path too.
"""

from __future__ import annotations

import operator

_COMPARE = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt,
    "lte": operator.le, "gt": operator.gt, "gte": operator.ge,
}


def _leaf(node: dict, facts: dict) -> bool:
    name = node["fact"]
    (op, expected), = ((k, v) for k, v in node.items() if k != "fact")
    value = facts.get(name)
    if op == "known":
        return (value is not None) == expected
    if value is None:
        return False
    if op in _COMPARE:
        return _COMPARE[op](value, expected)
    if op == "in":
        return any(value == v for v in expected)
    if op == "not_in":
        return all(value != v for v in expected)
    if op == "between":
        low, high = expected
        return low <= value <= high
    raise ValueError(f"unknown operator {op!r}")


def holds(node: dict, facts: dict) -> bool:
    """Whether condition ``node`` holds for the facts object ``facts``."""
    if "fact" in node:
        return _leaf(node, facts)
    if "not" in node:
        return not holds(node["not"], facts)
    if "all" in node:
        return all(holds(child, facts) for child in node["all"])
    if "any" in node:
        return any(holds(child, facts) for child in node["any"])
    raise ValueError(f"not a condition: {node!r}")


def fired(rules: dict[str, dict], facts: dict) -> set[str]:
    """Ids of the rules (``{rule id: condition}``) whose condition holds for ``facts``."""
    return {rule_id for rule_id, when in rules.items() if holds(when, facts)}
