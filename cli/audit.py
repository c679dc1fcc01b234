"""Audit commands: verify the chain, explain a case, export, verify an export, purge.

``iom audit verify`` and ``iom audit verify-export`` exit 0 when intact, 1 when not
(naming the first bad entry); verify also checks the access log's rows against their
seals (``workflow.access_seal``) and counts the unsealed ones. Reading a case's
explanation or exporting a case is recorded in the access log; exporting the whole
chain is audited (``audit.exported``).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from cli.common import (
    acting_user,
    add_acting_args,
    open_runtime,
    parse_now,
    print_json,
    session_scope,
)
from db.session import transaction
from workflow import audit
from workflow.errors import InvalidInput

_session = session_scope


def _print_result(result: audit.VerifyResult, what: str) -> int:
    if result.ok:
        print(f"OK: {what} intact, {result.checked} entries checked")
        for note in result.notes:
            print(note)
        if result.head:
            print(f"head: {result.head}")
        return 0
    where = f"entry {result.first_bad_seq}" if result.first_bad_seq else "chain"
    print(f"FAILED: {where}: {result.reason}")
    print(f"{result.checked} entries checked before the failure")
    return 1


def _verify(args) -> int:
    from workflow.access_seal import with_access
    from workflow.audit_signing import verify_signed

    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        result = with_access(session, verify_signed(
            session, rt.keyring, rt.settings.audit["checkpoint_dir"],
            expect_head=args.expect_head))
    return _print_result(result, "audit chain")


def _checkpoint(args) -> int:
    from workflow.audit_signing import write_checkpoint

    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        directory = rt.settings.audit["checkpoint_dir"]
        cp, result = write_checkpoint(session, rt.keyring, directory, full=args.full)
    if not result.ok:
        print("no checkpoint written: the chain does not verify")
        return _print_result(result, "audit chain")
    if cp is None:
        print("no checkpoint written: " + ("the chain is empty" if not result.head_hash else
                                           f"the last one already records entry "
                                           f"{result.last_seq}"))
    else:
        print(f"checkpoint: entry {cp.seq} {cp.hash} at {cp.at}, key {cp.key_id}, "
              f"appended to {directory}")
    return 0


def _keygen(args) -> int:
    from pathlib import Path

    from workflow.audit_signing import generate_key
    from workflow.config import load_settings

    path = args.file or load_settings(args.config).audit["key_file"]
    if not path:
        raise InvalidInput("no key file: give --file or set audit.key_file")
    if args.if_missing and Path(path).exists():
        print(f"audit key file {path} exists: nothing to do")
        return 0
    key_id = generate_key(path, parse_now(None))
    print(f"new audit signing key {key_id} appended to {path}: it signs from now on")
    return 0


def _export_checks(args):
    """Signature and checkpoint checks for verify-export, from --key-file (the file alone,
    no configuration or database needed)."""
    from workflow.audit_signing import SignatureCheck, load_keyring, read_checkpoints

    if not args.key_file:
        return None
    keyring = load_keyring(args.key_file)
    if not keyring.current:
        raise InvalidInput(f"--key-file: {keyring.missing}")
    checkpoints, problem = (read_checkpoints(args.checkpoint_dir, keyring)
                            if args.checkpoint_dir else ([], None))
    if problem:
        raise InvalidInput(problem)
    return SignatureCheck(keyring, checkpoints)


def _verify_export(args) -> int:
    from workflow.audit_export import verify_export

    if args.extract and (args.key_file or args.access):
        raise InvalidInput("--key-file and --access check a whole chain, not an --extract")
    checks = _export_checks(args)
    result = verify_export(args.file, extract=args.extract, expect_head=args.expect_head,
                           checks=checks)
    if result.ok and checks is None and not args.extract:
        result = audit.VerifyResult(True, result.checked, head_hash=result.head_hash,
                                    notes=("signatures not checked: give --key-file (and "
                                           "--checkpoint-dir)",))
    if result.ok and args.access:
        result = _with_access_export(args, result)
    code = _print_result(result, "case extract" if args.extract else "exported chain")
    if result.ok and args.extract:
        print("note: an extract proves each entry is genuine, not that none is missing")
    return code


def _with_access_export(args, result: audit.VerifyResult) -> audit.VerifyResult:
    """``--access FILE``: the exported access log checked against the seals in the
    (verified) chain file."""
    from workflow.access_seal import SEAL_KIND, Seal, verify_access_export
    from workflow.audit_export import exported_entries

    seals = [Seal.of(e) for e in exported_entries(args.file, SEAL_KIND)]
    check = verify_access_export(args.access, seals)
    if not check.ok:
        return audit.VerifyResult(False, result.checked, check.bad_seq, check.reason)
    return audit.VerifyResult(True, result.checked, head_hash=result.head_hash,
                              notes=(*result.notes, check.note()), last_seq=result.last_seq)


def _explain(args) -> int:
    """Why a case moved, as the acting user may see it (the auditor's chronology)."""
    from workflow.case_summary import audit_explanation
    from workflow.explain import render_text

    with _session(args) as session:
        lines = audit_explanation(session, acting_user(session, args), args.case_id,
                                  now=parse_now(None), via="cli")
    if args.json:
        print_json([line.as_dict() for line in lines])
    else:
        sys.stdout.write(render_text(args.case_id, lines))
    return 0


def _record_export(session, args, user, now: datetime, count: int, head: str | None
                   ) -> None:
    """A case's export is a read of the case (the access log); the whole chain's export
    is an audit entry (``audit.exported``)."""
    from workflow.sharing.access import record_read
    from workflow.sharing.decide import Viewer

    extra = {"format": args.format, "count": count, "head": head}
    if args.case:
        record_read(session, viewer=Viewer.of(user), what="audit export",
                    purpose="subject_access" if args.format in ("json", "text") else None,
                    now=now, case_id=args.case, via="cli", extra=extra)
        return
    audit.record(session, kind="audit.exported", actor=user.username, occurred_at=now,
                 summary=f"audit exported as {args.format} ({count} entries)",
                 payload={"what": "audit export", "via": "cli", **extra})


def _permitted(session, args, command: str):
    """The acting user, once ``workflow.permissions`` lets their role run ``command``."""
    from workflow.permissions import authorize_command

    user = acting_user(session, args)
    authorize_command(user, command)
    return user


@contextmanager
def _output(path: str, fmt: str):
    if path == "-":
        yield sys.stdout
        return
    with open(path, "w", encoding="utf-8", newline="" if fmt == "csv" else None) as fh:
        yield fh


def _export_access(args) -> int:
    """``--access``: the access log as JSON lines, to check offline against the seals
    of a chain export (``verify-export CHAIN --access FILE``); the export is audited."""
    from workflow.access_seal import export_access

    if args.format != "jsonl" or args.case is not None:
        raise InvalidInput("--access exports the whole access log as --format jsonl "
                           "(without --case)")
    now = parse_now(None)
    with _session(args) as session:
        user = _permitted(session, args, "audit export --access")  # before any file
        with _output(args.out, args.format) as out:
            count = export_access(session, out)
        audit.record(session, kind="audit.exported", actor=user.username, occurred_at=now,
                     summary=f"access log exported as jsonl ({count} reads)",
                     payload={"what": "access log export", "via": "cli", "count": count})
    print(f"exported {count} reads to {args.out}; check them with 'iom audit verify-export "
          "CHAIN --access FILE' against a chain export made after", file=sys.stderr)
    return 0


def _write_export(session, args, user, now: datetime) -> tuple[int, str | None]:
    """Write the chain or one case's chronology (as ``user`` may see it) to ``--out``."""
    from workflow.audit_export import CASE_FORMATS, export_case, export_chain
    from workflow.sharing.decide import Viewer, subject_access_decision
    from workflow.sharing.redact import redact_entry

    with _output(args.out, args.format) as out:
        if args.format in CASE_FORMATS:
            decision = subject_access_decision(session, args.case, now=now,
                                               viewer=Viewer.of(user))
            return export_case(session, args.case, out, fmt=args.format, now=now,
                               redact=lambda entry: redact_entry(entry, decision)), None
        report = export_chain(session, out, fmt=args.format, case_id=args.case)
        return report.count, report.head


def _export(args) -> int:
    from workflow.audit_export import CASE_FORMATS

    if args.access:
        return _export_access(args)
    if args.format in CASE_FORMATS and args.case is None:
        raise InvalidInput(f"--format {args.format} is one case's chronology: give --case ID")
    now = parse_now(None)
    with _session(args) as session:
        user = _permitted(session, args, "audit export --case" if args.case is not None
                          else "audit export")  # before any file is written
        count, head = _write_export(session, args, user, now)
        _record_export(session, args, user, now, count, head)
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
                                 actor=_permitted(session, args, "audit purge").username,
                                 dry_run=not args.yes)
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

    verify = cmds.add_parser("verify", help="walk the hash chain, check signatures and "
                                            "signed checkpoints; exit 1 naming the first "
                                            "bad entry")
    verify.add_argument("--expect-head", help="SEQ:HASH printed by an earlier verify (not "
                                              "needed with a key and checkpoints)")
    verify.set_defaults(func=_verify)

    checkpoint = cmds.add_parser("checkpoint", help="verify, then append a signed checkpoint "
                                                    "of the head to audit.checkpoint_dir")
    checkpoint.add_argument("--full", action="store_true", help="verify the whole chain "
                                                                "first, not only what is new "
                                                                "since the last checkpoint")
    checkpoint.set_defaults(func=_checkpoint)

    keygen = cmds.add_parser("keygen", help="append a new signing key to the key file "
                                            "(rotation: it signs from now on)")
    keygen.add_argument("--file", help="key file (default: audit.key_file)")
    keygen.add_argument("--if-missing", action="store_true",
                        help="only if the file does not exist yet (make run)")
    keygen.set_defaults(func=_keygen)

    explain = cmds.add_parser("explain", help="why a case moved, in plain language")
    explain.add_argument("case_id", type=int)
    explain.add_argument("--json", action="store_true")
    add_acting_args(explain, what="who is reading (the explanation is what the sharing "
                    "agreement lets them see)")
    explain.set_defaults(func=_explain)

    export = cmds.add_parser("export", help="export the chain (jsonl, csv) or one case's "
                                            "chronology (json, text)")
    export.add_argument("--format", required=True, choices=("jsonl", "csv", "json", "text"))
    export.add_argument("--out", required=True, help="file to write ('-' for stdout)")
    export.add_argument("--case", type=int, help="only this case")
    export.add_argument("--access", action="store_true", help="the access log (every "
                        "read, --format jsonl) instead of the chain")
    add_acting_args(export, what="who is exporting (a case's chronology is what the "
                    "sharing agreement lets them see)")
    export.set_defaults(func=_export)

    check = cmds.add_parser("verify-export", help="verify an exported chain file offline")
    check.add_argument("file")
    check.add_argument("--extract", action="store_true", help="the file is a case extract")
    check.add_argument("--access", metavar="ACCESS_FILE", help="also check an access log "
                       "export (export --access) against the chain file's seals")
    check.add_argument("--expect-head", help="SEQ:HASH recorded earlier")
    check.add_argument("--key-file", help="audit key file: also check signatures")
    check.add_argument("--checkpoint-dir", help="with --key-file: also check the signed "
                                                "checkpoints kept there")
    check.set_defaults(func=_verify_export)

    purge = cmds.add_parser("purge", help="delete closed cases past retention (and the "
                                          "person's data when no other case remains)")
    when = purge.add_mutually_exclusive_group(required=True)
    when.add_argument("--closed-before", help="ISO date: cases closed before it")
    when.add_argument("--retention-days", type=int, help="cases closed more than N days ago")
    purge.add_argument("--yes", action="store_true", help="really delete (else a dry run)")
    purge.add_argument("--json", action="store_true")
    add_acting_args(purge, what="who is purging")
    purge.set_defaults(func=_purge)

