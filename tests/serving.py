"""The real waitress server of ``api.serve.make_server`` in a thread, for tests that talk
to it over a socket, and its orderly stop.

Stopping waitress from another thread races its loop: ``server.close()`` closes the
sockets its ``select`` may be polling that instant (EBADF in the server thread, which
pytest reports as an unhandled thread exception under ``filterwarnings = error``). So
:func:`serve_in_thread`'s ``stop`` first lets requests at work finish, then closes, and
an error the loop raises only because it was being closed is expected, not a failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def serve_in_thread(runtime, **options) -> tuple[object, Callable[[], None]]:
    """``(server, stop)``: waitress serving ``runtime``'s app on a free port (options as
    :func:`api.serve.make_server`'s); ``stop()`` ends it and joins its thread."""
    from api.serve import make_server

    server = make_server(runtime, host="127.0.0.1", port=0, **options)
    stopping = threading.Event()

    def run() -> None:
        try:
            server.run()
        except (OSError, ValueError):
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def stop() -> None:
        deadline = time.monotonic() + 10
        while server.task_dispatcher.active_count and time.monotonic() < deadline:
            time.sleep(0.02)
        stopping.set()
        server.close()
        thread.join(5)

    return server, stop
