"""Build each case's facts (see ``rules/catalogue.py``) from stored data, as of ``now``.

Only data dated on or before ``now`` is used, so an evaluation can be replayed as of
any date. Facts are built for many cases with a fixed number of queries.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.dialect import one_of
from db.models import (
    Assessment,
    Case,
    ComplianceEvent,
    OffendingEvent,
    PartnerFlag,
    Person,
    Supervision,
)
from rules.catalogue import checked_facts
from workflow.criteria_facts import TREATMENT_STATES, criteria_facts, programme_facts
from workflow.errors import InvalidInput
from workflow.scoring import default_scorer, history_inputs
from workflow.tasks.facts import compliance_facts

DRUG_CATEGORIES = ("drug_import_production", "drug_possession_supply")
_BOOL_FLAGS = ("ppo", "dtoa", "marac_repeat", "yos_referral", "asb", "housing_need")
_TRUE = {"1", "true", "yes", "y", "t"}


@dataclass(frozen=True)
class FactWindow:
    """How far back facts look: from settings ``[facts]``."""

    newly_sentenced_days: int = 182
    window_days: int = 730


@cache
def activity_reference() -> dict:
    path = Path(__file__).resolve().parent / "reference" / "activity.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))


def activity_score(events: list[OffendingEvent], today: date) -> float:
    ref = activity_reference()
    half_life = ref["half_life_days"]
    score = 0.0
    for e in events:
        age = max((today - e.occurred_on).days, 0)
        score += (ref["kind_weight"][e.kind] * ref["gravity"].get(e.offence_category, 0.5)
                  * 0.5 ** (age / half_life))
    return round(score, 2)


def _age(dob: date, today: date) -> int:
    return today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))


# --- youth (issue 11 item 4) ---
def days_to_18th_birthday(dob: date, today: date) -> int:
    """Days from ``today`` to the 18th birthday (29 February births: 1 March), else 0."""
    try:
        birthday = dob.replace(year=dob.year + 18)
    except ValueError:  # born on 29 February, 18 years later is not a leap year
        birthday = date(dob.year + 18, 3, 1)
    return max((birthday - today).days, 0)
# --- end youth ---


def _latest_by_person(rows, key) -> dict:
    out: dict = {}
    for row in rows:
        pid = row.person_id
        if pid not in out or key(row) >= key(out[pid]):
            out[pid] = row
    return out


def _flag_value(kind: str, value: str):
    if kind == "mappa_level":
        return int(value)
    if kind == "gang_grade":
        return value.lower() if value.lower() in ("high", "medium", "low") else None
    if kind == "treatment":
        return value.lower() if value.lower() in TREATMENT_STATES else None
    return value.strip().lower() in _TRUE


def _current_offence(events: list[OffendingEvent]) -> str | None:
    for kind in ("conviction", "charge", "arrest"):
        dated = [e for e in events if e.kind == kind]
        if dated:
            return max(dated, key=lambda e: (e.occurred_on, e.id)).offence_category
    return None


def _ogrs(person: Person, assessment: Assessment | None, events: list[OffendingEvent],
          custody: list[tuple[date, str]], today: date) -> dict:
    """The latest assessment's scores, else OGRS3 computed from the record (no writes).

    ``ogrs_source``: ``supplied``; ``computed`` from a record that looks complete; or
    ``computed_partial`` when the record cannot tell an input (no first-sanction date,
    a first sanction before every recorded one, still in custody): see
    :func:`workflow.scoring.history_inputs`.
    """
    if assessment is not None:
        source = "computed" if assessment.source == "computed" else "supplied"
        return {"ogrs_2yr": assessment.ogrs_2yr, "ogrs_1yr": assessment.ogrs_1yr,
                "ogrs_source": source}
    history = history_inputs(
        sex=person.sex, date_of_birth=person.date_of_birth,
        first_sanction_on=person.first_sanction_on,
        convictions=[(e.occurred_on, e.offence_category) for e in events
                     if e.kind == "conviction"],
        cautions=[(e.occurred_on, e.offence_category) for e in events if e.kind == "caution"],
        custody=custody, today=today)
    try:
        score = default_scorer().score(history.inputs) if history else None
    except InvalidInput:  # data no scorer accepts (e.g. an unknown category): no score
        score = None
    if score is None:
        return {"ogrs_2yr": None, "ogrs_1yr": None, "ogrs_source": None}
    return {"ogrs_2yr": score.ogrs_2yr, "ogrs_1yr": score.ogrs_1yr,
            "ogrs_source": "computed_partial" if history.gaps else "computed"}


def _custody(session: Session, person_ids: list[int], today: date
             ) -> dict[int, list[tuple[date, str]]]:
    """``{person_id: [(day, custody_in | custody_out)]}`` from compliance events."""
    out: dict[int, list] = defaultdict(list)
    for pid, at, kind in session.execute(select(
            ComplianceEvent.person_id, ComplianceEvent.occurred_at, ComplianceEvent.kind)
            .where(one_of(session, ComplianceEvent.person_id, person_ids),
                   ComplianceEvent.kind.in_(("custody_in", "custody_out")))
            .order_by(ComplianceEvent.occurred_at, ComplianceEvent.id)):
        if at.date() <= today:
            out[pid].append((at.date(), kind))
    return out


def _rows(session: Session, model, *where):
    """Rows of every column of ``model`` (attributes named as the ORM's): plain tuples,
    no ORM objects, so a chunk of thousands of cases loads in a few queries."""
    return session.execute(select(*model.__table__.columns).where(*where))


def _load(session: Session, person_ids: list[int], today: date, window: FactWindow):
    since = today - timedelta(days=window.window_days)
    events = defaultdict(list)
    for e in _rows(session, OffendingEvent, one_of(session, OffendingEvent.person_id, person_ids),
                   OffendingEvent.occurred_on <= today):
        events[e.person_id].append(e)
    assessments = _latest_by_person(_rows(
        session, Assessment, one_of(session, Assessment.person_id, person_ids),
        Assessment.assessed_on <= today), key=lambda a: (a.assessed_on, a.id))
    flags: dict[int, dict] = defaultdict(dict)
    flag_rows = sorted(_rows(session, PartnerFlag,
                             one_of(session, PartnerFlag.person_id, person_ids),
                             PartnerFlag.recorded_on <= today),
                       key=lambda f: (f.recorded_on, f.id))
    for f in flag_rows:
        flags[f.person_id][f.kind] = _flag_value(f.kind, f.value)
    supervisions = _latest_by_person(
        (s for s in _rows(session, Supervision, one_of(session, Supervision.person_id, person_ids),
                          Supervision.start_on <= today)
         if s.end_on is None or s.end_on >= today),
        key=lambda s: (s.start_on, s.id))
    return since, events, assessments, flags, supervisions


def _person_facts(person: Person, all_events: list[OffendingEvent], since: date,
                  sentenced_since: date, assessment: Assessment | None,
                  supervision: Supervision | None, person_flags: dict, today: date,
                  custody: list[tuple[date, str]]) -> dict:
    """The catalogue facts that depend on the person's partner data alone."""
    recent = [e for e in all_events if e.occurred_on >= since]
    newly = any(e.kind == "conviction" and e.occurred_on >= sentenced_since
                for e in all_events) or bool(
        supervision and supervision.provider != "none"
        and supervision.start_on >= sentenced_since)
    provider = supervision.provider if supervision else "none"
    return {
        **_ogrs(person, assessment, all_events, custody, today),
        "offence_category": _current_offence(all_events),
        "newly_sentenced": newly,
        "mappa_level": person_flags.get("mappa_level", 0),
        "statutory": provider in ("NPS", "CRC"),
        "supervision": provider,
        "sex": person.sex,
        "age": _age(person.date_of_birth, today),
        "days_to_18th_birthday": days_to_18th_birthday(person.date_of_birth, today),
        **{k: person_flags.get(k, False) for k in _BOOL_FLAGS},
        "gang_grade": person_flags.get("gang_grade"),
        "arrests_window": sum(e.kind == "arrest" for e in recent),
        "drug_arrests_window": sum(e.kind == "arrest" and e.offence_category
                                   in DRUG_CATEGORIES for e in recent),
        "convictions_window": sum(e.kind == "conviction" for e in recent),
        "activity_score": activity_score(recent, today),
    }


def facts_for_cases(session: Session, cases: list[Case], now: datetime,
                    window: FactWindow = FactWindow()) -> dict[int, dict]:
    """``{case.id: facts}`` for every case, as of ``now``, each checked against the fact
    catalogue (:class:`rules.catalogue.CheckedFacts`; a value that does not fit raises
    :class:`rules.errors.FactError` here)."""
    today = now.date()
    persons = {p.id: p for p in _rows(session, Person,
                                       one_of(session, Person.id,
                                              {c.person_id for c in cases}))}
    since, events, assessments, flags, supervisions = _load(
        session, list(persons), today, window)
    sentenced_since = today - timedelta(days=window.newly_sentenced_days)
    # Seed criteria: borough ranks, offence-type counts (workflow/criteria_facts.py).
    criteria = criteria_facts(session, {p.id: p.sex for p in persons.values()}, today,
                              window.window_days)
    custody = _custody(session, list(persons), today)  # OGRS3 start of follow-up
    out = {}
    for case in cases:
        person = persons[case.person_id]
        out[case.id] = {
            **_person_facts(person, events.get(person.id, []), since, sentenced_since,
                            assessments.get(person.id), supervisions.get(person.id),
                            flags.get(person.id, {}), today, custody.get(person.id, [])),
            **criteria[person.id], **programme_facts(flags.get(person.id, {})),
            "days_in_state": max((now - case.state_since).days, 0),
        }
    for case_id, compliance in compliance_facts(session, cases, now, events).items():
        out[case_id].update(compliance)  # one more batched query (workflow/tasks/facts.py)
    # Checked against the catalogue here, once: evaluations of them check nothing.
    return {case_id: checked_facts(facts, label=f"case {case_id}")
            for case_id, facts in out.items()}
