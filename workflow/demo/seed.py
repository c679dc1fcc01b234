"""Load a demo borough: demo users, then the generated partner files via the importer.

:func:`load_demo` is idempotent for data: the imports of the same files change nothing.
Existing demo users are kept but get a fresh token each time, so every ``make run``
prints tokens that work (these are demo accounts). Users are created first so that the
supervision import links offender managers to om1 / om2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import User
from workflow.demo.generate import DEMO_OFFENDER_MANAGERS, generate_borough
from workflow.partners.imports import ImportReport, import_csv
from workflow.passwords import check_password, set_password
from workflow.sharing.store import seed_agreement
from workflow.users import create_user, rotate_token

IMPORT_ORDER = ("people", "events", "supervision", "assessments", "flags")


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    role: str
    agency: str | None


DEMO_USERS = (
    DemoUser("lead1", "Laura Bennett", "team_lead", "police"),
    DemoUser("lead2", "Kwame Asante", "team_lead", "local_authority"),
    DemoUser("om1", DEMO_OFFENDER_MANAGERS["CRC"], "offender_manager", "CRC"),
    DemoUser("om2", DEMO_OFFENDER_MANAGERS["NPS"], "offender_manager", "NPS"),
    DemoUser("police1", "PC Dan Hughes", "police", "police"),
    DemoUser("auditor1", "Alice Ward", "auditor", None),
    DemoUser("admin1", "Sanjay Mistry", "admin", None),
    # Resettlement officers, one per pathway (seed 002: three of Barnet's nine).
    DemoUser("housing1", "Grace Okafor", "resettlement_officer", "housing"),
    DemoUser("employ1", "Tom Price", "resettlement_officer", "employment"),
    DemoUser("mh1", "Priya Nair", "resettlement_officer", "mental_health"),
    DemoUser("lead3", "Helen Carter", "team_lead", "NPS"),
)


@dataclass
class DemoReport:
    """``users``: one dict per demo user with a working token (``created`` False when the
    user already existed and its token was rotated)."""

    users: list[dict] = field(default_factory=list)
    imports: list[ImportReport] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"users": list(self.users), "imports": [r.as_dict() for r in self.imports],
                "files": {k: str(p) for k, p in self.files.items()}}


def demo_password(username: str) -> str:
    """The known web password of a demo user (demo accounts only: printed by make run)."""
    return f"{username}-demo-password"


def ensure_demo_users(session: Session, *, now: datetime | None = None) -> list[dict]:
    """Create each missing demo user, rotate the token of each existing one, and give
    each new one its known demo web password (:func:`demo_password`); return them all
    with their working tokens."""
    out = []
    existing = {user.username: user for user in session.scalars(select(User).where(
        User.username.in_([u.username for u in DEMO_USERS])))}
    for u in DEMO_USERS:
        user = existing.get(u.username)
        if user is None:
            created, token = create_user(session, username=u.username,
                                         display_name=u.display_name, role=u.role,
                                         agency=u.agency)
            set_password(session, created, demo_password(u.username), now=now or
                         created.created_at)
        else:
            token = rotate_token(session, user)
            if user.password_hash is None:
                set_password(session, user, demo_password(u.username),
                             now=now or user.created_at)
        out.append({"username": u.username, "display_name": u.display_name, "role": u.role,
                    "agency": u.agency, "token": token, "created": user is None})
    return out


def load_demo(session: Session, *, people: int, seed: int, now: datetime, actor: str,
              workdir: Path) -> DemoReport:
    """Create the demo users, make sure the sharing agreement is published (the shipped
    default, as ``iom db upgrade`` does), generate a borough as of ``now`` into
    ``workdir`` and import its five files in dependency order. Flushes, never commits."""
    seed_agreement(session, now=now)
    report = DemoReport(users=ensure_demo_users(session, now=now))
    report.files = generate_borough(Path(workdir), people=people, seed=seed,
                                    as_of=now.date())
    for kind in IMPORT_ORDER:
        path = report.files[kind]
        with path.open(newline="", encoding="utf-8") as stream:
            report.imports.append(import_csv(session, kind, stream, filename=path.name,
                                             actor=actor, now=now))
    return report


def demo_sign_ins(session: Session) -> list[dict]:
    """The demo users whose web password is still their known demo one (to print at
    start-up): ``{"username", "display_name", "role", "password"}``. Read only."""
    users = {user.username: user for user in session.scalars(select(User).where(
        User.username.in_([u.username for u in DEMO_USERS]), User.active.is_(True)))}
    return [{"username": u.username, "display_name": u.display_name, "role": u.role,
             "password": demo_password(u.username)}
            for u in DEMO_USERS if u.username in users
            and check_password(users[u.username], demo_password(u.username))]
