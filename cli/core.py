"""Core commands: db, tick, evaluate, users, serve, scheduler."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cli.common import (
    open_runtime,
    parse_now,
    print_json,
    runtime,
    warn_if_privileged,
)
from db.session import transaction
from rules.library import load_file
from workflow.errors import InvalidInput
from workflow.policy.store import policy_in_force


def _grant_app_role(settings) -> str | None:
    """On PostgreSQL with a separate owner: create/grant the role of ``database.url``."""
    from sqlalchemy.engine import make_url

    from db.roles import grant_app_role
    from db.session import make_engine

    if not settings.database_owner_url:
        return None
    app, owner_url = make_url(settings.database_url), settings.database_owner_url
    if app.get_backend_name() != "postgresql" or app.username == make_url(owner_url).username:
        return None
    owner = make_engine(owner_url)
    try:
        grant_app_role(owner, app.username, app.password)
    finally:
        owner.dispose()
    return app.username


def _db_upgrade(args) -> int:
    from db.migrate import upgrade
    from workflow.policy.store import seed_policy
    from workflow.rulesets import sync_shipped
    from workflow.sharing.store import seed_agreement

    with open_runtime(args, require_schema=False) as rt:
        upgrade(rt.settings.database_owner_url or rt.settings.database_url)
        role = _grant_app_role(rt.settings)
        with transaction(rt.sessions) as session:
            published = sync_shipped(session, now=parse_now(None))
            seeded = seed_policy(session, rt.settings, now=parse_now(None))
            agreement = seed_agreement(session, now=parse_now(None))
    print(f"database at head; shipped rule sets published: {', '.join(published) or 'none new'}")
    print("stage policy: " + (f"seeded from config.toml ({seeded[:12]})" if seeded else
                              "already published (config.toml is no longer read for it)"))
    print("sharing agreement: " + (f"shipped default published ({agreement[:12]})"
                                   if agreement else "already published"))
    if role:
        print(f"app role {role}: read/write on the tables, INSERT and SELECT only on "
              "audit_entry (migrations ran as the owner)")
    return 0


def _tick(args) -> int:
    from scheduler.jobs import run_all

    with open_runtime(args) as rt:
        report, jobs = run_all(rt, now=parse_now(args.now))
    print("\n".join(report.lines() + [line for job in jobs for line in job.lines()]))
    return 1 if report.failed or any(job.failed for job in jobs) else 0


def _read_facts(path: str) -> list:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        return json.loads(text)
    except FileNotFoundError as exc:
        raise InvalidInput(f"{path}: file not found") from exc
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}: not valid JSON: line {exc.lineno}: {exc.msg}") from exc


def _evaluate(args) -> int:
    from workflow.evaluate import evaluate_facts

    items = _read_facts(args.facts)
    docs = [load_file(p) for p in args.ruleset_file] if args.ruleset_file else None
    now = parse_now(args.now)
    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        result = evaluate_facts(session, items, now=now,
                                policy=policy_in_force(session, rt.settings, now), stage=args.stage,
                                ruleset=args.ruleset, documents=docs)
    print_json(result)
    return 0


def _sign_in_banner(rt):
    """The first lines of ``iom serve``, as a function to call once the port is bound
    (before the scheduler's log lines): where to sign in, and the demo users whose
    password is still the known demo one. The users are read now."""
    from workflow.demo.seed import demo_sign_ins

    with transaction(rt.sessions) as session:
        demo = demo_sign_ins(session)

    def show() -> None:
        lines = [f"Sign in at http://{rt.settings.host}:{rt.settings.port}/sign-in"]
        if demo:
            lines.append("Demo users (username / password):")
            lines += [f"  {u['username']:<10} {u['password']:<26} {u['display_name']} "
                      f"({u['role'].replace('_', ' ')})" for u in demo]
        print("\n".join(lines) + "\n", flush=True)

    return show


def _serve(args) -> int:
    """Refused (one line) on a missing or unmigrated database or a port in use; says it
    serves only once the port is bound."""
    from api.serve import serve
    from cli.logs import configure_logging

    rt = runtime(args)
    configure_logging(rt.settings)
    sign_in = _sign_in_banner(rt)  # read now (argon2 takes a moment), printed once bound

    def announce():
        sign_in()
        warn_if_privileged(rt)

    return serve(rt, with_scheduler=not args.no_scheduler, announce=announce)


def _scheduler(args) -> int:
    from cli.logs import configure_logging
    from scheduler.runner import run_forever

    rt = runtime(args)
    configure_logging(rt.settings)
    warn_if_privileged(rt)
    return run_forever(rt)


def register(sub) -> None:
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="migrate to head and publish shipped rule sets"
                      ).set_defaults(func=_db_upgrade)

    tick = sub.add_parser("tick", help="run exactly one scheduler pass and print what moved")
    tick.add_argument("--now", help="ISO-8601 instant to run the pass as of (default: now)")
    tick.set_defaults(func=_tick)

    ev = sub.add_parser("evaluate", help="evaluate a JSON list of facts objects")
    target = ev.add_mutually_exclusive_group(required=True)
    target.add_argument("--stage", help="evaluate the stage's configured rule sets (with the "
                        "exclusion guards); 'exclusion' or 'agenda' for those alone")
    target.add_argument("--ruleset", help="evaluate one published rule set by name")
    target.add_argument("--ruleset-file", action="append",
                        help="evaluate a rule-set document file (repeatable), e.g. a draft")
    ev.add_argument("--facts", required=True, help="JSON file ('-' for stdin)")
    ev.add_argument("--now", help="as-of instant for published versions (default: now)")
    ev.set_defaults(func=_evaluate)

    users = sub.add_parser("users", help="manage users, tokens and web passwords")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    from cli import users as users_cli

    users_cli.register(users_sub)

    serve = sub.add_parser("serve", help="serve the API (and the scheduler)")
    serve.add_argument("--no-scheduler", action="store_true")
    serve.set_defaults(func=_serve)
    sub.add_parser("scheduler", help="run the scheduler alone").set_defaults(func=_scheduler)
