"""``iom rules validate | test | facts | actions``: file-level commands, no database."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main
from cli.rules import facts_markdown
from rules.actions import REGISTRY
from rules.catalogue import CATALOGUE
from rules.library import SETS_DIR

ROOT = Path(__file__).resolve().parent.parent
GOOD = """\
name: tiny-set
stages: [mapping]
title: t
description: d
owner: o
rules:
  - id: high-risk
    principles: [5]
    description: d
    when: {fact: ogrs_2yr, gte: 75}
    then: {action: select, params: {reason: OGRS 75+}}
examples:
  - name: high
    facts: {ogrs_2yr: 80}
    expect: {outcome: select, rules: [high-risk]}
  - name: low
    facts: {ogrs_2yr: 20}
    expect: {outcome: null, rules: []}
"""


@pytest.fixture
def write(tmp_path):
    def _write(name: str, text: str) -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)
    return _write


def test_validate_ok(write, capsys):
    path = write("good.yaml", GOOD)
    assert main(["rules", "validate", path]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: OK tiny-set@") and "(1 rules, 2 examples" in out


def test_validate_prints_every_problem_and_exits_2(write, capsys):
    good = write("good.yaml", GOOD)
    bad = write("bad.yaml", GOOD.replace("gte: 75", "gte: high")
                .replace("action: select", "action: arrest"))
    missing = str(Path(good).with_name("missing.yaml"))
    assert main(["rules", "validate", good, bad, missing]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{good}: OK")
    assert lines[1] == (f"{bad}: rule high-risk: rules.0.when.gte: "
                        "fact ogrs_2yr: expected a number, got str")
    assert lines[2].startswith(f"{bad}: rule high-risk: rules.0.then.action: unknown action")
    assert lines[3].startswith(f"{missing}: rule -: document: cannot read")
    assert len(lines) == 4


def test_test_passes_and_fails_per_example(write, capsys):
    good = write("good.yaml", GOOD)
    assert main(["rules", "test", good]) == 0
    out = capsys.readouterr().out
    assert "PASS tiny-set: high: expected outcome=select rules=[high-risk]; got outcome=select" \
        in out
    assert out.rstrip().endswith("2 examples, 2 passed, 0 failed")

    wrong = write("wrong.yaml", GOOD.replace("facts: {ogrs_2yr: 20}", "facts: {ogrs_2yr: 90}"))
    assert main(["rules", "test", wrong]) == 1
    out = capsys.readouterr().out
    assert ("FAIL tiny-set: low: expected outcome=null rules=[]; "
            "got outcome=select rules=[high-risk]") in out
    assert out.rstrip().endswith("2 examples, 1 passed, 1 failed")


def test_test_refuses_an_invalid_document(write, capsys):
    bad = write("bad.yaml", GOOD.replace("ogrs_2yr, gte", "ogrs_9yr, gte"))
    assert main(["rules", "test", bad]) == 2
    assert "unknown fact 'ogrs_9yr'" in capsys.readouterr().out


def test_test_shipped(capsys):
    assert main(["rules", "test", "--shipped"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    assert all(f"PASS {p.stem}:" in out for p in SETS_DIR.glob("*.yaml"))


def test_facts_prints_the_catalogue_and_docs_are_current(capsys):
    assert main(["rules", "facts"]) == 0
    out = capsys.readouterr().out
    assert out == facts_markdown()
    for name in CATALOGUE:
        assert f"| `{name}` |" in out
    committed = (ROOT / "docs" / "facts.md").read_text(encoding="utf-8")
    assert committed == out, "docs/facts.md is stale: run `iom rules facts > docs/facts.md`"


def test_actions_lists_every_action_with_parameters(capsys):
    assert main(["rules", "actions"]) == 0
    out = capsys.readouterr().out
    for name in REGISTRY:
        assert f"| `{name}` |" in out
    assert "`tier`: string; one of low, medium, high, very_high; required" in out
    assert "`cohort`: string; one of fixed, flex, free; default 'fixed'" in out
