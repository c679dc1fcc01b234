"""Running ``iom`` in-process as a person would: with their own token for ``--as``."""

from __future__ import annotations

import os


def run_as(tokens: dict[str, str], argv: list[str]) -> int:
    """``cli.main.main(argv)`` with ``IOM_TOKEN`` set to the token of the ``--as`` user
    (from ``tokens``, the ``user_tokens`` fixture); without ``--as`` no token is set."""
    from cli.main import main

    user = argv[argv.index("--as") + 1] if "--as" in argv else None
    old = os.environ.pop("IOM_TOKEN", None)
    if user is not None:
        os.environ["IOM_TOKEN"] = tokens[user]
    try:
        return main(list(argv))
    finally:
        os.environ.pop("IOM_TOKEN", None)
        if old is not None:
            os.environ["IOM_TOKEN"] = old
