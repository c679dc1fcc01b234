"""The fact catalogue: every fact a rule may name, with its type, unit and derivation.

A rule that names a fact not listed here, or compares it with a value of the wrong
type, is refused at load. ``docs/facts.md`` is generated from this table
(``iom rules facts``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rules.errors import FactError

OFFENCE_CATEGORIES = (
    "violence", "robbery", "public_order", "sexual_child", "sexual_other", "soliciting",
    "domestic_burglary", "other_burglary", "theft", "handling", "fraud", "absconding",
    "taking_vehicle", "theft_from_vehicle", "other_motoring", "drink_driving",
    "criminal_damage", "drug_import_production", "drug_possession_supply", "other",
)
STAGES = ("mapping", "matrixing", "panel", "allocated", "review",
          # not lifecycle states: rule sets evaluated beside every stage (exclusion
          # guards) and to order the panel agenda (workflow/guards.py)
          "exclusion", "agenda")


@dataclass(frozen=True)
class Fact:
    name: str
    type: str  # "number" | "integer" | "boolean" | "string"
    unit: str
    meaning: str
    derived_from: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None


CATALOGUE: dict[str, Fact] = {f.name: f for f in (
    Fact("ogrs_2yr", "integer", "%", "OGRS 2-year proven reoffending probability",
         "latest assessment on or before the evaluation date (supplied, else OGRS3 computed)",
         minimum=0, maximum=100),
    Fact("ogrs_1yr", "integer", "%", "OGRS 1-year proven reoffending probability",
         "latest assessment on or before the evaluation date", minimum=0, maximum=100),
    Fact("ogrs_source", "string", "source", "where the OGRS scores came from",
         "supplied: the latest assessment on or before the evaluation date; computed: "
         "OGRS3 from the record up to that date (convictions and cautions by sentencing "
         "occasion, age at release) when no assessment was supplied; computed_partial: "
         "computed, but the record cannot tell an input (no first-sanction date, a first "
         "sanction missing from the record, still in custody), so the score is an estimate",
         ("supplied", "computed", "computed_partial")),
    Fact("offence_category", "string", "category", "category of the current offence",
         "latest conviction, else latest charge, else latest arrest", OFFENCE_CATEGORIES),
    Fact("newly_sentenced", "boolean", "", "sentenced recently",
         "conviction or supervision start within facts.newly_sentenced_days"),
    Fact("mappa_level", "integer", "level", "MAPPA management level (0 = not MAPPA)",
         "latest mappa_level partner flag", minimum=0, maximum=3),
    Fact("statutory", "boolean", "", "under probation supervision (NPS or CRC)",
         "open supervision record with provider NPS or CRC"),
    Fact("supervision", "string", "provider", "who supervises", "open supervision record",
         ("NPS", "CRC", "none")),
    Fact("sex", "string", "", "recorded sex", "person.sex", ("M", "F")),
    Fact("age", "integer", "years", "age on the evaluation date", "person.date_of_birth",
         minimum=0, maximum=130),
    Fact("ppo", "boolean", "", "on the Prolific and Priority Offender list", "ppo flag"),
    Fact("dtoa", "boolean", "", "positive drug test on arrest", "dtoa flag"),
    Fact("marac_repeat", "boolean", "", "MARAC repeat domestic-abuse perpetrator",
         "marac_repeat flag"),
    Fact("gang_grade", "string", "grade", "graded partner (gangs) list",
         "latest gang_grade flag", ("high", "medium", "low")),
    Fact("yos_referral", "boolean", "", "recommended by the Youth Offending Service",
         "yos_referral flag"),
    Fact("asb", "boolean", "", "on the police ASB-type arrests list", "asb flag"),
    Fact("housing_need", "boolean", "",
         "no fixed abode or at risk of losing accommodation (housing / local authority)",
         "housing_need flag"),
    Fact("arrests_window", "integer", "arrests", "arrests in the facts window",
         "offending events of kind arrest within facts.window_days", minimum=0),
    Fact("drug_arrests_window", "integer", "arrests", "drug-offence arrests in the window",
         "arrests with a drug offence category within facts.window_days", minimum=0),
    Fact("convictions_window", "integer", "convictions", "convictions in the window",
         "offending events of kind conviction within facts.window_days", minimum=0),
    Fact("activity_score", "number", "points",
         "current activity: sum over arrests/charges/convictions in the window of "
         "gravity weight x recency decay", "offending events (workflow.facts)", minimum=0),
    Fact("days_in_state", "integer", "days", "days since the case entered its state",
         "case.state_since", minimum=0),
    Fact("missed_appointments_30d", "integer", "appointments",
         "unacceptable missed supervision appointments in the 30 days up to the evaluation date",
         "compliance events of kind appointment_missed dated within 30 days", minimum=0),
    Fact("failed_drug_tests_30d", "integer", "tests",
         "failed (positive or refused) drug tests in the 30 days up to the evaluation date",
         "compliance events of kind drug_test_positive dated within 30 days", minimum=0),
    Fact("days_since_last_arrest", "integer", "days",
         "days from the most recent arrest to the evaluation date (unknown if never arrested)",
         "latest offending event of kind arrest on or before the evaluation date", minimum=0),
    Fact("compliant_days", "integer", "days",
         "days since the last missed appointment or licence breach (else since the case opened)",
         "compliance events appointment_missed / licence_breach (workflow/tasks/facts.py)",
         minimum=0),
    Fact("in_custody", "boolean", "", "in custody on the evaluation date",
         "latest compliance event custody_in / custody_out (a partner's report or "
         "`iom custody`) is custody_in; a suspended case counts from its suspension"),
    Fact("panel_attendance_confirmed", "boolean", "",
         "the offender manager confirmed they will attend panel",
         "latest completed panel_invite task's outcome is attendance_confirmed"),
    Fact("warnings_30d", "integer", "warnings", "formal warnings issued in the last 30 days",
         "enforcement_warning tasks completed with outcome warning_issued within 30 days",
         minimum=0),
    # --- Seed criteria (issue 11 item 5): borough ranks, offence-type counts, drug
    # programmes. Derived in workflow/criteria_facts.py; groups in
    # workflow/reference/offence_groups.toml.
    Fact("arrest_rank", "integer", "place",
         "place in the borough by number of arrests in the facts window (1 = most arrested; "
         "ties share the best place, as SQL RANK); unknown when not arrested in the window",
         "offending events of kind arrest within facts.window_days, ranked over every "
         "person in the service", minimum=1),
    Fact("arrest_rank_female", "integer", "place",
         "place among women arrested in the borough by number of arrests in the window "
         "(top repeat arrested female suspects); unknown for men and when not arrested",
         "as arrest_rank, ranked within person.sex = F", minimum=1),
    Fact("harm_rank", "integer", "place",
         "place in the borough by harm-weighted arrests in the window (1 = most harm); "
         "unknown when not arrested in the window",
         "harm_window ranked over every person in the service", minimum=1),
    Fact("harm_window", "number", "harm points",
         "harm-weighted arrests in the window: the sum of each arrest's gravity weight",
         "arrests within facts.window_days x [gravity] of workflow/reference/activity.toml",
         minimum=0),
    Fact("burglary_arrests_window", "integer", "arrests",
         "burglary arrests (domestic and other) in the window",
         "arrests in offence group burglary (reference/offence_groups.toml)", minimum=0),
    Fact("domestic_burglary_arrests_window", "integer", "arrests",
         "residential (domestic) burglary arrests in the window",
         "arrests in offence group domestic_burglary", minimum=0),
    Fact("neighbourhood_crime_arrests_window", "integer", "arrests",
         "neighbourhood-crime arrests in the window (robbery, burglary, vehicle crime, "
         "theft from the person: the 2021 IOM refresh focus)",
         "arrests in offence group neighbourhood_crime", minimum=0),
    Fact("neighbourhood_crime_convictions_window", "integer", "convictions",
         "neighbourhood-crime convictions in the window",
         "convictions in offence group neighbourhood_crime", minimum=0),
    Fact("drr", "boolean", "", "on a Drug Rehabilitation Requirement (DRR)", "drr flag"),
    Fact("dip", "boolean", "",
         "on the Drug Interventions Programme caseload (NI 38 drug-related offending)",
         "dip flag"),
    Fact("treatment", "string", "status",
         "drug/alcohol treatment: retained, not retained (dropped out), completed; unknown "
         "when never in treatment", "latest treatment flag",
         ("retained", "not_retained", "completed")),
    # --- end of seed criteria facts
    # --- youth (issue 11 item 4) ---
    Fact("days_to_18th_birthday", "integer", "days",
         "days from the evaluation date to the person's 18th birthday (0 from then on)",
         "person.date_of_birth", minimum=0),
    # --- end youth ---
    *(Fact(f"lead_room_{agency.lower()}", "boolean", "",
           f"an active {who} has room for one more case (known at allocation only)",
           f"active {who}s' open led cases below the [capacity] caseload limit")
      for agency, who in (("NPS", "NPS offender manager"), ("CRC", "CRC offender manager"),
                          ("police", "police lead"))),
)}


MAX_MAGNITUDE = 10**15  # the rule engine misreads numbers from about 10^18 (measured)


def _check_value(fact: Fact, value) -> str | None:
    """Return why ``value`` does not fit ``fact``, or None when it fits."""
    if value is None:
        return None
    if fact.type == "boolean":
        return None if isinstance(value, bool) else "expected true or false"
    if fact.type in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number, got {type(value).__name__}"
        if not math.isfinite(value) or abs(value) >= MAX_MAGNITUDE:
            return f"{value} is not a number below 10^15 in size"
        if fact.type == "integer" and isinstance(value, float) and not value.is_integer():
            return "expected a whole number"
        if fact.minimum is not None and value < fact.minimum:
            return f"{value} is below the minimum {fact.minimum:g}"
        if fact.maximum is not None and value > fact.maximum:
            return f"{value} is above the maximum {fact.maximum:g}"
        return None
    if not isinstance(value, str):
        return f"expected text, got {type(value).__name__}"
    if fact.choices and value not in fact.choices:
        return f"{value!r} is not one of {', '.join(fact.choices)}"
    return None


def value_problem(name: str, value) -> str | None:
    """Why ``value`` is not acceptable for fact ``name`` (unknown fact, wrong type), or None."""
    fact = CATALOGUE.get(name)
    if fact is None:
        return f"unknown fact {name!r}"
    return _check_value(fact, value)


def validate_facts(facts: dict, *, label: str = "facts") -> dict:
    """Return the catalogue facts of ``facts`` (others ignored, missing = None).

    Raises :class:`FactError` naming the fact and the reason when a value does not fit.
    """
    if not isinstance(facts, dict):
        raise FactError(f"{label}: expected an object of facts")
    clean = {}
    for name, fact in CATALOGUE.items():
        value = facts.get(name)
        problem = _check_value(fact, value)
        if problem:
            raise FactError(f"{label}: fact {name}: {problem}")
        clean[name] = value
    return clean


class FactCheck:
    """A fast pre-check of facts objects against the catalogue.

    Returns the clean facts (every catalogue fact, missing = None) when every value
    plainly fits, else None: the caller then runs :func:`validate_facts`, which accepts
    the remaining valid cases (e.g. 3.0 for an integer) or raises with the reason.
    """

    def __init__(self):
        self.names = tuple(CATALOGUE)
        self.by_name = {
            f.name: (f.type,
                     -math.inf if f.minimum is None else f.minimum,
                     math.inf if f.maximum is None else f.maximum,
                     frozenset(f.choices) if f.choices else None)
            for f in CATALOGUE.values()}

    def __call__(self, facts) -> dict | None:
        if type(facts) is not dict or not self.fits(facts):
            return None
        return {name: facts.get(name) for name in self.names}

    def fits(self, facts: dict) -> bool:
        """Whether every catalogue fact ``facts`` holds plainly fits (facts it does not
        hold are unknown, names outside the catalogue are ignored): what :meth:`__call__`
        checks, in the time of the facts present rather than of the whole catalogue."""
        specs = self.by_name
        for name, value in facts.items():
            spec = specs.get(name)
            if spec is None or value is None:
                continue
            kind, low, high, choices = spec
            cls = type(value)
            if kind == "boolean":
                fits = cls is bool
            elif kind == "string":
                fits = cls is str and (choices is None or value in choices)
            else:
                fits = ((cls is int or (cls is float and kind == "number"))
                        and low <= value <= high)
            if not fits:
                return False
        return True


_fact_checker: FactCheck | None = None


def fact_check() -> FactCheck:
    """The pre-check for the catalogue as it is now (built on first use)."""
    global _fact_checker
    if _fact_checker is None or _fact_checker.names != tuple(CATALOGUE):
        _fact_checker = FactCheck()
    return _fact_checker


class CheckedFacts(dict):
    """A facts object checked against the catalogue where it was built (its source), so
    evaluating it again and again checks nothing (``RuleEngine.evaluate_all``). Made by
    :func:`checked_facts` only; do not change it afterwards."""

    __slots__ = ()


def checked_facts(facts: dict, *, label: str = "facts") -> CheckedFacts:
    """``facts`` (same content) marked as checked; :class:`FactError` naming the fact and
    the reason when a value does not fit the catalogue (:func:`validate_facts`)."""
    if type(facts) is not dict or not fact_check().fits(facts):
        validate_facts(facts, label=label)  # raises, or accepts e.g. 3.0 for an integer
    return CheckedFacts(facts)


def checked_all(facts_by_key: dict, *, label: str = "facts") -> dict:
    """``{key: checked_facts(facts)}`` for many facts objects (the label of one that does
    not fit: ``"{label} {key}"``), with one look-up of the catalogue's check for all."""
    check, out = fact_check(), {}
    for key, facts in facts_by_key.items():
        if type(facts) is not dict or not check.fits(facts):
            validate_facts(facts, label=f"{label} {key}")
        out[key] = CheckedFacts(facts)
    return out
