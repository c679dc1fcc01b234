"""Rule-set documents: broken ones are refused precisely; shipped ones pass their examples."""

from __future__ import annotations

import textwrap

import pytest

from rules.document import load_document
from rules.engine import RuleEngine
from rules.errors import RuleSetError
from rules.examples import run_examples
from rules.library import shipped_documents

HEADER = """\
name: broken-set
stages: [mapping]
title: t
description: d
owner: o
"""


def _problems(body: str, file: str = "sets/broken.yaml") -> list[tuple]:
    with pytest.raises(RuleSetError) as caught:
        load_document(HEADER + textwrap.dedent(body), file=file)
    return [(p.file, p.rule_id, p.path, p.reason) for p in caught.value.problems]


def _rule(rule_id: str, when: str, then: str = "{action: select, params: {reason: r}}") -> str:
    return (f"  - id: {rule_id}\n    principles: [2]\n    description: d\n"
            f"    when: {when}\n    then: {then}\n")


@pytest.fixture(scope="module")
def engine():
    return RuleEngine()


def test_unknown_fact():
    problems = _problems("rules:\n" + _rule("r1", "{fact: ogrs_3yr, gte: 75}"))
    assert problems == [("sets/broken.yaml", "r1", "rules.0.when.fact",
                         "unknown fact 'ogrs_3yr' (see the fact catalogue)")]


def test_wrong_type_comparison():
    problems = _problems("rules:\n" + _rule("r1", "{fact: ogrs_2yr, gte: high}"))
    assert problems == [("sets/broken.yaml", "r1", "rules.0.when.gte",
                         "fact ogrs_2yr: expected a number, got str")]


def test_value_out_of_range_and_not_a_choice():
    problems = _problems("rules:\n" + _rule("r1", "{all: [{fact: ogrs_2yr, gte: 101}, "
                                                  "{fact: gang_grade, eq: extreme}]}"))
    assert [(p[2], p[3].split(":")[0]) for p in problems] == [
        ("rules.0.when.all.0.gte", "fact ogrs_2yr"), ("rules.0.when.all.1.eq", "fact gang_grade")]
    assert "above the maximum 100" in problems[0][3]
    assert "'extreme' is not one of high, medium, low" in problems[1][3]


def test_ordering_on_a_string_fact():
    problems = _problems("rules:\n" + _rule("r1", "{not: {fact: sex, gt: F}}"))
    assert problems == [("sets/broken.yaml", "r1", "rules.0.when.not.gt",
                         "fact sex is string: ordering comparisons need a number")]


def test_between_low_above_high():
    problems = _problems("rules:\n" + _rule("r1", "{fact: ogrs_2yr, between: [74, 50]}"))
    assert problems == [("sets/broken.yaml", "r1", "rules.0.when.between", "low is above high")]


def test_unknown_action():
    problems = _problems("rules:\n" + _rule("r1", "{fact: ppo, eq: true}",
                                            "{action: arrest, params: {}}"))
    assert len(problems) == 1
    file, rule_id, path, reason = problems[0]
    assert (file, rule_id, path) == ("sets/broken.yaml", "r1", "rules.0.then.action")
    assert reason.startswith("unknown action 'arrest'; known: ") and "select" in reason


@pytest.mark.parametrize("then, path, reason", [
    ("{action: select, params: {}}", "rules.0.then.params.reason",
     "Missing data for required field."),
    ("{action: set_intensity, params: {tier: extreme}}", "rules.0.then.params.tier",
     "Must be one of: low, medium, high, very_high."),
    ("{action: select, params: {reason: r, colour: red}}", "rules.0.then.params.colour",
     "Unknown field."),
    ("{action: create_task, params: {template: t, role: police, sla_working_days: -1}}",
     "rules.0.then.params.sla_working_days",
     "Must be greater than or equal to 0 and less than or equal to 365."),
])
def test_bad_action_params(then, path, reason):
    problems = _problems("rules:\n" + _rule("r1", "{fact: ppo, eq: true}", then))
    assert problems == [("sets/broken.yaml", "r1", path, reason)]


def test_duplicate_rule_id():
    problems = _problems("rules:\n" + _rule("r1", "{fact: ppo, eq: true}")
                         + _rule("r1", "{fact: dtoa, eq: true}"))
    assert problems == [("sets/broken.yaml", "r1", "rules.1.id", "duplicate rule id")]


def test_bad_yaml_names_the_line():
    problems = _problems("rules:\n" + _rule("r1", "{fact: ppo, eq: true") + "  - id: [\n")
    assert len(problems) == 1
    file, rule_id, path, reason = problems[0]
    assert (file, rule_id) == ("sets/broken.yaml", None)
    # the flow mapping opened on line 10 is found unclosed where line 11 starts
    assert path == "line 11, column 9" and reason.startswith("not valid YAML")


def test_schema_problem_names_the_rule():
    problems = _problems("rules:\n  - id: r1\n    description: d\n"
                         "    when: {fact: ppo, eq: true}\n"
                         "    then: {action: select, params: {reason: r}}\n")
    assert problems == [("sets/broken.yaml", "r1", "rules.0.principles",
                         "Missing data for required field.")]


def test_every_problem_is_reported_at_once():
    problems = _problems("rules:\n" + _rule("r1", "{fact: nope, eq: 1}")
                         + _rule("r2", "{fact: ogrs_2yr, lt: x}", "{action: nope}")
                         + "examples:\n  - name: e\n    facts: {ogrs_2yr: high}\n"
                           "    expect: {outcome: select, rules: [r9]}\n")
    assert [(p[1], p[2]) for p in problems] == [
        ("r1", "rules.0.when.fact"), ("r2", "rules.1.when.lt"), ("r2", "rules.1.then.action"),
        (None, "examples.0.facts.ogrs_2yr"), ("r9", "examples.0.expect.rules")]


