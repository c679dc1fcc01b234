"""The stage policy document: which rule sets each purpose evaluates, and the policy
values (recheck and review intervals, panel schedule and agenda size, capacity).

A YAML document with the same life as a rule set (stored as versions of the reserved
name :data:`POLICY_NAME`). :func:`load_policy` checks size and depth, then the schema,
and raises :class:`rules.errors.RuleSetError` listing every problem (``file, rule id,
path, reason``; the rule id is the purpose concerned, when there is one). Whether every
named rule set exists and is written for its stage is checked against the database by
:func:`workflow.policy.store.reference_problems`. Nothing here touches the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from rules.document import parse_yaml
from rules.errors import Problem, RuleSetError

POLICY_NAME = "stage-policy"
POLICY_KIND = "stage-policy"
MAX_BYTES = 64 * 1024
MAX_DEPTH = 6
MAX_RULESETS = 40

# Purpose -> the rule-set stages a set named for it may be written for (any one of them).
PURPOSES: dict[str, tuple[str, ...]] = {
    "mapping": ("mapping",),
    "matrixing": ("matrixing",),
    "review": ("review",),
    "allocation": ("allocated",),
    "compliance": ("allocated", "review"),
    "programme_links": ("matrixing", "allocated", "review"),
    # Guard rule sets are evaluated beside every stage whatever their `stages` say.
    "exclusion": ("exclusion", "mapping", "matrixing", "panel", "allocated", "review"),
    "agenda": ("agenda", "panel"),
}
# Purposes that are stages the scheduler evaluates case by case (state -> purpose).
RULE_STAGES = ("mapping", "matrixing", "review")
PURPOSE_DEFAULTS = {"exclusion": ["mappa-exclusion", "youth-age-floor"],
                    "agenda": ["agenda-priority"],
                    "programme_links": [], "compliance": ["enforcement-triggers"],
                    "allocation": ["lead-professional", "intensity-by-risk"]}
ORDINALS = ("first", "second", "third", "fourth", "last")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _check_schedule(value: str) -> None:
    parts = value.lower().split()
    if not (len(parts) == 2 and parts[0] in ORDINALS and parts[1] in WEEKDAYS):
        raise ValidationError(
            f"{value!r}: expected '<first|second|third|fourth|last> <weekday>'")


_NAME = fields.String(validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,79}$",
                                               error="not a rule-set name"))


class _PurposeSchema(Schema):
    class Meta:
        unknown = RAISE

    rulesets = fields.List(_NAME, required=True, validate=validate.Length(max=MAX_RULESETS))
    recheck_days = fields.Integer(load_default=7, validate=validate.Range(1, 366))


class _PanelSchema(Schema):
    class Meta:
        unknown = RAISE

    schedule = fields.String(load_default="first thursday", validate=_check_schedule)
    time = fields.String(load_default="10:00",
                         validate=validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$"))
    agenda_days_before = fields.Integer(load_default=7, validate=validate.Range(0, 60))
    max_cases = fields.Integer(load_default=20, validate=validate.Range(1, 500))


class _ReviewSchema(Schema):
    class Meta:
        unknown = RAISE

    very_high_days = fields.Integer(load_default=28, validate=validate.Range(1, 730))
    high_days = fields.Integer(load_default=56, validate=validate.Range(1, 730))
    medium_days = fields.Integer(load_default=91, validate=validate.Range(1, 730))
    low_days = fields.Integer(load_default=182, validate=validate.Range(1, 730))
    default_days = fields.Integer(load_default=91, validate=validate.Range(1, 730))


def _ratio(default: float) -> fields.Float:
    return fields.Float(load_default=default, validate=validate.Range(0.01, 100))


class _CapacitySchema(Schema):
    class Meta:
        unknown = RAISE

    nominals_per_unit = fields.Integer(load_default=40, validate=validate.Range(1, 10_000))
    nps_offender_managers = _ratio(0.8)
    nps_police = _ratio(1.0)
    crc_offender_managers = _ratio(1.3)
    crc_police = _ratio(1.0)
    nonstat_police = _ratio(1.0)
    mix_nps = fields.Float(load_default=22, validate=validate.Range(0, 100_000))
    mix_crc = fields.Float(load_default=34, validate=validate.Range(0, 100_000))
    mix_nonstat = fields.Float(load_default=35, validate=validate.Range(0, 100_000))
    staff_offender_managers = fields.Integer(load_default=3, validate=validate.Range(0, 10_000))
    staff_police = fields.Integer(load_default=2, validate=validate.Range(0, 10_000))
    # The cohort the staff in post were set up for (seed 002: "90-100 clients").
    team_cohort = fields.Integer(load_default=100, validate=validate.Range(1, 100_000))


class PolicySchema(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.Equal(POLICY_KIND))
    name = fields.String(required=True, validate=validate.Equal(POLICY_NAME))
    description = fields.String(load_default="", validate=validate.Length(max=4000))
    purposes = fields.Dict(keys=fields.String(validate=validate.OneOf(tuple(PURPOSES))),
                           values=fields.Nested(_PurposeSchema), required=True)
    panel = fields.Nested(_PanelSchema, load_default=dict)
    review_days = fields.Nested(_ReviewSchema, load_default=dict)
    capacity = fields.Nested(_CapacitySchema, load_default=dict)


@dataclass(frozen=True)
class PurposePolicy:
    rulesets: tuple[str, ...]
    recheck_days: int = 7


@dataclass(frozen=True)
class PolicyDocument:
    """A parsed, validated stage policy; ``version`` is the hash of its canonical form."""

    version: str
    text: str
    description: str
    purposes: Mapping[str, PurposePolicy]
    panel: Mapping = field(default_factory=dict)
    review: Mapping = field(default_factory=dict)
    capacity: Mapping = field(default_factory=dict)

    def rulesets_for(self, purpose: str) -> tuple[str, ...]:
        """The rule sets named for ``purpose`` (empty when the policy names none)."""
        if purpose not in PURPOSES:
            raise KeyError(f"unknown purpose {purpose!r}")
        entry = self.purposes.get(purpose)
        return entry.rulesets if entry else ()

    def all_rulesets(self) -> set[str]:
        """Every rule-set name the policy evaluates somewhere."""
        return {name for p in self.purposes.values() for name in p.rulesets}


def unused_message(name: str) -> str:
    """The warning for a rule set that no purpose of the stage policy evaluates."""
    return (f"{name} is not evaluated by any stage: add it to the stage policy "
            f"({POLICY_NAME}) for it to decide anything")


def _depth(node, level: int = 1) -> int:
    if isinstance(node, dict):
        return max([level, *(_depth(v, level + 1) for v in node.values())])
    if isinstance(node, list):
        return max([level, *(_depth(v, level + 1) for v in node)])
    return level


def flatten_messages(messages, prefix: str) -> list[tuple[str, str]]:
    """``(path, reason)`` pairs from marshmallow's nested error messages."""
    if isinstance(messages, dict):
        return [item for key, value in messages.items()
                for item in flatten_messages(value, f"{prefix}.{key}" if prefix else str(key))]
    return [(prefix or "document", str(m)) for m in
            (messages if isinstance(messages, list) else [messages])]


