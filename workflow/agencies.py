"""The partnership's agencies: one vocabulary, validated; which agencies work a case.

The vocabulary is :data:`db.models.AGENCIES` (police, NPS, CRC, local authority,
housing, health, mental health, substance misuse, employment, YOS, prison). Input is
matched without regard to case (``nps`` is ``NPS``). A resettlement officer's agency is
the pathway they work: housing, employment or mental health.

The agencies *involved in a case* (who may record its events, ``workflow/permissions``):

* police, always: IOM is police-led and police co-manage every nominal (seed 001);
* the provider of the person's supervision in force (NPS or CRC);
* the lead professional's agency;
* every agency a team lead added to the case (``case_agency``, with a reason, audited)
  and did not end.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AGENCIES, RESETTLEMENT_PATHWAYS, Case, CaseAgency, User
from workflow import audit
from workflow.errors import Conflict, InvalidInput

ALWAYS_INVOLVED = ("police",)
_BY_KEY = {a.lower(): a for a in AGENCIES}
# Roles whose work belongs to certain agencies (team leads, auditors and admins may work
# for any agency or the whole partnership). A resettlement officer must name a pathway; a
# police officer's agency is police.
AGENCY_OF_ROLE = {"police": ("police",), "resettlement_officer": RESETTLEMENT_PATHWAYS,
                  "offender_manager": ("NPS", "CRC", "yos", "prison")}
REQUIRED = ("resettlement_officer",)


def agency_code(value: str | None, *, field: str = "agency") -> str | None:
    """The stored spelling of ``value`` (None stays None); :class:`InvalidInput` if unknown."""
    if value is None:
        return None
    code = _BY_KEY.get(value.strip().lower())
    if code is None:
        raise InvalidInput(f"agency {value!r} is not one of {', '.join(AGENCIES)}",
                           details={"field": field, "allowed": list(AGENCIES)})
    return code


def check_user_agency(role: str, agency: str | None) -> str | None:
    """Validate a user's agency for ``role``; returns the stored spelling. A police
    officer with none is police's; a resettlement officer must name a pathway; an
    offender manager without one is involved in no case (may record no event)."""
    code = agency_code(agency) or ("police" if role == "police" else None)
    allowed = AGENCY_OF_ROLE.get(role)
    if allowed and (code not in allowed if code or role in REQUIRED else False):
        raise InvalidInput(f"a {role} works for one of {', '.join(allowed)}; "
                           f"got {agency!r}", details={"field": "agency",
                                                       "allowed": list(allowed)})
    return code


def added_agencies(session: Session, case_id: int) -> list[CaseAgency]:
    """The case's ``case_agency`` rows in force (not ended), oldest first."""
    return list(session.scalars(select(CaseAgency).where(
        CaseAgency.case_id == case_id, CaseAgency.ended_at.is_(None)).order_by(CaseAgency.id)))


def involved_agencies(session: Session, case: Case, *, now: datetime) -> dict[str, str]:
    """``{agency: why}`` for every agency working with ``case`` (module docstring)."""
    from workflow.tasks.routing import open_supervision

    out = {a: "core IOM partner" for a in ALWAYS_INVOLVED}
    supervision = open_supervision(session, case, now=now)
    if supervision is not None and supervision.provider in AGENCIES:
        out.setdefault(supervision.provider, "supervises the person")
    lead = session.get(User, case.lead_user_id) if case.lead_user_id else None
    if lead is not None and lead.agency:
        out.setdefault(lead.agency, f"lead professional ({lead.username})")
    for row in added_agencies(session, case.id):
        out.setdefault(row.agency, f"added by {row.added_by}: {row.reason}")
    return out


def add_agency(session: Session, case: Case, agency: str, *, reason: str, actor: str,
               now: datetime) -> CaseAgency:
    """Record that ``agency`` works with ``case`` (audited). Flushes.

    Raises :class:`InvalidInput` for an unknown agency and :class:`Conflict` when it is
    already added and not ended."""
    code = agency_code(agency)
    if any(r.agency == code for r in added_agencies(session, case.id)):
        raise Conflict(f"{code} already works with case {case.id}",
                       details={"agency": code})
    row = CaseAgency(case_id=case.id, agency=code, reason=reason, added_by=actor, added_at=now)
    session.add(row)
    session.flush()
    audit.record(session, kind="case.agency_added", actor=actor, occurred_at=now,
                 case_id=case.id, person_ref=case.person.partner_ref,
                 summary=f"{code} added to case {case.id} by {actor}: {reason}",
                 payload={"agency": code, "reason": reason})
    return row
