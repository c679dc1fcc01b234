"""Giving fixture users a web password without paying argon2id's cost for each of them.

:func:`workflow.passwords.set_password` hashes with argon2id's production parameters:
about a quarter of a second of CPU a call. Fixtures give the same password to many
users in every test (a report page's borough, a page matrix's profiles, a browser
scene), which made hashing the largest cost of the web tests. Tests *of* passwords
(``test_web_sign_in``, the pages that change one) call ``set_password`` themselves.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from db.models import User
from workflow.passwords import set_password

_HASHES: dict[str, str] = {}  # password -> the hash set_password made for it first


def give_password(session: Session, user: User, password: str, *, now: datetime) -> None:
    """What ``set_password(session, user, password, now=now)`` does, once per password
    and process; afterwards the same stored hash (a real argon2id hash of ``password``,
    made by ``set_password``, whose salt the users then share) is given without hashing
    again. Signing in still verifies it with the real hasher; flushes like the service."""
    known = _HASHES.get(password)
    if known is None:
        set_password(session, user, password, now=now)
        _HASHES[password] = user.password_hash
        return
    user.password_hash = known
    user.password_set_at = now
    session.flush()
