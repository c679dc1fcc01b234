"""Panel chair pages: the meetings, a meeting's agenda in order (each case's summary and
why it is there) with accept / defer (with date) / reject with a reason recorded case by
case, and the minutes to print or download.

The same workflow services as the API's ``api/views/panel.py``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask import g, redirect, render_template, request, url_for

from web import case_data
from web.auth import roles
from web.blueprint import attachment, bp
from workflow import panel
from workflow.errors import Excluded, InvalidInput

DECISIONS = panel.DECISIONS

READERS = ("team_lead", "offender_manager", "police", "resettlement_officer", "auditor")
CHAIRS = ("team_lead",)
FIELDS = {"decision": "#decision-{}", "reason": "#reason-{}",
          "defer_until": "#defer-{}-day", "override": "#override-{}"}


def _now() -> datetime:
    return datetime.now(UTC)


@bp.route("/panel")
@roles(*READERS)
def panels():
    return render_template("panel/index.html", user=g.user,
                           meetings=panel.list_meetings(g.session))


def _meeting(meeting_id: int, *, errors=(), case_id=None, form=None, status=200):
    meeting, items = case_data.agenda_page(g.session, g.user, meeting_id, now=_now())
    return render_template("panel/meeting.html", user=g.user, meeting=meeting, items=items,
                           errors=list(errors), error_case=case_id, form=form or {},
                           decisions=DECISIONS), status


@bp.route("/panel/<int:meeting_id>")
@roles(*READERS)
def meeting(meeting_id: int):
    return _meeting(meeting_id)


def _defer_date(form, case_id: int) -> tuple[date | None, str | None]:
    parts = [form.get(f"defer-{case_id}-{p}", "").strip() for p in ("year", "month", "day")]
    if not any(parts):
        return None, None
    try:
        return date(*(int(p) for p in parts)), None
    except ValueError:
        return None, "Enter a real date to defer to, for example 27 3 2027"


def _error(case_id: int, field: str, text: str) -> dict:
    return {"text": text, "href": FIELDS[field].format(case_id), "field": field}


def _check(form, case_id: int) -> tuple[dict, list[dict]]:
    decision = form.get("decision", "")
    reason = form.get("reason", "").strip()
    defer_until, date_error = _defer_date(form, case_id)
    errors = []
    if decision not in DECISIONS:
        errors.append(_error(case_id, "decision", "Select accept, defer or reject"))
    if not reason:
        errors.append(_error(case_id, "reason", "Enter the reason for the decision"))
    elif len(reason) > 2000:
        errors.append(_error(case_id, "reason", "The reason must be 2,000 characters or fewer"))
    if date_error:
        errors.append(_error(case_id, "defer_until", date_error))
    elif decision == "defer" and defer_until is None:
        errors.append(_error(case_id, "defer_until", "Enter the date to defer the case to"))
    values = {"decision": decision, "reason": reason,
              "defer_until": defer_until if decision == "defer" else None,
              "override": form.get("override", "").strip() or None}
    return values, errors


@bp.route("/panel/<int:meeting_id>/cases/<int:case_id>/decision", methods=["POST"])
@roles(*CHAIRS)
def decide(meeting_id: int, case_id: int):
    """Record one decision; problems are shown against the case's form."""
    values, errors = _check(request.form, case_id)
    if not errors:
        try:
            panel.decide(g.session, meeting_id, case_id, now=_now(), user=g.user,
                         settings=g.runtime.settings, **values)
        except InvalidInput as exc:
            field = exc.details.get("field", "reason")
            errors = [_error(case_id, field if field in FIELDS else "reason", exc.message)]
        except Excluded as exc:
            errors = [_error(case_id, "override", exc.message)]
    if errors:
        return _meeting(meeting_id, errors=errors, case_id=case_id, form=request.form,
                        status=400)
    return redirect(url_for("web.meeting", meeting_id=meeting_id, decided=case_id)
                    + f"#item-{case_id}", 303)


@bp.route("/panel/<int:meeting_id>/minutes")
@roles(*READERS)
def minutes(meeting_id: int):
    data = case_data.minutes(g.session, g.user, meeting_id, now=_now())
    counts = {d: sum(i["decision"] == d for i in data["items"]) for d in DECISIONS}
    return render_template("panel/minutes.html", user=g.user, data=data, counts=counts)


@bp.route("/panel/<int:meeting_id>/minutes.md")
@roles(*READERS)
def minutes_download(meeting_id: int):
    data = case_data.minutes(g.session, g.user, meeting_id, now=_now())
    return attachment(panel.minutes_markdown(data), "text/markdown",
                      f"panel-minutes-{data['held_on']}.md")
