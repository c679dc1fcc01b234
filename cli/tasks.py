"""Task commands: ``iom tasks list|complete|remind|deliver|import-events|jobs``."""

from __future__ import annotations

from pathlib import Path

from cli.common import acting_user, add_acting_args, open_runtime, parse_now, print_json
from db.session import transaction
from workflow.errors import InvalidInput


def _row(task) -> dict:
    return {"id": task.id, "case_id": task.case_id, "template": task.template,
            "title": task.title, "role": task.role, "agency": task.agency,
            "assignee_id": task.assignee_id, "priority": task.priority,
            "status": task.status, "due_at": task.due_at, "outcome": task.outcome}


def _list(args) -> int:
    from workflow.tasks.inbox import list_tasks

    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        items, total = list_tasks(session, acting_user(session, args), now=parse_now(args.now),
                                  scope=args.scope, status=args.status, case_id=args.case,
                                  template=args.template, per_page=args.limit)
        print_json({"total": total, "items": [_row(t) for t in items]})
    return 0


def _complete(args) -> int:
    from workflow.policy.store import policy_in_force
    from workflow.tasks.inbox import get_task
    from workflow.tasks.service import complete

    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        task = complete(session, get_task(session, args.task),
                        user=acting_user(session, args), outcome=args.outcome,
                        now=parse_now(args.now), reevaluate_states=tuple(policy_in_force(
                            session, rt.settings, parse_now(args.now)).stages))
        print(f"task {task.id} done: {task.outcome}")
    return 0


def _remind(args) -> int:
    from workflow.tasks.reminders import remind_and_escalate

    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        report = remind_and_escalate(session, now=parse_now(args.now), actor="cli",
                                     settings=rt.settings)
    print("\n".join(report.lines()))
    return 0


def _deliver(args) -> int:
    from workflow.tasks.outbox import deliver_outbox

    with open_runtime(args) as rt:
        report = deliver_outbox(rt.sessions, rt.settings.smtp, now=parse_now(args.now),
                                retry_base_seconds=rt.settings.tasks["retry_base_seconds"],
                                retry_max_seconds=rt.settings.tasks["retry_max_seconds"])
    print("\n".join(report.lines()))
    return 1 if report.failed else 0


def _jobs(args) -> int:
    from workflow.tasks.jobs import run_task_jobs

    with open_runtime(args) as rt:
        report = run_task_jobs(rt, parse_now(args.now))
    print("\n".join(report.lines()))
    return 1 if report.delivery.failed else 0


def _import_events(args) -> int:
    from workflow.policy.store import policy_in_force
    from workflow.tasks.compliance import compliance_rulesets
    from workflow.tasks.imports import import_events

    try:
        data = Path(args.file).read_bytes()
    except FileNotFoundError as exc:
        raise InvalidInput(f"{args.file}: file not found") from exc
    now = parse_now(args.now)
    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        policy = policy_in_force(session, rt.settings, now)
        report = import_events(session, data, filename=args.file, actor=args.actor,
                               now=now, policy=policy, rulesets=compliance_rulesets(policy))
    print_json(report.as_dict())
    return 1 if report.errors else 0


def register(sub) -> None:
    tasks = sub.add_parser("tasks", help="task prompts, compliance events and e-mail")
    tsub = tasks.add_subparsers(dest="tasks_command", required=True)
    ls = tsub.add_parser("list", help="a user's tasks as JSON")
    add_acting_args(ls, what="whose inbox to show")
    ls.add_argument("--scope", default="mine", choices=("mine", "queue", "overdue", "all"))
    ls.add_argument("--status", choices=("open", "escalated", "done", "cancelled"))
    ls.add_argument("--case", type=int)
    ls.add_argument("--template")
    ls.add_argument("--limit", type=int, default=100)
    ls.add_argument("--now")
    ls.set_defaults(func=_list)
    done = tsub.add_parser("complete", help="complete a task with an outcome")
    done.add_argument("task", type=int)
    add_acting_args(done, what="who completes it")
    done.add_argument("--outcome", required=True)
    done.add_argument("--now")
    done.set_defaults(func=_complete)
    for name, func, text in (("remind", _remind, "send reminders, escalate overdue tasks"),
                             ("deliver", _deliver, "send pending e-mails (SMTP)"),
                             ("jobs", _jobs, "compliance rules, reminders and delivery")):
        cmd = tsub.add_parser(name, help=text)
        cmd.add_argument("--now")
        cmd.set_defaults(func=func)
    imp = tsub.add_parser("import-events", help="import compliance events from CSV")
    imp.add_argument("file")
    imp.add_argument("--actor", default="import")
    imp.add_argument("--now")
    imp.set_defaults(func=_import_events)
