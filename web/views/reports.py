"""Board reports as pages (summary, SVG charts with their tables, the data table, method
note, flags) and as downloads (CSV, JSON, PDF, the board pack) for a date range.

Thin: the same catalogue call as ``api/views/reports.py`` and ``cli/reports.py``, with
the board pack's defaults (targets at 17%, expansion candidates from the pipeline), so a
page, its downloads and the board pack show the same figures. Files stream with the
session cookie (the API takes bearer tokens only).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from flask import g, render_template, request, url_for

from web import charts
from web.auth import roles
from web.blueprint import attachment, bp
from web.report_dates import DateRange, read_range
from workflow.errors import NotFound
from workflow.reports.boardpack import ORDER, board_pack, options_for
from workflow.reports.catalogue import REPORTS, run
from workflow.reports.chartdata import chart_specs
from workflow.reports.pdf import board_pack_pdf, report_pdf, title_of
from workflow.reports.pdf.summaries import summary
from workflow.reports.render import cell, plain, sections, to_csv

READERS = ("team_lead", "police", "auditor")  # as the API's report routes
FORMATS = {"csv": "text/csv", "json": "application/json", "pdf": "application/pdf"}


def _today():
    return datetime.now(UTC).date()


def _report(name: str, dates: DateRange) -> dict:
    if name not in REPORTS:
        raise NotFound(f"There is no report called {name}.")
    return run(g.session, name, start=dates.start, end=dates.end, **options_for(name, {}))


def _links(dates: DateRange) -> dict:
    return {name: {"title": title_of({"report": name}),
                   "href": url_for("web.report_page", name=name, **dates.query)}
            for name in ORDER}


@bp.route("/reports")
@roles(*READERS)
def reports():
    """The index: the date-range form and a link to each report for the range."""
    dates, errors = read_range(request.args, today=_today())
    return render_template("reports/index.html", user=g.user, dates=dates, errors=errors,
                           links=[] if errors else _links(dates).values(),
                           pack=None if errors else url_for("web.board_pack_pdf_file",
                                                            **dates.query)), \
        400 if errors else 200


@bp.route("/reports/<name>")
@roles(*READERS)
def report_page(name: str):
    """One report: summary, charts with their tables, data table, flags, method note."""
    dates, errors = read_range(request.args, today=_today())
    if errors:
        if name not in REPORTS:
            raise NotFound(f"There is no report called {name}.")
        return render_template("reports/show.html", user=g.user, dates=dates, errors=errors,
                               name=name, title=title_of({"report": name})), 400
    result = _report(name, dates)
    specs = chart_specs(result)
    figures = [{"svg": charts.svg(spec, f"chart-{i}"), "table": charts.data_table(spec),
                "title": spec["title"], "id": f"chart-{i}"}
               for i, spec in enumerate(specs, 1)]
    downloads = {fmt: url_for("web.report_file", name=name, fmt=fmt, **dates.query)
                 for fmt in FORMATS}
    return render_template(
        "reports/show.html", user=g.user, dates=dates, errors=[], name=name,
        title=title_of(result), report=result, summary=summary(result), figures=figures,
        parts=_parts(result), flags=result.get("flags") or [],
        method=result.get("method") or result.get("tie_rule", ""), downloads=downloads,
        pack=url_for("web.board_pack_pdf_file", **dates.query))


def _parts(result: dict) -> list:
    """The data table's parts with each cell as the CSV writes it, and whether it is a
    number (right-aligned)."""
    return [(name, names, [[(cell(row.get(c)), isinstance(row.get(c), int | float)
                              and not isinstance(row.get(c), bool)) for c in names]
                            for row in rows]) for name, names, rows in sections(result)]


@bp.route("/reports/<name>/file.<fmt>")
@roles(*READERS)
def report_file(name: str, fmt: str):
    """The report as CSV, JSON or PDF (the same report object as the page)."""
    if fmt not in FORMATS:
        raise NotFound(f"Reports come as CSV, JSON or PDF, not {fmt}.")
    dates, errors = read_range(request.args, today=_today())
    if errors:
        return render_template("reports/index.html", user=g.user, dates=dates,
                               errors=errors, links=[], pack=None), 400
    result = _report(name, dates)
    body = {"csv": to_csv, "pdf": report_pdf,
            "json": lambda r: json.dumps(plain(r), indent=2, default=str)}[fmt](result)
    return attachment(body, FORMATS[fmt], f"{name}_{dates.start}_{dates.end}.{fmt}")


@bp.route("/reports/board-pack.pdf")
@roles(*READERS)
def board_pack_pdf_file():
    """Every report for the range as the printable board pack PDF."""
    dates, errors = read_range(request.args, today=_today())
    if errors:
        return render_template("reports/index.html", user=g.user, dates=dates,
                               errors=errors, links=[], pack=None), 400
    pack = board_pack(g.session, start=dates.start, end=dates.end, options={})
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = board_pack_pdf(pack["reports"], start=dates.start, end=dates.end, generated=now,
                          method=pack["method"])
    return attachment(body, FORMATS["pdf"], f"board-pack_{dates.start}_{dates.end}.pdf")
