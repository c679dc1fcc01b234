"""Entry point of the ``iom`` console script."""

from __future__ import annotations

import argparse
import os
import sys

from db.session import database_failure
from rules.errors import FactError, RuleSetError
from workflow.errors import IOMError

EXIT_DATABASE = 4  # the database was unreachable, lost or failed: nothing half-stored
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a Unix tool killed by a closed pipe

# Each module exposes register(subparsers); its handlers are set with set_defaults(func=...).
COMMAND_MODULES = (
    "cli.core",
    "cli.lifecycle",
    "cli.rules",
    "cli.audit",
    "cli.partners",
    "cli.tasks",
    "cli.reports",
    "cli.sharing",
)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="iom", description="IOM case workflow service")
    parser.add_argument("--config", help="config file (default: $IOM_CONFIG, else "
                        "./config.toml when present, else the defaults packaged with iom)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. Errors end in one line on stderr and a non-zero exit code; output
    cut short by a closed pipe (``iom tick | head``) ends silently."""
    try:
        code = _dispatch(argv)
        sys.stdout.flush()  # a reader that went away shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nothing left to flush at exit
        return EXIT_BROKEN_PIPE


def _dispatch(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except RuleSetError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except (IOMError, FactError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise
    except Exception as exc:
        line = database_failure(exc)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return EXIT_DATABASE


if __name__ == "__main__":
    sys.exit(main())
