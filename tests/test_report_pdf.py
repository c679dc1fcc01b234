"""The board pack PDF on the demo borough: pages a board can read, figures as in the CSV.

Done-when of issue 14: ``iom report board-pack --from 2026-01-01 --to 2026-12-31 --format
pdf`` on the demo borough (loaded, then a year of real lifecycle passes and panel
decisions). Its pages are rendered to images (pypdfium2) and must not be blank; its text
is read back and every cell of every report's CSV (run separately, same options) must be
in it, as must every section title.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from workflow.reports.boardpack import ORDER
from workflow.reports.pdf import TITLES, report_pdf

ROOT = Path(__file__).resolve().parents[1]
NOW = "2026-12-01T09:00"
PERIOD = ("--from", "2026-01-01", "--to", "2026-12-31", "--now", NOW)
# The board pack's defaults, given to each single report so the CSV is the same run.
SAME_OPTIONS = {"targets": ("--reduction-pct", "17"),
                "expansion": ("--pipeline",)}
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _iom(env, cwd, *args) -> subprocess.CompletedProcess:
    done = subprocess.run([str(Path(sys.executable).with_name("iom")), *args], env=env,
                          cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def demo_borough(db_url, tmp_path):
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    env = {**os.environ, "IOM_CONFIG": str(tmp_path / "config.toml"),
           "IOM_DATABASE_URL": db_url}
    _iom(env, tmp_path, "db", "upgrade")
    loaded = _iom(env, tmp_path, "demo", "load", "--people", "400", "--seed", "7",
                  "--now", NOW).stdout
    chair = next(line.rsplit(": ", 1)[1] for line in loaded.splitlines()
                 if line.startswith("user lead1 "))  # the chair decides with their token
    history = _iom({**env, "IOM_TOKEN": chair}, tmp_path, "demo", "history", "--from",
                   "2026-01-01", "--to", "2026-12-01").stdout
    assert "accept" in history and "reject" in history, history
    return env, tmp_path


def _pdf_text_and_pages(path: Path) -> tuple[str, list]:
    pdf = pdfium.PdfDocument(str(path))
    try:
        texts, images = [], []
        for i in range(len(pdf)):
            page = pdf[i]
            texts.append(page.get_textpage().get_text_range())
            images.append(page.render(scale=0.6).to_pil().convert("L"))
        return "\n".join(texts), images
    finally:
        pdf.close()


def _ink(image) -> float:
    """Share of pixels that are not near-white."""
    histogram = image.histogram()
    return sum(histogram[:200]) / (image.width * image.height)


def _csv_cells(text: str) -> list[str]:
    rows = list(csv.reader(io.StringIO(text)))
    table = rows[1:rows.index([])]  # the figures (headers are printed without "_")
    return [c for row in table for c in row if c]


def test_board_pack_pdf_pages_read_back_with_every_csv_figure(demo_borough):
    env, cwd = demo_borough
    out = _iom(env, cwd, "report", "board-pack", *PERIOD, "--format", "pdf",
               "--output", "pack.pdf", "--progress")
    assert "6/6 top-arrested done" in out.stderr  # progress asked for on a non-terminal
    text, pages = _pdf_text_and_pages(cwd / "pack.pdf")

    assert len(pages) >= len(ORDER) + 1  # a title page, then a section per report
    assert all(0.002 < _ink(p) < 0.6 for p in pages), [_ink(p) for p in pages]
    assert "Board pack" in text and "Period 2026-01-01 to 2026-12-31" in text
    for number, name in enumerate(ORDER, 1):
        assert f"{number}. {TITLES[name]}" in text
    assert text.count("Method note") == len(ORDER)
    words = set(text.split())
    flat = " ".join(text.split())
    for name in ORDER:
        as_csv = _iom(env, cwd, "report", name, *PERIOD, *SAME_OPTIONS.get(name, ()),
                      "--format", "csv").stdout
        cells = _csv_cells(as_csv)
        assert cells, name
        missing = [c for c in cells if (c not in words if NUMBER.match(c)
                                        else " ".join(c.split()) not in flat)]
        assert not missing, (name, missing[:20])
    quiet = _iom(env, cwd, "report", "cohort-effect", *PERIOD, "--format", "csv")
    assert quiet.stderr == ""  # no progress when stderr is not a terminal
    effect = quiet.stdout
    steps = _iom(env, cwd, "report", "cohort-effect", *PERIOD, "--progress").stderr
    assert "cohort-effect: count: 1,000 bootstrap replicates" not in steps
    assert "count: 1,000 bootstrap replicates" in steps and "comparison:" in steps
    accepted = next(r for r in csv.reader(io.StringIO(effect))
                    if r[:2] == ["count", "cohort"])[2]
    assert int(accepted) > 0  # the demo history put people in the cohort


def test_single_report_pdf_is_deterministic_and_carries_its_table():
    report = {"report": "targets", "start": "2024-01-01", "end": "2024-12-31",
              "kind": "conviction", "people": 40, "baseline": 153, "reduction_pct": 17,
              "allowed": 127, "actual": 52, "met": True, "method": "NI 30 method note",
              "rows": [{"month": f"2024-{m:02d}", "actual": 4 + m % 3,
                        "actual_cumulative": 4 * m, "allowed_cumulative": round(
                            127 * m / 12, 1), "on_track": True} for m in range(1, 13)]}
    first, second = report_pdf(report), report_pdf(report)
    assert first == second and first.startswith(b"%PDF")
    pdf = pdfium.PdfDocument(first)
    try:
        text = "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    finally:
        pdf.close()
    assert "allows at most 127" in text and "2024-12 4 48 127.0 True" in text
    assert "NI 30 method note" in text


def test_board_pack_and_report_pdfs_over_http(client, session, make_person, make_user):
    from datetime import date

    from report_borough import join

    from db.models import OffendingEvent

    people = [make_person(f"H{i}") for i in range(4)]
    for i, person in enumerate(people):
        join(session, person.id, "accept" if i % 2 == 0 else "reject", date(2024, 7, 1))
        for month in (1, 3, 5, 9):
            session.add(OffendingEvent(partner_ref=f"H{i}-{month}", kind="conviction",
                                       person_id=person.id, occurred_on=date(2024, month, 2),
                                       offence_category="theft"))
    session.commit()
    _, lead = make_user("lead1", role="team_lead")
    _, om = make_user("om1", role="offender_manager")
    auth = {"Authorization": f"Bearer {lead}"}
    base = "/api/v1/reports"
    query = "from=2024-01-01&to=2024-12-31&replicates=20"

    pack = client.get(f"{base}/board-pack?{query}&format=pdf", headers=auth)
    assert pack.status_code == 200, pack.get_data(as_text=True)[:300]
    assert pack.mimetype == "application/pdf"
    assert 'filename="board-pack_2024-01-01_2024-12-31.pdf"' in pack.headers[
        "Content-Disposition"]
    pdf = pdfium.PdfDocument(pack.get_data())
    try:
        text = "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    finally:
        pdf.close()
    assert all(TITLES[name] in text for name in ORDER)
    as_json = client.get(f"{base}/board-pack?{query}", headers=auth).get_json()
    assert [r.get("report", "top-arrested") for r in as_json["reports"]] == list(ORDER)
    effect = as_json["reports"][0]["measures"]["count"]
    assert (effect["cohort"]["people"], effect["comparison"]["people"]) == (2, 2)
    assert as_json["reports"][3]["reduction_pct"] == 17  # the NI 30 default

    single = client.get(f"{base}/targets?{query.split('&rep')[0]}&reduction-pct=17"
                        "&baseline=153&format=pdf", headers=auth)
    assert single.mimetype == "application/pdf" and single.get_data().startswith(b"%PDF")
    assert client.get(f"{base}/board-pack?{query}&format=csv",
                      headers=auth).status_code == 422
    assert client.get(f"{base}/board-pack?{query}&format=pdf",
                      headers={"Authorization": f"Bearer {om}"}).status_code == 403


def test_progress_shows_on_a_terminal_without_asking(tmp_path):
    """stderr a terminal (a pseudo-terminal here): progress lines without --progress."""
    import pty

    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    env = {**os.environ, "IOM_CONFIG": str(tmp_path / "config.toml"),
           "IOM_DATABASE_URL": f"sqlite:///{tmp_path / 'p.sqlite3'}"}
    _iom(env, tmp_path, "db", "upgrade")
    master, slave = pty.openpty()
    try:
        done = subprocess.run([str(Path(sys.executable).with_name("iom")), "report",
                               "cohort-effect", *PERIOD, "--replicates", "50",
                               "--format", "csv"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=slave, timeout=120)
        os.close(slave)
        slave = None
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the terminal closed
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)
    assert done.returncode == 0
    text = seen.decode()
    assert "running cohort-effect 2026-01-01 to 2026-12-31" in text
    assert "count: 50 bootstrap replicates" in text
    assert done.stdout.startswith(b"measure,group,")  # figures on stdout, untouched
