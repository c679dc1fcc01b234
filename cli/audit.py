"""Audit commands: verify the chain, explain a case, export, verify an export, purge.

``iom audit verify`` and ``iom audit verify-export`` exit 0 when intact, 1 when not
(naming the first bad entry). Reading a case's explanation or exporting audit data is
itself audited (``case.read`` / ``audit.exported``).
"""

from __future__ import annotations

import getpass
import sys
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from cli.common import parse_now, print_json, session_scope
from workflow import audit
from workflow.errors import InvalidInput

_session = session_scope


def _actor(args) -> str:
    if args.actor:
        return args.actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in this environment
        return "cli"


def _print_result(result: audit.VerifyResult, what: str) -> int:
    if result.ok:
        print(f"OK: {what} intact, {result.checked} entries checked")
        if result.head:
            print(f"head: {result.head}")
            print("keep this head elsewhere; '--expect-head HEAD' later proves that no "
                  "entry was removed from the end")
        return 0
    where = f"entry {result.first_bad_seq}" if result.first_bad_seq else "chain"
    print(f"FAILED: {where}: {result.reason}")
    print(f"{result.checked} entries checked before the failure")
    return 1


def _verify(args) -> int:
    with _session(args) as session:
        result = audit.verify(session, expect_head=args.expect_head)
    return _print_result(result, "audit chain")


def _verify_export(args) -> int:
    from workflow.audit_export import verify_export

    result = verify_export(args.file, extract=args.extract, expect_head=args.expect_head)
    code = _print_result(result, "case extract" if args.extract else "exported chain")
    if result.ok and args.extract:
        print("note: an extract proves each entry is genuine, not that none is missing")
    return code


def _explain(args) -> int:
    from workflow.explain import explain_case, render_text

    with _session(args) as session:
        lines = explain_case(session, args.case_id)
        audit.record(session, kind="case.read", actor=_actor(args), occurred_at=parse_now(None),
                     case_id=args.case_id, summary=f"audit explanation of case {args.case_id} "
                     "read from the command line", payload={"what": "audit explanation",
                                                            "via": "cli"})
    if args.json:
        print_json([line.as_dict() for line in lines])
    else:
        sys.stdout.write(render_text(args.case_id, lines))
    return 0


@contextmanager
def _output(path: str, fmt: str):
    if path == "-":
        yield sys.stdout
        return
    with open(path, "w", encoding="utf-8", newline="" if fmt == "csv" else None) as fh:
        yield fh


def _export(args) -> int:
    from workflow.audit_export import CASE_FORMATS, export_case, export_chain

    if args.format in CASE_FORMATS and args.case is None:
        raise InvalidInput(f"--format {args.format} is one case's chronology: give --case ID")
    now = parse_now(None)
    with _session(args) as session, _output(args.out, args.format) as out:
        if args.format in CASE_FORMATS:
            count, head = export_case(session, args.case, out, fmt=args.format, now=now), None
        else:
            report = export_chain(session, out, fmt=args.format, case_id=args.case)
            count, head = report.count, report.head
        audit.record(session, kind="case.read" if args.case else "audit.exported",
                     actor=_actor(args), occurred_at=now, case_id=args.case,
                     summary=f"audit exported as {args.format} ({count} entries)",
                     payload={"what": "audit export", "format": args.format, "count": count,
                              "head": head, "via": "cli"})
    print(f"exported {count} entries to {args.out}" + (f"; head {head}" if head else ""),
          file=sys.stderr)
    if args.case and args.format in ("jsonl", "csv"):
        print("a case extract: check it with 'iom audit verify-export FILE --extract'",
              file=sys.stderr)
    return 0


def _cutoff(args, now: datetime) -> datetime:
    if args.retention_days is not None:
        return now - timedelta(days=args.retention_days)
    try:
        value = datetime.fromisoformat(args.closed_before)
    except ValueError as exc:
        raise InvalidInput(f"--closed-before: {args.closed_before!r} is not an ISO-8601 "
                           "date") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _purge(args) -> int:
    from workflow.retention import purge_case_data

    now = parse_now(None)
    with _session(args) as session:
        report = purge_case_data(session, older_than=_cutoff(args, now), now=now,
                                 actor=_actor(args), dry_run=not args.yes)
    if args.json:
        print_json(report.as_dict())
    else:
        print("\n".join(report.lines()))
    if not args.yes:
        print("dry run: nothing was deleted; re-run with --yes to delete", file=sys.stderr)
    return 0


def register(sub) -> None:
    parser = sub.add_parser("audit", help="verify, explain, export and purge under retention")
    cmds = parser.add_subparsers(dest="audit_command", required=True)

    verify = cmds.add_parser("verify", help="walk the hash chain; exit 1 naming the first "
                                            "bad entry")
    verify.add_argument("--expect-head", help="SEQ:HASH printed by an earlier verify: also "
                                              "detects entries removed from the end")
    verify.set_defaults(func=_verify)

    explain = cmds.add_parser("explain", help="why a case moved, in plain language")
    explain.add_argument("case_id", type=int)
    explain.add_argument("--json", action="store_true")
    explain.add_argument("--actor", help="who is reading (default: login name)")
    explain.set_defaults(func=_explain)

    export = cmds.add_parser("export", help="export the chain (jsonl, csv) or one case's "
                                            "chronology (json, text)")
    export.add_argument("--format", required=True, choices=("jsonl", "csv", "json", "text"))
    export.add_argument("--out", required=True, help="file to write ('-' for stdout)")
    export.add_argument("--case", type=int, help="only this case")
    export.add_argument("--actor", help="who is exporting (default: login name)")
    export.set_defaults(func=_export)

    check = cmds.add_parser("verify-export", help="verify an exported chain file offline")
    check.add_argument("file")
    check.add_argument("--extract", action="store_true", help="the file is a case extract")
    check.add_argument("--expect-head", help="SEQ:HASH recorded earlier")
    check.set_defaults(func=_verify_export)

    purge = cmds.add_parser("purge", help="delete closed cases past retention (and the "
                                          "person's data when no other case remains)")
    when = purge.add_mutually_exclusive_group(required=True)
    when.add_argument("--closed-before", help="ISO date: cases closed before it")
    when.add_argument("--retention-days", type=int, help="cases closed more than N days ago")
    purge.add_argument("--yes", action="store_true", help="really delete (else a dry run)")
    purge.add_argument("--json", action="store_true")
    purge.add_argument("--actor", help="who is purging (default: login name)")
    purge.set_defaults(func=_purge)

