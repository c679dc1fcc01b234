"""Errors raised while loading, validating or evaluating rule sets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One precise complaint: which file, which rule, where in it, and why."""

    file: str
    rule_id: str | None
    path: str
    reason: str

    def __str__(self) -> str:
        rule = self.rule_id or "-"
        return f"{self.file}: rule {rule}: {self.path}: {self.reason}"

    def as_dict(self) -> dict:
        return {"file": self.file, "rule_id": self.rule_id, "path": self.path,
                "reason": self.reason}


class RuleSetError(Exception):
    """A rule-set document was refused. ``problems`` lists every reason found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class FactError(ValueError):
    """A facts object given for evaluation is malformed (unknown fact, wrong type)."""
