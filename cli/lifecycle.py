"""Lifecycle commands: panel (list, agenda, decide, minutes), capacity, custody."""

from __future__ import annotations

from datetime import date

from cli.common import acting_user, add_acting_args, open_runtime, parse_now, print_json
from db.session import transaction
from workflow.errors import InvalidInput


def _panel_list(args) -> int:
    from workflow.panel import list_meetings

    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        for m in list_meetings(session):
            decided = sum(i.decision is not None for i in m.items)
            built = m.agenda_built_at.isoformat() if m.agenda_built_at else "not built"
            print(f"{m.id}\t{m.held_on}\tagenda {built}\t{len(m.items)} cases, "
                  f"{decided} decided")
    return 0


def _panel_agenda(args) -> int:
    from workflow.panel import build_agenda, get_meeting

    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        if args.build:
            meeting = build_agenda(session, now=parse_now(args.now), settings=rt.settings)
            print(f"agenda built for meeting {meeting.id} ({meeting.held_on})" if meeting
                  else "no agenda to build (window not open, or already built)")
            return 0
        if args.meeting is None:
            raise InvalidInput("give a meeting id, or --build")
        m = get_meeting(session, args.meeting)
        print(f"Panel meeting {m.id} on {m.held_on} at {m.starts_at:%H:%M} UTC")
        for i in m.items:
            print(f"{i.rank:>3}. case {i.case_id} ({i.case.person.partner_ref}) activity "
                  f"{i.activity_score} presented by {i.invited_name or 'relevant partner'}"
                  f" - {i.decision or 'pending'}")
    return 0


def _panel_decide(args) -> int:
    from workflow.panel import decide

    try:
        defer_until = date.fromisoformat(args.defer_until) if args.defer_until else None
    except ValueError as exc:
        raise InvalidInput(f"--defer-until: {args.defer_until!r} is not a date") from exc
    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        item = decide(session, args.meeting, args.case, decision=args.decision,
                      reason=args.reason, defer_until=defer_until, override=args.override,
                      now=parse_now(args.now),
                      user=acting_user(session, args), settings=rt.settings)
        print(f"case {item.case_id}: {item.decision} by {item.decided_by} "
              f"({item.decided_role}); case now {item.case.state}")
    return 0


def _panel_minutes(args) -> int:
    from workflow.panel import minutes, minutes_markdown

    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        data = minutes(session, args.meeting)
    if args.format == "json":
        print_json(data)
    else:
        print(minutes_markdown(data), end="")
    return 0


def _capacity(args) -> int:
    from workflow.allocation import capacity_report
    from workflow.policy.store import policy_in_force

    now = parse_now(None)
    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        report = capacity_report(args.cohort, policy_in_force(session, rt.settings, now).capacity)
    if args.json:
        print_json(report)
        return 0
    print(f"cohort of {report['cohort']} (mix {report['mix']}); 'more' is beyond what the "
          f"team's own cohort of {report['team_cohort']} needs:")
    for key, label in (("offender_managers", "offender managers"),
                       ("police_leads", "police leads")):
        r = report[key]
        print(f"  {label}: {r['fte']} FTE -> {r['needed']} needed, {r['in_post']} in post, "
              f"{r['more']} more")
    return 0


def _custody(args) -> int:
    from workflow.cases import get_case
    from workflow.review import custody

    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        case = get_case(session, args.case)
        custody(session, case, event=f"custody_{args.direction}", reason=args.reason,
                now=parse_now(args.now), user=acting_user(session, args),
                settings=rt.settings)
        print(f"case {case.id}: now {case.state}")
    return 0


def register(sub) -> None:
    panel = sub.add_parser("panel", help="multi-agency panel meetings")
    psub = panel.add_subparsers(dest="panel_command", required=True)
    psub.add_parser("list", help="list meetings").set_defaults(func=_panel_list)
    agenda = psub.add_parser("agenda", help="show a meeting's agenda (or --build the next)")
    agenda.add_argument("meeting", type=int, nargs="?")
    agenda.add_argument("--build", action="store_true", help="build the next agenda if due")
    agenda.add_argument("--now", help="ISO-8601 instant (default: now)")
    agenda.set_defaults(func=_panel_agenda)
    dec = psub.add_parser("decide", help="record a panel decision (team_lead/admin)")
    dec.add_argument("meeting", type=int)
    dec.add_argument("case", type=int)
    dec.add_argument("decision", choices=("accept", "defer", "reject"))
    dec.add_argument("--reason", required=True)
    dec.add_argument("--defer-until", help="YYYY-MM-DD (defer only)")
    dec.add_argument("--override", help="accept only: recorded reason for accepting a case "
                                        "an exclusion rule applies to")
    add_acting_args(dec, what="the chair (a team lead)")
    dec.add_argument("--now", help="ISO-8601 instant (default: now)")
    dec.set_defaults(func=_panel_decide)
    mins = psub.add_parser("minutes", help="export a meeting's minutes")
    mins.add_argument("meeting", type=int)
    mins.add_argument("--format", choices=("markdown", "json"), default="markdown")
    mins.set_defaults(func=_panel_minutes)

    cap = sub.add_parser("capacity", help="staff a cohort of N needs (Pan-London ratios)")
    cap.add_argument("--cohort", type=int, required=True)
    cap.add_argument("--json", action="store_true")
    cap.set_defaults(func=_capacity)

    cus = sub.add_parser("custody", help="record custody in/out for a case")
    cus.add_argument("case", type=int)
    cus.add_argument("direction", choices=("in", "out"))
    cus.add_argument("--reason", required=True)
    add_acting_args(cus)
    cus.add_argument("--now", help="ISO-8601 instant (default: now)")
    cus.set_defaults(func=_custody)
