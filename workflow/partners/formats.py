"""The five partner CSV formats: their columns, how each value is checked, where it goes.

Each :class:`Format` names its table, its columns and the stored columns compared to
decide "unchanged" on re-import. Value parsers take the stripped text and the import
date and either return the stored value or raise :class:`ValueError` with the reason
shown to the user. Formats are documented in ``docs/formats/README.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from db.models import (
    EVENT_KINDS,
    FLAG_KINDS,
    SUPERVISION_PROVIDERS,
    Assessment,
    OffendingEvent,
    PartnerFlag,
    Person,
    Supervision,
    User,
)
from rules.catalogue import OFFENCE_CATEGORIES

Parser = Callable[[str, date], object]
_TRUE = frozenset({"true", "yes", "y", "t", "1"})
_FALSE = frozenset({"false", "no", "n", "f", "0"})
BOOLEAN_FLAGS = ("marac_repeat", "dtoa", "ppo", "yos_referral", "asb")
GANG_GRADES = ("high", "medium", "low", "none")
TREATMENT_STATES = ("retained", "not_retained", "completed", "none")


def text(max_len: int) -> Parser:
    def parse(raw: str, _today: date) -> str:
        if not raw:
            raise ValueError("is empty (a value is required)")
        if len(raw) > max_len:
            raise ValueError(f"is longer than {max_len} characters")
        if "\x00" in raw:  # PostgreSQL cannot store it; refused on both backends
            raise ValueError("contains a NUL character (\\x00), which cannot be stored")
        return raw
    return parse


def choice(choices: tuple[str, ...]) -> Parser:
    allowed = frozenset(choices)
    listed = ", ".join(choices)

    def parse(raw: str, _today: date) -> str:
        if raw not in allowed:
            raise ValueError(f"{raw!r} is not one of {listed}")
        return raw
    return parse


def iso_date(*, future_ok: bool = False) -> Parser:
    """A ``YYYY-MM-DD`` date; unless ``future_ok``, not after the import date."""
    def parse(raw: str, today: date) -> date:
        if len(raw) != 10 or raw[4] != "-" or raw[7] != "-":
            raise ValueError(f"{raw!r} is not a date (YYYY-MM-DD)")
        try:
            value = date.fromisoformat(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a valid date") from None
        if not future_ok and value > today:
            raise ValueError(f"{raw} is after the import date {today.isoformat()}")
        return value
    return parse


def integer(lo: int, hi: int) -> Parser:
    def parse(raw: str, _today: date) -> int:
        if not raw.isdigit():
            raise ValueError(f"{raw!r} is not a whole number")
        value = int(raw)
        if not lo <= value <= hi:
            raise ValueError(f"{value} is outside {lo}-{hi}")
        return value
    return parse


def optional(parser: Parser, default=None) -> Parser:
    """Blank means ``default``; anything else goes through ``parser``."""
    def parse(raw: str, today: date):
        return default if not raw else parser(raw, today)
    return parse


def flag_value(kind: str, raw: str) -> str:
    """The stored form of a flag value for ``kind``; raises ValueError with the reason."""
    low = raw.lower()
    if kind == "mappa_level":
        if low not in ("0", "1", "2", "3"):
            raise ValueError(f"{raw!r} is not a MAPPA level 0-3")
        return low
    if kind == "gang_grade":
        if low not in GANG_GRADES:
            raise ValueError(f"{raw!r} is not one of {', '.join(GANG_GRADES)}")
        return low
    if kind == "treatment":
        if low not in TREATMENT_STATES:
            raise ValueError(f"{raw!r} is not one of {', '.join(TREATMENT_STATES)}")
        return low
    if low in _TRUE:
        return "true"
    if low in _FALSE:
        return "false"
    raise ValueError(f"{raw!r} is not true or false (yes/no, 1/0 also accepted)")


@dataclass(frozen=True)
class Column:
    """``parse`` must be pure (same text and date, same value or same error)."""

    name: str
    parse: Parser
    in_header: bool = True  # False: the column may be left out of the header
    repeats: bool = True  # values recur across rows: worth remembering once parsed


@dataclass(frozen=True)
class Format:
    """One CSV kind. ``person_ref`` rows are linked to ``person.id`` by partner_ref."""

    kind: str
    model: type
    columns: tuple[Column, ...]
    compare: tuple[str, ...]  # stored columns compared to tell "unchanged" from "updated"
    constants: dict = field(default_factory=dict)  # stored on insert, never compared
    check: Callable[[dict], tuple[str, str] | None] | None = None  # cross-field check
    stamp: str | None = None  # column set to the import time on insert
    # Called once per import; returns a function filling derived values into a row.
    deriver: Callable[[Session], Callable[[dict], None]] | None = None

    @property
    def table(self) -> Table:
        return self.model.__table__

    @property
    def has_person(self) -> bool:
        return any(c.name == "person_ref" for c in self.columns)


def _check_person(v: dict) -> tuple[str, str] | None:
    first, dob = v["first_sanction_on"], v["date_of_birth"]
    if first is not None:
        tenth = date(dob.year + 10, dob.month, 28 if (dob.month, dob.day) == (2, 29)
                     else dob.day)
        if first < tenth:
            return "first_sanction_on", (f"{first} is before the person's 10th birthday "
                                         "(age of criminal responsibility)")
    return None


def _check_supervision(v: dict) -> tuple[str, str] | None:
    if v["end_on"] is not None and v["end_on"] < v["start_on"]:
        return "end_on", f"{v['end_on']} is before start_on {v['start_on']}"
    return None


def _check_assessment(v: dict) -> tuple[str, str] | None:
    if v["ogrs_1yr"] is not None and v["ogrs_1yr"] > v["ogrs_2yr"]:
        return "ogrs_1yr", (f"{v['ogrs_1yr']} is above ogrs_2yr {v['ogrs_2yr']} "
                            "(the 1-year probability cannot exceed the 2-year one)")
    return None


def _check_flag(v: dict) -> tuple[str, str] | None:
    try:
        v["value"] = flag_value(v["kind"], v["value"])
    except ValueError as exc:
        return "value", f"{exc} (kind {v['kind']})"
    return None


def link_offender_manager(session: Session) -> Callable[[dict], None]:
    """Derive ``offender_manager_user_id`` from the offender manager's name.

    A row is linked when exactly one active offender-manager user has that display name
    (case-insensitive) and an agency equal to the row's provider; otherwise the link is
    empty. The link is derived on every import, so it is compared like the other columns.
    """
    users: dict[tuple[str, str], list[int]] = {}
    for uid, name, agency in session.execute(
            select(User.id, User.display_name, User.agency).where(
                User.role == "offender_manager", User.active.is_(True))):
        users.setdefault((name.strip().lower(), agency or ""), []).append(uid)

    def derive(values: dict) -> None:
        name = values["offender_manager"]
        ids = users.get((name.lower(), values["provider"]), []) if name else []
        values["offender_manager_user_id"] = ids[0] if len(ids) == 1 else None
    return derive


REF = text(64)
FORMATS: dict[str, Format] = {f.kind: f for f in (
    Format("people", Person, (
        Column("partner_ref", REF, repeats=False), Column("given_name", text(100)),
        Column("family_name", text(100)), Column("sex", choice(("M", "F"))),
        Column("date_of_birth", iso_date()),
        Column("first_sanction_on", optional(iso_date()), in_header=False),
    ), compare=("given_name", "family_name", "sex", "date_of_birth", "first_sanction_on"),
        check=_check_person, stamp="created_at"),
    Format("events", OffendingEvent, (
        Column("partner_ref", REF, repeats=False), Column("person_ref", REF),
        Column("kind", choice(EVENT_KINDS)), Column("occurred_on", iso_date()),
        Column("offence_category", choice(OFFENCE_CATEGORIES)),
    ), compare=("person_id", "kind", "occurred_on", "offence_category"),
        constants={"source": "import"}),
    Format("supervision", Supervision, (
        Column("partner_ref", REF, repeats=False), Column("person_ref", REF),
        Column("provider", choice(SUPERVISION_PROVIDERS)),
        Column("offender_manager", optional(text(100))),
        Column("start_on", iso_date(future_ok=True)),
        Column("end_on", optional(iso_date(future_ok=True)), in_header=False),
    ), compare=("person_id", "provider", "offender_manager", "offender_manager_user_id",
                "start_on", "end_on"), check=_check_supervision,
        deriver=link_offender_manager),
    Format("assessments", Assessment, (
        Column("partner_ref", REF, repeats=False), Column("person_ref", REF),
        Column("assessed_on", iso_date()),
        Column("ogrs_1yr", optional(integer(0, 100)), in_header=False),
        Column("ogrs_2yr", integer(0, 100)),
        Column("tool", optional(text(16), "OGRS3"), in_header=False),
    ), compare=("person_id", "assessed_on", "ogrs_1yr", "ogrs_2yr", "tool"),
        constants={"source": "supplied"}, check=_check_assessment),
    Format("flags", PartnerFlag, (
        Column("partner_ref", REF, repeats=False), Column("person_ref", REF),
        Column("kind", choice(FLAG_KINDS)), Column("value", text(20)),
        Column("recorded_on", iso_date()),
    ), compare=("person_id", "kind", "value", "recorded_on"),
        constants={"source": "import"}, check=_check_flag),
)}
KINDS = tuple(FORMATS)
