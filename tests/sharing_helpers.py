"""Test helpers for the information sharing agreement (reusable by the access matrix).

:func:`assert_no_withheld` walks any JSON value (dict keys included) and fails naming
the path of every leaf that shows a withheld value. :func:`marac_case` builds a case
whose person carries partner data of every field group, with distinctive values.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta


def _row_number(key) -> bool:
    """A key whose number is one the database assigns (``id``, ``seq``, ``case_id``...):
    audit entry 79 is not an OGRS score of 79, so numbers there are not compared."""
    return isinstance(key, str) and (key in ("id", "seq") or key.endswith("_id"))


def _leaks(node, withheld, path: str):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaks(key, withheld, f"{path}.<key {key}>")
            if _row_number(key) and isinstance(value, int):
                continue
            yield from _leaks(value, withheld, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaks(value, withheld, f"{path}[{i}]")
    elif isinstance(node, str):
        lowered = node.lower()
        for value in withheld:
            if isinstance(value, str) and value.lower() in lowered:
                yield path, value, node
    elif isinstance(node, int | float) and not isinstance(node, bool):
        for value in withheld:
            if not isinstance(value, str | bool) and value == node:
                yield path, value, node


def assert_no_withheld(data, withheld_values) -> None:
    """Fail when any string of ``data`` contains a withheld string (case-insensitive) or
    any number equals a withheld number; the message names every path."""
    leaks = list(_leaks(data, list(withheld_values), "$"))
    assert not leaks, "withheld values shown:\n" + "\n".join(
        f"  {path}: {value!r} in {shown!r}"[:300] for path, value, shown in leaks)


# The distinctive partner data of marac_case, by field group (what to look for). Fact
# names are not secrets: a masked fact keeps its key ("field present, value withheld").
SECRETS = {
    "identity": ["Quentin", "Oyelaran-Smythe", "1987-06-19"],
    "offending": ["domestic_burglary", "2024-08-14", "2024-09-02"],
    "risk": ["2024-10-03", 87, 79],
    "flags.marac": ["marac-repeat", "2024-11-05", "MARAC perpetrator"],
    "flags.mappa": ["2024-11-06"],
    "flags.police": ["2024-11-07"],
    "flags.substance_misuse": ["retained-at-12-weeks", "2024-11-08"],
    "compliance": ["appointment_missed", "E-ZX-1"],
    "notes": ["his sister's hospital visit"],
}


def marac_case(session, *, now: datetime, state: str = "mapping"):
    """A statutory (NPS) case with a MARAC repeat flag and data in every group; returns
    the Case (committed)."""
    from db.models import (
        Assessment,
        Case,
        ComplianceEvent,
        OffendingEvent,
        PartnerFlag,
        Person,
        Supervision,
    )

    person = Person(partner_ref="PX-4471", given_name="Quentin",
                    family_name="Oyelaran-Smythe", sex="M", date_of_birth=date(1987, 6, 19))
    session.add(person)
    session.flush()
    session.add_all([
        OffendingEvent(partner_ref="EV-1", person=person, kind="conviction",
                       occurred_on=date(2024, 8, 14), offence_category="domestic_burglary"),
        OffendingEvent(partner_ref="EV-2", person=person, kind="arrest",
                       occurred_on=date(2024, 9, 2), offence_category="domestic_burglary"),
        Assessment(partner_ref="AS-1", person=person, assessed_on=date(2024, 10, 3),
                   ogrs_1yr=79, ogrs_2yr=87),
        PartnerFlag(partner_ref="FL-1", person=person, kind="marac_repeat", value="true",
                    recorded_on=date(2024, 11, 5)),
        PartnerFlag(partner_ref="FL-2", person=person, kind="mappa_level", value="1",
                    recorded_on=date(2024, 11, 6)),
        PartnerFlag(partner_ref="FL-3", person=person, kind="dtoa", value="true",
                    recorded_on=date(2024, 11, 7)),
        PartnerFlag(partner_ref="FL-4", person=person, kind="treatment",
                    value="retained-at-12-weeks", recorded_on=date(2024, 11, 8)),
        Supervision(partner_ref="SU-1", person=person, provider="NPS",
                    offender_manager="Olu Adebayo", start_on=date(2024, 8, 20)),
    ])
    case = Case(person=person, state=state, state_since=now - timedelta(days=2),
                opened_at=now - timedelta(days=2), next_due_at=now)
    session.add(case)
    session.flush()
    session.add(ComplianceEvent(event_id="E-ZX-1", case_id=case.id, person_id=person.id,
                                kind="appointment_missed", occurred_at=now - timedelta(days=1),
                                details={"note": "his sister's hospital visit"},
                                recorded_by="om-nps"))
    session.commit()
    return case


def moved_marac_case(session, settings, *, now: datetime):
    """:func:`marac_case`, moved from mapping to matrixing by the real engine under a
    stage policy (published a day before ``now``) whose mapping stage also runs
    barnet-local-flex, the set with the MARAC rule; returns the Case."""
    from policy_helpers import publish_policy

    from workflow.advance import advance
    from workflow.policy.store import policy_in_force

    publish_policy(session, settings, now=now - timedelta(days=1), edit=lambda d: d[
        "purposes"]["mapping"]["rulesets"].append("barnet-local-flex"))
    case = marac_case(session, now=now)
    moved = advance(session, case, now=now, actor="scheduler",
                    policy=policy_in_force(session, settings, now))
    assert (moved.source, moved.target) == ("mapping", "matrixing")
    return case
