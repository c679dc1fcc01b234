"""``iom report NAME [--from D] [--to D] [--format text|csv|json]``: board reports.

Every report prints its method note (and any small-number flags) with its figures. The
window defaults to the two years up to today (``--now`` sets today). Exit 2 on bad input.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

from cli.common import parse_now, session_scope
from cli.partners import _parse_date
from workflow.errors import InvalidInput

OPTIONS = {  # option -> (argparse kwargs); which report takes which is in the catalogue
    "stream": {"help": "candidates: open cases of this cohort stream (fixed/flex/free)"},
    "ruleset": {"help": "candidates: open cases this rule set selected"},
    "refs": {"help": "candidates: partner refs, comma-separated, or @FILE (one a line)"},
    "reference": {"help": "reference data set by name (default: newest dated by --to)"},
    "reduction": {"help": "assumed reduction, a fraction (default: the reference set's)"},
    "as_of": {"help": "YYYY-MM-DD the follow-up is cut at (default: --to)"},
    "kind": {"help": "events counted: arrest, charge, conviction... (default conviction)"},
    "baseline_months": {"type": int, "help": "months before joining (default 12)"},
    "followup_months": {"type": int, "help": "months from joining (default 6)"},
    "min_days_at_risk": {"type": int, "help": "fewer days at risk: left out (default 28)"},
    "replicates": {"type": int, "help": "bootstrap replicates (default 1000)"},
    "seed": {"type": int, "help": "bootstrap seed (same seed, same interval)"},
    "reduction_pct": {"help": "target reduction in %% (e.g. 17)"},
    "baseline": {"type": int, "help": "baseline events (default: the period before)"},
    "price_year": {"help": "price costs in this year (needs gdp_deflators.csv)"},
    "target_size": {"type": int, "help": "cohort size the team aims for (e.g. 200)"},
}


def _decimal(value: str, option: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise InvalidInput(f"{option}: {value!r} is not a number") from None


def _refs(value: str) -> list[str]:
    try:
        text = Path(value[1:]).read_text(encoding="utf-8") if value[:1] == "@" else value
    except OSError as exc:
        raise InvalidInput(f"--refs: cannot read {value[1:]}: {exc.strerror}") from None
    return [r.strip() for r in text.replace(",", "\n").splitlines() if r.strip()]


def _options(args, names) -> dict:
    options = {n: getattr(args, n, None) for n in names}
    if options.get("as_of"):
        options["as_of"] = _parse_date(options["as_of"], "--as-of")
    for n in ("reduction", "reduction_pct"):
        if options.get(n) is not None:
            options[n] = _decimal(options[n], f"--{n.replace('_', '-')}")
    if options.get("refs"):
        options["refs"] = _refs(options["refs"])
    return options


def _run(args) -> int:
    from workflow.reports.catalogue import REPORTS, run
    from workflow.reports.render import plain, to_csv, to_text
    from workflow.reports.top_arrested import default_window

    start, end = default_window(args.start and _parse_date(args.start, "--from"),
                                args.end and _parse_date(args.end, "--to"),
                                today=parse_now(args.now).date())
    options = _options(args, REPORTS[args.report_command].options)
    with session_scope(args) as session:
        result = run(session, args.report_command, start=start, end=end, **options)
    fmt = "json" if args.json else args.format
    if fmt == "json":
        print(json.dumps(plain(result), indent=2, default=str))
    else:
        print(to_csv(result) if fmt == "csv" else to_text(result), end="")
    return 0


def register(sub) -> None:
    from workflow.reports.catalogue import REPORTS

    report = sub.add_parser("report", help="board reports (each with its method note)")
    report_sub = report.add_subparsers(dest="report_command", required=True)
    for entry in REPORTS.values():
        p = report_sub.add_parser(entry.name, help=entry.summary.replace("%", "%%"))
        p.add_argument("--from", dest="start",
                       help="YYYY-MM-DD (default: two years before --to, plus one day)")
        p.add_argument("--to", dest="end", help="YYYY-MM-DD, inclusive (default: today)")
        p.add_argument("--now", help="ISO instant taken as today (default: now)")
        p.add_argument("--format", choices=("text", "csv", "json"), default="text")
        p.add_argument("--json", action="store_true", help="same as --format json")
        for name in entry.options:
            p.add_argument(f"--{name.replace('_', '-')}", dest=name, **OPTIONS[name])
        p.set_defaults(func=_run)
