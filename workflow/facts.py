"""Build each case's facts (see ``rules/catalogue.py``) from stored data, as of ``now``.

Only data dated on or before ``now`` is used, so an evaluation can be replayed as of
any date. Facts are built for many cases with a fixed number of queries.
"""

from __future__ import annotations

from collections import defaultdict, namedtuple
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache, lru_cache

from sqlalchemy import Date, bindparam, select
from sqlalchemy.orm import Session

from db.dialect import ids_value, one_of_param
from db.models import (
    Assessment,
    Case,
    ComplianceEvent,
    PartnerFlag,
    Person,
    Supervision,
)
from rules.catalogue import checked_all
from workflow import criteria_facts as criteria_
from workflow.criteria_facts import TREATMENT_STATES, criteria_facts, programme_facts
from workflow.errors import InvalidInput
from workflow.offending import NO_RECORD, Record, records
from workflow.scoring import ScoreInputs, default_scorer, sanction_values
from workflow.tasks import facts as compliance_
from workflow.tasks.facts import compliance_facts

_BOOL_FLAGS = ("ppo", "dtoa", "marac_repeat", "yos_referral", "asb", "housing_need")
_TRUE = {"1", "true", "yes", "y", "t"}
_NO_FLAGS = dict.fromkeys(_BOOL_FLAGS, False)
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


@lru_cache(maxsize=1 << 16)
def _score(values: tuple):
    """The default scorer's score of the inputs ``ScoreInputs(*values)`` (pure: the same
    inputs recur across a borough, so a pass scores each distinct history once; keyed
    by the plain tuple, hashed in C, so a hit makes no inputs object)."""
    return default_scorer().score(ScoreInputs(*values))


def _ogrs(person: Person, assessment: Assessment | None, record: Record,
          custody: list[tuple[date, str]], today: date) -> dict:
    """The latest assessment's scores, else OGRS3 computed from the record (no writes).

    ``ogrs_source``: ``supplied``; ``computed`` from a record that looks complete; or
    ``computed_partial`` when the record cannot tell an input (no first-sanction date,
    a first sanction before every recorded one, still in custody): see
    :func:`workflow.scoring.history_inputs` (here from the record's summary,
    :func:`workflow.scoring.sanction_inputs`).
    """
    if assessment is not None:
        source = "computed" if assessment.source == "computed" else "supplied"
        return {"ogrs_2yr": assessment.ogrs_2yr, "ogrs_1yr": assessment.ogrs_1yr,
                "ogrs_source": source}
    history = sanction_values(person.sex, person.date_of_birth, person.first_sanction_on,
                              record.sanctions, custody, today)  # sanction_inputs' values
    try:
        score = _score(history[0]) if history else None
    except InvalidInput:  # data no scorer accepts (e.g. an unknown category): no score
        score = None
    if score is None:
        return {"ogrs_2yr": None, "ogrs_1yr": None, "ogrs_source": None}
    return {"ogrs_2yr": score.ogrs_2yr, "ogrs_1yr": score.ogrs_1yr,
            "ogrs_source": "computed_partial" if history[1] else "computed"}


def _custody(session: Session, person_ids: list[int], today: date
             ) -> dict[int, list[tuple[date, str]]]:
    """``{person_id: [(day, custody_in | custody_out)]}`` from compliance events."""
    out: dict[int, list] = defaultdict(list)
    for pid, at, kind in _rows(session, "custody", person_ids, today):
        if at.date() <= today:
            out[pid].append((at.date(), kind))
    return out


@lru_cache(maxsize=4)
def _statements(dialect: str) -> dict:
    """The chunk's fact queries other than the offending summary, built once a dialect
    (building a statement costs more than running it), of table columns (no ORM
    annotations); parameters ``ids`` and ``today`` (:func:`_rows`)."""
    today = bindparam("today", type_=Date)

    def of(model, *where, columns=None):
        return (select(*(columns or model.__table__.columns))
                .where(one_of_param(dialect, model.__table__.c.person_id, "ids"), *where))

    person, custody = Person.__table__.c, ComplianceEvent.__table__.c
    return {
        # what the facts read of a person (_person_facts, _ogrs)
        "persons": select(person.id, person.sex, person.date_of_birth,
                          person.first_sanction_on).where(
            one_of_param(dialect, person.id, "ids")),
        "assessments": of(Assessment, Assessment.__table__.c.assessed_on <= today),
        "flags": of(PartnerFlag, PartnerFlag.__table__.c.recorded_on <= today),
        "supervisions": of(Supervision, Supervision.__table__.c.start_on <= today),
        "custody": of(ComplianceEvent, custody.kind.in_(("custody_in", "custody_out")),
                      columns=(custody.person_id, custody.occurred_at, custody.kind))
        .order_by(custody.occurred_at, custody.id),
    }


