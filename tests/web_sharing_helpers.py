"""Helpers for the page tests of the sharing agreement (tests/test_web_sharing.py and
tests/test_page_matrix.py): the MARAC scene of tests/test_sharing_views.py with users
who can sign in to the pages, signing in, and the withheld-value walk over HTML."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

from password_helpers import give_password
from sharing_helpers import SECRETS, assert_no_withheld, moved_marac_case

from db.models import Task
from workflow.sharing.store import seed_agreement

PASSWORD = "a-long-enough-password"
READERS = {  # username: (role, agency as typed, agency as the agreement knows it)
    "housing1": ("resettlement_officer", "housing", "housing"),
    "police1": ("police", "police", "police"),
    "om-nps": ("offender_manager", "NPS", "nps"),
    "aud1": ("auditor", None, None),
}


def build_scene(session, settings, make_user, now, users=READERS) -> dict:
    """A published agreement, a policy whose mapping stage includes the MARAC rule, the
    MARAC case moved to matrixing by the real engine, a task for the NPS offender
    managers' queue and one for the housing officers' queue, and ``users`` with
    passwords. Returns ids and API tokens (the session's reads ended)."""
    seed_agreement(session, now=now - timedelta(days=365))
    case = moved_marac_case(session, settings, now=now)
    om_task = Task(case_id=case.id, template="panel_invite", role="offender_manager",
                   title="Invite the offender manager of Quentin Oyelaran-Smythe "
                         "(PX-4471) to panel", body="Case identified at matrixing.",
                   due_at=now + timedelta(days=3))
    housing_task = Task(case_id=case.id, template="panel_invite",
                        role="resettlement_officer", agency="housing",
                        title="Find a tenancy for Quentin Oyelaran-Smythe",
                        body="Housing pathway referral.", due_at=now + timedelta(days=5))
    session.add_all([om_task, housing_task])
    session.commit()
    tokens = {}
    for name, (role, typed, _a) in users.items():
        user, tokens[name] = make_user(name, role=role, agency=typed)
        give_password(session, user, PASSWORD, now=now - timedelta(days=1))
    out = {"case_id": case.id, "om_task": om_task.id, "housing_task": housing_task.id,
           "tokens": tokens}
    session.commit()
    return out


def _csrf(text: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)


def signed_in(app, username: str):
    """A test client with ``username`` signed in to the pages."""
    client = app.test_client()
    response = client.post("/sign-in", data={
        "username": username, "password": PASSWORD,
        "csrf_token": _csrf(client.get("/sign-in").text)})
    assert response.status_code in (302, 303), response.text[:500]
    return client


def page_text(markup: str) -> str:
    """The page's text and attribute values, entities decoded (what a reader could
    see or a screen reader announce); scripts and the CSRF token left out."""
    markup = re.sub(r'name="csrf_token" value="[^"]*"', "", markup)
    return html.unescape(markup)


def _long(day: str) -> str:
    d = date.fromisoformat(day)
    return f"{d.day} {d:%B %Y}"


def html_secrets(groups) -> list[str]:
    """The withheld values of SECRETS' ``groups`` as a page would print them: strings,
    dates also as "14 August 2024", scores as "87%"."""
    out = []
    for group in groups:
        for value in SECRETS[group]:
            if isinstance(value, int):
                out.append(f"{value}%")
            else:
                out.append(value)
                if re.fullmatch(r"\d{4}-\d\d-\d\d", value):
                    out.append(_long(value))
    return out


def assert_page_withholds(markup: str, groups) -> None:
    """Fail when the page shows any withheld value of ``groups`` (the JSON walk of
    tests/sharing_helpers.py over the page's text)."""
    assert_no_withheld({"page": page_text(markup)}, html_secrets(groups))
