"""The board report pages over HTTP (both backends): every report's page shows the same
figures as its CSV for the same range (data table cell for cell, chart tables figure by
figure), a summary, charts with their text, the method note and the download links that
stream CSV, JSON, PDF and the board pack with the session cookie; a bad date gives the
GOV.UK error summary naming the field; roles as the API's report routes."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from password_helpers import give_password
from web_report_borough import QUERY, build

from workflow.reports.boardpack import ORDER
from workflow.reports.chartdata import chart_specs

PASSWORD = "a-long-enough-password"


class Tables(HTMLParser):
    """Every <table> of a page: its id, class, header columns (``data-column`` or text)
    and body rows of cell texts."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell, self._row = [], None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append({"id": a.get("id"), "class": a.get("class", ""),
                                "head": [], "columns": [], "rows": []})
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""
            if "data-column" in a:
                self.tables[-1]["columns"].append(a["data-column"])

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            table = self.tables[-1]
            (table["rows"] if table["head"] else table["head"]).append(self._row) \
                if table["head"] else table["head"].extend(self._row)
            self._row = None


def _tables(html: str) -> list[dict]:
    parser = Tables()
    parser.feed(html)
    return parser.tables


def _csv(text: str) -> tuple[list[dict], list[list[str]]]:
    lines = list(csv.reader(io.StringIO(text)))
    blank = lines.index([])
    header = lines[0]
    return [dict(zip(header, r, strict=True)) for r in lines[1:blank]], lines[blank + 1:]


@pytest.fixture
def borough(session, make_user, now):
    build(session)
    for name, role in (("lead1", "team_lead"), ("aud1", "auditor"), ("pc1", "police"),
                       ("om1", "offender_manager")):
        user, _ = make_user(name, role=role)
        give_password(session, user, PASSWORD, now=datetime.now(UTC))
    session.commit()


def _signed_in(app, username):
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
    client.post("/sign-in", data={"username": username, "password": PASSWORD,
                                  "csrf_token": token.group(1)})
    return client


def test_report_page_shows_the_csv_figures(app, borough):
    """Every report's page, on one borough (building it was most of each report's time)."""
    lead = _signed_in(app, "lead1")
    for name in ORDER:
        try:
            _report_page_shows_the_csv_figures(lead, name)
        except AssertionError as failed:
            raise AssertionError(f"report {name}: {failed}") from failed


def _report_page_shows_the_csv_figures(lead, name):
    page = lead.get(f"/reports/{name}?{QUERY}")
    assert page.status_code == 200, page.text[:500]
    html = page.text
    as_csv = lead.get(f"/reports/{name}/file.csv?{QUERY}")
    assert as_csv.mimetype == "text/csv"
    assert f'filename="{name}_2024-01-01_2024-12-31.csv"' in as_csv.headers[
        "Content-Disposition"]
    rows, trailer = _csv(as_csv.text)
    assert rows, "the borough gives every report rows"

    # The data table: the CSV's rows, cell for cell (one part per section, if any).
    parts = [t for t in _tables(html) if "app-data-table" in t["class"]]
    sections = list(dict.fromkeys(r.get("section") for r in rows))
    assert len(parts) == len(sections)
    for part, section in zip(parts, sections, strict=True):
        mine = [r for r in rows if r.get("section") == section]
        assert part["rows"] == [[r[c] for c in part["columns"]] for r in mine]
        dropped = {c for r in mine for c, v in r.items() if v and c not in part["columns"]}
        assert dropped <= {"section"}, f"{name} leaves out {dropped}"

    # Charts: one SVG per chart spec, each named and described, with its table beside it,
    # whose figures are all among the CSV's.
    figures = set(v for r in rows for v in r.values() if v)
    charts = re.findall(r'<svg [^>]*role="img"[^>]*aria-labelledby="(chart-\d+)-title '
                        r'chart-\d+-desc"', html)
    report = lead.get(f"/reports/{name}/file.json?{QUERY}").get_json()
    assert len(charts) == len(chart_specs(report)) >= 1
    for ident in charts:
        assert f'<title id="{ident}-title">' in html and f'<desc id="{ident}-desc">' in html
        [table] = [t for t in _tables(html) if t["id"] == f"{ident}-table"]
        numbers = [v for row in table["rows"] for v in row[1:] if v]
        assert numbers and set(numbers) <= figures, (ident, numbers)

    # Summary, flags and method note as the CSV's trailer has them.
    method = [r[1] for r in trailer if r[:1] == ["method"]][0]
    flags = [r[1] for r in trailer if r[:1] == ["flag"]]
    assert 'id="summary"' in html
    assert _text(method) in html
    assert all(_text(f) in html for f in flags)
    assert ('id="flags"' in html) == bool(flags)

    # JSON and PDF downloads stream with the cookie; the board pack link is there.
    assert report.get("report", "top-arrested") == name
    pdf = lead.get(f"/reports/{name}/file.pdf?{QUERY}")
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    for link in (f"/reports/{name}/file.csv?{QUERY}", f"/reports/{name}/file.json?{QUERY}",
                 f"/reports/{name}/file.pdf?{QUERY}", f"/reports/board-pack.pdf?{QUERY}"):
        assert f'href="{link.replace("&", "&amp;")}"' in html


