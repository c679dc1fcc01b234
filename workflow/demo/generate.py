"""A synthetic borough: the five partner CSV files, deterministic for a seed.

Shapes (chosen to resemble the seed documents, not any real person):

* arrests in the two years before ``as_of`` per person are heavy-tailed (a discrete
  Pareto, exponent 3): about 92% of people were arrested in the window, and for about
  7,000 arrested people the top 200 (2.9%) have about 1,150 arrests and the top 10
  about 150-180, like Barnet's table (seed 002);
* ages 16-60 skewed young (prolific people younger), about 85% male;
* an offence mix led by violence, theft and drugs, prolific people mostly acquisitive;
* arrests lead to charges and convictions; older convictions before the window make a
  criminal history, so OGRS (OGRS3 at the assessment date, with a little noise) rises
  with arrests; some people have no supplied assessment (the service computes OGRS3);
* convicted people are often supervised (NPS / CRC), some newly sentenced (a conviction
  in the last six months); flags: a few MAPPA 2/3, MARAC repeat, DTOA, gang grades, PPO
  (the most arrested 2%), YOS referrals for the young, ASB, housing need (one in eight).
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from workflow.scoring import inputs_from_history
from workflow.scoring.ogrs3 import OGRS3

WINDOW_DAYS = 730
# Offender managers whose names match the demo users om1 (CRC) and om2 (NPS).
DEMO_OFFENDER_MANAGERS = {"CRC": "Olivia Marsh", "NPS": "Nikhil Rao"}
OTHER_MANAGERS = {"CRC": ("Sam Okafor", "Ruth Ellis", "Tom Hughes"),
                  "NPS": ("Grace Boateng", "Ian Patel")}
OFFENCE_MIX = {
    "violence": 24, "theft": 16, "drug_possession_supply": 12, "public_order": 7,
    "criminal_damage": 6, "domestic_burglary": 5, "robbery": 4, "other_motoring": 4,
    "other": 3.7, "other_burglary": 3, "fraud": 3, "drink_driving": 3, "handling": 2,
    "theft_from_vehicle": 2, "absconding": 2, "taking_vehicle": 1.5, "sexual_other": 1,
    "drug_import_production": 1, "sexual_child": 0.5, "soliciting": 0.3,
}
ACQUISITIVE_MIX = {
    "theft": 35, "domestic_burglary": 15, "drug_possession_supply": 15, "robbery": 12,
    "theft_from_vehicle": 8, "other_burglary": 8, "handling": 7,
}
MALE = ("James", "Daniel", "Mohammed", "Jordan", "Liam", "Kyle", "Connor", "Ryan", "Adam",
        "Marcus", "Lewis", "Callum", "Jamal", "Tyler", "Dean", "Craig", "Kieran", "Ali")
FEMALE = ("Chloe", "Jade", "Amy", "Leanne", "Sophie", "Kayleigh", "Aisha", "Danielle",
          "Stacey", "Gemma", "Nadia", "Rebecca")
FAMILY = ("Smith", "Jones", "Williams", "Brown", "Taylor", "Davies", "Wilson", "Evans",
          "Thomas", "Johnson", "Roberts", "Walker", "Wright", "Khan", "Ahmed", "Murphy",
          "Clarke", "Hall", "Green", "Baker", "Mensah", "Nowak", "O'Brien", "Campbell")
HEADERS = {
    "people": ("partner_ref", "given_name", "family_name", "sex", "date_of_birth",
               "first_sanction_on"),
    "events": ("partner_ref", "person_ref", "kind", "occurred_on", "offence_category"),
    "supervision": ("partner_ref", "person_ref", "provider", "offender_manager",
                    "start_on", "end_on"),
    "assessments": ("partner_ref", "person_ref", "assessed_on", "ogrs_1yr", "ogrs_2yr",
                    "tool"),
    "flags": ("partner_ref", "person_ref", "kind", "value", "recorded_on"),
}


@dataclass
class Nominal:
    ref: str
    sex: str
    dob: date
    arrests: int  # in the window
    first_sanction: date | None = None
    events: list[tuple[str, date, str]] = field(default_factory=list)  # kind, day, category

    def convictions(self, until: date) -> list[tuple[date, str]]:
        return [(d, c) for k, d, c in self.events if k == "conviction" and d <= until]


def _pick(rng: random.Random, mix: dict[str, float]) -> str:
    return rng.choices(tuple(mix), weights=tuple(mix.values()))[0]


def _years_before(day: date, years: float) -> date:
    return day - timedelta(days=round(years * 365.25))


def _window_arrests(rng: random.Random) -> int:
    """0 for 8% (older history only), else a discrete Pareto (exponent 3), at most 28."""
    if rng.random() < 0.08:
        return 0
    return max(1, min(28, int(1.28 * rng.random() ** (-1 / 3.0))))


def _window_events(rng: random.Random, n: Nominal, as_of: date, primary: str) -> None:
    start = as_of - timedelta(days=WINDOW_DAYS - 1)
    for _ in range(n.arrests):
        day = start + timedelta(days=rng.randrange(WINDOW_DAYS))
        category = primary if rng.random() < 0.6 else _pick(rng, OFFENCE_MIX)
        n.events.append(("arrest", day, category))
        if rng.random() < (0.55 if n.arrests >= 4 else 0.45):
            n.events.append(("charge", day, category))
            convicted_on = day + timedelta(days=rng.randint(30, 240))
            if rng.random() < 0.7 and convicted_on <= as_of:
                n.events.append(("conviction", convicted_on, category))


def _history(rng: random.Random, n: Nominal, as_of: date, primary: str) -> None:
    """First sanction and older convictions, more of them for more prolific people."""
    age = (as_of - n.dob).days / 365.25
    window_start = as_of - timedelta(days=WINDOW_DAYS)
    if n.arrests <= 2 and rng.random() < 0.4:  # first-timers: no history before
        return
    first_age = 12 + (age - 12) * rng.random() ** (1 + n.arrests / 4)
    n.first_sanction = min(_years_before(as_of, age - first_age), window_start)
    years = (window_start - n.first_sanction).days / 365.25
    rate = (0.15 + 0.3 * n.arrests) * rng.uniform(0.5, 1.5)
    for _ in range(min(60, round(years * rate))):
        day = n.first_sanction + timedelta(days=rng.randrange(
            max(1, (window_start - n.first_sanction).days)))
        category = primary if rng.random() < 0.5 else _pick(rng, OFFENCE_MIX)
        n.events.append(("conviction", day, category))


def make_nominal(rng: random.Random, index: int, as_of: date) -> Nominal:
    arrests = _window_arrests(rng)
    sex = "M" if rng.random() < 0.85 else "F"
    scale = 5.0 if arrests >= 4 else 8.0
    age = 16 + min(44, rng.gammavariate(1.5, scale))
    n = Nominal(ref=f"P{index:06d}", sex=sex, arrests=arrests,
                dob=_years_before(as_of, age) - timedelta(days=rng.randrange(1, 300)))
    primary = _pick(rng, ACQUISITIVE_MIX if arrests >= 4 else OFFENCE_MIX)
    _window_events(rng, n, as_of, primary)
    _history(rng, n, as_of, primary)
    if n.arrests == 0 and not n.events:  # history-only people have at least one
        oldest = min(3000, (as_of - n.dob).days - 12 * 366)
        n.events.append(("conviction", as_of - timedelta(days=rng.randint(800, oldest)),
                         primary))
    n.events.sort(key=lambda e: (e[1], e[0]))
    return n


def _ogrs(rng: random.Random, n: Nominal, on: date) -> tuple[int, int] | None:
    inputs = inputs_from_history(sex=n.sex, date_of_birth=n.dob,
                                 first_sanction_on=n.first_sanction,
                                 convictions=n.convictions(on))
    if inputs is None:
        return None
    score = OGRS3.score(inputs)
    noise = rng.randint(-3, 3)
    two = min(99, max(1, score.ogrs_2yr + noise))
    return min(two, max(1, score.ogrs_1yr + noise)), two


def _person_row(rng: random.Random, n: Nominal) -> list:
    given = rng.choice(MALE if n.sex == "M" else FEMALE)
    first = n.first_sanction.isoformat() if n.first_sanction and rng.random() < 0.7 else ""
    return [n.ref, given, rng.choice(FAMILY), n.sex, n.dob.isoformat(), first]


def _supervision(rng: random.Random, n: Nominal, as_of: date, mappa: int
                 ) -> list | None:
    latest = max((d for d, _ in n.convictions(as_of)), default=None)
    if latest is None or (as_of - latest).days > WINDOW_DAYS or rng.random() > 0.6:
        return None
    category = next(c for d, c in reversed(n.convictions(as_of)) if d == latest)
    harmful = category in ("violence", "robbery", "sexual_child", "sexual_other")
    provider = "NPS" if mappa >= 2 or (harmful and rng.random() < 0.5) else "CRC"
    manager = (DEMO_OFFENDER_MANAGERS[provider] if rng.random() < 0.4
               else rng.choice(OTHER_MANAGERS[provider]))
    start = min(as_of, latest + timedelta(days=rng.randint(0, 14)))
    end = start + timedelta(days=365 * rng.choice((1, 1, 2)))
    return [provider, manager, start.isoformat(), end.isoformat()]


def _flags(rng: random.Random, n: Nominal, as_of: date, ppo: bool) -> list[tuple[str, str]]:
    """``(kind, value)`` partner flags for ``n``."""
    categories = {c for _, _, c in n.events}
    age = (as_of - n.dob).days // 365
    flags = []
    violent = categories & {"violence", "sexual_other", "sexual_child"}
    roll = rng.random()
    if violent and roll < 0.04:
        flags.append(("mappa_level", rng.choice(("2", "2", "3"))))
    elif violent and roll < 0.08:
        flags.append(("mappa_level", "1"))
    if n.sex == "M" and "violence" in categories and rng.random() < 0.06:
        flags.append(("marac_repeat", "true"))
    if categories & {"drug_possession_supply", "theft", "robbery"} and rng.random() < 0.15:
        flags.append(("dtoa", "true"))
    if ppo:
        flags.append(("ppo", "true"))
    if age < 30 and categories & {"violence", "robbery", "drug_possession_supply"} \
            and rng.random() < 0.06:
        flags.append(("gang_grade", rng.choice(("high", "medium", "medium", "low", "low"))))
    if age <= 18 and rng.random() < 0.3:
        flags.append(("yos_referral", "true"))
    if rng.random() < 0.05:
        flags.append(("asb", "true"))
    # No fixed abode / housing need (housing, local authority): one in eight, decided by
    # the reference alone so the draws above (and every seed's other data) are unchanged.
    if int(n.ref[1:]) % 8 == 3:
        flags.append(("housing_need", "true"))
    return flags


def _writer(files: dict, handles: list, out_dir: Path, kind: str):
    path = out_dir / f"{kind}.csv"
    handle = path.open("w", newline="", encoding="utf-8")
    handles.append(handle)
    files[kind] = path
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(HEADERS[kind])
    return writer


def _write_person(rng: random.Random, n: Nominal, out: dict, counters: dict, as_of: date,
                  ppo: bool) -> None:
    out["people"].writerow(_person_row(rng, n))
    for kind, day, category in n.events:
        counters["E"] += 1
        out["events"].writerow([f"E{counters['E']:07d}", n.ref, kind, day.isoformat(),
                                category])
    flags = _flags(rng, n, as_of, ppo)
    mappa = max((int(v) for k, v in flags if k == "mappa_level"), default=0)
    supervision = _supervision(rng, n, as_of, mappa)
    if supervision:
        counters["S"] += 1
        out["supervision"].writerow([f"S{counters['S']:06d}", n.ref, *supervision])
    assessed_on = (date.fromisoformat(supervision[2]) if supervision
                   else max((d for d, _ in n.convictions(as_of)), default=None))
    if assessed_on and (supervision or rng.random() < 0.3):
        scores = _ogrs(rng, n, assessed_on)
        if scores:
            counters["A"] += 1
            out["assessments"].writerow([f"A{counters['A']:06d}", n.ref,
                                         assessed_on.isoformat(), *scores, "OGRS3"])
    for kind, value in flags:
        counters["F"] += 1
        recorded = as_of - timedelta(days=rng.randint(0, 365))
        out["flags"].writerow([f"F{counters['F']:06d}", n.ref, kind, value,
                               recorded.isoformat()])


def generate_borough(out_dir: Path, *, people: int, seed: int, as_of: date
                     ) -> dict[str, Path]:
    """Write ``people.csv``, ``events.csv``, ``supervision.csv``, ``assessments.csv`` and
    ``flags.csv`` into ``out_dir``; returns ``{kind: path}``. Same seed, same bytes."""
    if people < 1:
        raise ValueError("people must be at least 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    nominals = [make_nominal(rng, i, as_of) for i in range(1, people + 1)]
    by_arrests = sorted(nominals, key=lambda n: (-n.arrests, n.ref))
    ppo = {n.ref for n in by_arrests[:max(1, people // 50)] if n.arrests >= 4}
    files: dict[str, Path] = {}
    handles: list = []
    try:
        out = {kind: _writer(files, handles, out_dir, kind) for kind in HEADERS}
        counters = {"E": 0, "S": 0, "A": 0, "F": 0}
        for n in nominals:
            _write_person(rng, n, out, counters, as_of, n.ref in ppo)
    finally:
        for handle in handles:
            handle.close()
    return files
