"""Dated, editable reference data for board reports, loaded and checked before use.

Files in ``workflow/reference/`` (``expansion.toml``, ``crime_costs.toml``,
``gdp_deflators.csv``; harm weights are ``activity.toml``'s ``gravity``). Each TOML file
holds ``[[set]]`` entries with a ``name`` and an ``as_of`` date; a report picks the newest
set dated on or before its end date, or one by name. A malformed file raises
:class:`ConfigError` naming the file, the set and the field.
"""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from workflow.errors import ConfigError, InvalidInput
from workflow.offending import activity_reference

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    categories: tuple[str, ...]  # ("*",) = every category
    arrest_to_offence: Decimal
    borough_recorded_per_year: Decimal


@dataclass(frozen=True)
class ExpansionSet:
    name: str
    as_of: date
    source: str
    reduction: Decimal
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class CostSet:
    name: str
    as_of: date
    price_year: str
    source: str
    unit_cost: dict[str, Decimal]


def _fail(path: Path, where: str, reason: str) -> ConfigError:
    return ConfigError(f"{path.name}: {where}: {reason}",
                       details={"file": path.name, "path": where, "reason": reason})


def _decimal(path: Path, where: str, value, *, positive: bool = True) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _fail(path, where, f"{value!r} is not a number") from None
    if isinstance(value, bool) or not number.is_finite() or (positive and number <= 0):
        raise _fail(path, where, f"{value!r} must be a positive number")
    return number


def _sets(path: Path) -> list[tuple[str, dict]]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise _fail(path, "(file)", str(exc)) from None
    sets = raw.get("set")
    if not isinstance(sets, list) or not sets:
        raise _fail(path, "set", "no [[set]] entries")
    out = []
    for i, entry in enumerate(sets):
        where = f"set[{i}]"
        for key in ("name", "as_of", "source"):
            if key not in entry:
                raise _fail(path, f"{where}.{key}", "missing")
        if not isinstance(entry["as_of"], date):
            raise _fail(path, f"{where}.as_of", "must be a date (YYYY-MM-DD)")
        out.append((where, entry))
    return out


def _column(path: Path, where: str, raw: dict) -> Column:
    categories = raw.get("categories")
    if not isinstance(categories, list) or not categories or not all(
            isinstance(c, str) for c in categories):
        raise _fail(path, f"{where}.categories", "a non-empty list of offence categories")
    if "*" not in categories:
        unknown = sorted(set(categories) - set(activity_reference()["gravity"]))
        if unknown:
            raise _fail(path, f"{where}.categories", f"unknown categories {unknown}")
    return Column(
        key=str(raw.get("key") or ""), label=str(raw.get("label") or raw.get("key") or ""),
        categories=tuple(categories),
        arrest_to_offence=_decimal(path, f"{where}.arrest_to_offence",
                                   raw.get("arrest_to_offence")),
        borough_recorded_per_year=_decimal(path, f"{where}.borough_recorded_per_year",
                                           raw.get("borough_recorded_per_year")))


def expansion_sets(directory: Path | None = None) -> list[ExpansionSet]:
    path = (directory or REFERENCE_DIR) / "expansion.toml"
    out = []
    for where, entry in _sets(path):
        reduction = _decimal(path, f"{where}.reduction", entry.get("reduction"))
        if reduction >= 1:
            raise _fail(path, f"{where}.reduction", "must be a fraction below 1")
        columns = tuple(_column(path, f"{where}.column[{j}]", c)
                        for j, c in enumerate(entry.get("column") or []))
        if not columns:
            raise _fail(path, f"{where}.column", "no columns")
        out.append(ExpansionSet(entry["name"], entry["as_of"], entry["source"], reduction,
                                columns))
    return out


def cost_sets(directory: Path | None = None) -> list[CostSet]:
    path = (directory or REFERENCE_DIR) / "crime_costs.toml"
    out = []
    for where, entry in _sets(path):
        costs = entry.get("unit_cost")
        if not isinstance(costs, dict) or not costs:
            raise _fail(path, f"{where}.unit_cost", "missing or empty")
        unknown = sorted(set(costs) - set(activity_reference()["gravity"]))
        if unknown:
            raise _fail(path, f"{where}.unit_cost", f"unknown categories {unknown}")
        out.append(CostSet(entry["name"], entry["as_of"], str(entry.get("price_year", "")),
                           entry["source"],
                           {k: _decimal(path, f"{where}.unit_cost.{k}", v)
                            for k, v in costs.items()}))
    return out


def deflators(directory: Path | None = None) -> dict[str, Decimal]:
    """Price year -> index value from ``gdp_deflators.csv`` (``price_year,index``)."""
    path = (directory or REFERENCE_DIR) / "gdp_deflators.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {r["price_year"]: _decimal(path, f"row {i + 2}.index", r["index"])
            for i, r in enumerate(rows)}


def pick(sets: list, *, name: str | None, on: date):
    """The set called ``name``, else the newest dated on or before ``on``."""
    if name is not None:
        for s in sets:
            if s.name == name:
                return s
        raise InvalidInput(f"no reference set named {name!r}; known: "
                           f"{', '.join(s.name for s in sets)}", details={"field": "reference"})
    dated = [s for s in sets if s.as_of <= on]
    return max(dated, key=lambda s: s.as_of) if dated else min(sets, key=lambda s: s.as_of)


def harm_weights() -> dict[str, Decimal]:
    """Crime harm weights per offence category (``activity.toml`` ``[gravity]``)."""
    return {k: Decimal(str(v)) for k, v in activity_reference()["gravity"].items()}


@dataclass(frozen=True)
class CohortTarget:
    name: str
    as_of: date
    source: str
    size: int
    by: date


@dataclass(frozen=True)
class SourceSet:
    name: str
    as_of: date
    source: str
    sources: dict[str, tuple[str, ...]]  # label -> "ruleset/rule-prefix" patterns


def cohort_targets(directory: Path | None = None) -> list[CohortTarget]:
    """``cohort_targets.toml``: a cohort size to reach by a date."""
    path = (directory or REFERENCE_DIR) / "cohort_targets.toml"
    out = []
    for where, entry in _sets(path):
        size, by = entry.get("size"), entry.get("by")
        if not isinstance(size, int) or size < 1:
            raise _fail(path, f"{where}.size", "must be a positive whole number")
        if not isinstance(by, date):
            raise _fail(path, f"{where}.by", "must be a date (YYYY-MM-DD)")
        out.append(CohortTarget(entry["name"], entry["as_of"], entry["source"], size, by))
    return out


def source_sets(directory: Path | None = None) -> list[SourceSet]:
    """``candidate_sources.toml``: which selection rules name which candidate source."""
    path = (directory or REFERENCE_DIR) / "candidate_sources.toml"
    out = []
    for where, entry in _sets(path):
        sources = entry.get("sources")
        if not isinstance(sources, dict) or not sources or not all(
                isinstance(v, list) and v and all(isinstance(p, str) and "/" in p for p in v)
                for v in sources.values()):
            raise _fail(path, f"{where}.sources", "a table of label = [\"ruleset/rule\"...]")
        out.append(SourceSet(entry["name"], entry["as_of"], entry["source"],
                             {k: tuple(v) for k, v in sources.items()}))
    return out
