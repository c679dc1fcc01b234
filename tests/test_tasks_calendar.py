"""Working-day deadlines over weekends and England & Wales bank holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from workflow.errors import ConfigError, InvalidInput
from workflow.tasks.calendar import (
    LOCAL,
    add_working_days,
    bank_holidays,
    closed_days,
    closure_days,
    is_working_day,
    working_day_after,
    working_days_before,
)


def _local_day(dt: datetime) -> date:
    return dt.astimezone(LOCAL).date()


def test_calendar_has_easter_2025_and_substitute_days():
    holidays = bank_holidays(2025)
    assert date(2025, 4, 18) in holidays and date(2025, 4, 21) in holidays
    assert date(2026, 12, 28) in bank_holidays(2026)  # Boxing Day substitute
    assert date(2023, 5, 8) in bank_holidays(2023)  # the coronation: a one-off holiday
    # England and Wales: eight days off a year (a holiday on a weekend is listed with its
    # observed weekday, which is the one that matters here).
    for year in range(2024, 2036):
        assert len({d for d in bank_holidays(year) if d.weekday() < 5}) == 8, year


def test_deadline_in_2030_skips_that_years_bank_holidays():
    """Past the end of the old hand table (2028): Easter and Christmas 2030 still count."""
    maundy_thursday = datetime(2030, 4, 18, 10, 0, tzinfo=UTC)
    # Good Friday 19 April and Easter Monday 22 April 2030 are bank holidays.
    assert _local_day(add_working_days(maundy_thursday, 1)) == date(2030, 4, 23)
    christmas_eve = datetime(2030, 12, 24, 9, 0, tzinfo=UTC)  # a Tuesday
    assert _local_day(add_working_days(christmas_eve, 1)) == date(2030, 12, 27)
    early_may = datetime(2030, 5, 3, 9, 0, tzinfo=UTC)  # Friday before the 6 May holiday
    assert _local_day(add_working_days(early_may, 1)) == date(2030, 5, 7)
    assert not is_working_day(date(2030, 8, 26))  # summer bank holiday


def test_local_closure_days_are_reference_data(tmp_path):
    shipped = closure_days()  # the shipped file parses (and holds no bank holiday twice)
    assert not shipped & bank_holidays(2026)
    extra = tmp_path / "closures.csv"
    extra.write_text("# a borough's own closures\ndate,name\n"
                     "2030-04-23,Staff development day\n", encoding="utf-8")
    closed = closed_days(2030, extra)
    assert date(2030, 4, 23) in closed and date(2030, 4, 19) in closed
    # Thursday 18 April + 1 working day: Good Friday, the weekend, Easter Monday and the
    # closure day are skipped.
    assert working_day_after(date(2030, 4, 18), 1, closed) == date(2030, 4, 24)
    bad = tmp_path / "bad.csv"
    bad.write_text("date,name\n2030-02-30,Nope\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        closure_days(bad)


def test_one_working_day_skips_good_friday_weekend_and_easter_monday():
    thursday = datetime(2025, 4, 17, 10, 0, tzinfo=UTC)
    assert _local_day(add_working_days(thursday, 1)) == date(2025, 4, 22)
    assert _local_day(add_working_days(thursday, 0)) == date(2025, 4, 17)
    assert _local_day(add_working_days(thursday, 2)) == date(2025, 4, 23)


def test_deadline_is_end_of_the_local_working_day_in_utc():
    monday = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # GMT
    assert add_working_days(monday, 1) == datetime(2025, 3, 4, 23, 59, 59, tzinfo=UTC)
    summer = datetime(2025, 7, 1, 9, 0, tzinfo=UTC)  # BST: 23:59:59 local is 22:59:59 UTC
    assert add_working_days(summer, 0) == datetime(2025, 7, 1, 22, 59, 59, tzinfo=UTC)


def test_weekend_and_holiday_starts_count_from_the_next_working_day():
    saturday = datetime(2025, 3, 8, 12, 0, tzinfo=UTC)
    assert _local_day(add_working_days(saturday, 0)) == date(2025, 3, 10)
    assert _local_day(add_working_days(saturday, 1)) == date(2025, 3, 11)
    good_friday = datetime(2025, 4, 18, 12, 0, tzinfo=UTC)
    assert _local_day(add_working_days(good_friday, 0)) == date(2025, 4, 22)
    # 23:30 UTC on Friday 27 June 2025 is already Saturday 00:30 in London (BST).
    late_friday = datetime(2025, 6, 27, 23, 30, tzinfo=UTC)
    assert _local_day(add_working_days(late_friday, 0)) == date(2025, 6, 30)


def test_christmas_and_new_year_2025():
    christmas_eve = datetime(2025, 12, 24, 9, 0, tzinfo=UTC)
    assert _local_day(add_working_days(christmas_eve, 1)) == date(2025, 12, 29)
    assert _local_day(add_working_days(christmas_eve, 3)) == date(2025, 12, 31)
    assert _local_day(add_working_days(christmas_eve, 4)) == date(2026, 1, 2)


def test_five_working_days_is_a_week_without_holidays():
    monday = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    assert _local_day(add_working_days(monday, 5)) == date(2025, 3, 10)
    assert not is_working_day(date(2025, 5, 26)) and is_working_day(date(2025, 5, 27))


def test_reminder_start_is_previous_working_day():
    due = add_working_days(datetime(2025, 4, 17, 9, 0, tzinfo=UTC), 1)  # Tue 22 April
    assert _local_day(working_days_before(due, 1)) == date(2025, 4, 17)


def test_bad_input_is_refused():
    with pytest.raises(InvalidInput):
        add_working_days(datetime(2025, 3, 3, 9, 0), 1)
    with pytest.raises(InvalidInput):
        add_working_days(datetime(2025, 3, 3, 9, 0, tzinfo=UTC), -1)


def test_reminder_horizon_leaves_out_only_tasks_no_reminder_is_due_for():
    """The reminder pass reads only tasks due before ``reminder_horizon(now)``: any task
    due at or after it is, for every template's reminder period, not yet remindable (its
    reminder starts after ``now``), over weekends, Easter and Christmas, at any hour."""
    from datetime import timedelta

    from workflow.tasks.reminders import reminder_horizon
    from workflow.tasks.templates import load_templates

    longest = max(int(t.get("remind_working_days", 1)) for t in load_templates().values())
    starts = [datetime(2025, 4, 16, 0, 0, tzinfo=UTC), datetime(2026, 12, 23, 9, 0, tzinfo=UTC),
              datetime(2027, 5, 28, 23, 30, tzinfo=UTC)]
    for start in starts:
        for hours in range(0, 24 * 12, 5):
            now = start + timedelta(hours=hours)
            horizon = reminder_horizon(now)
            assert horizon > now
            for due in (horizon + timedelta(minutes=m) for m in range(0, 60 * 24 * 6, 173)):
                for days in range(1, longest + 1):
                    assert working_days_before(due, days) > now, (now, due, days)