def _text(value: str) -> str:
    from markupsafe import escape

    return str(escape(value))


def test_page_figures_match_the_api_for_the_same_range(app, borough, make_user, session):
    """The web page's report is the API's (same defaults as the board pack)."""
    _, token = make_user("lead2", role="team_lead")
    lead = _signed_in(app, "lead1")
    api = app.test_client().get(f"/api/v1/reports/cohort-effect?{QUERY}",
                                headers={"Authorization": f"Bearer {token}"}).get_json()
    web = lead.get(f"/reports/cohort-effect/file.json?{QUERY}").get_json()
    assert api == web
    count = web["measures"]["count"]["cohort"]
    assert count["people"] == 12 and count["events_before"] > count["events_after"]
    page = lead.get(f"/reports/cohort-effect?{QUERY}").text
    assert f"{count['pct_change']}%" in page  # the summary reads the same figure


def test_index_and_board_pack(app, borough):
    aud = _signed_in(app, "aud1")
    index = aud.get("/reports?from-day=1&from-month=1&from-year=2024&to-day=31"
                    "&to-month=12&to-year=2024")
    assert index.status_code == 200
    for name in ORDER:
        assert f'href="/reports/{name}?{QUERY.replace("&", "&amp;")}"' in index.text
    assert 'value="2024"' in index.text and "active-fallback\">Reports<" in index.text
    pack = aud.get(f"/reports/board-pack.pdf?{QUERY}")
    assert pack.status_code == 200 and pack.mimetype == "application/pdf"
    assert 'filename="board-pack_2024-01-01_2024-12-31.pdf"' in pack.headers[
        "Content-Disposition"]
    default = aud.get("/reports")  # no dates: the two years up to today, boxes filled
    today = datetime.now(UTC).date()
    assert default.status_code == 200 and f'value="{today.year}"' in default.text


BAD_DATES = [
    ("from-day=31&from-month=2&from-year=2024", "Start date must be a real date",
     "#from-day"),
    ("from-day=1&from-year=2024", "Start date must include a month", "#from-month"),
    ("to-day=1&to-month=1&to-year=24", "Year must include 4 numbers", "#to-year"),
    ("from-day=1&from-month=6&from-year=2024&to-day=1&to-month=1&to-year=2024",
     "End date must be the same as or after the start date", "#to-day"),
    ("from=2024-13-01", "Start date must be a real date", "#from-day"),
    ("to-day=1&to-month=1&to-year=2300", "End date must be between 1900 and 2199",
     "#to-year"),
]


def test_bad_dates_give_the_error_summary_naming_the_field(app, borough):
    """Each bad date, on one borough (building it was most of each case's time)."""
    lead = _signed_in(app, "lead1")
    for query, message, href in BAD_DATES:
        for path in ("/reports", "/reports/targets", "/reports/cost/file.csv"):
            answer = lead.get(f"{path}?{query}")
            assert answer.status_code == 400, (path, query)
            html = answer.text
            assert "govuk-error-summary" in html and "<title>Error:" in html, (path, query)
            assert f'<a href="{href}">{message}</a>' in html, (query, html[:3000])
            assert "govuk-error-message" in html and "govuk-input--error" in html, (
                path, query)


def test_an_empty_period_still_gives_every_page(app, borough):
    """Nothing happened in 1990: every page answers, with its table and method note."""
    lead = _signed_in(app, "lead1")
    for name in ORDER:
        page = lead.get(f"/reports/{name}?from=1990-01-01&to=1990-12-31")
        assert page.status_code == 200, (name, page.text[:300])
        assert 'role="img"' in page.text and 'id="method"' in page.text


def test_roles_and_unknown_reports(app, borough):
    om = _signed_in(app, "om1")
    assert om.get(f"/reports?{QUERY}").status_code == 403
    assert om.get(f"/reports/caseload/file.csv?{QUERY}").status_code == 403
    assert ">Reports</a>" not in om.get("/tasks").text
    police = _signed_in(app, "pc1")
    assert police.get(f"/reports/top-arrested?{QUERY}").status_code == 200
    assert police.get(f"/reports/nonsense?{QUERY}").status_code == 404
    assert police.get(f"/reports/caseload/file.xlsx?{QUERY}").status_code == 404
    anonymous = app.test_client().get(f"/reports/caseload/file.csv?{QUERY}")
    assert anonymous.status_code == 302 and "/sign-in" in anonymous.headers["Location"]
    assert json.loads(police.get(f"/reports/targets/file.json?{QUERY}").text)[
        "reduction_pct"] == 17
