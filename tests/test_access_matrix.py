"""The access matrix: every API operation x every role (several agencies each) x every
token state, against the status the permission table (``workflow/permissions.py``) says.

* The operations are the permission table's rows; ``test_every_route_has_a_row`` checks
  they are exactly the operations the Flask app serves, so a new route without a row
  fails here (and is refused at run time: the API fails closed).
* Token states: valid, expired, revoked (each for every user), absent, forged and a
  non-bearer header: 401 for all but a valid token; then 403 where the table refuses
  the role, the agency or the condition, and for the rest any answer but 401/403/5xx
  (the minimal request the matrix sends may well be a 404 or 422: authorisation
  passed).
* The world states what the conditions depend on: the case is CRC-supervised, so the
  agencies working with it are police and CRC; the task waits in the CRC offender
  managers' queue.
* Readable responses are walked for withheld values (:func:`leaked`): the values a
  sharing agreement withholds from the caller (``withheld_for``) must appear nowhere in
  the body.

One app and one database per module and backend; requests are cheap (< 60 s on SQLite).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from dbsupport import BACKENDS, ROOT, _truncate_pg
from sharing_helpers import SECRETS, assert_no_withheld, moved_marac_case

from db.models import PanelItem, PanelMeeting, Task
from db.session import make_session_factory
from workflow.partners.formats import KINDS
from workflow.permissions import IMPORT_OWNERS, PERMISSIONS

TOKEN_STATES = ("valid", "expired", "revoked", "absent", "forged", "not_bearer")
CASE_AGENCIES = {"police", "NPS"}  # the world's case: NPS supervision (+ police, always)
TASK_QUEUE = ("offender_manager", "CRC")  # the world's task waits in this queue, unassigned
OVERSEERS = ("team_lead", "auditor", "admin")  # see every task
PROFILES = (  # (role, agency): every role, several agencies
    ("team_lead", None), ("team_lead", "police"), ("team_lead", "NPS"),
    ("team_lead", "CRC"), ("team_lead", "housing"),
    ("offender_manager", "NPS"), ("offender_manager", "CRC"), ("offender_manager", "yos"),
    ("police", "police"),
    ("resettlement_officer", "housing"), ("resettlement_officer", "employment"),
    ("resettlement_officer", "mental_health"),
    ("auditor", None), ("admin", None),
)


@dataclass
class World:
    client: object
    sessions: object
    users: dict  # (role, agency, state) -> (username, token)
    params: dict
    task_id: int
    person_names: tuple[str, ...]


def _user(session, role, agency, state, now):
    from workflow.users import create_user, revoke_token

    name = f"{role[:4]}-{agency or 'none'}-{state}"
    user, token = create_user(session, username=name, display_name=name, role=role,
                              agency=agency, now=now)
    if state == "expired":
        user.token_expires_at = now - timedelta(minutes=1)
    elif state == "revoked":
        revoke_token(session, user)
    return name, token


# What the world adds to sharing_helpers.SECRETS: an event recorded through the service
# (so its audit entry is in the history) and its wording in that entry's summary.
WORLD_SECRETS = {"compliance": ["E-ZX-2", "drug_test_positive", "drug test positive"],
                 "notes": ["opiates at the DIP clinic"]}


def _world_data(session, settings, now) -> dict:
    """An NPS-supervised MARAC case with distinctive data in every field group, moved
    from mapping to matrixing by the MARAC rule (real engine), with an event recorded
    through the service: its history, explanation and as-of carry every kind of fact."""
    from workflow.tasks.compliance import record_event

    case = moved_marac_case(session, settings, now=now)
    record_event(session, case, event_id="E-ZX-2", kind="drug_test_positive",
                 occurred_at=now - timedelta(hours=2),
                 details={"note": "opiates at the DIP clinic"}, actor="om-nps", now=now)
    task = Task(case_id=case.id, template="panel_invite", role="offender_manager",
                agency="CRC", title="Invite the offender manager of Quentin Oyelaran-Smythe",
                status="open", due_at=now + timedelta(days=5))
    meeting = PanelMeeting(held_on=(now + timedelta(days=10)).date(),
                           starts_at=now + timedelta(days=10))
    session.add_all([task, meeting])
    session.flush()
    # On the meeting's agenda with its matrix score (risk) and a decision's reason (notes).
    session.add(PanelItem(meeting_id=meeting.id, case_id=case.id, rank=1, activity_score=79.0,
                          invited_at=now, reason="his sister's hospital visit"))
    session.flush()
    return {"case_id": case.id, "task_id": task.id, "meeting_id": meeting.id,
            "batch_id": 1, "name": "mappa-exclusion", "version": "latest",
            "on": (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory) -> Iterator[World]:
    from api import create_app
    from workflow.config import load_settings
    from workflow.policy.store import seed_policy
    from workflow.rulesets import published_row, sync_shipped
    from workflow.runtime import Runtime
    from workflow.sharing.store import seed_agreement

    tmp = tmp_path_factory.mktemp("matrix")
    if request.param == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), tmp / "m.sqlite3")
        url = f"sqlite:///{tmp / 'm.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_database")
        _truncate_pg(url)
    settings = load_settings(ROOT / "config.toml", env={
        "IOM_DATABASE_URL": url, "IOM_AUDIT_KEY_FILE": str(tmp / "audit.key"),
        "IOM_AUDIT_CHECKPOINT_DIR": str(tmp / "checkpoints")})
    runtime = Runtime.from_settings(settings)
    now = datetime.now(UTC)
    session = make_session_factory(runtime.engine)()
    sync_shipped(session, now=now - timedelta(days=400))
    seed_agreement(session, now=now - timedelta(days=400))
    seed_policy(session, settings, now=now - timedelta(days=400))
    params = _world_data(session, settings, now)
    params["version"] = published_row(session, "mappa-exclusion").version
    users = {(role, agency, state): _user(session, role, agency, state, now)
             for role, agency in PROFILES for state in ("valid", "expired", "revoked")}
    session.commit()
    session.close()
    app = create_app(runtime)
    app.config["TESTING"] = True
    yield World(app.test_client(), runtime.sessions, users, params, params["task_id"],
                ("Quentin", "Oyelaran-Smythe"))
    runtime.close()


def _requests() -> list[tuple[str, str, str | None]]:
    """``(operation, method, kind)``: each table row; imports once per kind of data."""
    out = []
    for operation in sorted(PERMISSIONS):
        method = operation.split()[0]
        kinds = KINDS if "{kind}" in operation else (None,)
        out += [(operation, method, kind) for kind in kinds]
    return out


# The query a read needs to answer at all (so that its answer is walked too).
QUERIES = {"GET /access": "user=offe-yos-valid", "GET /cases/{case_id}/as-of": "on={on}",
           "GET /reports/targets": "reduction-pct=20"}


def _url(operation: str, params: dict, kind: str | None) -> str:
    path = operation.split(" ", 1)[1].replace("{kind}", kind or "")
    query = QUERIES.get(operation)
    return "/api/v1" + path.format(**params) + (f"?{query.format(**params)}" if query else "")


def expected(operation: str, role: str, agency: str | None, kind: str | None) -> int | None:
    """403 where the table refuses; None where it allows (any answer but 401/403/5xx)."""
    rule = PERMISSIONS[operation]
    if role not in rule.roles or (rule.agencies is not None and agency not in rule.agencies):
        return 403
    if rule.condition is None or role in rule.exempt:
        return None
    in_queue = (role, agency) == TASK_QUEUE
    allowed = {"case_agency": agency in CASE_AGENCIES,
               "task_visible": role in OVERSEERS or in_queue, "task_queue": in_queue,
               "data_owner": agency in IMPORT_OWNERS.get(kind, ())}[rule.condition]
    return None if allowed else 403


def withheld_for(world: World, role: str, agency: str | None) -> set[str]:
    """The values of the world's case the published (shipped) agreement withholds from
    this caller reading for their default purpose (``tests/sharing_helpers.SECRETS``)."""
    from workflow.sharing.agreement import default_agreement
    from workflow.sharing.decide import Viewer, default_purpose

    purpose = default_purpose(Viewer(None, "matrix", role, agency))
    levels = default_agreement().levels(agency.lower() if agency else None, role, purpose)
    return {v for secrets in (SECRETS, WORLD_SECRETS) for group, values in secrets.items()
            if levels.get(group, "none") != "show" for v in values}


def leaked(body, withheld) -> list[str]:
    """The withheld values a JSON body shows (sharing_helpers.assert_no_withheld's walk)."""
    try:
        assert_no_withheld(body, withheld)
    except AssertionError as exc:
        return str(exc).splitlines()[1:]  # one line per leaking path
    return []


def _send(world: World, method: str, url: str, headers: dict):
    """The minimal request: no body for reads and CSV imports (422 once authorised),
    an empty JSON object for any other write (POST, PUT...)."""
    if method == "GET" or ("/imports/" in url and method == "POST"):
        return world.client.open(url, method=method, headers=headers)
    return world.client.open(url, method=method, json={}, headers=headers)


def _headers(world: World, state: str, role: str, agency: str | None) -> dict:
    if state == "absent":
        return {}
    if state == "forged":
        return {"Authorization": "Bearer " + "f0rged-" * 6}
    if state == "not_bearer":
        return {"Authorization": "Basic bGVhZDE6cGFzcw=="}
    return {"Authorization": f"Bearer {world.users[(role, agency, state)][1]}"}


def _unclaim(world: World) -> None:
    """Claiming moves the task into one inbox: put it back in the queue."""
    with world.sessions() as session:
        session.get(Task, world.task_id).assignee_id = None
        session.commit()


def test_every_route_has_a_row(world):
    """The table's operations are exactly the operations the app serves."""
    from api.auth import API_PREFIX, PUBLIC_PATHS, operation_key

    app = world.client.application
    served = {operation_key(method, rule.rule)
              for rule in app.url_map.iter_rules() if rule.rule.startswith(API_PREFIX + "/")
              and rule.rule != API_PREFIX + "/openapi.json"
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served - set(PERMISSIONS) == set(), "routes without a permission row"
    assert set(PERMISSIONS) - served == set(), "permission rows for no route"
    public = {op for op, rule in PERMISSIONS.items() if rule.public}
    assert {f"GET {p[len(API_PREFIX):]}" for p in PUBLIC_PATHS
            if p.startswith(API_PREFIX + "/") and p != API_PREFIX + "/openapi.json"} == public
    spec = world.client.get("/api/v1/openapi.json").get_json()
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            if method in ("get", "post", "put", "patch", "delete"):
                rule = PERMISSIONS[f"{method.upper()} {path[len(API_PREFIX):]}"]
                assert op["x-roles"] == ([] if rule.public else list(rule.roles)), path
                assert op.get("x-condition", {}).get("name") == rule.condition


@pytest.mark.parametrize("state", TOKEN_STATES)
@pytest.mark.parametrize(("operation", "method", "kind"), _requests(),
                         ids=lambda v: str(v) if v else "-")
def test_access_matrix(world, operation, method, kind, state):
    url = _url(operation, world.params, kind)
    profiles = PROFILES if state in ("valid", "expired", "revoked") else ((None, None),)
    wrong = []
    for role, agency in profiles:
        response = _send(world, method, url, _headers(world, state, role, agency))
        status = response.status_code
        want = (None if PERMISSIONS[operation].public else 401 if state != "valid"
                else expected(operation, role, agency, kind))
        body = response.get_json(silent=True)
        ok = (status == want) if want else (status not in (401, 403) and status < 500
                                            or operation == "GET /health/ready" and status == 503)
        leaks = (leaked(body, withheld_for(world, role, agency))
                 if ok and want is None and status < 300 else [])
        if leaks:
            wrong.append(f"{role}/{agency}: {status} shows withheld values:\n"
                         + "\n".join(leaks))
        elif not ok:
            wrong.append(f"{role}/{agency}: {status} (want {want or 'allowed'}) {body}")
        if want in (401, 403) and body is not None:
            assert body["error"]["code"] in ("unauthenticated", "forbidden")
            assert not leaked(body, set(world.person_names)), body  # no name in a refusal
        if operation.endswith("/claim") and status == 200:
            _unclaim(world)
    assert wrong == [], f"{method} {url} [{state}]:\n" + "\n".join(wrong)


PAGE_PASSWORD = "a-long-enough-password"
PAGES = ("/cases/{case_id}", "/panel/{meeting_id}", "/panel/{meeting_id}/minutes",
         "/tasks/{task_id}")


def _page_text(html: str) -> str:
    """The words of a page (tags, attributes and tokens out)."""
    import re

    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_case_pages_show_nothing_withheld(world):
    """The case page (summary, flags, OGRS, timeline), the panel agenda and minutes and
    the task page, for every profile that may open the case page: none of the values the
    agreement withholds from that profile is in their words."""
    import re

    from password_helpers import give_password
    from sqlalchemy import select

    from db.models import User
    from web.views.cases import ALL

    profiles = [(r, a) for r, a in PROFILES if r in ALL]
    with world.sessions() as session:
        for role, agency in profiles:
            name = world.users[(role, agency, "valid")][0]
            user = session.scalars(select(User).where(User.username == name)).one()
            give_password(session, user, PAGE_PASSWORD, now=datetime.now(UTC))
        session.commit()
    wrong = []
    for role, agency in profiles:
        client = world.client.application.test_client()
        form = client.get("/sign-in").text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
        client.post("/sign-in", data={"username": world.users[(role, agency, "valid")][0],
                                      "password": PAGE_PASSWORD, "csrf_token": token})
        for path in PAGES:
            page = client.get(path.format(**world.params))
            if path.startswith("/cases"):
                assert page.status_code == 200, (role, agency, page.status_code)
            if page.status_code != 200:
                continue
            text = _page_text(page.text).lower()
            shown = [v for v in withheld_for(world, role, agency)
                     if (str(v).lower() in text if isinstance(v, str)
                         else re.search(rf"\b{v}\b", text))]
            if shown:
                wrong.append(f"{path} {role}/{agency}: {shown}")
    assert wrong == []
