"""Users and API tokens. Tokens are 256-bit random strings; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import ROLES, User
from workflow.agencies import check_user_agency
from workflow.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from workflow.rulesets import MARK_COLUMNS, note_mark

DEFAULT_TOKEN_DAYS = 90  # [server] token_days
# Every API request runs it first: built once (its SQL and cache key are then reused).
# It also reads the rule-set publication mark, which nearly every request then needs
# (``workflow.rulesets``: checked once a transaction), in the same round trip.
_BY_TOKEN = select(User, *MARK_COLUMNS).where(User.token_hash == bindparam("token_hash"))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, *, username: str, display_name: str, role: str,
                agency: str | None = None, email: str | None = None,
                now: datetime | None = None, token_days: int = DEFAULT_TOKEN_DAYS
                ) -> tuple[User, str]:
    """Create a user and return it with a fresh token (shown once, never stored in clear)
    valid ``token_days`` from ``now``. The role and the agency are validated
    (``workflow/agencies.py``): :class:`InvalidInput` names the field."""
    if role not in ROLES:
        raise InvalidInput(f"role {role!r} is not one of {', '.join(ROLES)}",
                           details={"field": "role"})
    agency = check_user_agency(role, agency)
    if session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(f"user {username!r} already exists", details={"field": "username"})
    user = User(username=username, display_name=display_name, role=role, agency=agency,
                email=email)
    session.add(user)
    token = rotate_token(session, user, now=now, token_days=token_days)
    return user, token


def rotate_token(session: Session, user: User, *, now: datetime | None = None,
                 token_days: int = DEFAULT_TOKEN_DAYS) -> str:
    """A new token for ``user`` (the old one stops working), valid ``token_days``."""
    token = secrets.token_urlsafe(32)
    user.token_hash = hash_token(token)
    user.token_expires_at = (now or utcnow()) + timedelta(days=token_days)
    session.flush()
    return token


def revoke_token(session: Session, user: User) -> None:
    """The user's token stops working at once; ``rotate_token`` issues a new one."""
    user.token_hash, user.token_expires_at = None, None
    session.flush()


def authenticate(session: Session, token: str | None, *, now: datetime | None = None) -> User:
    """The active user holding ``token``, unexpired at ``now``; raises
    :class:`Unauthenticated` (missing, unknown, revoked or expired)."""
    if not token:
        raise Unauthenticated("missing bearer token")
    row = session.execute(_BY_TOKEN, {"token_hash": hash_token(token)}).first()
    if row is None:
        raise Unauthenticated("invalid or revoked token")
    user = row[0]
    note_mark(session, row[1:])
    if not user.active:
        raise Unauthenticated("invalid or revoked token")
    if user.token_expires_at is None or user.token_expires_at <= (now or utcnow()):
        raise Unauthenticated("the token has expired: ask an administrator to rotate it "
                              "(iom users rotate)")
    return user


def active_user(session: Session, username: str) -> User:
    """The active user named ``username``; raises :class:`NotFound`."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise NotFound(f"no active user {username!r} (iom users create)",
                       details={"username": username})
    return user


def user_by_id(session: Session, user_id: int) -> User | None:
    """The active user with ``user_id``, or None (deactivated or unknown)."""
    user = session.get(User, user_id)
    return user if user is not None and user.active else None


def user_named(session: Session, username: str) -> User | None:
    """The user named ``username`` (active or not), or None."""
    return session.scalar(select(User).where(User.username == username))


HOST_ADMIN_PREFIX = "host-admin:"


def acting_user(session: Session, username: str, token: str | None, *,
                now: datetime | None = None) -> User:
    """The user a command acts for, proven by their own token: raises
    :class:`Unauthenticated` when the token is missing, unknown, revoked or expired, or
    is not ``username``'s (the command line's ``--as``)."""
    user = authenticate(session, token, now=now)
    if user.username != username:
        raise Unauthenticated(f"the token given is not {username}'s: act for a user with "
                              "their own token (IOM_TOKEN), or as the host administrator "
                              "(--as-admin)", details={"username": username})
    return user


def host_admin(os_user: str) -> User:
    """The host's administrator as an actor: a user *not stored*, role ``admin``, named
    ``host-admin:<os user>`` in every audit entry and version it writes. It is nobody's
    colleague: four-eyes checks (``ruleset_admin.approve``) refuse it as the approver."""
    return User(username=f"{HOST_ADMIN_PREFIX}{os_user}"[:60], display_name=os_user,
                role="admin", agency=None, active=True)


def is_host_admin(user: User) -> bool:
    return user.username.startswith(HOST_ADMIN_PREFIX)
