"""The durable-rules engine in its measured safe mode: regressions for what was measured.

Each test names the durable behaviour it guards against; all use the real engine.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest

from rules.catalogue import CATALOGUE
from rules.decisions import sort_decisions
from rules.engine import RuleEngine
from rules.errors import FactError
from rules.library import shipped_documents

SHIPPED = shipped_documents()
MAPPING = [SHIPPED[n] for n in ("pan-london-selection", "mappa-exclusion",
                                "bromley-selection", "barnet-local-flex")]


def _fired(results) -> list[set[tuple[str, str]]]:
    return [{(d.ruleset, d.rule) for d in ds} for ds in results]


def test_first_evaluation_with_no_match_does_not_crash():
    """durable crashed deleting a rule set's first state when no action had run on it.

    Run in a fresh interpreter: a crash there fails this test instead of the session.
    """
    code = textwrap.dedent("""
        from rules.engine import RuleEngine
        from rules.library import shipped_documents
        doc = shipped_documents()["mappa-exclusion"]
        engine = RuleEngine()
        assert engine.evaluate(doc, [{}]) == [[]]
        assert engine.evaluate(doc, [{"mappa_level": 0}, {}]) == [[], []]
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_facts_matching_no_rule_do_not_lose_other_matches():
    """durable refuses a batch with an unmatched fact and drops the batch's actions."""
    doc = SHIPPED["mappa-exclusion"]
    facts = [{"mappa_level": 2}, {"mappa_level": 0}, {}, {"mappa_level": 3}]
    assert [[d.rule for d in ds] for ds in RuleEngine().evaluate(doc, facts)] == [
        ["mappa-level-2-3"], [], [], ["mappa-level-2-3"]]


def test_distinct_facts_are_never_taken_for_duplicates():
    """durable's own message ids are hashes: messages 1393 and 43140 of a fresh engine's
    first batch (sid e0) collided and durable raised MessageObservedException.
    The engine gives every message an explicit id."""
    engine = RuleEngine(batch_size=43_141)
    facts = [{} for _ in range(43_141)]
    facts[7] = {"mappa_level": 2}
    results = engine.evaluate(SHIPPED["mappa-exclusion"], facts)
    assert [i for i, ds in enumerate(results) if ds] == [7]


@pytest.mark.parametrize("batch_size", [1, 3, 500])
def test_evaluate_all_equals_each_document_alone(batch_size):
    facts = [
        {"ogrs_2yr": 80, "offence_category": "robbery", "newly_sentenced": True},
        {"ogrs_2yr": 62, "offence_category": "domestic_burglary", "newly_sentenced": True,
         "mappa_level": 2},
        {"sex": "F", "arrests_window": 7, "drug_arrests_window": 2, "statutory": True},
        {},
        {"ppo": True, "gang_grade": "high", "ogrs_2yr": 95},
    ]
    engine = RuleEngine(batch_size=batch_size)
    together = engine.evaluate_all(MAPPING, facts)
    alone = [engine.evaluate(doc, facts) for doc in MAPPING]
    merged = [sort_decisions([d for per_doc in alone for d in per_doc[i]])
              for i in range(len(facts))]
    assert together == merged
    assert _fired(together)[0] == {("pan-london-selection", "ogrs-75"),
                                   ("bromley-selection", "ogrs-75-burglary-robbery")}
    assert together[3] == []


def test_decisions_carry_rule_version_params_and_matched_facts():
    doc = SHIPPED["bromley-selection"]
    (decision,), = RuleEngine().evaluate(doc, [{"ogrs_2yr": 77, "offence_category": "robbery",
                                                "age": 30}])
    assert (decision.rule, decision.ruleset, decision.version) == (
        "ogrs-75-burglary-robbery", "bromley-selection", doc.version)
    assert decision.action == "select" and decision.outcome == "select"
    assert decision.params == {"reason": "OGRS 2-year 75%+ with burglary/robbery (Bromley focus)",
                               "cohort": "fixed"}
    assert decision.matched == {"ogrs_2yr": 77, "offence_category": "robbery"}


def test_registration_is_once_per_version():
    engine = RuleEngine()
    doc = SHIPPED["pan-london-selection"]
    assert engine.register(doc) == engine.register(doc) == doc.key
    assert engine.evaluate_all([], [{}]) == [[]]


