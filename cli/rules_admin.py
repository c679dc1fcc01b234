"""``iom rules`` commands on stored versions: draft, list, show, history, test --stored,
preview, approve, publish, rollback. The acting team lead is named with ``--as`` and
proven by their token (``$IOM_TOKEN`` or a prompt); ``--as-admin`` runs as the host's
administrator instead, audited as ``host-admin:<os user>``, which cannot approve."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from cli.common import acting_user, add_acting_args, open_runtime, parse_now, print_json
from db.models import RuleSetVersion
from db.session import transaction
from workflow import ruleset_admin as admin
from workflow.permissions import authorize
from workflow.policy.publishing import preview_version, publish_version, rollback_version
from workflow.sharing.preview import AgreementPreview


def _split(ref: str) -> tuple[str, str | None]:
    name, _, version = ref.partition("@")
    return name, version or None


def _evidence_author(session, args, step: str) -> str:
    """Who records approval evidence (examples run, preview seen): the API's rule for
    the same step (``workflow/permissions.py``: team leads only), checked before
    anything is looked up."""
    user = acting_user(session, args)
    authorize(session, user, f"POST /rulesets/{{name}}/versions/{{version}}/{step}", {},
              now=parse_now(None))
    return user.username


def _draft(args) -> int:
    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        row = admin.save_draft(session, Path(args.file).read_text(encoding="utf-8"),
                               file=args.file, user=acting_user(session, args),
                               now=parse_now(None), reason=args.reason)
        print(f"draft {row.name}@{row.version[:12]} ({row.status})")
    return 0


def _list(args) -> int:
    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        rows = session.scalars(select(RuleSetVersion).order_by(
            RuleSetVersion.name, RuleSetVersion.id.desc())).all()
        for r in rows:
            print(f"{r.name:28} {r.version[:12]}  {r.status:9} {r.stage:28} "
                  f"by {r.created_by} {r.created_at:%Y-%m-%d}")
    return 0


def _show(args) -> int:
    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        row = admin.find_version(session, *_split(args.ref))
        if args.raw:
            print(row.document, end="" if row.document.endswith("\n") else "\n")
            return 0
        print(f"# {row.name}@{row.version} status={row.status} created_by={row.created_by}"
              f" approved_by={row.approved_by} published_by={row.published_by}")
        print(f"# {admin.publication_note(session, row)}")
        print(row.document)
    return 0


def _history(args) -> int:
    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        versions, publications = admin.history(session, args.name)
        for p in publications:
            print(f"{p.published_at:%Y-%m-%d %H:%M} {p.kind:8} {p.version.version[:12]} "
                  f"by {p.actor} (in force from then; recorded "
                  f"{p.recorded_at:%Y-%m-%d %H:%M}): {p.reason}")
        print(f"{len(versions)} stored version(s)")
    return 0


def _test_stored(args) -> int:
    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        actor = _evidence_author(session, args, "test")
        row = admin.find_version(session, *_split(args.ref))
        results = admin.check_examples(session, row, now=parse_now(None), actor=actor)
        for r in results:
            print(r.describe())
        return 0 if row.tested_ok else 1


def _preview(args) -> int:
    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        actor = _evidence_author(session, args, "preview")
        row = admin.find_version(session, *_split(args.ref))
        sample = {k: v for k, v in (("case_id", args.case), ("purpose", args.purpose))
                  if v is not None}
        report = preview_version(session, row, now=parse_now(None), settings=rt.settings,
                                 actor=actor, sample=sample)
    if args.json:
        print_json(report.as_dict())
        return 0
    if isinstance(report, AgreementPreview):
        print("\n".join(report.lines()))
        return 0
    print(f"{report.ruleset}@{report.version[:12]}: {report.evaluated} open cases evaluated,"
          f" {len(report.changed)} would change")
    for label, count in report.counts.items():
        print(f"  {count:5}  {label}")
    for c in report.changed:
        print(f"  case {c.case_id} ({c.person_ref}): {c.label}")
    print(f"rules that fire on no case: {', '.join(report.silent_rules) or 'none'}")
    print(f"cases no rule of it matches: {len(report.unmatched_cases)}")
    for warning in report.warnings:
        print(f"WARNING: {warning}")
    for change in report.not_previewed:
        print(f"also changes (not previewed case by case): {change}")
    print(report.note + (": cases " + ", ".join(map(str, report.case_ids))
                         if report.case_ids else ""))
    return 0


def _approve(args) -> int:
    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        user = acting_user(session, args)
        row = admin.find_version(session, *_split(args.ref))
        admin.approve(session, row, user=user,
                      now=parse_now(None), reason=args.reason)
        print(f"{row.name}@{row.version[:12]} is now {row.status}")
    return 0


def _print_outcome(outcome, as_json: bool) -> None:
    if as_json:
        print_json({"ruleset": outcome.row.name, "version": outcome.row.version,
                    "status": outcome.row.status, "warnings": outcome.warnings,
                    "moves_at_next_pass": outcome.due_cases, "note": outcome.note})
    else:
        print("\n".join(outcome.lines()))


def _publish(args) -> int:
    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        user = acting_user(session, args)
        row = admin.find_version(session, *_split(args.ref))
        outcome = publish_version(session, row, user=user,
                                  now=parse_now(None), reason=args.reason,
                                  settings=rt.settings)
    _print_outcome(outcome, args.json)
    return 0


def _rollback(args) -> int:
    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        outcome = rollback_version(session, args.name, user=acting_user(session, args),
                                   now=parse_now(None), reason=args.reason,
                                   settings=rt.settings)
    _print_outcome(outcome, args.json)
    return 0


def add_admin_commands(rules_sub) -> None:
    """Add the stored-version commands to the ``iom rules`` sub-parser."""
    def command(name, func, help_, *, ref=True, actor=True, reason=False):
        p = rules_sub.add_parser(name, help=help_)
        if ref:
            p.add_argument("ref", metavar="NAME[@VERSION]")
        if actor:
            add_acting_args(p, what="acting team lead")
        if reason:
            p.add_argument("--reason", required=True)
        p.set_defaults(func=func)
        return p

    draft = command("draft", _draft, "store a validated document as a draft", ref=False,
                    reason=True)
    draft.add_argument("file")
    command("list", _list, "every stored version", ref=False, actor=False)
    command("show", _show, "one stored version with its document (stage-policy: the "
            "stage policy)", actor=False).add_argument(
        "--raw", action="store_true", help="the document only, to edit and draft again")
    command("history", _history, "what was in force when", ref=False, actor=False
            ).add_argument("name")
    command("test-stored", _test_stored, "run a stored version's examples and record it")
    preview = command("preview", _preview, "impact on the live caseload (changes nothing);"
                      " sharing-agreement: what each agency/role would see of a case")
    preview.add_argument("--json", action="store_true")
    preview.add_argument("--case", type=int, help="sharing-agreement: the sample case")
    preview.add_argument("--purpose", help="sharing-agreement: the purpose")
    command("approve", _approve, "approve (a second team lead)", reason=True)
    command("publish", _publish, "put an approved version in force; the cases it "
            "changes move at the next pass", reason=True
            ).add_argument("--json", action="store_true")
    rollback = command("rollback", _rollback, "put the previous version back in force",
                       ref=False, reason=True)
    rollback.add_argument("name")
    rollback.add_argument("--json", action="store_true")