def test_problem_prints_as_file_rule_path_reason():
    with pytest.raises(RuleSetError) as caught:
        load_document(HEADER + "rules:\n" + _rule("r1", "{fact: nope, eq: 1}"), file="f.yaml")
    assert str(caught.value.problems[0]) == (
        "f.yaml: rule r1: rules.0.when.fact: unknown fact 'nope' (see the fact catalogue)")


SHIPPED = shipped_documents()


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_set_passes_its_examples(engine, name):
    doc = SHIPPED[name]
    results = run_examples(doc, engine)
    assert results, f"{name} has no examples"
    failures = [r.describe() for r in results if not r.passed]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_set_examples_cover_every_rule(name):
    doc = SHIPPED[name]
    shown = {rid for ex in doc.examples for rid in ex.rules or ()}
    assert shown == {r.id for r in doc.rules}, f"rules without an example: " \
        f"{sorted({r.id for r in doc.rules} - shown)}"


def test_every_principle_is_encoded_by_the_shipped_sets():
    principles = {p for doc in SHIPPED.values() for rule in doc.rules for p in rule.principles}
    assert principles == {1, 2, 3, 4, 5}
    for name, principle in [("lead-professional", 1), ("barnet-local-flex", 2),
                            ("bromley-selection", 2), ("enforcement-triggers", 3),
                            ("programme-links", 4), ("intensity-by-risk", 5)]:
        assert any(principle in r.principles for r in SHIPPED[name].rules), name


def test_failing_example_is_reported_with_expected_and_actual(engine):
    text = (HEADER + "rules:\n" + _rule("r1", "{fact: ogrs_2yr, gte: 75}")
            + "examples:\n  - name: wrong on purpose\n    facts: {ogrs_2yr: 60}\n"
              "    expect: {outcome: select, rules: [r1]}\n"
              "  - name: right\n    facts: {ogrs_2yr: 80}\n"
              "    expect: {outcome: select}\n")
    results = run_examples(load_document(text), engine)
    assert [r.passed for r in results] == [False, True]
    assert results[0].describe() == (
        "FAIL broken-set: wrong on purpose: expected outcome=select rules=[r1]; "
        "got outcome=null rules=[]")
    assert results[1].describe().startswith("PASS broken-set: right: expected outcome=select;")


def test_lead_professional_names_exactly_one_lead(engine):
    """Principle 1: every case gets exactly one lead, whatever its supervision."""
    doc = SHIPPED["lead-professional"]
    cases = [{"supervision": s} for s in ("NPS", "CRC", "none", None)]
    leads = [[(d.params["agency"], d.params["professional"]) for d in ds
              if d.action == "assign_lead"] for ds in engine.evaluate(doc, cases)]
    assert leads == [[("NPS", "offender_manager")], [("CRC", "offender_manager")],
                     [("police", "police_lead")], [("police", "police_lead")]]


def test_intensity_has_exactly_one_tier_per_score(engine):
    """Principle 5: one tier per OGRS score, in the published bands; none without a score."""
    doc = SHIPPED["intensity-by-risk"]
    results = engine.evaluate(doc, [{"ogrs_2yr": s} for s in range(101)] + [{}])
    tiers = [[d.params["tier"] for d in ds] for ds in results]
    expected = (["low"] * 50 + ["medium"] * 25 + ["high"] * 15 + ["very_high"] * 11)
    assert tiers == [[t] for t in expected] + [[]]


def test_mapping_sets_together_exclusion_beats_local_selection(engine):
    docs = [SHIPPED[n] for n in ("pan-london-selection", "mappa-exclusion",
                                 "bromley-selection", "barnet-local-flex")]
    from rules.decisions import outcome_of

    results = engine.evaluate_all(docs, [
        {"ogrs_2yr": 80, "offence_category": "robbery", "mappa_level": 3, "ppo": True},
        {"ogrs_2yr": 80, "offence_category": "robbery", "mappa_level": 0},
        {"ogrs_2yr": 20, "sex": "F", "arrests_window": 5, "arrest_rank_female": 3,
         "statutory": False},
        {"ogrs_2yr": 20, "arrests_window": 1}])
    assert [outcome_of(ds) for ds in results] == ["exclude", "select", "select", None]
    assert {d.params.get("cohort") for d in results[2]} == {"free"}


def _alternating(groups: int) -> str:
    """all: [any: [...], ...] with ``groups`` any-groups (the engine pattern adds one $and)."""
    pair = "{any: [{fact: ppo, eq: true}, {fact: arrests_window, gte: 3}]}"
    return "{all: [" + ", ".join([pair] * groups) + "]}"


def test_condition_too_complex_for_the_engine_is_refused_at_load():
    problems = _problems("rules:\n" + _rule("r1", _alternating(15)))
    assert problems == [("sets/broken.yaml", "r1", "rules.0.when",
                         "too complex for the rule engine: 16 all/any groups once 'not' is "
                         "expanded (at most 15); split it into several rules")]


def test_condition_at_the_engine_limit_loads_and_evaluates(engine):
    doc = load_document(HEADER + "rules:\n" + _rule("r1", _alternating(14)))
    results = engine.evaluate(doc, [{"ppo": True}, {"arrests_window": 3}, {"ppo": False}, {}])
    assert [[d.rule for d in ds] for ds in results] == [["r1"], ["r1"], [], []]
