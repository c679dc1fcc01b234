"""Reconviction scoring behind a small interface, so OGRS4 can replace OGRS3.

A scorer turns :class:`ScoreInputs` (criminal history summarised as of the current
conviction) into a :class:`Score` of 1- and 2-year proven-reoffending percentages.
:func:`inputs_from_history` derives the inputs from stored convictions; it is pure and
is what the fact builder uses when no assessment was supplied.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Protocol


@dataclass(frozen=True)
class ScoreInputs:
    """``age``: at the current conviction (start of follow-up); ``previous_sanctions``:
    sanctions before the current one; ``offence_category``: a catalogue category."""

    sex: str
    age: int
    previous_sanctions: int
    age_at_first_sanction: int
    offence_category: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Score:
    tool: str
    ogrs_1yr: int
    ogrs_2yr: int
    inputs: dict


class ReconvictionScorer(Protocol):
    """Anything with a ``name`` and ``score(inputs) -> Score`` (raises InvalidInput)."""

    name: str

    def score(self, inputs: ScoreInputs) -> Score: ...


def age_on(dob: date, day: date) -> int:
    """Whole years from ``dob`` to ``day``."""
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


def inputs_from_history(*, sex: str, date_of_birth: date, first_sanction_on: date | None,
                        convictions: list[tuple[date, str]]) -> ScoreInputs | None:
    """Scorer inputs from ``(date, offence_category)`` convictions, or None if unscoreable.

    Current offence = the latest conviction; previous sanctions = the convictions before
    it; first sanction = ``first_sanction_on`` or the earliest conviction, whichever is
    earlier. None when there is no conviction or the person was under 10 at the latest.
    """
    if not convictions:
        return None
    ordered = sorted(convictions)
    current_on, category = ordered[-1]
    first = ordered[0][0] if first_sanction_on is None else min(first_sanction_on,
                                                                ordered[0][0])
    age = age_on(date_of_birth, current_on)
    if age < 10:
        return None
    return ScoreInputs(sex=sex, age=age, previous_sanctions=len(ordered) - 1,
                       age_at_first_sanction=max(age_on(date_of_birth, first), 0),
                       offence_category=category)


def default_scorer() -> ReconvictionScorer:
    from workflow.scoring.ogrs3 import OGRS3

    return OGRS3
