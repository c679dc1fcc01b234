"""Reports as plain JSON values, as a table (CSV) and as text, from the one result dict.

Every output carries the report's flags and method note: a figure never travels without
the note saying how it was made.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal


def plain(value):
    """JSON-ready copy: Decimals become ints (whole) or floats."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _effect_rows(report: dict) -> list[dict]:
    rows = []
    for measure, m in report["measures"].items():
        ci = m["intervals"]
        for group in ("cohort", "comparison"):
            r = m[group]
            low, high = (ci[group] or [None, None])
            rows.append({"measure": measure, "group": group, "people": r["people"],
                         "events_before": r["events_before"], "events_after": r["events_after"],
                         "days_at_risk_before": r["days_at_risk_before"],
                         "days_at_risk_after": r["days_at_risk_after"],
                         "monthly_rate_before": r["monthly_rate_before"],
                         "monthly_rate_after": r["monthly_rate_after"],
                         "pct_change": r["pct_change"], "ci_low": low, "ci_high": high})
        for figure in ("difference_pts", "adjusted_pct_change"):
            low, high = ci[figure] or [None, None]
            rows.append({"measure": measure, "group": figure,
                         "people": m["cohort"]["people"] + m["comparison"]["people"],
                         "pct_change": m[figure], "ci_low": low, "ci_high": high})
    for group, outcomes in report["outcomes"].items():
        for outcome, n in sorted(outcomes.items()):
            rows.append({"measure": "outcome", "group": group, "people": n,
                         "pct_change": None, "outcome": outcome})
    return rows


def _cost_rows(report: dict) -> list[dict]:
    low, high = report["annual_saving_interval"] or [None, None]
    return [*report["rows"], {"period": "annual saving (before - during)",
                              "annual_cost": report["annual_saving"], "ci_low": low,
                              "ci_high": high}]


def _caseload_rows(report: dict) -> list[dict]:
    rows = [{"section": "open cases", **r} for r in report["open_cases"]]
    rows += [{"section": "flow", **r} for r in report["rows"]]
    rows += [{"section": "panel", "decision": d, "cases": n}
             for d, n in report["panel_outcomes"].items()]
    rows += [{"section": "tasks", **r} for r in report["tasks"]]
    rows += [{"section": "time in stage", **r} for r in report.get("stages", [])]
    rows += [{"section": "candidates by source", **r} for r in report.get("sources", [])]
    rows.append({"section": "cohort", "cases": report["active_cohort"],
                 "target_size": report["target_size"],
                 "target_by": report.get("target_by"), "target_gap": report["target_gap"]})
    return rows


def table(report: dict) -> list[dict]:
    """The report's rows, one dict per CSV line (columns: union of keys, in order)."""
    name = report.get("report", "top-arrested")
    if name == "cohort-effect":
        return _effect_rows(report)
    if name == "cost":
        return _cost_rows(report)
    if name == "caseload":
        return _caseload_rows(report)
    return list(report["rows"])


def cell(value) -> str:
    """A figure as the CSV writes it and the PDF prints it (one function, same rounding)."""
    return "" if value is None else str(value)


def columns(rows: list[dict]) -> list[str]:
    """The union of the rows' keys, in first-seen order (the CSV header)."""
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k not in names]
    return names


def sections(report: dict) -> list[tuple[str | None, list[str], list[dict]]]:
    """The CSV's rows for display: ``[(section name or None, columns, JSON-ready rows)]``,
    one part, or one per ``section`` when the rows carry one (each with only the columns
    that section fills); never a figure dropped."""
    rows = plain(table(report))
    if "section" not in columns(rows):
        return [(None, columns(rows), rows)] if rows else []
    out = []
    for name in dict.fromkeys(r.get("section") for r in rows):
        part = [r for r in rows if r.get("section") == name]
        names = [c for c in columns(part) if c != "section"
                 and any(r.get(c) is not None for r in part)]
        out.append((str(name), names, part))
    return out


def to_csv(report: dict) -> str:
    """The table, a blank line, then the flags and the method note as ``label,text`` rows."""
    rows = plain(table(report))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = columns(rows)
    writer.writerow(names)
    for row in rows:
        writer.writerow([cell(row.get(c)) for c in names])
    writer.writerow([])
    for flag in report.get("flags", []):
        writer.writerow(["flag", flag])
    writer.writerow(["method", report.get("method") or report.get("tie_rule", "")])
    return out.getvalue()


def to_text(report: dict) -> str:
    """Aligned columns for a terminal, then flags and the method note."""
    rows = plain(table(report))
    names = columns(rows)
    cells = [names] + [[cell(r.get(c)) or "-" for c in names] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(names))]
    lines = [f"{report.get('report', 'top-arrested')}: {report['start']} to {report['end']}"]
    lines += ["  ".join(text.rjust(w) for text, w in zip(line, widths, strict=True))
              for line in cells]
    lines += [f"flag: {f}" for f in report.get("flags", [])]
    lines.append(f"method: {report.get('method') or report.get('tie_rule', '')}")
    return "\n".join(lines) + "\n"
