"""What an evaluation returns: decisions, each traceable to a rule, a rule set and a version."""

from __future__ import annotations

from dataclasses import dataclass, field

from rules.actions import REGISTRY, combine_outcomes


@dataclass(frozen=True)
class Decision:
    rule: str
    ruleset: str
    version: str
    action: str
    params: dict
    priority: int
    matched: dict = field(default_factory=dict)  # the facts the rule's condition names

    @property
    def outcome(self) -> str | None:
        return REGISTRY[self.action].outcome

    def as_dict(self) -> dict:
        return {"rule": self.rule, "ruleset": self.ruleset, "version": self.version,
                "action": self.action, "params": self.params, "priority": self.priority,
                "matched": self.matched}


def sort_decisions(decisions: list[Decision]) -> list[Decision]:
    """Highest priority first, then rule set and rule id: a stable, readable order."""
    return sorted(decisions, key=lambda d: (-d.priority, d.ruleset, d.rule))


def outcome_of(decisions: list[Decision]) -> str | None:
    return combine_outcomes([d.outcome for d in decisions])
