"""``iom sharing``: read a case as someone under the sharing agreement, set and remove a
case's restriction/exclusion lists, and list the access log (who read what).

The agreement itself is drafted, previewed, approved, published and rolled back with
``iom rules`` (name ``sharing-agreement``), like the stage policy.
"""

from __future__ import annotations

from cli.common import acting_user, add_acting_args, parse_now, print_json, session_scope
from workflow.cases import get_case, lock_case
from workflow.sharing import restrictions
from workflow.sharing.access import access_entries, entry_dict, record_read
from workflow.sharing.decide import Viewer, check_purpose
from workflow.sharing.view import case_view


def _split(text: str | None) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def _show(args) -> int:
    now = parse_now(args.now)
    with session_scope(args) as session:
        viewer = Viewer.of(acting_user(session, args))
        purpose = check_purpose(args.purpose, viewer)
        case = get_case(session, args.case_id)
        view = case_view(session, case, viewer=viewer, now=now, purpose=purpose)
        record_read(session, viewer=viewer, what="detail", purpose=purpose, now=now,
                    case_id=case.id, via="cli",
                    person_ref=None if view.decision.restricted else case.person.partner_ref)
        print_json(view.data)
    return 0


def _restrict(args) -> int:
    with session_scope(args) as session:
        row = restrictions.set_list(
            session, lock_case(session, args.case_id), kind=args.kind,
            users=_split(args.users), agencies=_split(args.agencies), message=args.message,
            reason=args.reason, user=acting_user(session, args), now=parse_now(None))
        print_json(restrictions.as_dict(row))
    return 0


def _unrestrict(args) -> int:
    with session_scope(args) as session:
        row = restrictions.remove_list(session, lock_case(session, args.case_id),
                                       kind=args.kind, reason=args.reason,
                                       user=acting_user(session, args),
                                       now=parse_now(None))
        print(f"{row.kind} list removed from case {row.case_id}")
    return 0


def _lists(args) -> int:
    with session_scope(args) as session:
        print_json([restrictions.as_dict(r) for r in restrictions.history(
            session, get_case(session, args.case_id).id)])
    return 0


def _access(args) -> int:
    if args.case is None and args.user is None:
        raise SystemExit("iom sharing access: give --case ID and/or --user NAME")
    with session_scope(args) as session:
        rows, total = access_entries(session, case_id=args.case, user=args.user,
                                     page=1, per_page=args.limit)
        print_json({"total": total, "items": [entry_dict(r) for r in rows]})
    return 0


def register(sub) -> None:
    parser = sub.add_parser("sharing", help="information sharing: read as someone, "
                            "restrict a case, the access log")
    cmds = parser.add_subparsers(dest="sharing_command", required=True)
    show = cmds.add_parser("show", help="a case as USER may see it (the read is recorded)")
    show.add_argument("case_id", type=int)
    add_acting_args(show, what="whose view to show")
    show.add_argument("--purpose")
    show.add_argument("--now", help="ISO instant: the agreement in force then")
    show.set_defaults(func=_show)
    for name, func, help_ in (("restrict", _restrict, "set a restriction or exclusion list"),
                              ("unrestrict", _unrestrict, "remove a list, with a reason")):
        p = cmds.add_parser(name, help=help_)
        p.add_argument("case_id", type=int)
        p.add_argument("--kind", choices=("restriction", "exclusion"), required=True)
        add_acting_args(p, what="the team lead")
        p.add_argument("--reason", required=True)
        if name == "restrict":
            p.add_argument("--users", help="usernames, comma-separated")
            p.add_argument("--agencies", help="agencies, comma-separated")
            p.add_argument("--message", required=True, help="whom to ask (shown to others)")
        p.set_defaults(func=func)
    lists = cmds.add_parser("lists", help="a case's lists, active and removed")
    lists.add_argument("case_id", type=int)
    lists.set_defaults(func=_lists)
    access = cmds.add_parser("access", help="recorded reads of a case and/or by a user")
    access.add_argument("--case", type=int)
    access.add_argument("--user")
    access.add_argument("--limit", type=int, default=100)
    access.set_defaults(func=_access)