def parse_bounded(text: str, file: str, *, max_bytes: int = MAX_BYTES,
                  max_depth: int = MAX_DEPTH) -> dict:
    """The YAML of a policy-like document (the bounded loader of ``rules.document``),
    refused with a :class:`RuleSetError` when larger than ``max_bytes`` or nested
    deeper than ``max_depth``."""
    if len(text.encode("utf-8", "replace")) > max_bytes:
        raise RuleSetError([Problem(file, None, "document",
                                    f"larger than {max_bytes} bytes")])
    raw = parse_yaml(text, file)
    if _depth(raw) > max_depth:
        raise RuleSetError([Problem(file, None, "document",
                                    f"nested deeper than {max_depth} levels")])
    return raw


def declares_kind(text: str, kind: str, *, max_bytes: int = MAX_BYTES) -> bool:
    """True when ``text`` is a YAML mapping declaring ``kind: <kind>``."""
    if len(text) > max_bytes:
        return False
    try:
        raw = parse_yaml(text, f"<{kind}?>")
    except RuleSetError:
        return False
    return isinstance(raw, dict) and raw.get("kind") == kind


def is_policy_text(text: str) -> bool:
    """True when ``text`` declares itself a stage policy (``kind: stage-policy``)."""
    return declares_kind(text, POLICY_KIND)


