"""The one sharing decision: what a viewer may see of a case, for a purpose, now.

:func:`decide` combines the agreement in force (per agency, role and purpose: each
field group ``show``, ``mask`` or ``none``) with the case's restriction and exclusion
lists. A viewer a list keeps out sees the case only as restricted: the name as
``*********``, the label "Restricted access" and the list's message; every field group
is then ``none``. :func:`decisions` answers for many cases with one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from db.models import Case, CaseAccessList
from db.session import read_rows
from workflow.errors import InvalidInput
from workflow.sharing.agreement import AgreementDocument
from workflow.sharing.groups import GROUPS, MASK, PURPOSES, RESTRICTED_LABEL, phrase
from workflow.sharing.store import agreement_in_force

WITHHELD_LABEL = "Withheld under the information sharing agreement"


@dataclass(frozen=True)
class Viewer:
    """Who is reading: the user's id, username, role and agency (None: not recorded)."""

    user_id: int | None
    username: str
    role: str
    agency: str | None = None

    @classmethod
    def of(cls, user) -> Viewer:
        """The viewer for a ``db.models.User``."""
        return cls(user.id, user.username, user.role,
                   user.agency.strip().lower() if user.agency else None)


def default_purpose(viewer: Viewer) -> str:
    """Auditors read to audit; everyone else to manage the case."""
    return "audit" if viewer.role == "auditor" else "case_management"


def check_purpose(purpose: str | None, viewer: Viewer) -> str:
    """``purpose`` validated (default: :func:`default_purpose`)."""
    if purpose is None:
        return default_purpose(viewer)
    if purpose not in PURPOSES:
        raise InvalidInput(f"unknown purpose {purpose!r} (one of {', '.join(PURPOSES)})",
                           details={"field": "purpose"})
    return purpose


@dataclass(frozen=True)
class Decision:
    """What one viewer may see of one case. ``level(group)`` is show, mask or none."""

    agreement_version: str
    purpose: str
    levels: Mapping[str, str]
    asks: Mapping[str, str]
    restricted: bool = False
    restriction_message: str | None = None
    names: frozenset[str] = field(default_factory=frozenset)  # the person's names
    general_ask: str = "Ask the IOM team lead"  # names no group (for rule decisions)
    # ``withheld()`` of an unrestricted decision, computed once per agreement terms
    # (``decide``); None: computed at each call.
    unrestricted_withheld: tuple | None = field(default=None, compare=False, repr=False)

    def level(self, group: str) -> str:
        return "none" if self.restricted else self.levels.get(group, "none")

    def shows(self, group: str) -> bool:
        return self.level(group) == "show"

    def ask(self, group: str) -> str:
        if self.restricted:
            return self.restriction_message or "Ask the IOM team lead"
        return self.asks.get(group, "Ask the IOM team lead")

    def marker(self, group: str) -> dict:
        """What stands in for a masked value: labelled, with whom to ask."""
        return {"withheld": True, "group": group, "label": WITHHELD_LABEL,
                "text": phrase(group), "ask": self.ask(group)}

    def withheld(self) -> list[dict]:
        """Every group not shown, with its level and whom to ask (for pages)."""
        if self.unrestricted_withheld is not None and not self.restricted:
            return [dict(item) for item in self.unrestricted_withheld]
        return [{"group": g, "level": self.level(g), "ask": self.ask(g)} for g in GROUPS
                if not self.shows(g)]

    def display_name(self, real: str):
        """The name as this viewer sees it: itself, ``*********`` (restricted), a marker
        (identity masked) or None (identity not shared)."""
        if self.restricted:
            return MASK
        level = self.level("identity")
        return real if level == "show" else self.marker("identity") if level == "mask" else None

    def restriction(self) -> dict | None:
        return ({"label": RESTRICTED_LABEL, "message": self.ask("identity")}
                if self.restricted else None)

    def hidden(self) -> dict[str, str]:
        """``{group: mask|none}`` of the groups this viewer may not see."""
        return {g: self.level(g) for g in GROUPS if not self.shows(g)}


def keeps_out(lists: Iterable[CaseAccessList], viewer: Viewer) -> CaseAccessList | None:
    """The active list that keeps ``viewer`` out of the case, or None."""
    for entry in lists:
        named = viewer.username in (entry.users or []) or (
            viewer.agency is not None and viewer.agency in (entry.agencies or []))
        if (entry.kind == "exclusion") == named:
            return entry
    return None


def decide(agreement: AgreementDocument, viewer: Viewer, *, purpose: str,
           lists: Iterable[CaseAccessList] = (), names: Iterable[str] = ()) -> Decision:
    """The decision for ``viewer`` reading for ``purpose`` under ``agreement`` and the
    case's active restriction/exclusion ``lists``. ``names``: the person's names, which
    redaction of free text removes when identity is not shown."""
    levels, asks, general_ask, withheld = _terms(agreement, viewer, purpose)
    blocker = keeps_out(lists, viewer)
    return Decision(agreement.version, purpose, levels, asks,
                    restricted=blocker is not None,
                    restriction_message=blocker.message if blocker else None,
                    names=frozenset(n for n in names if n and len(n) > 1),
                    general_ask=general_ask, unrestricted_withheld=withheld)


