"""Every selection criterion of the seeds is an example of a shipped rule set, quoting
the seed sentence it encodes, and passes through the real engine (issue 11 item 5)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rules.engine import RuleEngine
from rules.examples import run_examples
from rules.library import shipped_documents

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = shipped_documents()
SELECTION_SETS = ("pan-london-selection", "bromley-selection", "barnet-local-flex",
                  "sunderland-selection", "neighbourhood-crime-streams")

# DOMAIN.md "Selection criteria seen in the seeds" (and the 2021 refresh streams), phrase
# by phrase, verbatim: (model, phrase) -> (rule set, rules any of which a quoted example
# must fire with outcome select).
CRITERIA: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("Pan-London model", "newly sentenced with OGRS 50–74% and a robbery or burglary "
     "offence"): ("pan-london-selection", ("ogrs-50-74-acquisitive",)),
    ("Pan-London model", "OGRS 75%+"): ("pan-london-selection", ("ogrs-75",)),
    ("Bromley", "high-risk reoffenders"): ("bromley-selection", ("ogrs-75-other-offence",)),
    ("Bromley", "burglary and robbery focus"): ("bromley-selection",
                                                ("ogrs-75-burglary-robbery",)),
    ("Bromley", "OGRS 75%+ to qualify"): ("bromley-selection", ("ogrs-75-burglary-robbery",)),
    ("Barnet local flex", "burglary focus"): ("barnet-local-flex", (
        "burglary-nominal-flex", "burglary-nominal-free")),
    ("Barnet local flex", "PPO"): ("barnet-local-flex", ("ppo-flex", "ppo-free")),
    ("Barnet local flex", "drug-testing-on-arrest list"): ("barnet-local-flex", (
        "dtoa-flex", "dtoa-free")),
    ("Barnet local flex", "drug-offence arrests"): ("barnet-local-flex", (
        "drug-arrest-flex", "drug-arrest-free")),
    ("Barnet local flex", "gangs matrix grade"): ("barnet-local-flex", (
        "gang-high-flex", "gang-high-free", "gang-low-medium-flex", "gang-low-medium-free")),
    ("Barnet local flex", "repeat DV / MARAC perpetrators"): ("barnet-local-flex", (
        "marac-repeat-flex", "marac-repeat-free")),
    ("Barnet local flex", "top repeat arrested female suspects"): ("barnet-local-flex", (
        "repeat-female-flex", "repeat-female-free")),
    ("Barnet local flex", "ASB-type arrests"): ("barnet-local-flex", ("asb-flex", "asb-free")),
    ("Barnet local flex", "YOS recommendations"): ("barnet-local-flex", ("yos-flex", "yos-free")),
    ("Barnet local flex", "overall top repeat arrested suspects"): ("barnet-local-flex", (
        "top-arrested-flex", "top-arrested-free")),
    ("Sunderland", "top 200 high-crime causers from the PPO matrix and police arrest data"): (
        "sunderland-selection", ("top-200-crime-causers", "ppo-matrix")),
    ("Sunderland", "drug-related offenders (NI 38, DRR)"): ("sunderland-selection", (
        "ni38-dip-caseload", "on-drr")),
    ("Sunderland", "those not retained in treatment"): ("sunderland-selection", (
        "not-retained-in-treatment",)),
    ("2021 IOM refresh", "Fixed (a defined neighbourhood-crime cohort under supervision)"): (
        "neighbourhood-crime-streams", ("fixed-neighbourhood-crime",)),
    ("2021 IOM refresh", "Flex (local priorities)"): ("neighbourhood-crime-streams", (
        "flex-repeat-neighbourhood-crime", "flex-high-harm")),
    ("2021 IOM refresh", "Free (partners' choice, non-statutory)"): (
        "neighbourhood-crime-streams", ("free-partner-choice",)),
}


def _shared_dir() -> Path | None:
    """The project's shared folder (DOMAIN.md, seeds/) beside the checkout, if present."""
    configured = os.environ.get("IOM_SHARED_DIR")
    candidates = [Path(configured)] if configured else [p / "shared" for p in ROOT.parents]
    return next((c for c in candidates if (c / "DOMAIN.md").is_file()), None)


SHARED = _shared_dir()
needs_shared = pytest.mark.skipif(SHARED is None, reason="DOMAIN.md and seeds/ not beside "
                                  "the checkout (set IOM_SHARED_DIR)")


def _normal(text: str) -> str:
    text = re.sub(r"\*\*|</?b>|<sup>.*?</sup>", "", text)
    text = text.replace("–", "-").replace("—", "-").replace("’", "'").replace("“", '"')
    text = text.replace("”", '"')
    return re.sub(r"\s+", " ", text).strip().lower()


@pytest.fixture(scope="module")
def engine():
    return RuleEngine()


@pytest.mark.parametrize("key", list(CRITERIA), ids=[f"{m}: {p}" for m, p in CRITERIA])
def test_each_domain_criterion_is_a_quoted_passing_example(engine, key):
    name, rule_ids = CRITERIA[key]
    doc = SHIPPED[name]
    results = {r.name: r for r in run_examples(doc, engine)}
    encoding = [ex for ex in doc.examples if ex.quote and ex.outcome == "select"
                and set(ex.rules or ()) & set(rule_ids)]
    assert encoding, f"{key}: no quoted example of {name} fires {rule_ids}"
    assert all(results[ex.name].passed for ex in encoding), [
        results[ex.name].describe() for ex in encoding]


@pytest.mark.parametrize("name", SELECTION_SETS)
def test_selection_sets_quote_their_source_on_every_selecting_example(name):
    doc = SHIPPED[name]
    unquoted = [ex.name for ex in doc.examples if ex.outcome == "select" and not ex.quote]
    assert not unquoted, f"{name}: examples without the sentence they encode: {unquoted}"


@needs_shared
def test_criteria_table_follows_domain_md():
    text = (SHARED / "DOMAIN.md").read_text(encoding="utf-8")
    section = text[text.index("## Selection criteria seen in the seeds"):]
    section = section[:section.index("\n## ", 3)]
    bullets = {m.group(1): m.group(2) for m in re.finditer(
        r"^- \*\*(.+?)\*\* \(\d+[^)]*\): (.+)$", section, re.M)}
    assert set(bullets) == {m for m, _ in CRITERIA} - {"2021 IOM refresh"}
    for model, phrase in CRITERIA:
        where = bullets.get(model, text)
        assert phrase in where, f"{phrase!r} is not in DOMAIN.md's {model} criteria"


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_shipped_set_quotes_the_sentence_it_encodes(name):
    assert any(ex.quote for ex in SHIPPED[name].examples), (
        f"{name}: no example quotes the source sentence it encodes")


@needs_shared
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_quotes_are_verbatim_from_the_seeds_or_domain(name):
    sources = [SHARED / "DOMAIN.md", *sorted((SHARED / "seeds").glob("*.txt"))]
    corpus = [_normal(p.read_text(encoding="utf-8")) for p in sources]
    for ex in SHIPPED[name].examples:
        if ex.quote:
            assert any(_normal(ex.quote) in text for text in corpus), (
                f"{name}: {ex.name}: quote not found verbatim: {ex.quote!r}")


def test_iom_rules_test_shipped_passes_in_a_real_process():
    iom = str(Path(sys.executable).with_name("iom"))
    proc = subprocess.run([iom, "rules", "test", "--shipped"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in SELECTION_SETS:
        assert f"PASS {name}:" in proc.stdout
    assert re.search(r"(\d+) examples, \1 passed, 0 failed", proc.stdout)
