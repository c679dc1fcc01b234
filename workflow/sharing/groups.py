"""The vocabulary of the sharing agreement: agencies, roles, purposes, field groups,
and which field group each fact of the catalogue and each partner-flag kind belongs to.

Nothing here queries the database. A fact or flag kind without a group (``days_in_state``:
facts about the process, not the person) is never withheld.
"""

from __future__ import annotations

from db.models.governance import AGENCIES as _STORED_AGENCIES
from db.models.governance import ROLES  # noqa: F401  (the agreement's roles: every stored role)

# The one vocabulary (db/models/governance.py), written lower-case in agreements: users'
# agencies are compared lower-case, so "NPS" in a supervision file is "nps" here.
AGENCIES = tuple(a.lower() for a in _STORED_AGENCIES)
PURPOSES = ("case_management", "panel", "audit", "subject_access", "report")
LEVELS = ("show", "mask", "none")

FLAG_GROUPS = ("flags.mappa", "flags.marac", "flags.police", "flags.yos",
               "flags.substance_misuse", "flags.health", "flags.other")
GROUPS = ("identity", "supervision", "offending", "risk", *FLAG_GROUPS, "compliance",
          "tasks", "notes", "audit")

# Partner-flag kind -> the group of its source (the agency that shares it).
FLAG_KIND_GROUPS = {
    "mappa_level": "flags.mappa", "marac_repeat": "flags.marac",
    "ppo": "flags.police", "dtoa": "flags.police", "gang_grade": "flags.police",
    "asb": "flags.police", "yos_referral": "flags.yos",
    "drr": "flags.substance_misuse", "dip": "flags.substance_misuse",
    "treatment": "flags.substance_misuse",
}

_FACTS = {
    "identity": ("sex", "age", "days_to_18th_birthday"),
    "supervision": ("statutory", "supervision", "lead_room_nps", "lead_room_crc",
                    "lead_room_police"),
    "offending": ("offence_category", "newly_sentenced", "arrests_window",
                  "drug_arrests_window", "convictions_window", "days_since_last_arrest",
                  "arrest_rank", "arrest_rank_female", "harm_rank", "harm_window",
                  "burglary_arrests_window", "domestic_burglary_arrests_window",
                  "neighbourhood_crime_arrests_window",
                  "neighbourhood_crime_convictions_window"),
    "risk": ("ogrs_2yr", "ogrs_1yr", "ogrs_source", "activity_score"),
    "compliance": ("missed_appointments_30d", "failed_drug_tests_30d", "compliant_days",
                   "warnings_30d", "in_custody", "panel_attendance_confirmed"),
}
FACT_GROUPS: dict[str, str] = {fact: group for group, facts in _FACTS.items()
                               for fact in facts}
FACT_GROUPS.update(FLAG_KIND_GROUPS)  # flag facts carry the flag kind's name
# Payload keys that are not facts but belong to a group wherever they appear (a
# transition caused by an event carries its partner reference).
FACT_GROUPS["event_id"] = "compliance"
# Audit entry kinds whose whole payload and summary are data of one group (a compliance
# event's entry says what happened, when and who recorded it).
ENTRY_KIND_GROUPS = {"compliance.event": "compliance"}
# Facts about the process, never withheld.
UNGROUPED_FACTS = ("days_in_state",)

# How an explanation names a withheld fact of each group, without naming it.
PHRASES = {
    "identity": "a personal detail you may not see",
    "supervision": "a supervision detail you may not see",
    "offending": "offending history you may not see",
    "risk": "a risk score you may not see",
    "compliance": "a compliance record you may not see",
    "tasks": "a task you may not see",
    "notes": "a note you may not see",
    "audit": "an audit detail you may not see",
}
MASK = "*********"
RESTRICTED_LABEL = "Restricted access"


def phrase(group: str) -> str:
    """``a partner flag you may not see`` (flags), else the group's own phrase."""
    if group.startswith("flags."):
        return "a partner flag you may not see"
    return PHRASES.get(group, "information you may not see")


def flag_group(kind: str) -> str:
    """The group of a partner-flag kind (``flags.other`` for a kind not listed)."""
    return FLAG_KIND_GROUPS.get(kind, "flags.other")


def expand(pattern: str) -> tuple[str, ...]:
    """The groups a key of a ``see``/``default`` mapping names: ``*``, ``flags.*`` or one
    group. Raises KeyError for anything else."""
    if pattern == "*":
        return GROUPS
    if pattern.endswith(".*"):
        found = tuple(g for g in GROUPS if g.startswith(pattern[:-1]))
        if found:
            return found
    elif pattern in GROUPS:
        return (pattern,)
    raise KeyError(pattern)


def specificity(pattern: str) -> int:
    """Within one mapping ``*`` applies first, then ``flags.*``, then named groups."""
    return 0 if pattern == "*" else 1 if pattern.endswith(".*") else 2
