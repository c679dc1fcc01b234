"""The condition language: validation against the fact catalogue, and the facts named.

A condition is one of::

    {all: [cond, ...]}   {any: [cond, ...]}   {not: cond}
    {fact: NAME, OP: VALUE}    OP in eq ne lt lte gt gte in not_in between known

Semantics (also the reference the compiled engine is tested against): a comparison
on an unknown (null) fact is false; ``not`` negates; ``known: true`` holds when the
fact has a value.
"""

from __future__ import annotations

from collections.abc import Iterator

from rules.catalogue import CATALOGUE, value_problem

COMPARISONS = ("eq", "ne", "lt", "lte", "gt", "gte")
ORDERED = ("lt", "lte", "gt", "gte")
OPERATORS = COMPARISONS + ("in", "not_in", "between", "known")


MAX_DEPTH = 12  # all/any/not levels above a fact test
MIN_FRACTION = 1e-4  # smaller non-zero numbers cannot be given to the rule engine


def _check_leaf(node: dict, path: str) -> Iterator[tuple[str, str]]:
    name = node["fact"]
    if not isinstance(name, str):  # e.g. a list: unhashable, and not a name anyway
        yield f"{path}.fact", f"expected a fact name, got {type(name).__name__}"
        return
    fact = CATALOGUE.get(name)
    if fact is None:
        yield f"{path}.fact", f"unknown fact {name!r} (see the fact catalogue)"
        return
    ops = [k for k in node if k != "fact"]
    if len(ops) != 1 or ops[0] not in OPERATORS:
        yield path, f"expected exactly one operator of {', '.join(OPERATORS)}; got {ops}"
        return
    op, value = ops[0], node[ops[0]]
    where = f"{path}.{op}"
    if op == "known":
        if not isinstance(value, bool):
            yield where, "expected true or false"
        return
    if op in ORDERED and fact.type not in ("integer", "number"):
        yield where, f"fact {name} is {fact.type}: ordering comparisons need a number"
        return
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            yield where, "expected a non-empty list"
            return
        values = value
    elif op == "between":
        if (not isinstance(value, list) or len(value) != 2
                or fact.type not in ("integer", "number")):
            yield where, "expected [low, high] on a numeric fact"
            return
        values = value
        if all(isinstance(v, int | float) for v in value) and value[0] > value[1]:
            yield where, "low is above high"
    else:
        values = [value]
    for v in values:
        if v is None:
            yield where, "compare with a value; use 'known' to test for a missing fact"
            continue
        reason = value_problem(name, v)
        if reason:
            yield where, f"fact {name}: {reason}"
        elif isinstance(v, float) and v and abs(v) < MIN_FRACTION:
            yield where, f"fact {name}: {v} is too small: use 0 or at least {MIN_FRACTION}"


def check_condition(node, path: str, depth: int = 0) -> Iterator[tuple[str, str]]:
    """Yield ``(path, reason)`` for every problem in the condition tree.

    Nesting deeper than :data:`MAX_DEPTH` is refused before it is walked further, so
    no condition can exhaust the stack here or in the compiler.
    """
    if depth > MAX_DEPTH:
        yield path, f"nested more than {MAX_DEPTH} levels deep; split it into several rules"
        return
    if not isinstance(node, dict) or len(node) == 0:
        yield path, "expected a condition mapping"
        return
    if "fact" in node:
        yield from _check_leaf(node, path)
        return
    if len(node) != 1:
        yield path, f"expected one of all/any/not or a fact test; got {sorted(node)}"
        return
    (key, value), = node.items()
    if key in ("all", "any"):
        if not isinstance(value, list) or not value:
            yield f"{path}.{key}", "expected a non-empty list of conditions"
            return
        for i, child in enumerate(value):
            yield from check_condition(child, f"{path}.{key}.{i}", depth + 1)
    elif key == "not":
        yield from check_condition(value, f"{path}.not", depth + 1)
    else:
        yield path, f"unknown key {key!r}: expected all, any, not or fact"


def condition_facts(node) -> list[str]:
    """Facts named by a valid condition, in first-use order, without repeats."""
    out: list[str] = []

    def walk(n):
        if "fact" in n:
            if n["fact"] not in out:
                out.append(n["fact"])
        elif "not" in n:
            walk(n["not"])
        else:
            for child in next(iter(n.values())):
                walk(child)

    walk(node)
    return out
