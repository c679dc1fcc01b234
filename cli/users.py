"""``iom users``: create users (a token for the API and a first web password) and set or
reset web passwords."""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime

from cli.common import host_admin_actor, open_runtime, parse_now, session_scope
from db.models import AGENCIES, ROLES
from db.session import transaction
from workflow.errors import InvalidInput


def _min_length(args) -> int:
    with open_runtime(args) as rt:
        return rt.settings.web["password_min_length"]


def _token_days(args) -> int:
    with open_runtime(args) as rt:
        return rt.settings.token_days


def _users_create(args) -> int:
    from workflow.passwords import new_password, set_password
    from workflow.users import create_user

    password = new_password()
    minimum = _min_length(args)
    with session_scope(args) as session:
        user, token = create_user(session, username=args.username,
                                  display_name=args.name or args.username, role=args.role,
                                  agency=args.agency, email=args.email,
                                  token_days=_token_days(args))
        set_password(session, user, password, now=datetime.now(UTC), min_length=minimum)
    print(f"user {user.username} ({user.role}, {user.agency or 'no agency'}) token: "
          f"{token} (expires {user.token_expires_at:%Y-%m-%d %H:%M} UTC)")
    print(f"first web password (give it to {user.username} privately; they can sign in at "
          f"/sign-in): {password}")
    return 0


def _read_password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("new password: ")
    if first != getpass.getpass("again: "):
        raise InvalidInput("the two passwords differ", details={"field": "password"})
    return first


def _set(args, password: str) -> None:
    from workflow.passwords import set_password
    from workflow.users import active_user

    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        set_password(session, active_user(session, args.username), password,
                     now=datetime.now(UTC), min_length=rt.settings.web["password_min_length"])


def _users_set_password(args) -> int:
    _set(args, _read_password(args))
    print(f"web password of {args.username} set; their open sessions have ended")
    return 0


def _users_reset_password(args) -> int:
    from workflow.passwords import new_password

    password = new_password()
    _set(args, password)
    print(f"web password of {args.username} reset; their open sessions have ended. "
          f"New password (give it to them privately): {password}")
    return 0


def _users_rotate(args) -> int:
    from workflow.users import active_user, rotate_token

    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        user = active_user(session, args.username)
        token = rotate_token(session, user, token_days=rt.settings.token_days)
        _audit_token(session, user, "user.token_rotated", args)
        print(f"user {user.username} token: {token} (expires "
              f"{user.token_expires_at:%Y-%m-%d %H:%M} UTC; the old token no longer works)")
    return 0


def _users_revoke(args) -> int:
    from workflow.users import active_user, revoke_token

    with session_scope(args) as session:
        user = active_user(session, args.username)
        revoke_token(session, user)
        _audit_token(session, user, "user.token_revoked", args)
        print(f"user {user.username}: token revoked (iom users rotate issues a new one)")
    return 0


def _audit_token(session, user, kind: str, args) -> None:
    from workflow import audit

    actor = host_admin_actor()
    audit.record(session, kind=kind, actor=actor, occurred_at=parse_now(None),
                 summary=f"{kind.split('.')[-1].replace('_', ' ')} for {user.username} by {actor}",
                 payload={"username": user.username})


def register(users_sub) -> None:
    create = users_sub.add_parser("create", help="create a user; print its API token and "
                                  "a first web password")
    create.add_argument("username")
    create.add_argument("--role", required=True, help=", ".join(ROLES))
    create.add_argument("--name")
    create.add_argument("--agency", help=", ".join(AGENCIES) + " (required for "
                        "resettlement_officer: housing, employment or mental_health)")
    create.add_argument("--email")
    create.set_defaults(func=_users_create)
    setp = users_sub.add_parser("set-password", help="set a user's web password (asked "
                                "twice, or one line on stdin with --password-stdin)")
    setp.add_argument("username")
    setp.add_argument("--password-stdin", action="store_true")
    setp.set_defaults(func=_users_set_password)
    reset = users_sub.add_parser("reset-password", help="give a user a new random web "
                                 "password and print it")
    reset.add_argument("username")
    reset.set_defaults(func=_users_reset_password)
    rotate = users_sub.add_parser("rotate", help="issue a new API token (the old one stops)")
    rotate.add_argument("username")
    rotate.set_defaults(func=_users_rotate)
    revoke = users_sub.add_parser("revoke", help="end the user's API token at once")
    revoke.add_argument("username")
    revoke.set_defaults(func=_users_revoke)
