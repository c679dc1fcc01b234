"""Report charts as inline SVG, drawn on the server (no script), from the chart specs of
:mod:`workflow.reports.chartdata` (the same specs the PDF draws).

:func:`svg` returns markup for one spec: ``<svg role="img">`` named by its ``<title>``
and described by a ``<desc>`` that reads every figure out; the page puts the spec's data
table (:func:`data_table`) right beside it. Colours come from CSS classes in
``web/static/reports.css`` (the CSP forbids inline styles); series are told apart by
the legend and, for lines, by dash pattern too. Missing values (None) are not drawn.
"""

from __future__ import annotations

import math

from markupsafe import Markup, escape

from workflow.reports.render import cell

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 40, 40


def _num(value) -> float | None:
    return None if value is None else float(value)


def _nice_max(top: float) -> float:
    """A round axis end at or above ``top`` (1, 2, 2.5 or 5 times a power of ten)."""
    if top <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(top))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= top)


def _fmt(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def describe(spec: dict) -> str:
    """The chart read out in words (its ``<desc>``), every figure as the table has it."""
    if spec["kind"] == "intervals":
        parts = [f"{label}: {'no figure' if v is None else cell(v) + '%'}"
                 + (f", interval {cell(ci[0])}% to {cell(ci[1])}%" if ci else ", no interval")
                 for label, v, ci in spec["points"]]
        return "Each figure with its 95% interval. " + "; ".join(parts) + "."
    kind = "Bar chart" if spec["kind"] == "bars" else "Line chart"
    parts = [f"{name}: " + ", ".join(f"{label} {cell(v) or 'no figure'}"
                                     for label, v in zip(spec["labels"], values, strict=True))
             for name, values in spec["series"].items()]
    return f"{kind}. " + "; ".join(parts) + "." if parts else f"{kind} with no data."


def _legend(names: list[str], lines: bool) -> list[str]:
    out, x = [], LEFT
    for i, name in enumerate(names):
        mark = (f'<line x1="{x}" y1="14" x2="{x + 24}" y2="14" class="app-series-{i % 4} '
                f'app-line app-dash-{i % 4}"/>' if lines else
                f'<rect x="{x}" y="6" width="16" height="16" class="app-series-{i % 4}"/>')
        out.append(mark + f'<text x="{x + 30}" y="19" class="app-chart-text">'
                   f'{escape(name)}</text>')
        x += 40 + 8 * len(name)
    return out


def _axis(lo: float, hi: float, y) -> list[str]:
    out = []
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                   f'class="app-grid"/><text x="{LEFT - 6}" y="{y(v) + 4:.1f}" '
                   f'text-anchor="end" class="app-chart-text">{_fmt(v)}</text>')
    return out


def _categories(labels: list[str], x_of, bottom: float) -> list[str]:
    slant = len(labels) > 6 or max(map(len, labels), default=0) > 14
    out = []
    for i, label in enumerate(labels):
        x = x_of(i)
        turn = f' transform="rotate(-35 {x:.1f} {bottom + 14})"' if slant else ""
        anchor = "end" if slant else "middle"
        out.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="{anchor}" '
                   f'class="app-chart-text"{turn}>{escape(label)}</text>')
    return out


def _frame(spec: dict) -> tuple[int, float, float, float]:
    labels = spec["labels"]
    slant = len(labels) > 6 or max(map(len, labels), default=0) > 14
    extra = min(140, 6 * max(map(len, labels), default=0)) if slant else 0
    height = HEIGHT + extra
    values = [v for vs in spec["series"].values() for v in map(_num, vs) if v is not None]
    lo = min([0.0, *values])
    hi = _nice_max(max([0.0, *values]))
    return height, height - BOTTOM - extra, lo if lo == 0 else -_nice_max(-lo), hi


