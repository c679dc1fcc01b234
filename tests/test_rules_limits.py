"""Hostile rule documents are refused cheaply and precisely, never with a 500, a hang or
a crash; a document that loads is never refused later by the engine."""

from __future__ import annotations

import dataclasses
import json
import math
import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from reference_eval import holds

from rules.conditions import MAX_DEPTH, condition_facts
from rules.document import MAX_CHARS, MAX_NESTING, load_document
from rules.engine import RuleEngine, refusals
from rules.errors import RuleSetError

HEADER = "name: limits\nstages: [mapping]\ntitle: t\ndescription: d\nowner: o\n"
THEN = "{action: select, params: {reason: r}}"


def _problems(text: str) -> list[tuple]:
    with pytest.raises(RuleSetError) as caught:
        load_document(text, file="x.yaml")
    return [(p.rule_id, p.path, p.reason) for p in caught.value.problems]


def _one_rule(when: str) -> str:
    return (HEADER + "rules:\n  - id: r1\n    principles: [2]\n    description: d\n"
            f"    when: {when}\n    then: {THEN}\n")


def _alias_bomb() -> str:
    """Seven levels of ten aliases: 10^7 conditions once expanded, in about 640 bytes."""
    lines = [HEADER, "x0: &a0 {fact: ppo, eq: true}\n"]
    for level in range(1, 8):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"x{level}: &a{level} {{any: [{refs}]}}\n")
    lines.append(f"rules: [{{id: r1, principles: [2], description: d, when: *a7, then: {THEN}}}]\n")
    return "".join(lines)


def test_a_yaml_alias_bomb_is_refused_before_it_costs_anything():
    text = _alias_bomb()
    assert len(text) < 700
    tracemalloc.start()
    started = time.perf_counter()
    try:
        problems = _problems(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0 and peak < 2_000_000
    assert problems == [(None, "line 7, column 16",
                         "not valid YAML: aliases (*name) are not allowed in rule documents")]


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 30_000])
def test_deep_yaml_is_refused_without_recursion_error(depth):
    when = "{not: " * depth + "{fact: ppo, eq: true}" + "}" * depth
    [(rule_id, path, reason)] = _problems(_one_rule(when))
    assert rule_id is None and path.startswith("line 10, column ")
    assert reason == f"not valid YAML: nested more than {MAX_NESTING} levels deep"


def test_a_condition_nested_too_deep_is_refused_with_rule_and_path():
    depth = MAX_DEPTH + 1
    when = "{not: " * depth + "{fact: ppo, eq: true}" + "}" * depth
    [(rule_id, path, reason)] = _problems(_one_rule(when))
    assert (rule_id, path) == ("r1", "rules.0.when" + ".not" * depth)
    assert reason == f"nested more than {MAX_DEPTH} levels deep; split it into several rules"


def test_a_document_too_long_is_refused_before_parsing():
    text = _one_rule("{fact: ppo, eq: true}") + "#" * MAX_CHARS
    [(rule_id, path, reason)] = _problems(text)
    assert (rule_id, path) == (None, "document") and reason.endswith(f"at most {MAX_CHARS}")


@pytest.mark.parametrize("fact, kind", [("[ppo, dtoa]", "list"), ("{a: 1}", "dict"),
                                        ("12", "int"), ("null", "NoneType")])
def test_fact_of_the_wrong_type_names_rule_path_and_reason(fact, kind):
    assert _problems(_one_rule(f"{{fact: {fact}, eq: true}}")) == [
        ("r1", "rules.0.when.fact", f"expected a fact name, got {kind}")]


def test_an_in_list_too_long_for_the_engine_is_refused_at_load():
    values = ", ".join(str(i) for i in range(600))  # durable hangs registering this
    [(rule_id, path, reason)] = _problems(_one_rule(f"{{fact: arrests_window, in: [{values}]}}"))
    assert (rule_id, path) == ("r1", "rules.0.when")
    assert reason.startswith("too many tests for the rule engine: 601 comparisons")


