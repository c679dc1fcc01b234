"""Caseload flow from the audit trail, counted by hand: time in each stage, candidates by
source, and the cohort against the dated target (Barnet: 200 by 31 March 2016)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

from db.models import Case
from workflow import audit
from workflow.reports.caseload import caseload_report
from workflow.reports.render import to_csv

T = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731


def _case(session, person, state, opened):
    case = Case(person_id=person.id, state=state, opened_at=opened)
    session.add(case)
    session.flush()
    return case


def _move(session, case, at, source, target, *rules):
    decisions = [{"ruleset": rs, "rule": r, "version": "v1", "action": "select",
                  "params": {}, "matched": {}} for rs, r in rules]
    event = "select" if source == "mapping" else "advance"
    cause = {"kind": "rule", "decisions": decisions} if rules else {"kind": "human"}
    audit.record(session, kind="case.transition", actor="scheduler", occurred_at=at,
                 case_id=case.id, person_ref=case.person.partner_ref,
                 summary=f"Moved from {source} to {target}",
                 payload={"event": event, "from": source, "to": target, "by": "rule",
                          "cause": cause})


def _borough(session, make_person):
    p = [make_person(f"F{i}") for i in range(5)]
    a = _case(session, p[0], "allocated", T(2025, 1, 1))
    _move(session, a, T(2025, 1, 11), "mapping", "matrixing",
          ("pan-london-selection", "ogrs-75"))
    _move(session, a, T(2025, 1, 15), "matrixing", "panel")
    _move(session, a, T(2025, 2, 5), "panel", "allocated")
    b = _case(session, p[1], "panel", T(2025, 1, 1))
    _move(session, b, T(2025, 1, 21), "mapping", "matrixing",
          ("barnet-local-flex", "dtoa-flex"), ("barnet-local-flex", "gang-high-free"))
    _move(session, b, T(2025, 2, 10), "matrixing", "panel")
    _case(session, p[2], "mapping", T(2025, 1, 1))  # still in mapping
    d = _case(session, p[3], "matrixing", T(2025, 1, 1))
    _move(session, d, T(2025, 1, 31), "mapping", "matrixing",
          ("barnet-local-flex", "repeat-female-free"))
    e = _case(session, p[4], "matrixing", T(2024, 12, 1))  # selected before the period
    _move(session, e, T(2024, 12, 11), "mapping", "matrixing",
          ("barnet-local-flex", "yos-flex"))
    session.flush()


def test_time_in_stage_and_sources_by_hand(session, make_person):
    _borough(session, make_person)
    report = caseload_report(session, start=date(2025, 1, 1), end=date(2025, 3, 31))

    stages = {r["stage"]: r for r in report["stages"]}
    # mapping stays ended in the period: 10, 20 and 30 days (E's ended in December).
    assert stages["mapping"] == {"stage": "mapping", "stays_ended": 3, "median_days": 20.0,
                                 "p90_days": 30.0, "still_in_stage": 1}
    assert stages["matrixing"] == {"stage": "matrixing", "stays_ended": 2,
                                   "median_days": 4.0, "p90_days": 20.0,
                                   "still_in_stage": 2}
    assert stages["panel"] == {"stage": "panel", "stays_ended": 1, "median_days": 21.0,
                               "p90_days": 21.0, "still_in_stage": 1}
    assert stages["allocated"]["still_in_stage"] == 1
    assert stages["allocated"]["median_days"] is None

    sources = {r["source"]: r["candidates"] for r in report["sources"]}
    assert sources["OGRS mandatory (fixed cohort)"] == 1
    assert (sources["DTOA"], sources["gang grade"], sources["female repeat"]) == (1, 1, 1)
    assert sources["YOS"] == 0  # E was selected before the period
    assert sources["all (each case once)"] == 3
    rows = list(csv.DictReader(io.StringIO(to_csv(report).split("\n\n")[0])))
    mapping = next(r for r in rows if r["section"] == "time in stage"
                   and r["stage"] == "mapping")
    assert (mapping["median_days"], mapping["p90_days"]) == ("20.0", "30.0")
    dtoa = next(r for r in rows if r["section"] == "candidates by source"
                and r["source"] == "DTOA")
    assert dtoa["candidates"] == "1"


def test_cohort_against_the_dated_target(session, make_person):
    _borough(session, make_person)
    march = caseload_report(session, start=date(2015, 4, 1), end=date(2016, 3, 31))
    assert (march["target_size"], march["target_by"]) == (200, "2016-03-31")
    assert march["target_gap"] == 200 - march["active_cohort"] == 199  # one allocated
    assert "200 by 2016-03-31" in march["method"]
    given = caseload_report(session, start=date(2015, 4, 1), end=date(2016, 3, 31),
                            target_size=150)
    assert (given["target_size"], given["target_by"], given["target_gap"]) == (150, None, 149)
    before = caseload_report(session, start=date(2013, 1, 1), end=date(2013, 12, 31))
    assert before["target_size"] is None and before["target_gap"] is None
