"""Users and API tokens. Tokens are 256-bit random strings; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import ROLES, User
from workflow.errors import Conflict, InvalidInput, NotFound, Unauthenticated


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, *, username: str, display_name: str, role: str,
                agency: str | None = None, email: str | None = None) -> tuple[User, str]:
    """Create a user and return it with a fresh token (shown once, never stored in clear)."""
    if role not in ROLES:
        raise InvalidInput(f"role {role!r} is not one of {', '.join(ROLES)}",
                           details={"field": "role"})
    if session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(f"user {username!r} already exists", details={"field": "username"})
    token = secrets.token_urlsafe(32)
    user = User(username=username, display_name=display_name, role=role, agency=agency,
                email=email, token_hash=hash_token(token))
    session.add(user)
    session.flush()
    return user, token


def rotate_token(session: Session, user: User) -> str:
    token = secrets.token_urlsafe(32)
    user.token_hash = hash_token(token)
    session.flush()
    return token


def authenticate(session: Session, token: str | None) -> User:
    """The active user holding ``token``; raises :class:`Unauthenticated`."""
    if not token:
        raise Unauthenticated("missing bearer token")
    user = session.scalar(select(User).where(User.token_hash == hash_token(token)))
    if user is None or not user.active:
        raise Unauthenticated("invalid or revoked token")
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
