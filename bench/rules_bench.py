"""Benchmark the rules path of the mapping stage against a hand-written floor.

Run ``python -m bench.rules_bench [--cases N] [--seed S] [--profile]``. Evaluates what
the mapping stage is configured to run: the rule sets of the stage policy that
``config.toml`` seeds (the policy published on a fresh database: the exclusion guards,
the mapping stage's own sets and any programme-link set written for mapping, exactly
as ``workflow.advance.stage_ruleset_names`` picks them), over deterministic synthetic
facts checked once at their source (``rules.catalogue.checked_facts``, as
``workflow.facts`` does), through :meth:`rules.engine.RuleEngine.evaluate_all`.

In the same run, the **floor**: a hand-written Python function of the same conditions
over the same facts (:func:`floor_fired`), once returning only which rules fired and
once building the same :class:`rules.decisions.Decision` objects the engine returns
(:func:`floor_decisions`). Prints cases per second, the engine / floor ratios (target:
within 10x of the floor with decision objects) and checks that all agree. The
reference interpreter of the tests (``tests/reference_eval.py``) is timed too.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import pstats
import random
import sys
import time
from pathlib import Path

from rules.catalogue import OFFENCE_CATEGORIES, checked_facts
from rules.decisions import Decision, sort_decisions
from rules.engine import RuleEngine
from rules.library import shipped_documents
from workflow.advance import Policy, stage_ruleset_names
from workflow.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 10.0  # engine within 10x of the floor, with decision objects
_REFERENCE = ROOT / "tests" / "reference_eval.py"
FLOOR_SETS = ("youth-age-floor", "mappa-exclusion", "pan-london-selection")
ACQUISITIVE = frozenset(("robbery", "domestic_burglary", "other_burglary"))


def configured_documents(stage: str = "mapping") -> list:
    """The shipped documents the seeded stage policy evaluates for ``stage``."""
    policy = Policy.from_settings(load_settings(ROOT / "config.toml", env={}))
    guards, own, extra = stage_ruleset_names(policy, stage)
    shipped = shipped_documents()
    return [*(shipped[n] for n in (*guards, *own)),
            *(shipped[n] for n in extra if stage in shipped[n].stages)]


def load_reference():
    """The reference interpreter of the tests, imported by path (tests/ is no package)."""
    spec = importlib.util.spec_from_file_location("reference_eval", _REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _maybe(rng: random.Random, value, p_missing: float = 0.1):
    return None if rng.random() < p_missing else value


def synthetic_case(rng: random.Random) -> dict:
    """One plausible facts object; about 10% of most facts are unknown."""
    supervision = rng.choices(("NPS", "CRC", "none"), (2, 5, 3))[0]
    arrests = min(int(rng.expovariate(0.4)), 40)
    age = rng.randint(15, 70)
    return {
        "ogrs_2yr": _maybe(rng, rng.randint(5, 99)),
        "ogrs_1yr": _maybe(rng, rng.randint(2, 95)),
        "offence_category": _maybe(rng, rng.choice(OFFENCE_CATEGORIES)),
        "newly_sentenced": rng.random() < 0.3,
        "mappa_level": rng.choices((0, 1, 2, 3), (90, 6, 3, 1))[0],
        "statutory": supervision != "none",
        "supervision": _maybe(rng, supervision, 0.05),
        "sex": rng.choices(("M", "F"), (85, 15))[0],
        "age": age,
        "days_to_18th_birthday": rng.randint(1, 1100) if age < 18 else 0,
        "ppo": rng.random() < 0.05, "dtoa": rng.random() < 0.04,
        "marac_repeat": rng.random() < 0.03, "yos_referral": rng.random() < 0.3,
        "asb": rng.random() < 0.04,
        "gang_grade": rng.choices((None, "high", "medium", "low"), (94, 1, 2, 3))[0],
        "arrests_window": arrests,
        "drug_arrests_window": min(arrests, int(rng.expovariate(1.5))),
        "convictions_window": min(arrests, int(rng.expovariate(0.8))),
        "activity_score": round(rng.expovariate(0.2), 2),
        "days_in_state": rng.randint(0, 400),
    }


def synthetic_cases(n: int, seed: int) -> list:
    """``n`` facts objects, each checked once here, at its source."""
    rng = random.Random(seed)
    return [checked_facts(synthetic_case(rng)) for _ in range(n)]


def floor_fired(f: dict) -> list[tuple[str, str]]:
    """The floor: the configured mapping sets' conditions written by hand."""
    out = []
    age, d18 = f.get("age"), f.get("days_to_18th_birthday")
    if age is not None and age < 18:
        out.append(("youth-age-floor", "under-18"))
    if d18 is not None and d18 > 0:
        out.append(("youth-age-floor", "assess-on-18th-birthday"))
        if d18 <= 90 and f.get("yos_referral") is True:
            out.append(("youth-age-floor", "yos-transition-worker"))
            out.append(("youth-age-floor", "yos-transition-team-lead"))
    if f.get("mappa_level") in (2, 3):
        out.append(("mappa-exclusion", "mappa-level-2-3"))
    ogrs = f.get("ogrs_2yr")
    if f.get("newly_sentenced") is True and ogrs is not None:
        if ogrs >= 75:
            out.append(("pan-london-selection", "ogrs-75"))
        elif ogrs >= 50 and f.get("offence_category") in ACQUISITIVE:
            out.append(("pan-london-selection", "ogrs-50-74-acquisitive"))
    return out


