"""Errors as GOV.UK pages (403, 404, 400 for a form that could not be sent...), and the
date filters the templates use. Registered as the app's page renderer for errors
outside ``/api/`` (``api/errors.py`` maps each exception to its status once)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask import g, redirect, render_template, request, url_for

TITLES = {
    400: "There is a problem with the form",
    403: "You do not have permission to see this page",
    404: "Page not found",
    405: "That action is not possible here",
    409: "Someone else changed this first",
    413: "That is too large to send",
    422: "There is a problem",
    429: "Too many attempts",
    503: "Sorry, the service is busy",
}


def _viewer():
    """The signed-in user for the page's header, also on a URL no page matched."""
    if "user" not in g and g.get("session") is not None:
        from web.auth import signed_in_user

        return signed_in_user()
    return g.get("user")


def render_error(status: int, code: str, message: str, details: dict):
    """The error page for ``status``; a visitor who is not signed in is sent to sign in."""
    if status == 401:
        return redirect(url_for("web.sign_in", next=request.full_path))
    if code == "csrf_error" or (status == 400 and "CSRF" in message):
        message = ("The form had expired or did not come from this service. Go back, "
                   "reload the page and send it again.")
    if status >= 500:
        title, message = "Sorry, there is a problem with the service", \
            "Try again later. Nothing you sent has been saved."
    else:
        title = TITLES.get(status, "There is a problem")
    body = render_template("errors/page.html", status=status, title=title, message=message,
                           user=_viewer())
    return body, status


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def long_date(value: date | datetime | None) -> str:
    """``3 March 2025`` (``at 09:00`` added for a date-time)."""
    if value is None:
        return ""
    text = f"{value.day} {value:%B %Y}"
    return f"{text} at {_aware(value):%H:%M}" if isinstance(value, datetime) else text


def due_tag(due: datetime | None, status: str = "open", now: datetime | None = None) -> dict:
    """``{"text", "classes"}`` for a GOV.UK tag telling how soon ``due`` is."""
    if status == "done":
        return {"text": "Done", "classes": "govuk-tag--green"}
    if status == "cancelled":
        return {"text": "Cancelled", "classes": "govuk-tag--grey"}
    if due is None:
        return {"text": "No due date", "classes": "govuk-tag--grey"}
    now = now or datetime.now(UTC)
    days = (_aware(due).date() - now.date()).days
    if _aware(due) < now:
        return {"text": "Overdue", "classes": "govuk-tag--red"}
    if days == 0:
        return {"text": "Due today", "classes": "govuk-tag--orange"}
    if days == 1:
        return {"text": "Due tomorrow", "classes": "govuk-tag--yellow"}
    return {"text": f"Due in {days} days", "classes": "govuk-tag--blue"}


def words(value: str | None) -> str:
    """``offender_manager`` -> ``offender manager``."""
    return "" if value is None else str(value).replace("_", " ")


def outcome_item(value: str, chosen: str | None = None) -> dict:
    """A govukRadios item for an allowed outcome."""
    return {"value": value, "text": words(value).capitalize(), "checked": value == chosen}


FILTERS = {"long_date": long_date, "due_tag": due_tag, "words": words,
           "outcome_item": outcome_item}
