"""The registry of named actions. Rules only name an action and give its parameters.

Each action declares its parameter schema (validated at load) and the *outcome* it
contributes to a stage decision. Evaluating never performs an action: the workflow
applies decisions (``workflow/apply.py``).

Outcome precedence within one evaluation: ``exclude`` beats everything, then
``select``/``forward``/``deselect``/``retain`` in that order (see :data:`OUTCOME_RANK`).
"""

from __future__ import annotations

from dataclasses import dataclass

from marshmallow import RAISE, Schema, fields, validate

from rules.catalogue import CATALOGUE

COHORTS = ("fixed", "flex", "free")
TIERS = ("low", "medium", "high", "very_high")
PROGRAMMES = ("MARAC", "MAPPA", "DIP", "DRR", "PPO", "YOS")
# The partnership's agencies: equal to db.models.AGENCIES (rules/ may not import db/;
# tests/test_agencies.py checks they agree).
AGENCIES = ("police", "NPS", "CRC", "local_authority", "housing", "health", "mental_health",
            "substance_misuse", "employment", "yos", "prison")
TASK_ROLES = ("team_lead", "offender_manager", "police", "resettlement_officer", "admin")


class _Params(Schema):
    class Meta:
        unknown = RAISE


class SelectParams(_Params):
    reason = fields.String(required=True, validate=validate.Length(min=1))
    cohort = fields.String(load_default="fixed", validate=validate.OneOf(COHORTS))


class ExcludeParams(_Params):
    reason = fields.String(required=True, validate=validate.Length(min=1))


class ReasonParams(_Params):
    reason = fields.String(required=True, validate=validate.Length(min=1))


class IntensityParams(_Params):
    tier = fields.String(required=True, validate=validate.OneOf(TIERS))
    reason = fields.String(load_default="")


class LeadParams(_Params):
    agency = fields.String(required=True, validate=validate.OneOf(AGENCIES))
    professional = fields.String(required=True, validate=validate.OneOf(
        ("offender_manager", "police_lead")))


class TaskParams(_Params):
    template = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9_]+$"))
    role = fields.String(required=True, validate=validate.OneOf(TASK_ROLES))
    sla_working_days = fields.Integer(required=True, validate=validate.Range(0, 365))
    priority = fields.String(load_default="normal", validate=validate.OneOf(
        ("low", "normal", "high", "urgent")))
    # The queue's agency (e.g. "yos" for the YOS worker, "housing" for the housing
    # resettlement officer); default: routed by role.
    agency = fields.String(load_default=None, validate=validate.OneOf(AGENCIES))


class EnforcementParams(_Params):
    kind = fields.String(required=True, validate=validate.OneOf(
        ("warning", "breach", "recall", "police_visit")))
    sla_working_days = fields.Integer(required=True, validate=validate.Range(0, 365))
    reason = fields.String(required=True, validate=validate.Length(min=1))


class ReferralParams(_Params):
    programme = fields.String(required=True, validate=validate.OneOf(PROGRAMMES))
    reason = fields.String(load_default="")


class PriorityParams(_Params):
    """Panel agenda order (``[stages.agenda]``): scores of all matching rules are summed."""

    score = fields.Float(required=True, validate=validate.Range(-1000, 1000))
    reason = fields.String(required=True, validate=validate.Length(min=1))


# Count-down facts only ("days to ..."): the day each reaches 0 is a date to recheck on.
DAY_FACTS = tuple(sorted(n for n, f in CATALOGUE.items()
                         if n.startswith("days_to_") and f.unit == "days"))


class RecheckParams(_Params):
    """Re-evaluate the case when a day-count fact reaches 0 (e.g. the 18th birthday)."""

    days_fact = fields.String(required=True, validate=validate.OneOf(DAY_FACTS))
    reason = fields.String(required=True, validate=validate.Length(min=1))


@dataclass(frozen=True)
class Action:
    name: str
    params: type[Schema]
    outcome: str | None
    description: str


REGISTRY: dict[str, Action] = {a.name: a for a in (
    Action("select", SelectParams, "select", "bring the case into the IOM cohort"),
    Action("exclude", ExcludeParams, "exclude", "keep the case out of scope (beats select)"),
    Action("forward_to_panel", ReasonParams, "forward", "send the case to the next panel"),
    Action("retain", ReasonParams, "retain", "keep the case in the cohort after review"),
    Action("deselect", ReasonParams, "deselect", "take the case out of the cohort"),
    Action("set_intensity", IntensityParams, None, "set the management intensity tier"),
    Action("require_panel", ReasonParams, None, "the case must be presented at panel"),
    Action("assign_lead", LeadParams, None, "name the lead professional's agency and type"),
    Action("create_task", TaskParams, None, "raise a task from a template"),
    Action("raise_enforcement", EnforcementParams, None, "raise a time-limited enforcement"),
    Action("refer_programme", ReferralParams, None, "refer to MARAC, MAPPA, DIP/DRR, YOS..."),
    Action("set_priority", PriorityParams, None,
           "panel agenda priority score (summed over matching rules; highest first)"),
    Action("recheck_in", RecheckParams, None,
           "evaluate the case again on the day the named day-count fact reaches 0"),
)}

OUTCOME_RANK = ("exclude", "deselect", "select", "forward", "retain")


def combine_outcomes(outcomes: list[str | None]) -> str | None:
    """The stage outcome of a set of decisions: the highest-ranked one present, else None."""
    present = {o for o in outcomes if o}
    if not present:  # most evaluations of a pass: no decision
        return None
    for outcome in OUTCOME_RANK:
        if outcome in present:
            return outcome
    return None
