"""Web passwords (argon2id) and throttled sign-in. The API keeps bearer tokens.

Contracts:

* :func:`set_password` hashes with argon2id (argon2-cffi's defaults: RFC 9106 low-memory
  profile) and stores only the hash; :func:`new_password` makes a random first password.
* :func:`sign_in` checks a username and password for one client address. Every attempt
  is recorded in ``sign_in_attempt`` (so a lock-out holds across restarts and processes);
  ``max_failures`` failures for the pair within ``window`` lock the pair until the
  oldest of them leaves the window (:class:`LockedOut`, with ``until``). An unknown
  username, an inactive user and a user without a password fail like a wrong password
  (same message, a hash is still verified so the time taken does not tell them apart).
  A success deletes the user's attempts older than the window (no longer counted).
* Like every service: flushes, never commits. A caller must commit a failed attempt too.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from db.models import SignInAttempt, User
from workflow.errors import Forbidden, InvalidInput, Unauthenticated

_HASHER = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """The hash verified when there is no user or no password. Made once per process by
    :func:`prepare` (the web pages call it when registered), not at import: every ``iom``
    command imports this module and few of them sign anyone in."""
    return _HASHER.hash("not a password anyone has")


def prepare() -> None:
    """Make the dummy hash now, so that even a process's first sign-in with an unknown
    username takes the time of one verification, like a known one."""
    _dummy_hash()


class LockedOut(Forbidden):
    """Too many failed sign-ins for this username from this address."""

    code = "locked_out"

    def __init__(self, message: str, *, until: datetime):
        super().__init__(message, details={"until": until.isoformat()})
        self.until = until


@dataclass(frozen=True)
class Throttle:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, web: dict) -> Throttle:
        return cls(web["sign_in_max_failures"],
                   timedelta(minutes=web["sign_in_window_minutes"]))


def new_password() -> str:
    """A random first password (about 100 bits), readable aloud."""
    return "-".join(secrets.token_hex(3) for _ in range(4))


def set_password(session: Session, user: User, password: str, *, now: datetime,
                 min_length: int = 12) -> None:
    """Store the argon2id hash of ``password``; flush. Refuses a short password."""
    if len(password) < min_length:
        raise InvalidInput(f"a password needs at least {min_length} characters",
                           details={"field": "password", "min_length": min_length})
    user.password_hash = _HASHER.hash(password)
    user.password_set_at = now
    session.flush()


def password_fingerprint(user: User) -> str:
    """A short digest of the stored hash: a session bound to it ends when it changes."""
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def _failures(session: Session, username: str, address: str, since: datetime):
    """(count, oldest) of failures for the pair since ``since`` and its last success."""
    last_ok = select(func.max(SignInAttempt.at)).where(
        SignInAttempt.username == username, SignInAttempt.address == address,
        SignInAttempt.succeeded.is_(True)).scalar_subquery()
    row = session.execute(select(func.count(), func.min(SignInAttempt.at)).where(
        SignInAttempt.username == username, SignInAttempt.address == address,
        SignInAttempt.succeeded.is_(False), SignInAttempt.at >= since,
        SignInAttempt.at > func.coalesce(last_ok, since))).one()
    return row[0], row[1]


def locked_until(session: Session, username: str, address: str, *, now: datetime,
                 throttle: Throttle) -> datetime | None:
    """When the pair may try again, or None when it is not locked."""
    count, oldest = _failures(session, username, address, now - throttle.window)
    if count >= throttle.max_failures and oldest is not None:
        return oldest + throttle.window
    return None


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_password(user: User, password: str) -> bool:
    """True when ``password`` is the user's web password (no attempt is recorded)."""
    return user.password_hash is not None and _verify(user.password_hash, password)


def sign_in(session: Session, *, username: str, password: str, address: str, now: datetime,
            throttle: Throttle) -> User:
    """The user, when the password is right and the pair is not locked; records the
    attempt. Raises :class:`LockedOut` or :class:`Unauthenticated`."""
    username, address = username.strip()[:60], (address or "unknown")[:64]
    until = locked_until(session, username, address, now=now, throttle=throttle)
    if until is not None:
        raise LockedOut(f"too many failed sign-in attempts; try again after "
                        f"{until:%H:%M} UTC", until=until)
    user = session.scalar(select(User).where(User.username == username))
    ok = _verify(user.password_hash if user is not None else None, password)
    ok = ok and user is not None and user.active
    session.add(SignInAttempt(username=username, address=address, at=now, succeeded=ok))
    session.flush()
    if not ok:
        until = locked_until(session, username, address, now=now, throttle=throttle)
        if until is not None:
            raise LockedOut(f"too many failed sign-in attempts; try again after "
                            f"{until:%H:%M} UTC", until=until)
        count, _ = _failures(session, username, address, now - throttle.window)
        left = throttle.max_failures - count
        raise Unauthenticated("the username or password is not right",
                              details={"attempts_left": max(left, 0)})
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    session.execute(delete(SignInAttempt).where(  # no longer counted: keep the table small
        SignInAttempt.username == username, SignInAttempt.at < now - throttle.window))
    return user