def floor_decisions(docs):
    """The floor building the engine's decision objects (same fields, same order)."""
    rules = {(d.name, r.id): (d, r) for d in docs for r in d.rules}

    def decide(f: dict) -> list[Decision]:
        out = []
        for key in floor_fired(f):
            doc, rule = rules[key]
            out.append(Decision(rule.id, doc.name, doc.version, rule.action, rule.params,
                                rule.priority, {n: f.get(n) for n in rule.facts}))
        return sort_decisions(out) if len(out) > 1 else out
    return decide


def _timed(fn, cases) -> tuple[float, list]:
    start = time.perf_counter()
    out = [fn(c) for c in cases]
    return time.perf_counter() - start, out


def run_engine(docs, cases) -> tuple[float, list]:
    """Seconds for one evaluation with the group already registered, and the decisions."""
    engine = RuleEngine()
    engine.evaluate_all(docs, cases[:10])  # registration is once per version, not timed
    start = time.perf_counter()
    decisions = engine.evaluate_all(docs, cases)
    return time.perf_counter() - start, decisions


def run_reference(docs, cases, reference) -> tuple[float, list[set]]:
    rule_sets = [(d.name, {r.id: r.when for r in d.rules}) for d in docs]
    return _timed(lambda c: {(name, rid) for name, rules in rule_sets
                             for rid in reference.fired(rules, c)}, cases)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rules_bench")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20141031)
    parser.add_argument("--profile", action="store_true", help="cProfile the engine run")
    args = parser.parse_args(argv)

    docs = configured_documents()
    names = tuple(d.name for d in docs)
    if sorted(names) != sorted(FLOOR_SETS):
        print(f"the mapping stage now runs {names}: the floor covers {FLOOR_SETS}")
        return 1
    cases = synthetic_cases(args.cases, args.seed)
    print(f"{len(cases)} synthetic cases (seed {args.seed}); mapping runs {len(docs)} rule "
          f"sets ({', '.join(names)}), {sum(len(d.rules) for d in docs)} rules")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(run_engine, docs, cases)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    engine_s, decisions = run_engine(docs, cases)
    floor_s, fired = _timed(floor_fired, cases)
    objects_s, floor_objects = _timed(floor_decisions(docs), cases)
    reference_s, reference_fired = run_reference(docs, cases, load_reference())
    for label, seconds in (("engine (durable-rules, evaluate_all)", engine_s),
                           ("floor, rules fired only", floor_s),
                           ("floor with decision objects", objects_s),
                           ("reference interpreter (tests)", reference_s)):
        print(f"{label + ':':38} {seconds:7.2f} s {len(cases) / seconds:11,.0f} cases/s")
    ratio, ratio_plain = engine_s / objects_s, engine_s / floor_s
    print(f"engine / floor: {ratio:.1f}x with decision objects, {ratio_plain:.1f}x without "
          f"(cases with a rule fired: {sum(1 for d in decisions if d)})")
    agree = (decisions == floor_objects
             and [{(d.ruleset, d.rule) for d in ds} for ds in decisions]
             == [set(f) for f in fired] == reference_fired)
    print(f"engine, floor and reference agree on every case: {'yes' if agree else 'NO'}")
    print(f"target: within {TARGET_RATIO:.0f}x of the floor with decision objects: "
          f"{'met' if ratio <= TARGET_RATIO else 'NOT met'}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
