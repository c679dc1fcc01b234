"""The information-sharing agreement document: who sees which field groups of a case.

A YAML document with the rule-set life, stored as versions of the reserved name
:data:`AGREEMENT_NAME` (``kind: sharing-agreement``)::

    kind: sharing-agreement
    name: sharing-agreement
    description: Barnet IOM information sharing agreement
    ask:                       # whom to ask about a withheld group (``default`` else)
      default: Ask the IOM team lead (iom-leads@borough.example)
      flags.marac: Ask the MARAC coordinator
    default:                   # what anyone sees unless a grant says otherwise
      "*": none
      identity: show
    grants:                    # applied in order: a later grant overrides an earlier one
      - agency: [police]       # an agency, a list of them, or "*" (the default)
        role: "*"              # likewise for roles and purposes
        purpose: "*"
        see: {offending: show, risk: show, "flags.*": show, flags.health: mask}

Levels: ``show`` (the value), ``mask`` (the field is there, its value withheld, with the
``ask`` message), ``none`` (the field is left out). Within one mapping ``*`` applies
first, then ``flags.*``, then named groups. :func:`load_agreement` raises
:class:`rules.errors.RuleSetError` listing every problem with its path and reason.
Nothing here touches the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from rules.errors import Problem, RuleSetError
from workflow.policy.document import declares_kind, flatten_messages, parse_bounded
from workflow.sharing.groups import AGENCIES, GROUPS, LEVELS, PURPOSES, ROLES, expand, specificity

AGREEMENT_NAME = "sharing-agreement"
AGREEMENT_KIND = "sharing-agreement"
AGREEMENT_STAGE = "sharing"
MAX_GRANTS = 500
DEFAULT_FILE = Path(__file__).with_name("default_agreement.yaml")
ANY = "*"


class _GrantSchema(Schema):
    class Meta:
        unknown = RAISE

    agency = fields.Raw(load_default=ANY)
    role = fields.Raw(load_default=ANY)
    purpose = fields.Raw(load_default=ANY)
    note = fields.String(load_default="", validate=validate.Length(max=2000))
    see = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class AgreementSchema(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.Equal(AGREEMENT_KIND))
    name = fields.String(required=True, validate=validate.Equal(AGREEMENT_NAME))
    description = fields.String(load_default="", validate=validate.Length(max=4000))
    ask = fields.Dict(keys=fields.String(), values=fields.String(
        validate=validate.Length(1, 500)), load_default=dict)
    default = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    grants = fields.List(fields.Nested(_GrantSchema), load_default=list,
                         validate=validate.Length(max=MAX_GRANTS))


@dataclass(frozen=True)
class Grant:
    agencies: frozenset[str] | None  # None: any
    roles: frozenset[str] | None
    purposes: frozenset[str] | None
    levels: tuple[tuple[str, str], ...]  # (group, level), applied in order

    def applies(self, agency: str | None, role: str, purpose: str) -> bool:
        return ((self.agencies is None or agency in self.agencies)
                and (self.roles is None or role in self.roles)
                and (self.purposes is None or purpose in self.purposes))


@dataclass(frozen=True)
class AgreementDocument:
    """A parsed, validated agreement; ``version`` is the hash of its canonical form."""

    version: str
    text: str
    description: str
    ask: Mapping[str, str]
    default: Mapping[str, str]
    grants: tuple[Grant, ...]

    def levels(self, agency: str | None, role: str, purpose: str) -> dict[str, str]:
        """``{group: show|mask|none}`` for a viewer of ``agency``/``role`` reading for
        ``purpose``: the default, then every grant that applies, in order."""
        out = dict(self.default)
        for grant in self.grants:
            if grant.applies(agency, role, purpose):
                out.update(grant.levels)
        return out

    def ask_for(self, group: str) -> str:
        """Whom to ask about ``group``: its own message, the ``flags.*`` one, the default."""
        prefix = group.split(".")[0] + ".*"
        return self.ask.get(group) or self.ask.get(prefix) or self.ask.get(
            "default") or "Ask the IOM team lead"


def _names(value, known: tuple[str, ...], path: str, what: str, problems: list,
           file: str) -> frozenset[str] | None:
    if value == ANY:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        problems.append(Problem(file, None, path, f"expected a {what}, a list of them or '*'"))
        return frozenset()
    for i, item in enumerate(items):
        if item not in known:
            where = path if isinstance(value, str) else f"{path}.{i}"
            problems.append(Problem(file, None, where, f"unknown {what} {item!r} (known: "
                                    f"{', '.join(known)})"))
    return frozenset(items)


def _levels(mapping: Mapping[str, str], path: str, problems: list, file: str
            ) -> tuple[tuple[str, str], ...]:
    out = []
    for key in sorted(mapping, key=specificity):
        level = mapping[key]
        try:
            groups = expand(key)
        except KeyError:
            problems.append(Problem(file, None, f"{path}.{key}", f"unknown field group "
                                    f"{key!r} (known: *, flags.*, {', '.join(GROUPS)})"))
            continue
        if level not in LEVELS:
            problems.append(Problem(file, None, f"{path}.{key}", f"unknown level {level!r}"
                                    f" (expected {', '.join(LEVELS)})"))
            continue
        out += [(group, level) for group in groups]
    return tuple(out)


def load_agreement(text: str, *, file: str = "<agreement>") -> AgreementDocument:
    """Parse and validate an agreement; :class:`RuleSetError` lists every problem."""
    raw = parse_bounded(text, file)
    try:
        data = AgreementSchema().load(raw)
    except ValidationError as exc:
        raise RuleSetError([Problem(file, None, path, reason)
                            for path, reason in flatten_messages(exc.messages, "")]) from exc
    problems: list[Problem] = []
    default = dict(_levels(data["default"], "default", problems, file))
    problems += [Problem(file, None, "default", f"no level for group {g!r}: name it or "
                         "give '*'") for g in GROUPS if g not in default]
    for key in data["ask"]:
        if key != "default":
            try:
                expand(key)
            except KeyError:
                problems.append(Problem(file, None, f"ask.{key}",
                                        f"unknown field group {key!r}"))
    grants = []
    for i, g in enumerate(data["grants"]):
        base = f"grants.{i}"
        grants.append(Grant(_names(g["agency"], AGENCIES, f"{base}.agency", "agency",
                                   problems, file),
                            _names(g["role"], ROLES, f"{base}.role", "role", problems, file),
                            _names(g["purpose"], PURPOSES, f"{base}.purpose", "purpose",
                                   problems, file),
                            _levels(g["see"], f"{base}.see", problems, file)))
    if problems:
        raise RuleSetError(problems)
    return AgreementDocument(
        version=hashlib.sha256(json.dumps(raw, sort_keys=True, separators=(",", ":"),
                                          default=str).encode()).hexdigest(),
        text=text, description=data["description"], ask=data["ask"], default=default,
        grants=tuple(grants))


def is_agreement_text(text: str) -> bool:
    """True when ``text`` declares itself a sharing agreement."""
    return declares_kind(text, AGREEMENT_KIND)


@cache
def default_agreement() -> AgreementDocument:
    """The shipped default (seeded at ``iom db upgrade``; used before any is stored)."""
    return load_agreement(DEFAULT_FILE.read_text(encoding="utf-8"),
                          file=str(DEFAULT_FILE.name))
