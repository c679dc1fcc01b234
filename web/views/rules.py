"""Team lead pages: rule sets and the stage policy, a version against the one in force,
the draft editor, the impact preview, the approvals queue, publish and rollback with a
confirmation, and the lead professionals' workload.

The same workflow services as the API's ``api/views/rulesets.py`` and the ``iom rules``
commands (``workflow/ruleset_admin.py``, ``workflow/policy/publishing.py``); what a page
shows around them comes from ``workflow/ruleset_review.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g, redirect, render_template, request, url_for

from web.auth import roles
from web.blueprint import bp
from workflow import ruleset_admin as admin
from workflow import ruleset_review as review
from workflow.allocation import workload
from workflow.policy.publishing import preview_version, publish_version, rollback_version
from workflow.policy.store import policy_in_force

LEADS = ("team_lead",)
READERS = ("team_lead", "auditor")
MAX_REASON = 500


def _now() -> datetime:
    return datetime.now(UTC)


def _render(template: str, status: int = 200, **context):
    return render_template(template, user=g.user, **context), status


@bp.route("/rules")
@roles(*READERS)
def rules():
    now = _now()
    policy, purposes = review.stage_policy(g.session, now=now)
    return _render("rules/index.html", sets=review.rule_sets(g.session, now=now),
                   policy=policy, purposes=purposes)


@bp.route("/rules/approvals")
@roles(*LEADS)
def rules_approvals():
    ready, waiting = review.approvals_queue(g.session, g.user)
    return _render("rules/approvals.html", ready=ready, waiting=waiting)


@bp.route("/workload")
@roles(*LEADS)
def workload_page():
    capacity = policy_in_force(g.session, g.runtime.settings, _now()).capacity
    return _render("rules/workload.html", leads=workload(g.session, capacity),
                   capacity=capacity)


@bp.route("/rules/<name>")
@roles(*READERS)
def ruleset(name: str):
    versions, publications = admin.history(g.session, name)
    return _render("rules/history.html", name=name, versions=versions,
                   publications=publications)


@bp.route("/rules/<name>/<version>")
@roles(*READERS)
def ruleset_version(name: str, version: str):
    row = admin.find_version(g.session, name, version)
    return _render("rules/version.html", review=review.review_version(g.session, row),
                   row=row, errors=[])


@bp.route("/rules/new", methods=["GET", "POST"])
@roles(*LEADS)
def ruleset_editor():
    """GET: the editor, with the version in force of ``?from=NAME`` (or a stored version
    ``?from=NAME&version=V``). POST: validate and save the draft, or show every problem
    against its line and field."""
    if request.method == "GET":
        source = request.args.get("from", "")
        text = ""
        if source:
            text = admin.find_version(g.session, source, request.args.get("version")
                                      or None).document
        return _render("rules/editor.html", text=text, reason="", errors=[], source=source)
    text = request.form.get("document", "").replace("\r\n", "\n")
    reason = request.form.get("reason", "").strip()
    errors = []
    if not text.strip():
        errors.append({"text": "Enter the rule set document", "href": "#document"})
    if not reason:
        errors.append({"text": "Enter why the rule set changes", "href": "#reason"})
    elif len(reason) > MAX_REASON:
        errors.append({"text": f"The reason must be {MAX_REASON} characters or fewer",
                       "href": "#reason"})
    if not errors:
        row, problems = review.save_draft(g.session, text, user=g.user, now=_now(),
                                          reason=reason)
        errors = [{"text": str(p), "href": "#document", "line": p.line} for p in problems]
        if row is not None:
            return redirect(url_for("web.ruleset_version", name=row.name,
                                    version=row.version[:12], done="saved"), 303)
    return _render("rules/editor.html", 400, text=text, reason=reason, errors=errors,
                   source=request.form.get("source", ""))


@bp.route("/rules/<name>/<version>/test", methods=["POST"])
@roles(*LEADS)
def ruleset_test(name: str, version: str):
    row = admin.find_version(g.session, name, version)
    admin.check_examples(g.session, row, now=_now(), actor=g.user.username)
    return redirect(url_for("web.ruleset_version", name=name, version=row.version[:12],
                            done="tested"), 303)


@bp.route("/rules/<name>/<version>/preview", methods=["POST"])
@roles(*LEADS)
def ruleset_preview(name: str, version: str):
    """Run and record the impact preview; show cases before -> after and counts."""
    row = admin.find_version(g.session, name, version)
    report = preview_version(g.session, row, now=_now(), settings=g.runtime.settings,
                             actor=g.user.username)
    counts = sorted(report.counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return _render("rules/preview.html", row=row, report=report, counts=counts,
                   most=max((n for _k, n in counts), default=0))


def _reason_error():
    reason = request.form.get("reason", "").strip()
    if not reason:
        return reason, [{"text": "Enter a reason", "href": "#reason"}]
    if len(reason) > MAX_REASON:
        return reason, [{"text": f"The reason must be {MAX_REASON} characters or fewer",
                         "href": "#reason"}]
    return reason, []


@bp.route("/rules/<name>/<version>/approve", methods=["POST"])
@roles(*LEADS)
def ruleset_approve(name: str, version: str):
    row = admin.find_version(g.session, name, version)
    reason, errors = _reason_error()
    if errors:
        return _render("rules/version.html", 400, review=review.review_version(
            g.session, row), row=row, errors=errors)
    admin.approve(g.session, row, user=g.user, now=_now(), reason=reason)
    return redirect(url_for("web.ruleset_version", name=name, version=row.version[:12],
                            done="approved"), 303)


@bp.route("/rules/<name>/<version>/publish", methods=["GET", "POST"])
@roles(*LEADS)
def ruleset_publish(name: str, version: str):
    """GET: the confirmation page. POST: publish; the cases whose outcome changes are
    made due and listed."""
    row = admin.find_version(g.session, name, version)
    admin.check_can_publish(row, g.user)
    current = review.in_force_row(g.session, row.name)
    return _confirmed("publish", row, current, lambda reason: publish_version(
        g.session, row, user=g.user, now=_now(), reason=reason, settings=g.runtime.settings))


@bp.route("/rules/<name>/rollback", methods=["GET", "POST"])
@roles(*LEADS)
def ruleset_rollback(name: str):
    current, target = admin.rollback_target(g.session, name)
    return _confirmed("rollback", target, current, lambda reason: rollback_version(
        g.session, name, user=g.user, now=_now(), reason=reason, settings=g.runtime.settings))


def _confirmed(action: str, row, current, apply):
    """GET: the confirmation page for ``action``; POST: with a reason, ``apply(reason)``
    and the outcome page, else the confirmation page again with its errors (400)."""
    if request.method == "GET":
        return _render("rules/confirm.html", action=action, row=row, current=current,
                       errors=[], reason="")
    reason, errors = _reason_error()
    if errors:
        return _render("rules/confirm.html", 400, action=action, row=row,
                       current=current, errors=errors, reason=reason)
    return _render("rules/published.html", outcome=apply(reason))
