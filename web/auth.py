"""Who is signed in: a signed session cookie naming the user, with time-outs.

The cookie holds the user id, the sign-in time, the last request's time and a
fingerprint of the password hash. A session ends (the user is sent to sign in again)
when it has been idle for ``[web] idle_minutes``, ``absolute_hours`` after sign-in, when
the user is deactivated, or when their password changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps

from flask import current_app, g, redirect, request, session, url_for

from web.blueprint import bp
from web.security import csrf
from workflow.errors import Forbidden
from workflow.passwords import password_fingerprint
from workflow.users import user_by_id

PUBLIC = frozenset({"web.sign_in", "web.static", "web.govuk_assets", "web.home"})


def _limits() -> tuple[int, int]:
    web = current_app.extensions["iom_runtime"].settings.web
    return web["idle_minutes"] * 60, web["absolute_hours"] * 3600


def start(user) -> None:
    """Begin a fresh session for ``user`` (any previous session content is dropped)."""
    session.clear()
    now = int(time.time())
    session.permanent = True
    session.update(uid=user.id, signed_in=now, seen=now, pw=password_fingerprint(user))


def end() -> None:
    session.clear()


def _load():
    """The signed-in user, or None (and the reason, for the sign-in page)."""
    uid = session.get("uid")
    if uid is None:
        return None, None
    idle, absolute = _limits()
    now = int(time.time())
    if now - session.get("seen", 0) > idle:
        return None, "idle"
    if now - session.get("signed_in", 0) > absolute:
        return None, "expired"
    user = user_by_id(g.session, uid)
    if user is None or session.get("pw") != password_fingerprint(user):
        return None, "ended"
    if now - session.get("seen", 0) >= 60:  # refresh at most once a minute
        session["seen"] = now
    return user, None


@bp.before_request
def _signed_in():
    """Every page: check the CSRF token of a POST, then who is signed in; pages other
    than :data:`PUBLIC` send a visitor who is not to the sign-in page."""
    if request.endpoint in ("web.static", "web.govuk_assets"):
        return None
    if request.method == "POST":
        csrf.protect()
    user, reason = _load()
    g.user = user
    if user is None and session.get("uid") is not None:
        end()
    if user is None and request.endpoint not in PUBLIC:
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("web.sign_in", next=target, ended=reason))
    return None


def current_user():
    return g.get("user")


def signed_in_user():
    """Who is signed in, checked as for a page (time-outs, password change), or None."""
    return _load()[0]


def roles(*allowed: str) -> Callable:
    """Only users whose role is in ``allowed`` (admin always) may open the page; others
    get the 403 page."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = g.user
            if user.role != "admin" and user.role not in allowed:
                who = ", ".join(r.replace("_", " ") for r in allowed)
                raise Forbidden(f"This page is for {who} users. You are signed in as a "
                                f"{user.role.replace('_', ' ')}.")
            return view(*args, **kwargs)

        return wrapper

    return decorator
