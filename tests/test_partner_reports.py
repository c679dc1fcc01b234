"""Top repeat arrested suspects, on a hand-built file counted by hand."""

from __future__ import annotations

import io
from datetime import date

import pytest

from workflow.errors import InvalidInput
from workflow.partners import import_csv
from workflow.reports import top_arrested

PEOPLE = "partner_ref,given_name,family_name,sex,date_of_birth\n" + "".join(
    f"P{i},N{i},F{i},M,1990-01-01\n" for i in range(1, 8))
# Window 2023-01-01 .. 2024-12-31 (inclusive). Arrests inside it, by hand:
#   P1: 5 (incl. one on each boundary day); P2: 3; P3: 3; P4: 1; P5: 1
#   P6: an arrest the day before the window and one the day after: 0
#   P7: a charge and a conviction in the window, but no arrest: 0
# => individuals arrested 5, arrests 13. Ranked 5, 3, 3, 1, 1:
#   top 1 = 1 person = 20% of individuals, 5 arrests;
#   top 2 = 40%, 5 + 3 = 8 (P2 and P3 tie on 3: either gives 8);
#   top 3 = 60%, 11; top 10 = all 5 people = 100%, 13.
EVENTS = """partner_ref,person_ref,kind,occurred_on,offence_category
E01,P1,arrest,2023-01-01,theft
E02,P1,arrest,2023-06-01,theft
E03,P1,arrest,2024-02-01,robbery
E04,P1,arrest,2024-03-01,theft
E05,P1,arrest,2024-12-31,theft
E06,P2,arrest,2023-02-01,violence
E07,P2,arrest,2023-03-01,violence
E08,P2,arrest,2024-04-01,violence
E09,P3,arrest,2023-05-01,domestic_burglary
E10,P3,arrest,2023-07-01,domestic_burglary
E11,P3,arrest,2023-09-01,domestic_burglary
E12,P4,arrest,2024-01-15,fraud
E13,P5,arrest,2023-11-11,public_order
E14,P6,arrest,2022-12-31,theft
E15,P6,arrest,2025-01-01,theft
E16,P7,charge,2024-01-01,theft
E17,P7,conviction,2024-06-01,theft
E18,P1,charge,2024-02-01,robbery
"""


def test_top_arrested_on_a_hand_counted_file(session, now):
    for kind, text in (("people", PEOPLE), ("events", EVENTS)):
        report = import_csv(session, kind, io.StringIO(text), filename=f"{kind}.csv",
                            actor="t", now=now)
        assert report.rejected == 0

    result = top_arrested(session, start=date(2023, 1, 1), end=date(2024, 12, 31),
                          tops=(1, 2, 3, 10))

    assert (result["individuals_arrested"], result["arrests"]) == (5, 13)
    assert [(r["top"], r["people"], r["share_of_individuals_pct"], r["arrests"])
            for r in result["rows"]] == [(1, 1, 20.0, 5), (2, 2, 40.0, 8), (3, 3, 60.0, 11),
                                         (10, 5, 100.0, 13)]
    assert result["rows"][1]["share_of_arrests_pct"] == 61.54  # 8 / 13, half up
    # A one-day window holding only P1's boundary arrest.
    single = top_arrested(session, start=date(2024, 12, 31), end=date(2024, 12, 31))
    assert (single["individuals_arrested"], single["rows"][0]["arrests"]) == (1, 1)


def test_seed_percentages_round_like_the_seed(session):
    from workflow.reports.top_arrested import percent

    # Barnet: 0.14%, 0.29%, 1.45%, 2.9% of about 6,900 individuals arrested.
    assert [percent(n, 6897) for n in (10, 20, 100, 200)] == [0.14, 0.29, 1.45, 2.9]
    empty = top_arrested(session, start=date(2023, 1, 1), end=date(2023, 1, 2))
    assert empty["rows"][0] == {"top": 10, "people": 0, "share_of_individuals_pct": 0.0,
                                "arrests": 0, "share_of_arrests_pct": 0.0}


@pytest.mark.parametrize("kw", [
    {"start": date(2024, 1, 2), "end": date(2024, 1, 1)},
    {"start": date(2024, 1, 1), "end": date(2024, 1, 2), "tops": (10, 0)},
])
def test_bad_parameters(session, kw):
    with pytest.raises(InvalidInput):
        top_arrested(session, **kw)