_TERMS: dict[tuple, tuple] = {}  # (agreement version, agency, role, purpose) -> terms
_TERMS_MAX = 4096


def _terms(agreement: AgreementDocument, viewer: Viewer, purpose: str) -> tuple:
    """``(levels, asks, general ask, withheld)`` of the agreement for this agency, role
    and purpose (``withheld``: what ``Decision.withheld`` answers when the case is not
    restricted), read-only and computed once: a stored agreement version never changes
    (its version is its content hash), so every decision of a list shares them."""
    key = (agreement.version, viewer.agency, viewer.role, purpose)
    terms = _TERMS.get(key)
    if terms is None:
        levels = MappingProxyType(dict(agreement.levels(viewer.agency, viewer.role, purpose)))
        asks = MappingProxyType({g: agreement.ask_for(g) for g in GROUPS})
        general_ask = agreement.ask_for("default")
        withheld = tuple(MappingProxyType(item) for item in Decision(
            agreement.version, purpose, levels, asks, general_ask=general_ask).withheld())
        terms = (levels, asks, general_ask, withheld)
        if len(_TERMS) >= _TERMS_MAX:
            _TERMS.clear()
        _TERMS[key] = terms
    return terms


# What a decision reads of a case's lists (plain rows: a list is never changed through
# them); every case read runs it, so it is built once. ORM columns: it autoflushes, so a
# list set earlier in the same transaction counts.
_L = CaseAccessList
_ACTIVE_LISTS = (select(_L.id, _L.case_id, _L.kind, _L.users, _L.agencies, _L.message)
                 .where(_L.case_id.in_(bindparam("ids", expanding=True)),
                        _L.removed_at.is_(None)).order_by(_L.id))


# A column for a listing's query: whether the row's case has an active list. A page
# then looks up the lists of only the cases that have one (usually none: no query).
HAS_LISTS = (select(_L.id).where(_L.case_id == Case.id, _L.removed_at.is_(None))
             .exists().label("has_lists"))


def active_lists(session: Session, case_ids: Iterable[int]) -> dict[int, list]:
    """The active restriction and exclusion lists of each case (one query), as rows with
    ``id``, ``case_id``, ``kind``, ``users``, ``agencies`` and ``message``."""
    ids = sorted(set(case_ids))
    out: dict[int, list] = {i: [] for i in ids}
    if not ids:
        return out
    for start in range(0, len(ids), 500):
        for row in read_rows(session, _ACTIVE_LISTS, {"ids": ids[start:start + 500]}):
            out[row.case_id].append(row)
    return out


def decisions(session: Session, cases: Iterable, *, viewer: Viewer, now: datetime,
              purpose: str, agreement: AgreementDocument | None = None,
              listed: Iterable[int] | None = None) -> dict[int, Decision]:
    """``{case id: Decision}`` for ``cases`` (Case rows) under the agreement in force at
    ``now`` (or ``agreement``); ``listed`` as :func:`decisions_by_names` takes it."""
    return decisions_by_names(
        session, {c.id: (c.person.given_name, c.person.family_name) for c in cases},
        viewer=viewer, now=now, purpose=purpose, agreement=agreement, listed=listed)


def decisions_by_names(session: Session, names: Mapping[int, tuple[str, str]], *,
                       viewer: Viewer, now: datetime, purpose: str,
                       agreement: AgreementDocument | None = None,
                       listed: Iterable[int] | None = None) -> dict[int, Decision]:
    """``{case id: Decision}`` for the cases ``names`` maps to their person's given and
    family names (no Case objects needed: listings read plain rows). ``listed``: the
    cases among them that have an active list, when the caller read :data:`HAS_LISTS`
    with its rows in the same transaction (only theirs are then looked up); None: look
    up every case's."""
    agreement = agreement or agreement_in_force(session, now)
    lists = active_lists(session, names if listed is None else listed)
    return {case_id: decide(agreement, viewer, purpose=purpose,
                            lists=lists.get(case_id, ()), names=person_names)
            for case_id, person_names in names.items()}


def decision_for(session: Session, case, *, viewer: Viewer, now: datetime, purpose: str,
                 has_lists: bool | None = None) -> Decision:
    """The decision for one case. ``has_lists``: whether it has an active list, when the
    caller read :data:`HAS_LISTS` with the case in this transaction (None: looked up)."""
    listed = None if has_lists is None else [case.id] if has_lists else []
    return decisions(session, [case], viewer=viewer, now=now, purpose=purpose,
                     listed=listed)[case.id]


def subject_access_decision(session: Session, case_id: int, *, viewer: Viewer,
                            now: datetime) -> Decision:
    """What a subject-access export prepared by ``viewer`` discloses of ``case_id``: the
    agreement's ``subject_access`` purpose (restriction lists govern staff, not the
    subject's right of access, so they do not apply). Works for a purged case."""
    case = session.get(Case, case_id)
    names = (case.person.given_name, case.person.family_name) if case else ()
    return decide(agreement_in_force(session, now), viewer, purpose="subject_access",
                  names=names)
