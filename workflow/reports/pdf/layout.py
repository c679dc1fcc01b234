"""Paragraph styles and the data tables of the PDF (the CSV's rows, cell for cell)."""

from __future__ import annotations

from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import LongTable, Paragraph, Spacer, TableStyle

from workflow.reports.render import cell, sections

_BASE = getSampleStyleSheet()
STYLES = {
    "title": ParagraphStyle("title", parent=_BASE["Title"], fontSize=26, leading=32,
                            alignment=0),
    "h1": ParagraphStyle("h1", parent=_BASE["Heading1"], fontSize=16, leading=20),
    "h2": ParagraphStyle("h2", parent=_BASE["Heading2"], fontSize=11, leading=14,
                         spaceBefore=6),
    "body": ParagraphStyle("body", parent=_BASE["BodyText"], fontSize=9.5, leading=13),
    "small": ParagraphStyle("small", parent=_BASE["BodyText"], fontSize=7.5, leading=10),
    "head": ParagraphStyle("head", parent=_BASE["BodyText"], fontName="Helvetica-Bold",
                           fontSize=6.5, leading=8),
}
WIDTH = landscape(A4)[0] - 30 * mm
TABLE_STYLE = TableStyle([
    ("FONT", (0, 1), (-1, -1), "Helvetica", 7),
    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f3f2f1")),
    ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
    ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#b1b4b6")),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("LEFTPADDING", (0, 0), (-1, -1), 4), ("RIGHTPADDING", (0, 0), (-1, -1), 4),
])


def _widths(names: list[str], body: list[list[str]]) -> list[float]:
    """Each column as wide as its longest cell (7 pt Helvetica, about 4 pt a character)
    or its longest header word, scaled down together when the page is too narrow."""
    need = [8 + 4.0 * max([len(w) for w in n.split("_")] + [len(r[i]) for r in body])
            for i, n in enumerate(names)]
    scale = min(1.0, WIDTH / sum(need)) if need else 1.0
    return [w * scale for w in need]


def _grid(rows: list[dict], names: list[str]) -> LongTable:
    head = [Paragraph(escape(n.replace("_", " ")), STYLES["head"]) for n in names]
    body = [[cell(r.get(n)) for n in names] for r in rows]
    grid = LongTable([head, *body], colWidths=_widths(names, body), repeatRows=1,
                     hAlign="LEFT")
    grid.setStyle(TABLE_STYLE)
    return grid


def data_tables(report: dict) -> list:
    """The report's CSV rows as tables: one table, or one per ``section`` when the rows
    carry one (:func:`workflow.reports.render.sections`), never a figure dropped."""
    parts = sections(report)
    if not parts:
        return [Paragraph("No rows.", STYLES["small"])]
    if parts[0][0] is None:
        return [_grid(parts[0][2], parts[0][1])]
    out: list = []
    for name, names, part in parts:
        out += [Paragraph(escape(name), STYLES["head"]), _grid(part, names),
                Spacer(1, 3 * mm)]
    return out
