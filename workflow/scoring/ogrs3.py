"""OGRS3, as published by the Ministry of Justice (see DOMAIN.md, "Public formulas").

S = AgeGender(age at start of follow-up) + ConvictionStatus
    + 1.25112 * ln((previous sanctions + 1) / (10 + age at current sanction
                                               - age at first sanction))
    + OffenceCategory
P(1 year) = logistic(1.40256 + S); P(2 years) = logistic(2.1217 + S); each as a
percentage rounded half up and clamped to 1-99.
"""

from __future__ import annotations

import math

from rules.catalogue import OFFENCE_CATEGORIES
from workflow.errors import InvalidInput
from workflow.scoring import Score, ScoreInputs

# (lowest age of the band, male, female), youngest first.
AGE_GENDER = (
    (10, 0.0, 0.785), (12, 0.08392, 0.61385), (14, 0.07578, 0.66952),
    (16, -0.0616, -0.9592), (18, -0.6251, -0.8975), (21, -1.0515, -1.0285),
    (25, -1.1667, -1.0528), (30, -1.326, -1.1291), (35, -1.368, -1.4219),
    (40, -1.4997, -1.5247), (50, -2.0253, -2.4498),
)
# OGRS3 offence categories, keyed by the fact catalogue's category names.
OFFENCE = {
    "violence": 0.0, "robbery": -0.6348, "public_order": 0.1819,
    "sexual_child": -0.6534, "sexual_other": 0.0328, "soliciting": 0.7606,
    "domestic_burglary": -0.1239, "other_burglary": 0.2406, "theft": 0.6612,
    "handling": 0.3519, "fraud": 0.1599, "absconding": 0.7334, "taking_vehicle": 0.3801,
    "theft_from_vehicle": 0.4272, "other_motoring": 0.2622, "drink_driving": -0.1214,
    "criminal_damage": 0.205, "drug_import_production": -0.7956,
    "drug_possession_supply": 0.0772, "other": -0.0607,
}
FIRST_SANCTION, LATER_SANCTION = 0.12614, 0.46306
COPAS = 1.25112
INTERCEPT_1YR, INTERCEPT_2YR = 1.40256, 2.1217
if set(OFFENCE) != set(OFFENCE_CATEGORIES):  # pragma: no cover - caught by any import
    raise RuntimeError("OGRS3 offence weights must cover exactly the catalogue categories")


def age_gender(sex: str, age: int) -> float:
    if age < 10:
        raise InvalidInput(f"OGRS3 needs an age of 10 or more, got {age}",
                           details={"field": "age"})
    band = [row for row in AGE_GENDER if row[0] <= age][-1]
    return band[1] if sex == "M" else band[2]


def percentage(linear: float) -> int:
    """Logistic of ``linear`` as a percentage, rounded half up, clamped to 1-99."""
    probability = 1.0 / (1.0 + math.exp(-linear))
    return min(99, max(1, math.floor(probability * 100 + 0.5)))


def linear_score(i: ScoreInputs) -> float:
    """The OGRS3 linear predictor S; raises :class:`InvalidInput` on impossible inputs."""
    if i.sex not in ("M", "F"):
        raise InvalidInput(f"sex must be M or F, got {i.sex!r}", details={"field": "sex"})
    if i.offence_category not in OFFENCE:
        raise InvalidInput(f"unknown offence category {i.offence_category!r}",
                           details={"field": "offence_category"})
    if i.previous_sanctions < 0:
        raise InvalidInput("previous sanctions cannot be negative",
                           details={"field": "previous_sanctions"})
    if i.age < 10:
        raise InvalidInput(f"OGRS3 needs an age of 10 or more, got {i.age}",
                           details={"field": "age"})
    if i.follow_up_age < i.age:
        raise InvalidInput(f"age at the start of follow-up {i.follow_up_age} is before the "
                           f"age at the current sanction {i.age}",
                           details={"field": "age_at_follow_up"})
    if not 0 <= i.age_at_first_sanction <= i.age:
        raise InvalidInput(f"age at first sanction {i.age_at_first_sanction} must be "
                           f"between 0 and the current age {i.age}",
                           details={"field": "age_at_first_sanction"})
    status = FIRST_SANCTION if i.previous_sanctions == 0 else LATER_SANCTION
    rate = math.log((i.previous_sanctions + 1) / (10 + i.age - i.age_at_first_sanction))
    return (age_gender(i.sex, i.follow_up_age) + status + COPAS * rate
            + OFFENCE[i.offence_category])


class _OGRS3:
    name = "OGRS3"

    def score(self, inputs: ScoreInputs) -> Score:
        """1- and 2-year OGRS3 percentages for ``inputs``."""
        s = linear_score(inputs)
        return Score(tool=self.name, ogrs_1yr=percentage(INTERCEPT_1YR + s),
                     ogrs_2yr=percentage(INTERCEPT_2YR + s), inputs=inputs.as_dict())


OGRS3 = _OGRS3()
