"""Sign in (username + password, throttled per username and address) and sign out."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, g, redirect, render_template, request, url_for

from web import auth
from web.blueprint import bp
from workflow.errors import Unauthenticated
from workflow.passwords import LockedOut, Throttle
from workflow.passwords import sign_in as check_sign_in

ENDED = {
    "idle": "You were signed out because you had not done anything for a while.",
    "expired": "You were signed out because your session reached its time limit.",
    "ended": "Your session has ended. Sign in again.",
}


def _safe_next(target: str | None) -> str:
    """A local path to go to after sign-in (never another site)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")) \
            and not target.startswith("/sign-in"):
        return target
    return url_for("web.my_tasks")


@bp.route("/")
def home():
    return redirect(url_for("web.my_tasks") if auth.current_user() else
                    url_for("web.sign_in"))


def _form(errors=None, status=200, username=""):
    return render_template("sign_in.html", errors=errors or [], username=username,
                           next=request.values.get("next", ""), user=None,
                           ended=ENDED.get(request.args.get("ended", ""))), status


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    """GET: the form. POST: check; a failed attempt is answered 200 so that the request's
    transaction commits the recorded attempt (the lock-out counts it)."""
    if request.method == "GET":
        if auth.current_user():
            return redirect(_safe_next(request.args.get("next")))
        return _form()
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    errors = []
    if not username:
        errors.append({"text": "Enter your username", "href": "#username"})
    if not password:
        errors.append({"text": "Enter your password", "href": "#password"})
    if errors:
        return _form(errors, 400, username)
    settings = current_app.extensions["iom_runtime"].settings
    try:
        user = check_sign_in(g.session, username=username, password=password,
                             address=request.remote_addr or "unknown",
                             now=datetime.now(UTC), throttle=Throttle.from_settings(settings.web))
    except LockedOut as exc:
        return _form([{"text": f"You have tried to sign in too many times. Your account is "
                       f"locked on this device until {exc.until:%H:%M} UTC. Try again then, "
                       "or ask your team lead to reset your password.", "href": "#username"}],
                     200, username)
    except Unauthenticated as exc:
        left = exc.details.get("attempts_left")
        tail = f" You have {left} more {'try' if left == 1 else 'tries'} before you are " \
            "locked out for a while." if left is not None and left <= 2 else ""
        return _form([{"text": "Enter a correct username and password." + tail,
                       "href": "#username"}], 200, username)
    auth.start(user)
    return redirect(_safe_next(request.form.get("next")), 303)


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    auth.end()
    return redirect(url_for("web.sign_in"), 303)
