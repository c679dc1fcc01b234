"""Entry point of the ``iom`` console script."""

from __future__ import annotations

import argparse
import sys

from db.session import database_failure
from rules.errors import FactError, RuleSetError
from workflow.errors import IOMError

EXIT_DATABASE = 4  # the database was unreachable, lost or failed: nothing half-stored

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
    parser.add_argument("--config", help="config file (default: $IOM_CONFIG or ./config.toml)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
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
    except Exception as exc:
        line = database_failure(exc)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return EXIT_DATABASE


if __name__ == "__main__":
    sys.exit(main())