def _rows(session: Session, name: str, person_ids, today: date) -> list:
    """Rows of the fact query ``name`` (:func:`_statements`) for ``person_ids``, as of
    ``today``: plain tuples named as the columns, no ORM objects, run as Core statements
    on the session's connection (no ORM result processing; :func:`facts_for_cases`
    flushes first), so a chunk of thousands of cases loads in a few queries."""
    dialect = session.get_bind().dialect.name
    statement, row = _statements(dialect)[name], _row_types()[name]
    return [row._make(r) for r in session.connection().execute(statement, {  # all(): one
        "ids": ids_value(dialect, person_ids), "today": today}).all()]  # fetch, not a row each


@cache
def _row_types() -> dict:
    """A named tuple a fact query (:func:`_statements`, the same columns on every
    dialect): reading a field of a SQLAlchemy Row by name costs about 1 us, of a named
    tuple 30 ns."""
    return {name: namedtuple(f"{name}_row", [c.key for c in statement.selected_columns])
            for name, statement in _statements("sqlite").items()}


def _load(session: Session, person_ids: list[int], today: date, window: FactWindow,
          ogrs: bool = True):
    since = today - timedelta(days=window.window_days)
    sentenced_since = today - timedelta(days=window.newly_sentenced_days)
    offending = records(session, person_ids, today, since, sentenced_since)
    assessments = _latest_by_person(
        _rows(session, "assessments", person_ids, today),
        key=lambda a: (a.assessed_on, a.id)) if ogrs else {}
    flags: dict[int, dict] = defaultdict(dict)
    for f in sorted(_rows(session, "flags", person_ids, today),
                    key=lambda f: (f.recorded_on, f.id)):
        flags[f.person_id][f.kind] = _flag_value(f.kind, f.value)
    supervisions = _latest_by_person(
        (s for s in _rows(session, "supervisions", person_ids, today)
         if s.end_on is None or s.end_on >= today),
        key=lambda s: (s.start_on, s.id))
    return offending, assessments, flags, supervisions


def _person_facts(person: Person, record: Record, sentenced_since: date,
                  assessment: Assessment | None, supervision: Supervision | None,
                  person_flags: dict, today: date, custody: list[tuple[date, str]] | None
                  ) -> dict:
    """The catalogue facts that depend on the person's partner data alone
    (``record``: their offending record; ``custody`` None: no OGRS facts)."""
    provider = supervision.provider if supervision else "none"
    age = _age(person.date_of_birth, today)
    facts = _ogrs(person, assessment, record, custody, today) if custody is not None else {}
    facts.update({
        "offence_category": record.offence_category,
        "newly_sentenced": record.newly_sentenced or bool(
            supervision and supervision.provider != "none"
            and supervision.start_on >= sentenced_since),
        "arrests_window": record.arrests_window,
        "drug_arrests_window": record.drug_arrests_window,
        "convictions_window": record.convictions_window,
        "activity_score": record.activity_score,
        "mappa_level": person_flags.get("mappa_level", 0),
        "statutory": provider in ("NPS", "CRC"),
        "supervision": provider,
        "sex": person.sex,
        "age": age,
        "days_to_18th_birthday": 0 if age >= 18 else days_to_18th_birthday(
            person.date_of_birth, today),  # 18 or more: the birthday has passed
    })
    facts.update({k: person_flags.get(k, False) for k in _BOOL_FLAGS} if person_flags
                 else _NO_FLAGS)
    facts["gang_grade"] = person_flags.get("gang_grade")
    return facts


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
    if session.autoflush:
        session.flush()  # what the Core queries below read (no autoflush on them)
    persons = {p.id: p for p in _rows(session, "persons", {c.person_id for c in cases},
                                      today)}
    offending, assessments, flags, supervisions = _load(
        session, list(persons), today, window, ogrs=want["ogrs"])
    sentenced_since = today - timedelta(days=window.newly_sentenced_days)
    # Seed criteria: borough ranks, offence-type counts (workflow/criteria_facts.py).
    criteria = criteria_facts(session, {p.id: p.sex for p in persons.values()}, today,
                              window.window_days) if want["criteria"] else {}
    # OGRS3 start of follow-up
    custody = _custody(session, list(persons), today) if want["ogrs"] else None
    out = {}
    no_programme = programme_facts({})
    for case in cases:
        pid = case.person_id
        person_flags = flags.get(pid, {})
        facts = _person_facts(persons[pid], offending.get(pid, NO_RECORD), sentenced_since,
                              assessments.get(pid), supervisions.get(pid), person_flags,
                              today, None if custody is None else custody.get(pid, ()))
        if criteria:
            facts.update(criteria.get(pid, {}))
        facts.update(programme_facts(person_flags) if person_flags else no_programme)
        facts["days_in_state"] = max((now - case.state_since).days, 0)
        out[case.id] = facts
    if want["compliance"]:
        last_arrest = {pid: record.last_arrest for pid, record in offending.items()}
        for case_id, compliance in compliance_facts(session, cases, now, last_arrest).items():
            out[case_id].update(compliance)  # one more batched query (workflow/tasks/facts.py)
    # Checked against the catalogue here, once: evaluations of them check nothing.
    return checked_all(out, label="case")
