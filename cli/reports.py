"""``iom report NAME [--from D] [--to D] [--format text|csv|json|pdf]``: board reports.

Every report prints its method note (and any small-number flags) with its figures. The
window defaults to the two years up to today (``--now`` sets today). Exit 2 on bad input.
``iom report board-pack`` runs them all for one period (a PDF for the board). PDFs go to
``--output`` (``-`` for stdout; default ``NAME_FROM_TO.pdf``). Progress goes to stderr
when it is a terminal or with ``--progress``.
"""

from __future__ import annotations

import json
import sys
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path

from cli.common import parse_now, session_scope
from cli.partners import _parse_date
from workflow.errors import InvalidInput

OPTIONS = {  # option -> (argparse kwargs); which report takes which is in the catalogue
    "stream": {"help": "candidates: open cases of this cohort stream (fixed/flex/free)"},
    "ruleset": {"help": "candidates: open cases this rule set selected"},
    "refs": {"help": "candidates: partner refs, comma-separated, or @FILE (one a line)"},
    "pipeline": {"action": "store_true", "default": None,
                 "help": "candidates: open cases selected, not yet taken on (matrixing, "
                         "panel, deferred); the board pack's default"},
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


class _Progress:
    """Progress lines on stderr, only when it is a terminal or ``--progress`` was given."""

    def __init__(self, args) -> None:
        self.on = bool(getattr(args, "progress", False)) or sys.stderr.isatty()
        self.began = time.perf_counter()

    def say(self, text: str) -> None:
        if self.on:
            print(f"[{time.perf_counter() - self.began:6.1f}s] {text}", file=sys.stderr,
                  flush=True)

    def step(self, done: int, total: int, name: str, seconds: float) -> None:
        self.say(f"{done}/{total} {name} done in {seconds:.1f}s")


def _window(args):
    from workflow.reports.top_arrested import default_window

    return default_window(args.start and _parse_date(args.start, "--from"),
                          args.end and _parse_date(args.end, "--to"),
                          today=parse_now(args.now).date())


def _write_pdf(args, data: bytes, name: str, start, end) -> None:
    target = args.output or f"{name}_{start}_{end}.pdf"
    if target == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        Path(target).write_bytes(data)
    except OSError as exc:
        raise InvalidInput(f"--output: cannot write {target}: {exc.strerror}") from None
    print(f"wrote {target} ({len(data):,} bytes)")


def _print(result: dict, fmt: str) -> None:
    from workflow.reports.render import plain, to_csv, to_text

    if fmt == "json":
        print(json.dumps(plain(result), indent=2, default=str))
    else:
        print(to_csv(result) if fmt == "csv" else to_text(result), end="")


def _run(args) -> int:
    from workflow.reports.catalogue import REPORTS, run

    start, end = _window(args)
    options = _options(args, REPORTS[args.report_command].options)
    progress = _Progress(args)
    progress.say(f"running {args.report_command} {start} to {end}")
    with session_scope(args) as session:
        result = run(session, args.report_command, start=start, end=end,
                     progress=progress.say if progress.on else None, **options)
    progress.say(f"{args.report_command} computed")
    fmt = "json" if args.json else args.format
    if fmt == "pdf":
        from workflow.reports.pdf import report_pdf

        _write_pdf(args, report_pdf(result), args.report_command, start, end)
        progress.say("PDF written")
    else:
        _print(result, fmt)
    return 0


def _board_pack(args) -> int:
    from workflow.reports.boardpack import ROUTES, board_pack

    start, end = _window(args)
    options = _options(args, tuple(ROUTES))
    progress = _Progress(args)
    progress.say(f"board pack {start} to {end}: 6 reports")
    with session_scope(args) as session:
        pack = board_pack(session, start=start, end=end, options=options,
                          progress=progress.step, say=progress.say if progress.on else None)
    fmt = "json" if args.json else args.format
    if fmt == "pdf":
        from workflow.reports.pdf import board_pack_pdf

        generated = parse_now(args.now).strftime("%Y-%m-%d %H:%M UTC")
        _write_pdf(args, board_pack_pdf(pack["reports"], start=start, end=end,
                                         generated=generated, method=pack["method"]),
                   "board-pack", start, end)
        progress.say("PDF written")
    elif fmt == "json":
        _print(pack, "json")
    else:
        for result in pack["reports"]:
            _print(result, fmt)
            print()
    return 0


def _common(p) -> None:
    p.add_argument("--from", dest="start",
                   help="YYYY-MM-DD (default: two years before --to, plus one day)")
    p.add_argument("--to", dest="end", help="YYYY-MM-DD, inclusive (default: today)")
    p.add_argument("--now", help="ISO instant taken as today (default: now)")
    p.add_argument("--format", choices=("text", "csv", "json", "pdf"), default="text")
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.add_argument("--output", help="PDF file to write (- for stdout; default "
                   "NAME_FROM_TO.pdf)")
    p.add_argument("--progress", action="store_true",
                   help="progress on stderr even when it is not a terminal")


def register(sub) -> None:
    from workflow.reports.boardpack import ROUTES
    from workflow.reports.catalogue import REPORTS

    report = sub.add_parser("report", help="board reports (each with its method note)")
    report_sub = report.add_subparsers(dest="report_command", required=True)
    for entry in REPORTS.values():
        p = report_sub.add_parser(entry.name, help=entry.summary.replace("%", "%%"))
        _common(p)
        for name in entry.options:
            p.add_argument(f"--{name.replace('_', '-')}", dest=name, **OPTIONS[name])
        p.set_defaults(func=_run)
    pack = report_sub.add_parser("board-pack", help="every report for one period: a PDF "
                                 "for the board (title page, charts, tables, methods)")
    _common(pack)
    for name in ROUTES:
        pack.add_argument(f"--{name.replace('_', '-')}", dest=name, **OPTIONS[name])
    pack.set_defaults(func=_board_pack)
