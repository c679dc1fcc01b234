"""Profile the API's read endpoints one request at a time: ``python -m bench.api_profile
--db iom_api_bench`` (a database ``bench.api_bench --keep`` loaded and kept).

For each endpoint of ``bench.api_bench`` (through the Flask app in this process, no
socket, no scheduler): CPU and wall time per request, SQL statements per request, and
with ``--top N`` the N functions with the most cumulative time (cProfile). ``/health``
is the same-run baseline. Reads only what the requests themselves write (access log
rows).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
from pathlib import Path

from sqlalchemy import event

from bench import scratch
from bench.api_bench import _endpoints, _known_users
from workflow.config import load_settings
from workflow.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]


def _client(rt: Runtime):
    from api import create_app

    return create_app(rt).test_client()


def run(args) -> int:
    url = scratch.url_of(args.db)
    env = {**os.environ, "IOM_DATABASE_URL": url, "IOM_SCHEDULER_ENABLED": "false"}
    rt = Runtime.from_settings(load_settings(ROOT / "config.toml", env=env))
    statements, shown = [0], []

    def count(_conn, _cursor, sql, *_args):
        statements[0] += 1
        shown.append(sql)

    event.listen(rt.engine, "before_cursor_execute", count)
    users = _known_users(rt)
    client = _client(rt)
    people = args.people
    print(f"load average: {' '.join(f'{v:.1f}' for v in os.getloadavg())}; "
          f"{args.n} requests each, one at a time")
    for name, make in _endpoints(users, people).items():
        if args.only and not any(o in name for o in args.only):
            continue
        for i in range(5):  # warm up
            method, path, headers, body = make(i)
            client.open(path, method=method, headers=headers, data=body)
        profile = cProfile.Profile()
        statements[0] = 0
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(args.n):
            method, path, headers, body = make(i)
            if args.top:  # the profiler roughly doubles the CPU time it measures
                profile.enable()
            response = client.open(path, method=method, headers=headers, data=body)
            if args.top:
                profile.disable()
            assert response.status_code == 200, (name, response.status_code, response.text)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"{name:>18}: CPU {cpu / args.n * 1000:6.1f} ms, wall {wall / args.n * 1000:6.1f}"
              f" ms, {statements[0] / args.n:5.1f} SQL statements per request")
        if args.sql:
            shown.clear()
            method, path, headers, body = make(0)
            client.open(path, method=method, headers=headers, data=body)
            for sql in shown:
                print("    " + " ".join(sql.split())[:args.sql])
        if args.top:
            pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
    rt.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="iom_api_bench")
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("-n", type=int, default=50)
    parser.add_argument("--top", type=int, default=0,
                        help="also profile (cProfile: CPU figures then include its overhead)"
                        " and print the N functions with the most cumulative time")
    parser.add_argument("--only", nargs="+", default=[],
                        help="the endpoints whose name contains one of these words")
    parser.add_argument("--sql", type=int, default=0,
                        help="print one request's statements, cut to this many characters")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
