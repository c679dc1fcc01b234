"""Auditor pages: a case's chronology, a decision (inputs against each condition, rule,
version, who published it, who acted), the chain's verification with its head, the
exports to download, and the access log (who read which case when).

The same workflow services as ``iom audit verify|explain|export`` (``workflow/audit*.py``,
``workflow/explain.py``); case reads go through ``web/case_data.py`` and are recorded
in the access log; the verify page also checks the access log against its seals.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

from flask import g, redirect, render_template, request, url_for

from web import case_data
from web.auth import roles
from web.blueprint import attachment, bp
from workflow import audit
from workflow.access_seal import with_access
from workflow.audit_export import CASE_FORMATS, CHAIN_FORMATS, export_chain
from workflow.audit_signing import verify_signed
from workflow.errors import NotFound
from workflow.sharing.access import recent_reads

AUDITORS = ("auditor",)
MIME = {"jsonl": "application/x-ndjson", "csv": "text/csv", "json": "application/json",
        "text": "text/plain"}
EXT = {"jsonl": "jsonl", "csv": "csv", "json": "json", "text": "txt"}


def _now() -> datetime:
    return datetime.now(UTC)


@bp.route("/audit")
@roles(*AUDITORS)
def audit_home():
    """The access log (newest reads first, filtered by case or user) and the exports."""
    case_id = request.args.get("case", type=int)
    who = request.args.get("who", "").strip()[:60] or None
    reads = recent_reads(g.session, limit=200, case_id=case_id, who=who)
    return render_template("audit/index.html", user=g.user, reads=reads, case_id=case_id,
                           who=who or "", chain_formats=CHAIN_FORMATS)


@bp.route("/audit/verify")
@roles(*AUDITORS)
def audit_verify():
    """Walk the whole chain with signatures and checkpoints (``iom audit verify``)."""
    rt = g.runtime
    result = with_access(g.session, verify_signed(g.session, rt.keyring,
                                                  rt.settings.audit["checkpoint_dir"]))
    return render_template("audit/verify.html", user=g.user, result=result, at=_now())


@bp.route("/audit/find")
@roles(*AUDITORS)
def audit_find():
    case_id = request.args.get("case", type=int)
    if case_id is None or case_id < 1:
        reads = recent_reads(g.session, limit=200)
        return render_template("audit/index.html", user=g.user, reads=reads, case_id=None,
                               who="", chain_formats=CHAIN_FORMATS,
                               errors=[{"text": "Enter a case number, for example 42",
                                        "href": "#case"}]), 400
    return redirect(url_for("web.audit_case", case_id=case_id))


@bp.route("/audit/cases/<int:case_id>")
@roles(*AUDITORS)
def audit_case(case_id: int):
    lines = case_data.chronology(g.session, g.user, case_id, now=_now())
    return render_template("audit/case.html", user=g.user, case_id=case_id, lines=lines,
                           formats=CASE_FORMATS + CHAIN_FORMATS)


@bp.route("/audit/cases/<int:case_id>/entries/<int:seq>")
@roles(*AUDITORS)
def audit_entry(case_id: int, seq: int):
    line, rows = case_data.decision(g.session, g.user, case_id, seq, now=_now())
    return render_template("audit/entry.html", user=g.user, case_id=case_id, line=line,
                           rows=rows)


@bp.route("/audit/cases/<int:case_id>/export.<fmt>")
@roles(*AUDITORS)
def audit_case_export(case_id: int, fmt: str):
    if fmt not in MIME:
        raise NotFound(f"no export format {fmt!r}")
    out = io.StringIO()
    case_data.case_export(g.session, g.user, case_id, out, fmt=fmt, now=_now())
    return attachment(out.getvalue(), MIME[fmt], f"case-{case_id}-audit.{EXT[fmt]}")


@bp.route("/audit/export.<fmt>")
@roles(*AUDITORS)
def audit_export(fmt: str):
    """The whole chain as JSON lines or CSV (check it offline with ``iom audit
    verify-export``); the export is itself audited."""
    if fmt not in CHAIN_FORMATS:
        raise NotFound(f"no export format {fmt!r}")
    out = io.StringIO()
    report = export_chain(g.session, out, fmt=fmt)
    now = _now()
    audit.record(g.session, kind="audit.exported", actor=g.user.username, occurred_at=now,
                 summary=f"audit exported as {fmt} ({report.count} entries)",
                 payload={"what": "audit export", "format": fmt, "count": report.count,
                          "head": report.head, "via": "web"})
    return attachment(out.getvalue(), MIME[fmt], f"audit-chain-{now:%Y%m%d-%H%M}.{EXT[fmt]}")
