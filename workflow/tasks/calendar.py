"""Working days for task deadlines: Monday to Friday, less England and Wales bank
holidays and the partnership's own closure days.

Bank holidays come from the maintained ``holidays`` package (UK calendar, subdivision
ENG, which England and Wales share: substitute days and one-off holidays such as a
coronation included), for any year, so deadlines never run past the end of a hand table.
Local extra closure days are reference data: ``workflow/reference/closure_days.csv``
(``date,name``; ``#`` comments), read once per process.

Deadline rule (documented in ``docs/tasks.md``):

* Days are counted in the team's local time (Europe/London).
* A start on a weekend or non-working day is treated as received on the next working day
  (the usual "deemed received" rule).
* ``days == 0``: due at the end of that (start or next) working day.
* ``days == n``: due at the end of the n-th working day after it. "Within 24 hours" style
  standards are written as 1 working day.
* "End of day" is 23:59:59 local time, returned as an aware UTC datetime.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays as holiday_calendars

from workflow.errors import ConfigError, InvalidInput

LOCAL = ZoneInfo("Europe/London")
CLOSURES_FILE = Path(__file__).resolve().parents[1] / "reference" / "closure_days.csv"
END_OF_DAY = time(23, 59, 59)


@cache
def closure_days(path: Path = CLOSURES_FILE) -> frozenset[date]:
    """The local closure dates in ``path``. Raises :class:`ConfigError` on a bad row."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    out = set()
    for n, row in enumerate(csv.DictReader(lines), start=2):
        try:
            out.add(date.fromisoformat(row["date"].strip()))
        except (KeyError, AttributeError, ValueError) as exc:
            raise ConfigError(f"{path.name}: row {n}: bad date {row.get('date')!r}") from exc
    return frozenset(out)


@cache
def bank_holidays(year: int) -> frozenset[date]:
    """England and Wales bank holidays of ``year`` (the ``holidays`` package, UK/ENG)."""
    return frozenset(holiday_calendars.country_holidays("GB", subdiv="ENG", years=year))


def closed_days(year: int, closures: Path = CLOSURES_FILE) -> frozenset[date]:
    """Every weekday of ``year`` that is not a working day: bank holidays and closures."""
    return bank_holidays(year) | {d for d in closure_days(closures) if d.year == year}


def is_working_day(day: date, holidays: frozenset[date] | None = None) -> bool:
    """Monday to Friday and not closed (``holidays``, when given, replaces the calendar)."""
    if day.weekday() >= 5:
        return False
    return day not in (closed_days(day.year) if holidays is None else holidays)


def next_working_day(day: date, holidays: frozenset[date] | None = None) -> date:
    """``day`` itself when it is a working day, else the first working day after it."""
    while not is_working_day(day, holidays):
        day += timedelta(days=1)
    return day


def working_day_after(day: date, days: int, holidays: frozenset[date] | None = None) -> date:
    """The date ``days`` working days after ``day`` (rolled forward to a working day first)."""
    if days < 0:
        raise InvalidInput(f"working days must be 0 or more, got {days}")
    current = next_working_day(day, holidays)
    for _ in range(days):
        current = next_working_day(current + timedelta(days=1), holidays)
    return current


def add_working_days(start: datetime, days: int) -> datetime:
    """The deadline ``days`` working days after ``start`` (aware), as an aware UTC datetime.

    See the module docstring for the rule. Raises :class:`InvalidInput` for a naive
    ``start`` or negative ``days``.
    """
    if start.tzinfo is None:
        raise InvalidInput("start must be timezone-aware")
    local_day = start.astimezone(LOCAL).date()
    due_day = working_day_after(local_day, days)
    return datetime.combine(due_day, END_OF_DAY, tzinfo=LOCAL).astimezone(UTC)


def working_days_before(deadline: datetime, days: int) -> datetime:
    """Start (00:00 local) of the working day ``days`` working days before ``deadline``'s day.

    Used for reminders: 1 means "from the start of the previous working day".
    """
    day = deadline.astimezone(LOCAL).date()
    for _ in range(days):
        day -= timedelta(days=1)
        while not is_working_day(day):
            day -= timedelta(days=1)
    return datetime.combine(day, time(0, 0), tzinfo=LOCAL).astimezone(UTC)