def load_policy(text: str, *, file: str = "<policy>") -> PolicyDocument:
    """Parse and validate a policy document; :class:`RuleSetError` lists every problem."""
    raw = parse_bounded(text, file)
    try:
        data = PolicySchema().load(raw)
    except ValidationError as exc:
        raise RuleSetError([Problem(file, _purpose_of(path), path, reason)
                            for path, reason in flatten_messages(exc.messages, "")]) from exc
    problems = [Problem(file, stage, f"purposes.{stage}", "required: the scheduler "
                        "evaluates this stage") for stage in ("mapping", "matrixing")
                if stage not in data["purposes"]]
    for purpose, entry in data["purposes"].items():
        if len(set(entry["rulesets"])) != len(entry["rulesets"]):
            problems.append(Problem(file, purpose, f"purposes.{purpose}.rulesets",
                                    "names a rule set twice"))
    if problems:
        raise RuleSetError(problems)
    purposes = {name: PurposePolicy(tuple(e["rulesets"]), e["recheck_days"])
                for name, e in data["purposes"].items()}
    for name, default in PURPOSE_DEFAULTS.items():
        purposes.setdefault(name, PurposePolicy(tuple(default)))
    return PolicyDocument(
        version=hashlib.sha256(json.dumps(raw, sort_keys=True, separators=(",", ":"),
                                          default=str).encode()).hexdigest(),
        text=text, description=data["description"], purposes=purposes,
        panel=data["panel"], review=data["review_days"], capacity=data["capacity"])


def _purpose_of(path: str) -> str | None:
    parts = path.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "purposes" else None


def seed_text(purposes: Mapping[str, Mapping], *, panel: Mapping, review: Mapping,
              capacity: Mapping, description: str) -> str:
    """A policy document from plain values (``config.toml`` seeds the first version)."""
    data = {"kind": POLICY_KIND, "name": POLICY_NAME, "description": description,
            "purposes": {k: dict(v) for k, v in purposes.items()},
            "panel": dict(panel), "review_days": dict(review), "capacity": dict(capacity)}
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


SEED_DESCRIPTION = ("Shipped default, seeded from config.toml at the first `iom db "
                    "upgrade`. Change it as a team lead: draft, preview, second team lead "
                    "approves, publish.")


def seed_document(settings) -> PolicyDocument:
    """The policy a validated ``workflow.config.Settings`` describes (the seed)."""
    purposes: dict[str, dict] = {}
    for name, stage in settings.stages.items():
        purposes[name] = {"rulesets": list(stage.rulesets)}
        if name in RULE_STAGES:
            purposes[name]["recheck_days"] = stage.recheck_days
    for name, names in getattr(settings, "guard_rulesets", {}).items():
        purposes[name] = {"rulesets": list(names)}  # exclusion, agenda, programme_links
    purposes.setdefault("allocation", {"rulesets": list(settings.allocation["rulesets"])})
    purposes.setdefault("compliance",
                        {"rulesets": list(settings.tasks["compliance_rulesets"])})
    text = seed_text(purposes, panel=settings.panel, review=settings.review,
                     capacity=settings.capacity, description=SEED_DESCRIPTION)
    return load_policy(text, file=f"{settings.source or 'config'} (seed)")
