"""Build each case's facts (see ``rules/catalogue.py``) from stored data, as of ``now``.

Only data dated on or before ``now`` is used, so an evaluation can be replayed as of
any date. Facts are built for many cases with a fixed number of queries.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache, lru_cache
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
from workflow import criteria_facts as criteria_
from workflow.criteria_facts import TREATMENT_STATES, criteria_facts, programme_facts
from workflow.errors import InvalidInput
from workflow.scoring import default_scorer, history_inputs
from workflow.tasks import facts as compliance_
from workflow.tasks.facts import compliance_facts

DRUG_CATEGORIES = ("drug_import_production", "drug_possession_supply")
_BOOL_FLAGS = ("ppo", "dtoa", "marac_repeat", "yos_referral", "asb", "housing_need")
_TRUE = {"1", "true", "yes", "y", "t"}
OGRS_FACTS = ("ogrs_2yr", "ogrs_1yr", "ogrs_source")
# Groups a caller may not need (``facts_for_cases(needed=...)``): each is computed by one
# piece of code below whoever asks, so a fact has the same value in every path.
OPTIONAL_GROUPS = {"ogrs": OGRS_FACTS, "criteria": criteria_.FACTS,
                   "compliance": compliance_.FACTS}


@dataclass(frozen=True)
class FactWindow:
    """How far back facts look: from settings ``[facts]``."""

    newly_sentenced_days: int = 182
    window_days: int = 730


@cache
def activity_reference() -> dict:
    path = Path(__file__).resolve().parent / "reference" / "activity.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))


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


_CURRENT_KINDS = ("conviction", "charge", "arrest")  # the current offence: first found


def _offending(events, today: date, since: date, sentenced_since: date) -> tuple[dict, dict]:
    """One walk over a person's offending events (dated up to ``today``, in load order):
    ``(facts, record)``. Facts: ``offence_category`` (the latest conviction's, else
    charge's, else arrest's, latest by date then id), ``newly_sentenced`` by conviction
    since ``sentenced_since``, the window counts (``since``..``today``) and
    ``activity_score``: the sum over the window's events of
    ``kind_weight[kind] * gravity[category] * 0.5 ** (age in days / half_life_days)``
    (``reference/activity.toml``; gravity 0.5 for a category it does not name), to 2
    places. Record: ``convictions`` and ``cautions`` as ``(day, category)`` (the OGRS3
    history) and ``last_arrest`` (day or None)."""
    ref = activity_reference()
    weights, gravity, half_life = ref["kind_weight"], ref["gravity"], ref["half_life_days"]
    score, arrests, drug, convicted, newly = 0.0, 0, 0, 0, False
    latest: dict[str, tuple] = {}
    convictions, cautions, last_arrest = [], [], None
    for e in events:
        kind, on, category = e.kind, e.occurred_on, e.offence_category
        if kind in _CURRENT_KINDS and (kind not in latest or (on, e.id) > latest[kind][0]):
            latest[kind] = ((on, e.id), category)
        if kind == "conviction":
            convictions.append((on, category))
            newly = newly or on >= sentenced_since
        elif kind == "caution":
            cautions.append((on, category))
        elif kind == "arrest" and (last_arrest is None or on > last_arrest):
            last_arrest = on
        if on >= since:
            score += (weights[kind] * gravity.get(category, 0.5)
                      * 0.5 ** (max((today - on).days, 0) / half_life))
            if kind == "arrest":
                arrests += 1
                drug += category in DRUG_CATEGORIES
            elif kind == "conviction":
                convicted += 1
    current = next((latest[k][1] for k in _CURRENT_KINDS if k in latest), None)
    return ({"offence_category": current, "newly_sentenced": newly,
             "arrests_window": arrests, "drug_arrests_window": drug,
             "convictions_window": convicted, "activity_score": round(score, 2)},
            {"convictions": convictions, "cautions": cautions, "last_arrest": last_arrest})


@lru_cache(maxsize=1 << 16)
def _score(inputs):
    """The default scorer's score of ``inputs`` (pure: the same inputs recur across a
    borough, so a pass scores each distinct history once)."""
    return default_scorer().score(inputs)


def _ogrs(person: Person, assessment: Assessment | None, record: dict,
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
        convictions=record["convictions"], cautions=record["cautions"],
        custody=custody, today=today)
    try:
        score = _score(history.inputs) if history else None
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


def _rows(session: Session, model, *where, columns=None):
    """Rows of ``columns`` (default: every column) of ``model``, attributes named as the
    ORM's: plain tuples, no ORM objects, so a chunk of thousands of cases loads in a few
    queries."""
    return session.execute(select(*(columns or model.__table__.columns)).where(*where))


# What the facts read of a person (:func:`_person_facts`, :func:`_ogrs`).
_PERSON_COLUMNS = (Person.id, Person.sex, Person.date_of_birth, Person.first_sanction_on)
# What the facts read of an offending event (:func:`_offending`).
_EVENT_COLUMNS = (OffendingEvent.id, OffendingEvent.person_id, OffendingEvent.kind,
                  OffendingEvent.occurred_on, OffendingEvent.offence_category)


def _load(session: Session, person_ids: list[int], today: date, window: FactWindow,
          ogrs: bool = True):
    since = today - timedelta(days=window.window_days)
    events = defaultdict(list)
    for e in _rows(session, OffendingEvent, one_of(session, OffendingEvent.person_id, person_ids),
                   OffendingEvent.occurred_on <= today, columns=_EVENT_COLUMNS):
        events[e.person_id].append(e)
    assessments = _latest_by_person(_rows(
        session, Assessment, one_of(session, Assessment.person_id, person_ids),
        Assessment.assessed_on <= today), key=lambda a: (a.assessed_on, a.id)) if ogrs else {}
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


def _person_facts(person: Person, offending: tuple[dict, dict], sentenced_since: date,
                  assessment: Assessment | None, supervision: Supervision | None,
                  person_flags: dict, today: date, custody: list[tuple[date, str]] | None
                  ) -> dict:
    """The catalogue facts that depend on the person's partner data alone
    (``offending``: :func:`_offending` of their events; ``custody`` None: no OGRS facts)."""
    facts, record = offending
    provider = supervision.provider if supervision else "none"
    return {
        **(_ogrs(person, assessment, record, custody, today) if custody is not None else {}),
        **facts,
        "newly_sentenced": facts["newly_sentenced"] or bool(
            supervision and supervision.provider != "none"
            and supervision.start_on >= sentenced_since),
        "mappa_level": person_flags.get("mappa_level", 0),
        "statutory": provider in ("NPS", "CRC"),
        "supervision": provider,
        "sex": person.sex,
        "age": _age(person.date_of_birth, today),
        "days_to_18th_birthday": days_to_18th_birthday(person.date_of_birth, today),
        **{k: person_flags.get(k, False) for k in _BOOL_FLAGS},
        "gang_grade": person_flags.get("gang_grade"),
    }


def facts_for_cases(session: Session, cases: list[Case], now: datetime,
                    window: FactWindow = FactWindow(), needed: Collection[str] | None = None
                    ) -> dict[int, dict]:
    """``{case.id: facts}`` for every case (Case objects, or rows with their id,
    person_id, state, state_since and opened_at), as of ``now``, each checked against the
    fact catalogue (:class:`rules.catalogue.CheckedFacts`; a value that does not fit
    raises :class:`rules.errors.FactError` here).

    ``needed``: the facts the caller reads (None: all). A group of
    :data:`OPTIONAL_GROUPS` none of whose facts is needed is not computed and its facts
    are absent (unknown); every other fact is computed as always, so a fact has the same
    value whatever was asked and whatever else is in the chunk."""
    today = now.date()
    want = {group: needed is None or not needed.isdisjoint(names)
            for group, names in OPTIONAL_GROUPS.items()}
    persons = {p.id: p for p in _rows(session, Person, one_of(
        session, Person.id, {c.person_id for c in cases}), columns=_PERSON_COLUMNS)}
    since, events, assessments, flags, supervisions = _load(
        session, list(persons), today, window, ogrs=want["ogrs"])
    sentenced_since = today - timedelta(days=window.newly_sentenced_days)
    # Seed criteria: borough ranks, offence-type counts (workflow/criteria_facts.py).
    criteria = criteria_facts(session, {p.id: p.sex for p in persons.values()}, today,
                              window.window_days) if want["criteria"] else {}
    # OGRS3 start of follow-up
    custody = _custody(session, list(persons), today) if want["ogrs"] else None
    offending = {pid: _offending(events.get(pid, ()), today, since, sentenced_since)
                 for pid in persons}
    out = {}
    for case in cases:
        pid = case.person_id
        out[case.id] = {
            **_person_facts(persons[pid], offending[pid], sentenced_since,
                            assessments.get(pid), supervisions.get(pid), flags.get(pid, {}),
                            today, None if custody is None else custody.get(pid, [])),
            **criteria.get(pid, {}), **programme_facts(flags.get(pid, {})),
            "days_in_state": max((now - case.state_since).days, 0),
        }
    if want["compliance"]:
        last_arrest = {pid: record["last_arrest"] for pid, (_, record) in offending.items()}
        for case_id, compliance in compliance_facts(session, cases, now, last_arrest).items():
            out[case_id].update(compliance)  # one more batched query (workflow/tasks/facts.py)
    # Checked against the catalogue here, once: evaluations of them check nothing.
    return {case_id: checked_facts(facts, label=f"case {case_id}")
            for case_id, facts in out.items()}