def _bars(spec: dict) -> list[str]:
    height, bottom, lo, hi = _frame(spec)
    labels, series = spec["labels"], list(spec["series"].items())

    def y(v: float) -> float:
        return bottom - (v - lo) / (hi - lo) * (bottom - TOP)

    band = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    bar = band * 0.8 / max(1, len(series))
    out = _axis(lo, hi, y)
    for s, (_name, values) in enumerate(series):
        for i, value in enumerate(map(_num, values)):
            if value is None:
                continue
            x = LEFT + band * i + band * 0.1 + bar * s
            top, base = sorted((y(value), y(0)))
            out.append(f'<rect x="{x:.1f}" y="{top:.1f}" width="{bar:.1f}" '
                       f'height="{max(base - top, 0.5):.1f}" class="app-series-{s % 4}"/>')
    out += _categories(labels, lambda i: LEFT + band * (i + 0.5), bottom)
    return [f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}" '
            f'class="app-axis"/>', *out, *_legend([n for n, _ in series], False)], height


def _lines(spec: dict) -> list[str]:
    height, bottom, lo, hi = _frame(spec)
    labels, series = spec["labels"], list(spec["series"].items())

    def y(v: float) -> float:
        return bottom - (v - lo) / (hi - lo) * (bottom - TOP)

    step = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    out = _axis(lo, hi, y)
    for s, (_name, values) in enumerate(series):
        points = [(LEFT + step * (i + 0.5), y(v)) for i, v in enumerate(map(_num, values))
                  if v is not None]
        path = " ".join(f"{x:.1f},{py:.1f}" for x, py in points)
        out.append(f'<polyline points="{path}" class="app-series-{s % 4} app-line '
                   f'app-dash-{s % 4}"/>')
        out += [f'<circle cx="{x:.1f}" cy="{py:.1f}" r="3" class="app-series-{s % 4}"/>'
                for x, py in points]
    out += _categories(labels, lambda i: LEFT + step * (i + 0.5), bottom)
    return [*out, *_legend([n for n, _ in series], True)], height


def _intervals(spec: dict) -> list[str]:
    points = spec["points"]
    values = [float(v) for _l, v, ci in points for v in ([v, *(ci or [])]) if v is not None]
    lo, hi = min([-10.0, *values]), max([10.0, *values])
    left, right = 280, WIDTH - RIGHT - 10
    height = TOP + 36 * len(points) + 30

    def x(v: float) -> float:
        return left + (float(v) - lo) / (hi - lo) * (right - left)

    out = [f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{TOP - 10}" y2="{height - 26}" '
           f'class="app-zero"/>']
    out += [f'<text x="{x(t):.1f}" y="{height - 8}" text-anchor="middle" '
            f'class="app-chart-text">{_fmt(t)}%</text>' for t in (lo, 0.0, hi)]
    for i, (label, value, ci) in enumerate(points):
        py = TOP + 36 * i + 10
        out.append(f'<text x="0" y="{py + 5}" class="app-chart-text">{escape(label)}</text>')
        if ci:
            out.append(f'<line x1="{x(ci[0]):.1f}" x2="{x(ci[1]):.1f}" y1="{py}" y2="{py}" '
                       f'class="app-whisker"/>')
        if value is not None:
            out.append(f'<circle cx="{x(value):.1f}" cy="{py}" r="6" class="app-series-1"/>')
    return out, height


DRAW = {"bars": _bars, "lines": _lines, "intervals": _intervals}


def svg(spec: dict, ident: str) -> Markup:
    """One chart as ``<svg role="img">`` with ``<title>`` and ``<desc>`` (ids from
    ``ident``), scaled to its container by its ``viewBox``."""
    shapes, height = DRAW[spec["kind"]](spec)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-labelledby="{ident}-title {ident}-desc" class="app-report-chart">'
        f'<title id="{ident}-title">{escape(spec["title"])}</title>'
        f'<desc id="{ident}-desc">{escape(describe(spec))}</desc>'
        + "".join(shapes) + "</svg>")


def data_table(spec: dict) -> dict:
    """The chart's figures as a table: ``{"head": [...], "rows": [[...]...]}`` (cells
    as the CSV writes them)."""
    if spec["kind"] == "intervals":
        return {"head": ["figure", "% change", "95% interval low", "95% interval high"],
                "rows": [[label, cell(v), cell(ci[0] if ci else None),
                          cell(ci[1] if ci else None)] for label, v, ci in spec["points"]]}
    names = list(spec["series"])
    return {"head": ["", *names],
            "rows": [[label, *(cell(spec["series"][n][i]) for n in names)]
                     for i, label in enumerate(spec["labels"])]}
