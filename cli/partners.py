"""Partner data commands: import, import history, demo generate / load.

``iom import`` exits 0 when every row was imported, 3 when some rows were rejected,
2 on a file-level error (missing file, bad header, unreadable bytes: nothing imported)
and 4 when the database was unreachable or the connection was lost (one line on stderr;
nothing imported).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date
from pathlib import Path

from cli.common import (
    acting_user,
    host_admin_actor,
    open_runtime,
    parse_now,
    print_json,
    session_scope,
)
from workflow.errors import InvalidInput
from workflow.partners.formats import KINDS

EXIT_REJECTED = 3


def _parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{option}: {value!r} is not a date (YYYY-MM-DD)") from exc


def _progress(rows: int) -> None:
    sys.stderr.write(f"\rimporting... {rows:,} rows")
    sys.stderr.flush()


def _open(path: Path):
    try:
        return path.open("rb")  # decoded line by line: a bad byte is placed exactly
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot open: {exc.strerror or exc}") from exc


def _import_actor(session, args) -> tuple[str, str | None]:
    """``(actor, agency)`` the import is recorded as: ``--as USER`` (their token; the
    agency that owns the data, as for ``POST /imports/{kind}``) or the host's
    administrator (no agency: every kind)."""
    from workflow.permissions import authorize

    if not args.actor:
        return host_admin_actor(), None
    user = acting_user(session, args)
    authorize(session, user, "POST /imports/{kind}", {"kind": args.kind},
              now=parse_now(None))
    return user.username, user.agency


def _import(args) -> int:
    from workflow.partners.imports import import_csv

    path = Path(args.file)
    tty = sys.stderr.isatty()
    with _open(path) as stream, session_scope(args) as session:
        actor, agency = _import_actor(session, args)
        try:
            report = import_csv(session, args.kind, stream, filename=path.name,
                                actor=actor, agency=agency, now=parse_now(args.now),
                                progress=_progress if tty else None)
        finally:
            if tty:
                sys.stderr.write("\n")
    if args.json:
        print_json(report.as_dict())
    else:
        print(report.summary())
        for e in report.errors:
            print(f"row {e['row']}: {e['field'] or '(row)'}: {e['reason']}")
        if report.errors_omitted:
            print(f"... and {report.errors_omitted:,} more errors not listed")
    return EXIT_REJECTED if report.rejected else 0


def _demo_generate(args) -> int:
    from workflow.demo.generate import generate_borough

    as_of = _parse_date(args.as_of, "--as-of") if args.as_of else date.today()
    files = generate_borough(Path(args.out), people=args.people, seed=args.seed,
                             as_of=as_of)
    for kind, path in files.items():
        print(f"{kind}: {path}")
    return 0


def _demo_load(args) -> int:
    from workflow.demo.seed import load_demo

    now = parse_now(args.now)
    with tempfile.TemporaryDirectory(prefix="iom-demo-") as tmp, \
            session_scope(args) as session:
        report = load_demo(session, people=args.people, seed=args.seed, now=now,
                           actor=host_admin_actor(), workdir=Path(args.workdir or tmp))
    for r in report.imports:
        print(r.summary())
    for u in report.users:
        print(f"user {u['username']} ({u['role']}, {u['agency'] or '-'}): {u['token']}")
    return 0


def _demo_history(args) -> int:
    from cli.demo_history import simulate
    from db.session import transaction

    start, end = _parse_date(args.start, "--from"), _parse_date(args.end, "--to")
    with open_runtime(args) as rt:
        with transaction(rt.sessions) as session:  # the chair acts: their own token
            acting_user(session, argparse.Namespace(actor=args.chair, as_admin=False))
        counts = simulate(rt, start=start, end=end, chair=args.chair)
    print(", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


def _positive(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 500:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to 500")
    return int(text)


_BATCH_FIELDS = ("id", "kind", "filename", "sha256", "actor", "started_at", "rows_total",
                 "rows_created", "rows_updated", "rows_unchanged", "rows_rejected")


def _imports_list(args) -> int:
    from workflow.partners.batches import list_batches, summary_line

    with session_scope(args) as session:
        batches, total = list_batches(session, kind=args.kind, per_page=args.limit)
        if args.json:
            print_json([{f: getattr(b, f) for f in _BATCH_FIELDS} for b in batches])
            return 0
        print(f"{len(batches)} of {total} imports, newest first")
        for batch in batches:
            print(summary_line(batch))
    return 0


def _imports_show(args) -> int:
    from workflow.partners.batches import get_batch, summary_line

    with session_scope(args) as session:
        batch = get_batch(session, args.id)
        if args.json:
            print_json({**{f: getattr(batch, f) for f in _BATCH_FIELDS},
                        "errors": batch.errors or []})
            return 0
        print(summary_line(batch))
        print(f"sha256 {batch.sha256}")
        for e in batch.errors or []:
            print(f"row {e['row']}: {e['field'] or '(row)'}: {e['reason']}")
    return 0


def _register_history(sub) -> None:
    imports = sub.add_parser("imports", help="past partner imports (import history)")
    imports_sub = imports.add_subparsers(dest="imports_command", required=True)
    listing = imports_sub.add_parser("list", help="past imports, newest first")
    listing.add_argument("--kind", choices=KINDS)
    listing.add_argument("--limit", type=_positive, default=50, help="at most (1-500)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_imports_list)
    show = imports_sub.add_parser("show", help="one import with its refused rows")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_imports_show)


def _register_demo(sub) -> None:
    demo = sub.add_parser("demo", help="synthetic demo borough")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True)
    gen = demo_sub.add_parser("generate", help="write the five partner CSV files")
    gen.add_argument("--people", type=int, required=True)
    gen.add_argument("--seed", type=int, required=True)
    gen.add_argument("--out", required=True, help="output directory")
    gen.add_argument("--as-of", dest="as_of", help="YYYY-MM-DD (default: today)")
    gen.set_defaults(func=_demo_generate)
    load = demo_sub.add_parser("load", help="create demo users and import a generated "
                               "borough; prints each demo user's token")
    load.add_argument("--people", type=int, required=True)
    load.add_argument("--seed", type=int, required=True)
    load.add_argument("--now", help="ISO-8601 instant the borough is as of (default: now)")
    load.add_argument("--workdir", help="keep the generated files here (default: a "
                      "temporary directory)")
    load.set_defaults(func=_demo_load)
    history = demo_sub.add_parser("history", help="drive the lifecycle over past dates: "
                                  "weekly passes and panel decisions (for the reports)")
    history.add_argument("--from", dest="start", required=True, help="YYYY-MM-DD")
    history.add_argument("--to", dest="end", required=True, help="YYYY-MM-DD, inclusive")
    history.add_argument("--chair", default="lead1", help="team lead deciding the panels "
                         "(the decisions are theirs: their token in $IOM_TOKEN)")
    history.set_defaults(func=_demo_history)


def register(sub) -> None:
    imp = sub.add_parser("import", help="import a partner CSV file "
                         "(exit 0: all rows imported, 3: some rejected, 2: file error)")
    imp.add_argument("kind", choices=KINDS)
    imp.add_argument("file")
    imp.add_argument("--as", dest="actor", metavar="USER", help="import as USER (their token "
                     "in $IOM_TOKEN; their agency must own the data); default: recorded as "
                     "the host's administrator, host-admin:<os user>")
    imp.add_argument("--now", help="ISO-8601 import instant (default: now)")
    imp.add_argument("--json", action="store_true", help="print the report as JSON")
    imp.set_defaults(func=_import)
    _register_history(sub)
    _register_demo(sub)
