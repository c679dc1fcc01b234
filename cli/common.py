"""Helpers shared by CLI commands: settings, runtime, time parsing, JSON output."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from db.session import transaction
from workflow.config import load_settings
from workflow.errors import InvalidInput, Unauthenticated
from workflow.runtime import Runtime


def runtime(args, *, require_schema: bool = True) -> Runtime:
    """The runtime of ``--config``; unless told otherwise, refused with one line naming
    ``iom db upgrade`` when the database is missing or not migrated to head."""
    rt = Runtime.from_settings(load_settings(getattr(args, "config", None)))
    if require_schema:
        try:
            rt.require_schema()
        except BaseException:
            rt.close()
            raise
    return rt


def warn_if_privileged(rt: Runtime) -> None:
    """Say on stderr when the service holds more than it needs: a PostgreSQL superuser or
    the owner of audit_entry can switch the append-only guard off; and when the audit
    is not signed."""
    from db.roles import connected_as
    from workflow.audit_signing import unchecked_note

    who = connected_as(rt.engine)
    if who is not None and who.privileged:
        print(f"WARNING: connected to PostgreSQL as {who.user!r}, "
              + ("a superuser" if who.superuser else "the owner of audit_entry")
              + ", which can disable the audit guard: run the service as a least-privilege "
              "role (database.url) and migrations as the owner (database.owner_url); "
              "see README", file=sys.stderr)
    if not rt.keyring.current:
        print(unchecked_note(rt.keyring).replace("NOT checked", "NOT written"),
              file=sys.stderr)


@contextmanager
def open_runtime(args, *, require_schema: bool = True) -> Iterator[Runtime]:
    """The runtime for one command, its connections closed afterwards."""
    rt = runtime(args, require_schema=require_schema)
    try:
        yield rt
    finally:
        rt.close()


@contextmanager
def session_scope(args):
    """One transaction (committed on success) on a runtime closed afterwards."""
    with open_runtime(args) as rt, transaction(rt.sessions) as session:
        yield session


def parse_now(value: str | None) -> datetime:
    """ISO-8601 instant (naive means UTC), or the current time when ``value`` is None."""
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"--now: {value!r} is not an ISO-8601 date or time") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def print_json(data) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def host_admin_actor() -> str:
    """``host-admin:<os user>``: how a command run by the host's administrator is audited."""
    from workflow.users import HOST_ADMIN_PREFIX

    return f"{HOST_ADMIN_PREFIX}{getpass.getuser()}"


def add_acting_args(parser, *, what: str = "acting username") -> None:
    """``--as USER`` (proven by USER's token: ``$IOM_TOKEN`` or a prompt) or ``--as-admin``
    (the host's administrator, audited as ``host-admin:<os user>``); one is required."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--as", dest="actor", metavar="USER",
                       help=f"{what}; the command needs USER's token in $IOM_TOKEN "
                            "(prompted when absent and stdin is a terminal)")
    group.add_argument("--as-admin", dest="as_admin", action="store_true",
                       help="run as the host's administrator, recorded as "
                            "host-admin:<os user> (four-eyes approval refuses it)")


def acting_user(session, args):
    """The :class:`User` a command acts for (see :func:`add_acting_args`)."""
    from workflow.users import acting_user as verified
    from workflow.users import host_admin

    if getattr(args, "as_admin", False):
        return host_admin(getpass.getuser())
    token = os.environ.get("IOM_TOKEN")
    if not token and sys.stdin.isatty():
        token = getpass.getpass(f"token for {args.actor}: ")
    if not token:
        raise Unauthenticated(f"acting as {args.actor} needs {args.actor}'s token: set "
                              "IOM_TOKEN (or run at a terminal to be asked for it), or run "
                              "as the host's administrator with --as-admin")
    return verified(session, args.actor, token, now=datetime.now(UTC))
