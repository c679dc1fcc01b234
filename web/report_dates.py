"""The reports' date range from a query string, checked as GOV.UK date inputs are.

Either ``from`` / ``to`` as ``YYYY-MM-DD`` (the links between report pages) or the
form's ``from-day``, ``from-month``, ``from-year`` (and ``to-...``) boxes. A side left
empty takes the default: the two years up to today (as the API and CLI). Errors follow
the GOV.UK pattern: one message per date naming it, linked to the first wrong box.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from workflow.reports.top_arrested import default_window

SIDES = {"from": "Start date", "to": "End date"}
PARTS = ("day", "month", "year")
FIRST, LAST = date(1900, 1, 1), date(2199, 12, 31)  # as the API's dates (api/edge.py)


@dataclass
class DateRange:
    start: date | None = None
    end: date | None = None
    boxes: dict = field(default_factory=dict)  # "from-day" -> text typed, for redisplay
    bad: dict = field(default_factory=dict)  # side -> (message, [wrong parts])

    @property
    def query(self) -> dict:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}

    def items(self, side: str) -> list[dict]:
        """govukDateInput items for ``side`` (wrong boxes marked)."""
        wrong = self.bad.get(side, ("", []))[1]
        return [{"name": part, "label": part.title(), "value": self.boxes.get(
                 f"{side}-{part}", ""), "classes": ("govuk-input--width-4" if part == "year"
                 else "govuk-input--width-2") + (" govuk-input--error" if part in wrong
                                                 else "")} for part in PARTS]


def _boxes(args, side: str, value: date | None) -> dict[str, str]:
    typed = {p: (args.get(f"{side}-{p}") or "").strip()[:10] for p in PARTS}
    if not any(typed.values()) and value is not None:
        typed = {"day": str(value.day), "month": str(value.month), "year": str(value.year)}
    return typed


def _iso(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _read(side: str, typed: dict[str, str]) -> tuple[date | None, tuple | None]:
    """The date typed, or an error ``(message, wrong parts)``; (None, None) if empty."""
    name = SIDES[side]
    if not any(typed.values()):
        return None, None
    missing = [p for p in PARTS if not typed[p]]
    if missing:
        return None, (f"{name} must include a {' and '.join(missing)}", missing)
    if not all(typed[p].isdigit() for p in PARTS):
        return None, (f"{name} must be a real date",
                      [p for p in PARTS if not typed[p].isdigit()])
    if len(typed["year"]) != 4:
        return None, ("Year must include 4 numbers", ["year"])
    try:
        value = date(int(typed["year"]), int(typed["month"]), int(typed["day"]))
    except ValueError:
        return None, (f"{name} must be a real date", list(PARTS))
    if not FIRST <= value <= LAST:
        return None, (f"{name} must be between 1900 and 2199", ["year"])
    return value, None


def read_range(args, *, today: date) -> tuple[DateRange, list[dict]]:
    """The range asked for and the error summary's list (empty when the range is good)."""
    dates = DateRange()
    given = {}
    for side in SIDES:
        iso = args.get(side)
        typed = _boxes(args, side, _iso(iso))
        if iso and _iso(iso) is None and not any(args.get(f"{side}-{p}") for p in PARTS):
            dates.bad[side] = (f"{SIDES[side]} must be a real date", ["day"])
        else:
            given[side], problem = _read(side, typed)
            if problem:
                dates.bad[side] = problem
        dates.boxes |= {f"{side}-{p}": typed[p] for p in PARTS}
    if not dates.bad:
        dates.start, dates.end = default_window(given.get("from"), given.get("to"),
                                                today=today)
        for side, value in (("from", dates.start), ("to", dates.end)):
            if not any(dates.boxes[f"{side}-{p}"] for p in PARTS):
                dates.boxes |= {f"{side}-day": str(value.day), f"{side}-month":
                                str(value.month), f"{side}-year": str(value.year)}
        if dates.end < dates.start:
            dates.bad["to"] = ("End date must be the same as or after the start date",
                               list(PARTS))
    errors = [{"text": message, "href": f"#{side}-{wrong[0]}"}
              for side, (message, wrong) in dates.bad.items()]
    return dates, errors
