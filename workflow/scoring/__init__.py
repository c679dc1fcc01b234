"""Reconviction scoring behind a small interface, so OGRS4 can replace OGRS3.

A scorer turns :class:`ScoreInputs` (criminal history summarised as of the current
conviction) into a :class:`Score` of 1- and 2-year proven-reoffending percentages.
:func:`history_inputs` derives the inputs from a stored record (convictions, cautions,
custody); it is pure and is what the fact builder uses when no assessment was supplied.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import NamedTuple, Protocol


@dataclass(frozen=True)
class ScoreInputs:
    """``age``: at the current sanction (the Copas rate's "age at current conviction");
    ``age_at_follow_up``: at the start of follow-up (release from custody, else the
    current sanction; None = ``age``), which picks the age/gender band;
    ``previous_sanctions``: sentencing occasions (convictions and cautions) before the
    current one; ``offence_category``: a catalogue category."""

    sex: str
    age: int
    previous_sanctions: int
    age_at_first_sanction: int
    offence_category: str
    age_at_follow_up: int | None = None

    @property
    def follow_up_age(self) -> int:
        return self.age if self.age_at_follow_up is None else self.age_at_follow_up

    def as_dict(self) -> dict:
        # the fields are scalars: asdict's recursive deep copy (measured: a quarter of
        # scoring a mapping pass) gives the same dict
        return {f.name: getattr(self, f.name) for f in fields(self)}


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


@dataclass(frozen=True)
class History:
    """What the inputs were derived from, and what the record could not tell.

    ``gaps`` is empty when the record is complete as far as the data can show; each entry
    says which input is a best estimate and why (the fact ``ogrs_source`` is then
    ``computed_partial``).
    """

    inputs: ScoreInputs
    gaps: tuple[str, ...] = ()


class Sanctions(NamedTuple):
    """What :func:`history_inputs` reads of a record's sanctions (convictions and
    cautions): the latest sentencing occasion ``last_on`` and its offence ``category`` (a
    conviction that day before a caution; among several, the last recorded), how many
    ``occasions`` (distinct dates) and the first ``first_on``. The fact builder gets it
    from one grouped query (``workflow.offending``); :func:`sanctions_of` from lists.
    A named tuple: one is made for every person of a pass."""

    last_on: date
    category: str
    occasions: int
    first_on: date


def sanctions_of(convictions: list[tuple[date, str]], cautions: list[tuple[date, str]] = ()
                 ) -> Sanctions | None:
    """The :class:`Sanctions` of ``(date, offence_category)`` lists, each in recorded
    order; None when both are empty."""
    sanctions = ([(d, c, "conviction") for d, c in convictions]
                 + [(d, c, "caution") for d, c in cautions])
    if not sanctions:
        return None
    day = max(s[0] for s in sanctions)
    same = [s for s in sanctions if s[0] == day]
    convicted = [s for s in same if s[2] == "conviction"]
    occasions = {s[0] for s in sanctions}
    return Sanctions(day, (convicted or same)[-1][1], len(occasions), min(occasions))


def _follow_up_start(current_on: date, custody: list[tuple[date, str]], today: date | None
                     ) -> tuple[date, str | None]:
    """Release from the custody the person was in at, or went into after, the current
    sanction; else the sanction date. ``(start, gap or None)``."""
    if not custody:
        return current_on, None
    events = sorted(custody)
    before = [kind for day, kind in events if day <= current_on]
    held = bool(before) and before[-1] == "custody_in"
    went_in = next((day for day, kind in events
                    if day > current_on and kind == "custody_in"), None)
    if not held and went_in is None:
        return current_on, None
    release = next((day for day, kind in events
                    if day >= current_on and kind == "custody_out"
                    and (held or day >= went_in)), None)
    if release is not None:
        return release, None
    start = max(today or current_on, current_on)
    return start, (f"in custody with no release recorded: follow-up taken to start on "
                   f"{start}")


def history_inputs(*, sex: str, date_of_birth: date, first_sanction_on: date | None,
                   convictions: list[tuple[date, str]],
                   cautions: list[tuple[date, str]] = (),
                   custody: list[tuple[date, str]] = (),
                   today: date | None = None) -> History | None:
    """Scorer inputs from a criminal record, or None if unscoreable.

    * Sanctions are convictions and cautions (reprimands, final warnings, conditional
      cautions: every non-conviction sanction), ``(date, offence_category)`` each.
    * Previous sanctions are counted by **sentencing occasion** (one date = one
      occasion, however many offences were dealt with), before the current one: the
      latest occasion (its offence: a conviction that day, else a caution).
    * First sanction: ``first_sanction_on`` or the earliest sanction, whichever is
      earlier. When it precedes every recorded sanction, that first sanction is counted
      too (the record is incomplete: a gap). When it is not supplied, the record may be
      incomplete (a gap).
    * ``age`` is at the current sanction; ``age_at_follow_up`` at the start of follow-up:
      release from the custody (``custody``: ``(date, "custody_in" | "custody_out")``)
      that followed the current sanction, else the sanction date; still in custody:
      ``today`` (a gap).

    None when there is no sanction or the person was under 10 at the latest.
    """
    return sanction_inputs(sex=sex, date_of_birth=date_of_birth,
                           first_sanction_on=first_sanction_on,
                           sanctions=sanctions_of(convictions, cautions), custody=custody,
                           today=today)


def sanction_inputs(*, sex: str, date_of_birth: date, first_sanction_on: date | None,
                    sanctions: Sanctions | None, custody: list[tuple[date, str]] = (),
                    today: date | None = None) -> History | None:
    """:func:`history_inputs` from the record's :class:`Sanctions` summary (None: no
    sanction, unscoreable)."""
    found = sanction_values(sex, date_of_birth, first_sanction_on, sanctions, custody,
                            today, explain=True)
    return None if found is None else History(ScoreInputs(*found[0]), tuple(found[1]))


def sanction_values(sex: str, date_of_birth: date, first_sanction_on: date | None,
                    sanctions: Sanctions | None, custody: list[tuple[date, str]] = (),
                    today: date | None = None, *, explain: bool = False
                    ) -> tuple[tuple, list] | None:
    """What :func:`sanction_inputs` finds, as ``(values, gaps)``: the
    :class:`ScoreInputs` field values in field order (``ScoreInputs(*values)``, hashable
    as they are) and the gaps, as messages with ``explain``, else one ``True`` a gap (a
    pass's fact builder reads only whether there is one: no message text made). None
    when unscoreable."""
    if sanctions is None:
        return None
    current_on, category = sanctions.last_on, sanctions.category
    previous = sanctions.occasions - 1
    gaps = []
    if first_sanction_on is None:
        first = sanctions.first_on
        gaps.append(not explain or
                    "first sanction date not supplied: the earliest recorded sanction used")
    else:
        first = min(first_sanction_on, sanctions.first_on)
        if first < sanctions.first_on:
            previous += 1
            gaps.append(not explain or
                        f"first sanction on {first.isoformat()} is not in the record: "
                        f"previous sanctions are at least {previous}")
    start, gap = _follow_up_start(current_on, list(custody), today)
    if gap:
        gaps.append(gap)
    age = age_on(date_of_birth, current_on)
    if age < 10:
        return None
    return ((sex, age, previous, max(age_on(date_of_birth, first), 0), category,
             age_on(date_of_birth, start)), gaps)


def inputs_from_history(*, sex: str, date_of_birth: date, first_sanction_on: date | None,
                        convictions: list[tuple[date, str]],
                        cautions: list[tuple[date, str]] = ()) -> ScoreInputs | None:
    """The inputs of :func:`history_inputs` without custody (follow-up from the sanction)."""
    history = history_inputs(sex=sex, date_of_birth=date_of_birth,
                             first_sanction_on=first_sanction_on, convictions=convictions,
                             cautions=cautions)
    return history.inputs if history else None


def default_scorer() -> ReconvictionScorer:
    from workflow.scoring.ogrs3 import OGRS3

    return OGRS3
