"""Benchmark: the mapping-stage rule sets over 100,000 synthetic cases.

Run ``python -m bench.rules_bench [--cases N] [--seed S] [--profile]``. Builds
deterministic synthetic facts, evaluates the stage ``mapping`` documents
(pan-london-selection, mappa-exclusion, bromley-selection, barnet-local-flex) through
:meth:`rules.engine.RuleEngine.evaluate_all`, and the same conditions with the plain
Python reference evaluator (``tests/reference_eval.py``) in the same run. Prints cases
per second for both, their ratio, and checks that both fired the same rules.
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

from rules.catalogue import OFFENCE_CATEGORIES
from rules.engine import RuleEngine
from rules.library import shipped_documents

MAPPING_SETS = ("pan-london-selection", "mappa-exclusion", "bromley-selection",
                "barnet-local-flex")
TARGET = 20_000  # cases per second, end to end through the engine
_REFERENCE = Path(__file__).resolve().parent.parent / "tests" / "reference_eval.py"


def load_reference():
    """The plain-Python reference evaluator, imported by path (tests/ is not a package)."""
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
    return {
        "ogrs_2yr": _maybe(rng, rng.randint(5, 99)),
        "ogrs_1yr": _maybe(rng, rng.randint(2, 95)),
        "offence_category": _maybe(rng, rng.choice(OFFENCE_CATEGORIES)),
        "newly_sentenced": rng.random() < 0.3,
        "mappa_level": rng.choices((0, 1, 2, 3), (90, 6, 3, 1))[0],
        "statutory": supervision != "none",
        "supervision": _maybe(rng, supervision, 0.05),
        "sex": rng.choices(("M", "F"), (85, 15))[0],
        "age": rng.randint(15, 70),
        "ppo": rng.random() < 0.05, "dtoa": rng.random() < 0.04,
        "marac_repeat": rng.random() < 0.03, "yos_referral": rng.random() < 0.02,
        "asb": rng.random() < 0.04,
        "gang_grade": rng.choices((None, "high", "medium", "low"), (94, 1, 2, 3))[0],
        "arrests_window": arrests,
        "drug_arrests_window": min(arrests, int(rng.expovariate(1.5))),
        "convictions_window": min(arrests, int(rng.expovariate(0.8))),
        "activity_score": round(rng.expovariate(0.2), 2),
        "days_in_state": rng.randint(0, 400),
    }


def synthetic_cases(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [synthetic_case(rng) for _ in range(n)]


def run_engine(docs, cases) -> tuple[float, list[set[tuple[str, str]]]]:
    """Seconds for one cold evaluation (registration included) and the rules fired."""
    engine = RuleEngine()
    start = time.perf_counter()
    decisions = engine.evaluate_all(docs, cases)
    elapsed = time.perf_counter() - start
    return elapsed, [{(d.ruleset, d.rule) for d in ds} for ds in decisions]


def run_plain(docs, cases, reference) -> tuple[float, list[set[tuple[str, str]]]]:
    """Seconds for the same conditions evaluated in plain Python, and the rules fired."""
    rule_sets = [(d.name, {r.id: r.when for r in d.rules}) for d in docs]
    start = time.perf_counter()
    fired = [{(name, rid) for name, rules in rule_sets for rid in reference.fired(rules, c)}
             for c in cases]
    return time.perf_counter() - start, fired


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rules_bench")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20141031)
    parser.add_argument("--profile", action="store_true", help="cProfile the engine run")
    args = parser.parse_args(argv)

    shipped = shipped_documents()
    docs = [shipped[name] for name in MAPPING_SETS]
    cases = synthetic_cases(args.cases, args.seed)
    rules = sum(len(d.rules) for d in docs)
    print(f"{len(cases)} synthetic cases (seed {args.seed}); {len(docs)} mapping rule sets, "
          f"{rules} rules")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(run_engine, docs, cases)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    engine_s, engine_fired = run_engine(docs, cases)
    plain_s, plain_fired = run_plain(docs, cases, load_reference())
    engine_rate, plain_rate = len(cases) / engine_s, len(cases) / plain_s
    selected = sum(1 for f in engine_fired if f)
    print(f"engine (durable-rules, evaluate_all): {engine_s:7.2f} s  {engine_rate:10,.0f} cases/s")
    print(f"plain Python reference:               {plain_s:7.2f} s  {plain_rate:10,.0f} cases/s")
    print(f"engine / plain: {engine_rate / plain_rate:.2f}x  "
          f"(cases with at least one rule fired: {selected})")
    agree = engine_fired == plain_fired
    print(f"engine and plain evaluation agree on every case: {'yes' if agree else 'NO'}")
    print(f"target {TARGET:,} cases/s: {'met' if engine_rate >= TARGET else 'NOT met'}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
