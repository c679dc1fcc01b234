"""Least privilege per API operation: one table, consulted for every request.

Each operation of the HTTP API (``METHOD /path`` as written in the OpenAPI document,
without the ``/api/v1`` prefix) has one :class:`Rule`:

* ``roles``: the roles that may call it (admin is not implied: it is listed where the
  work is an administrator's);
* ``agencies``: when set, the caller's agency must be one of them;
* ``condition``: a check on what the request touches, made before the view runs:

  - ``case_agency``: the caller's agency works with the case
    (:func:`workflow.agencies.involved_agencies`); roles in ``exempt`` skip it;
  - ``task_visible``: the task is one the caller's inbox shows (own or queue; team
    leads, admins and auditors see every task);
  - ``task_queue``: the task waits in the caller's queue (its role, and its agency when
    it has one) or is already the caller's;
  - ``data_owner``: the caller's agency owns the kind of data imported
    (:data:`IMPORT_OWNERS`).

:func:`authorize` raises :class:`Forbidden` (403) when the table says no, and
:class:`NotFound` (404) when a condition's case or task does not exist. An operation
missing from the table is refused: the API fails closed, and the access matrix test
(``tests/test_access_matrix.py``) fails for any route without a row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from db.models import AGENCIES, ROLES, Task, User
from workflow.errors import Forbidden, NotFound
from workflow.tasks.inbox import OVERSEERS

ALL = ROLES
READERS = ("team_lead", "offender_manager", "police", "resettlement_officer", "auditor",
           "admin")
WORKERS = ("team_lead", "offender_manager", "police", "resettlement_officer")

# Who owns each kind of partner data (docs/formats): arrests, charges, convictions and
# the nominals come from the police (PNC); supervision and OGRS assessments from the
# probation providers; partner flags from the partners that keep the lists (PPO, DTOA,
# ASB and gangs: police; MAPPA: probation and police; MARAC: police and the local
# authority; YOS: the youth offending service; DRR, DIP, treatment: substance misuse and
# probation; housing need: housing and the local authority).
FLAG_OWNERS: Mapping[str, tuple[str, ...]] = {
    "mappa_level": ("NPS", "CRC", "police", "prison"), "marac_repeat": ("police",
                                                                      "local_authority"),
    "dtoa": ("police",), "ppo": ("police",), "gang_grade": ("police",),
    "yos_referral": ("yos",), "asb": ("police", "local_authority"),
    "drr": ("NPS", "CRC", "substance_misuse"), "dip": ("substance_misuse", "police"),
    "treatment": ("substance_misuse", "health"), "housing_need": ("housing",
                                                                 "local_authority"),
}
IMPORT_OWNERS: Mapping[str, tuple[str, ...]] = {
    "people": ("police",),
    "events": ("police",),
    "supervision": ("NPS", "CRC"),
    "assessments": ("NPS", "CRC"),
    # Any agency keeping a list may send a flags file; each row is checked against the
    # list's keepers (FLAG_OWNERS, ``import_csv(agency=...)``).
    "flags": tuple(a for a in AGENCIES if any(a in v for v in FLAG_OWNERS.values())),
}


def flag_kinds_kept_by(agency: str | None) -> frozenset[str]:
    """The partner flag kinds ``agency`` keeps (may import)."""
    return frozenset(kind for kind, owners in FLAG_OWNERS.items() if agency in owners)
CONDITIONS = {
    "case_agency": "the caller's agency works with the case (police; the supervising "
                   "provider; the lead professional's agency; agencies added to the case)",
    "task_visible": "the task is in the caller's inbox (own or their queue); team leads, "
                    "admins and auditors see every task",
    "task_queue": "the task waits in the caller's queue (role, and agency when it has "
                  "one) or is already assigned to the caller",
    "data_owner": "the caller's agency owns the data: "
                  + "; ".join(f"{k}: {', '.join(v)}" for k, v in IMPORT_OWNERS.items()),
}


@dataclass(frozen=True)
class Rule:
    roles: tuple[str, ...]
    why: str
    agencies: tuple[str, ...] | None = None
    condition: str | None = None
    exempt: tuple[str, ...] = ()  # roles the condition does not apply to
    public: bool = False  # answered without a token (api.auth.PUBLIC_PATHS)

    def describe(self) -> str:
        """The rule in words (the OpenAPI description's "Access" line)."""
        if self.public:
            return f"anyone, no token. {self.why[:1].upper()}{self.why[1:]}."
        text = ", ".join(self.roles)
        if self.agencies:
            text += f"; agency one of {', '.join(self.agencies)}"
        if self.condition:
            text += f"; {CONDITIONS[self.condition]}"
            if self.exempt:
                text += f" (not checked for {', '.join(self.exempt)})"
        return f"{text}. {self.why[:1].upper()}{self.why[1:]}."


_CASE = "/cases/{case_id}"
_VERSION = "/rulesets/{name}/versions/{version}"
_EVIDENCE = "rule evidence and the rule-set life are team leads' work (four eyes)"
_REPORTS = ("team_lead", "police", "auditor")

PERMISSIONS: Mapping[str, Rule] = {
    "GET /health": Rule(ALL, "what is published: anyone signed in"),
    "GET /health/live": Rule(ALL, "liveness probe: a status word, no data", public=True),
    "GET /health/ready": Rule(ALL, "readiness probe: a status word per check, no data",
                              public=True),
    # Cases: every role reads (what each sees is the sharing agreement's business).
    "GET /cases": Rule(READERS, "the caseload list"),
    f"GET {_CASE}": Rule(READERS, "one case"),
    f"GET {_CASE}/history": Rule(READERS, "the case's audited moves"),
    f"GET {_CASE}/explain": Rule(READERS, "why the case is where it is"),
    f"GET {_CASE}/as-of": Rule(("team_lead", "auditor"),
                               "every fact of a case on a date: oversight only"),
    f"GET {_CASE}/events": Rule(READERS, "the case's compliance events"),
    f"POST {_CASE}/events": Rule(
        WORKERS, "only the agencies working with the case record its events",
        condition="case_agency", exempt=("team_lead",)),
    f"GET {_CASE}/agencies": Rule(READERS, "who works with the case"),
    f"POST {_CASE}/agencies": Rule(("team_lead",),
                                   "team leads decide which agencies work a case"),
    # Partner data: imported by the agency that owns it; the history is oversight.
    "POST /imports/{kind}": Rule(("team_lead", "police"),
                                 "imports only by the agency that owns the data",
                                 condition="data_owner"),
    "GET /imports": Rule(("team_lead", "police", "auditor", "admin"), "import history"),
    "GET /imports/{batch_id}": Rule(("team_lead", "police", "auditor", "admin"),
                                    "one import and its refused rows"),
    "POST /evaluate": Rule(("team_lead", "offender_manager", "police", "auditor"),
                           "dry run on facts the caller sends; nothing stored"),
    # Rule sets: everyone reads; only team leads write evidence, approve, publish.
    "GET /rulesets": Rule(ALL, "the rules in force are public to the partnership"),
    "POST /rulesets": Rule(("team_lead",), _EVIDENCE),
    "GET /rulesets/{name}": Rule(ALL, "a rule set's versions and publications"),
    f"GET {_VERSION}": Rule(ALL, "one version's document"),
    f"POST {_VERSION}/test": Rule(("team_lead",), _EVIDENCE),
    f"POST {_VERSION}/preview": Rule(("team_lead",), _EVIDENCE),
    f"POST {_VERSION}/approve": Rule(("team_lead",), _EVIDENCE),
    f"POST {_VERSION}/publish": Rule(("team_lead",), _EVIDENCE),
    "POST /rulesets/{name}/rollback": Rule(("team_lead",), _EVIDENCE),
    # Panel: the partnership sees agendas and minutes; the chair (a team lead) decides.
    "GET /panels": Rule(READERS, "panel meetings"),
    "GET /panels/{meeting_id}": Rule(READERS, "a meeting's agenda"),
    "POST /panels/{meeting_id}/decisions": Rule(("team_lead",), "the chair decides"),
    "GET /panels/{meeting_id}/minutes": Rule(READERS, "a meeting's minutes"),
    # Tasks: an inbox per user; only tasks the inbox shows can be opened or acted on.
    "GET /tasks": Rule(ALL, "the caller's own inbox"),
    "GET /tasks/{task_id}": Rule(ALL, "a task the caller's inbox shows",
                                 condition="task_visible"),
    "POST /tasks/{task_id}/claim": Rule(WORKERS, "take a task from the caller's queue",
                                        condition="task_queue"),
    "POST /tasks/{task_id}/reassign": Rule(WORKERS, "the assignee or a team lead",
                                           condition="task_visible"),
    "POST /tasks/{task_id}/complete": Rule(WORKERS, "the assignee or a queue member",
                                           condition="task_visible"),
    "POST /tasks/{task_id}/cancel": Rule(("team_lead",), "team leads cancel, with a reason",
                                         condition="task_visible"),
    # Sharing (workflow/sharing): the access log is oversight; team leads set a case's
    # restriction and exclusion lists, with a reason.
    f"GET {_CASE}/access": Rule(("team_lead", "auditor"), "who read the case"),
    "GET /access": Rule(("team_lead", "auditor"), "the access log by user or query"),
    f"GET {_CASE}/restrictions": Rule(("team_lead", "auditor"),
                                      "the case's restriction and exclusion lists"),
    f"PUT {_CASE}/restrictions/{{kind}}": Rule(("team_lead",),
                                               "team leads restrict a case, with a reason"),
    f"POST {_CASE}/restrictions/{{kind}}/remove": Rule(("team_lead",),
                                                       "team leads lift a restriction"),
    # Board reports: aggregates for the partnership's leads and auditors.
    **{f"GET /reports/{name}": Rule(_REPORTS, "board report (aggregates)")
       for name in ("top-arrested", "expansion", "cohort-effect", "targets", "cost",
                    "caseload", "board-pack")},
}


def rule_for(operation: str) -> Rule | None:
    """The table's rule for ``operation`` (``"GET /cases/{case_id}"``), or None."""
    return PERMISSIONS.get(operation)


# Command-line operations that read or delete across cases (no API route): the whole
# chain and the access log are the auditors' (and the administrator's, who keeps the
# host); one case's chronology is read through the sharing agreement by any reader;
# deleting under retention is the administrator's.
COMMANDS: Mapping[str, tuple[str, ...]] = {
    "audit export": ("auditor", "admin"),
    "audit export --access": ("auditor", "admin"),
    "audit export --case": READERS,
    "audit purge": ("admin",),
}


def authorize_command(user: User, command: str) -> None:
    """Raise :class:`Forbidden` unless ``user``'s role may run ``command`` (a key of
    :data:`COMMANDS`)."""
    roles = COMMANDS[command]
    if user.role not in roles:
        raise Forbidden(f"{command} is for {', '.join(roles)}; {user.username} is a "
                        f"{user.role}", details={"role": user.role, "command": command})


def authorize(session: Session, user: User, operation: str, params: Mapping, *,
              now: datetime) -> None:
    """Raise unless ``user`` may call ``operation`` with path ``params`` (module docstring).

    Reads the case or task a condition names; writes nothing."""
    rule = PERMISSIONS.get(operation)
    if rule is None:
        raise Forbidden(f"{operation} has no entry in the permission table: refused",
                        details={"operation": operation})
    details = {"role": user.role, "agency": user.agency, "operation": operation}
    if user.role not in rule.roles:
        raise Forbidden(f"role {user.role} may not do this; needs one of "
                        f"{', '.join(rule.roles)}", details=details)
    if rule.agencies is not None and user.agency not in rule.agencies:
        raise Forbidden(f"agency {user.agency} may not do this; needs one of "
                        f"{', '.join(rule.agencies)}", details=details)
    if rule.condition and user.role not in rule.exempt:
        _CHECKS[rule.condition](session, user, params, now, details)


def _case_agency(session: Session, user: User, params: Mapping, now: datetime,
                 details: dict) -> None:
    from workflow.agencies import involved_agencies
    from workflow.cases import get_case

    case = get_case(session, params["case_id"])
    agencies = involved_agencies(session, case, now=now)
    if user.agency not in agencies:
        raise Forbidden(f"agency {user.agency} does not work with case {case.id} "
                        f"(its agencies: {', '.join(agencies)})",
                        details={**details, "case_agencies": sorted(agencies)})


def task_visible(user: User, task: Task) -> bool:
    """Whether ``user``'s inbox shows ``task`` (any status): overseers see every task;
    others their own and their queue's (role, and agency when the queue has one)."""
    if user.role in OVERSEERS or (user.id is not None and task.assignee_id == user.id):
        return True
    return (task.assignee_id is None and task.role == user.role
            and (task.agency is None or task.agency == user.agency))


def _task(session: Session, params: Mapping) -> Task:
    task = session.get(Task, params["task_id"])
    if task is None:
        raise NotFound(f"task {params['task_id']} not found",
                       details={"task_id": params["task_id"]})
    return task


def _task_visible(session: Session, user: User, params: Mapping, now: datetime,
                  details: dict) -> None:
    task = _task(session, params)
    if not task_visible(user, task):
        raise Forbidden(f"task {task.id} is not in your inbox", details=details)


def _task_queue(session: Session, user: User, params: Mapping, now: datetime,
                details: dict) -> None:
    task = _task(session, params)
    mine = user.id is not None and task.assignee_id == user.id
    queue = (task.assignee_id is None and task.role == user.role
             and (task.agency is None or task.agency == user.agency))
    if not (mine or queue):
        raise Forbidden(f"task {task.id} is not in your queue", details=details)


def _data_owner(session: Session, user: User, params: Mapping, now: datetime,
                details: dict) -> None:
    owners = IMPORT_OWNERS.get(params.get("kind"), ())
    if user.agency not in owners:
        raise Forbidden(f"{params.get('kind')} data is imported by "
                        f"{', '.join(owners) or 'nobody'}; you are {user.agency or 'no agency'}",
                        details={**details, "owners": list(owners)})


_CHECKS = {"case_agency": _case_agency, "task_visible": _task_visible,
           "task_queue": _task_queue, "data_owner": _data_owner}