@pytest.mark.parametrize("value, reason", [
    ("1.0e+300", "1e+300 is not a number below 10^15 in size"),
    (".inf", "inf is not a number below 10^15 in size"),
    (".nan", "nan is not a number below 10^15 in size"),
    ("1000000000000000000000", "1000000000000000000000 is not a number below 10^15 in size"),
    ("1.0e-320", "1e-320 is too small: use 0 or at least 0.0001"),
])
def test_numbers_the_engine_cannot_hold_are_refused_at_load(value, reason):
    assert _problems(_one_rule(f"{{fact: activity_score, gte: {value}}}")) == [
        ("r1", "rules.0.when.gte", f"fact activity_score: {reason}")]


def test_the_engine_check_at_load_catches_what_static_checks_would_miss():
    doc = load_document(_one_rule("{fact: activity_score, gte: 2.5}"))
    when = {"fact": "activity_score", "gte": 1e300}  # bypassing validation
    rule = dataclasses.replace(doc.rules[0], when=when, facts=tuple(condition_facts(when)))
    [(rule_id, reason)] = refusals(dataclasses.replace(doc, rules=(rule,)))
    assert rule_id == "r1" and reason.startswith("the rule engine refuses it: ")
    assert refusals(doc) == []


@pytest.fixture(scope="module")
def engine():
    return RuleEngine()


_NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                     st.integers(-(10**25), 10**25),
                     st.floats(min_value=-1e-3, max_value=1e-3),
                     st.sampled_from([1e15, 1e16, 1e-4, 9.9e-5, 123456789012.345]))


def _number_doc(op: str, threshold) -> str:
    return json.dumps({"name": "numbers", "stages": ["mapping"], "title": "t",
                       "description": "d", "owner": "o", "rules": [{
                           "id": "r1", "principles": [2], "description": "d",
                           "when": {"fact": "activity_score", op: threshold},
                           "then": {"action": "select", "params": {"reason": "r"}}}]},
                      allow_nan=True)


_OPS = st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op=_OPS, threshold=_NUMBERS)
def test_any_threshold_is_refused_at_load_or_taken_by_the_engine(engine, op, threshold):
    """durable refused thresholds in exponent form (codes 202/204) only at preview."""
    try:
        doc = load_document(_number_doc(op, threshold))
    except RuleSetError as exc:
        assert [p.path for p in exc.problems] == [f"rules.0.when.{op}"]
        return
    engine.register(doc)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op=_OPS, threshold=st.sampled_from([0, 1e-4, 0.00015, 2.5, 7, 1e14]),
       facts=st.lists(st.one_of(st.none(), _NUMBERS), min_size=1, max_size=8))
@example(op="gt", threshold=0, facts=[5e-05, 1e-9, 1e-300])  # measured: misread, crashed
@example(op="gte", threshold=2.5, facts=[1e20, 1e300])
def test_any_fact_value_evaluates_as_the_reference(engine, op, threshold, facts):
    """durable misread facts in exponent form (a small activity score: ``5e-05``) or
    crashed the process on them; every value the catalogue accepts must evaluate."""
    doc = load_document(_number_doc(op, threshold))
    rows = [{"activity_score": v} for v in facts
            if v is None or (math.isfinite(v) and 0 <= v < 10**15)]
    for row, decisions in zip(rows, engine.evaluate(doc, rows), strict=True):
        assert bool(decisions) == holds(doc.rules[0].when, row), (row, doc.rules[0].when)


@pytest.mark.usefixtures("published")
@pytest.mark.parametrize("when, path, reason", [
    ("{fact: [ppo, dtoa], eq: true}", "rules.0.when.fact", "expected a fact name, got list"),
    ("{not: " * 5000 + "{fact: ppo, eq: true}" + "}" * 5000, "line 10, column 228",
     f"not valid YAML: nested more than {MAX_NESTING} levels deep"),
])
def test_hostile_drafts_through_the_api_are_422_naming_rule_path_reason(
        client, make_user, when, path, reason):
    _, lead = make_user("lead1", role="team_lead")
    r = client.post("/api/v1/rulesets", json={"document": _one_rule(when), "reason": "x"},
                    headers={"Authorization": f"Bearer {lead}"})
    assert r.status_code == 422, r.get_json()
    [problem] = r.get_json()["error"]["details"]["problems"]
    assert (problem["path"], problem["reason"]) == (path, reason)
