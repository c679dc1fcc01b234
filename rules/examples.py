"""Run a rule-set document's own examples through a real engine.

Pure apart from the engine it is given: nothing is stored and nothing is printed.
An example passes when the combined outcome of the document's decisions equals the
expected outcome and, when the example lists ``rules``, the set of rules that fired
equals that list (order does not matter).
"""

from __future__ import annotations

from dataclasses import dataclass

from rules.decisions import outcome_of
from rules.document import RuleSetDocument
from rules.errors import FactError


def _show(outcome: str | None) -> str:
    return "null" if outcome is None else outcome  # as written in the YAML document


@dataclass(frozen=True)
class ExampleResult:
    """The result of one example: what was expected, what happened, and whether they agree."""

    ruleset: str
    name: str
    expected_outcome: str | None
    expected_rules: tuple[str, ...] | None  # None: the example does not check rules
    actual_outcome: str | None
    actual_rules: tuple[str, ...]  # sorted rule ids that fired
    error: str | None = None  # why the example could not be evaluated

    @property
    def passed(self) -> bool:
        if self.error is not None or self.expected_outcome != self.actual_outcome:
            return False
        return (self.expected_rules is None
                or tuple(sorted(self.expected_rules)) == self.actual_rules)

    def describe(self) -> str:
        """One line: ``PASS|FAIL ruleset: example: expected ...; got ...``."""
        status = "PASS" if self.passed else "FAIL"
        expected = f"outcome={_show(self.expected_outcome)}"
        if self.expected_rules is not None:
            expected += f" rules=[{', '.join(sorted(self.expected_rules))}]"
        actual = (f"error: {self.error}" if self.error else
                  f"outcome={_show(self.actual_outcome)} rules=[{', '.join(self.actual_rules)}]")
        return f"{status} {self.ruleset}: {self.name}: expected {expected}; got {actual}"


def run_examples(doc: RuleSetDocument, engine) -> list[ExampleResult]:
    """Evaluate every example of ``doc`` with ``engine`` (a :class:`RuleEngine`).

    Returns one :class:`ExampleResult` per example, in document order. All examples are
    evaluated in one engine call; facts the catalogue refuses give an ``error`` result
    for every example rather than an exception.
    """
    if not doc.examples:
        return []
    try:
        evaluated = engine.evaluate(doc, [ex.facts for ex in doc.examples])
    except FactError as exc:
        return [ExampleResult(doc.name, ex.name, ex.outcome, ex.rules, None, (), str(exc))
                for ex in doc.examples]
    return [
        ExampleResult(doc.name, ex.name, ex.outcome, ex.rules, outcome_of(decisions),
                      tuple(sorted(d.rule for d in decisions)))
        for ex, decisions in zip(doc.examples, evaluated, strict=True)
    ]