@pytest.mark.parametrize("facts, reason", [
    ({"ogrs_2yr": "high"}, "facts[0]: fact ogrs_2yr: expected a number, got str"),
    ({"ogrs_2yr": 101}, "facts[0]: fact ogrs_2yr: 101 is above the maximum 100"),
    ({"arrests_window": 2.5}, "facts[0]: fact arrests_window: expected a whole number"),
    ({"age": True}, "facts[0]: fact age: expected a number, got bool"),
    ({"ppo": 1}, "facts[0]: fact ppo: expected true or false"),
    ({"sex": "X"}, "facts[0]: fact sex: 'X' is not one of M, F"),
    ([], "facts[0]: expected an object of facts"),
])
def test_facts_are_checked_against_the_catalogue(facts, reason):
    with pytest.raises(FactError) as caught:
        RuleEngine().evaluate(SHIPPED["mappa-exclusion"], [facts])
    assert str(caught.value) == reason


def test_valid_but_unusual_values_are_accepted():
    doc = SHIPPED["barnet-local-flex"]
    facts = [{"arrest_rank": 6.0, "arrests_window": 6.0, "statutory": False,
              "unknown_extra": "ignored"},
             {"activity_score": 3, "arrest_rank": 6, "arrests_window": 6, "statutory": False}]
    fired = _fired(RuleEngine().evaluate(doc, facts))
    assert fired == [{("barnet-local-flex", "top-arrested-free")}] * 2
    assert set(CATALOGUE) >= {"arrests_window", "statutory"}


def test_concurrent_evaluations_agree_with_serial():
    engine = RuleEngine(batch_size=50)
    facts = [{"ogrs_2yr": s % 101, "offence_category": "robbery", "newly_sentenced": s % 2 == 0,
              "mappa_level": s % 4, "arrests_window": s % 9, "statutory": s % 3 == 0}
             for s in range(400)]
    serial = _fired(engine.evaluate_all(MAPPING, facts))
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda _: _fired(engine.evaluate_all(MAPPING, facts)),
                                 range(4)))
    assert all(p == serial for p in parallel)


def _renamed(doc, name):
    """The shipped ``doc`` as another rule set (another name, hence another engine key)."""
    from pathlib import Path

    from rules.document import load_document

    text = (Path(__file__).resolve().parents[1] / "rules" / "sets" / f"{doc.name}.yaml"
            ).read_text(encoding="utf-8")
    return load_document(text.replace(f"name: {doc.name}", f"name: {name}", 1),
                         file=f"{name}.yaml")


def test_least_recently_used_groups_are_deleted_beyond_the_bound_and_come_back():
    """Each registered group holds ~120 KB of native memory: previews of many drafts
    must not grow a long-running process without bound."""
    engine = RuleEngine(max_groups=3)
    base = SHIPPED["pan-london-selection"]
    facts = [{"ogrs_2yr": 80, "newly_sentenced": True, "offence_category": "robbery"}]
    drafts = [_renamed(base, f"draft-{i}") for i in range(8)]
    first = _fired(engine.evaluate(drafts[0], facts))
    assert first == [{("draft-0", r) for _, r in _fired(engine.evaluate(base, facts))[0]}]
    for doc in drafts[1:]:
        engine.evaluate(doc, facts)
    assert engine.registered == tuple(d.key for d in drafts[-3:])
    assert _fired(engine.evaluate(drafts[0], facts)) == first  # registered again
    assert engine.registered[-1] == drafts[0].key and len(engine.registered) == 3


def test_a_group_in_use_is_never_deleted_under_a_running_evaluation():
    """Two threads alternate between more groups than the bound; a deleted group still
    in use would crash the process or lose decisions."""
    engine = RuleEngine(batch_size=10, max_groups=1)
    base = SHIPPED["pan-london-selection"]
    docs = [_renamed(base, f"draft-{i}") for i in range(4)]
    facts = [{"ogrs_2yr": 50 + s % 50, "newly_sentenced": True, "offence_category": "robbery"}
             for s in range(60)]
    expected = {d.name: _fired(engine.evaluate(d, facts)) for d in docs}

    def run(i):
        doc = docs[i % len(docs)]
        return _fired(engine.evaluate(doc, facts)) == expected[doc.name]
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert all(pool.map(run, range(40)))
    assert len(engine.registered) == 1
