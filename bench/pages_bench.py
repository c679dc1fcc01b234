"""Benchmark the web pages' server time on the demo borough: ``python -m bench.pages_bench
--people 3000``.

Loads a demo borough (SQLite file in a temporary folder, shipped rule sets and stage
policy published), runs two scheduler passes so that the rules raise tasks, signs in as
the demo offender manager with the most tasks, then times each page through the WSGI app
in process (server time: routing, workflow, database, template; no network), with the
JSON API's equivalent read as the same-run baseline. Prints the median and 95th
percentile per page and the ratio to its baseline. Target: every page under 300 ms.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api import create_app
from db.migrate import upgrade
from db.models import Task, User
from db.session import transaction
from scheduler.jobs import advance_due
from workflow.config import load_settings
from workflow.demo.seed import demo_password, load_demo
from workflow.policy.store import seed_policy
from workflow.rulesets import sync_shipped
from workflow.runtime import Runtime
from workflow.users import rotate_token

ROOT = Path(__file__).resolve().parents[1]


def _setup(people: int, folder: Path) -> Runtime:
    url = f"sqlite:///{folder / 'pages.sqlite3'}"
    upgrade(url)
    settings = load_settings(ROOT / "config.toml", env={
        "IOM_DATABASE_URL": url, "IOM_AUDIT_KEY_FILE": str(folder / "audit.key"),
        "IOM_AUDIT_CHECKPOINT_DIR": str(folder / "cp"),
        "IOM_WEB_SECRET_KEY_FILE": str(folder / "web.key")})
    rt = Runtime.from_settings(settings)
    now = datetime.now(UTC)
    with transaction(rt.sessions) as session:
        sync_shipped(session, now=now - timedelta(days=365))
        seed_policy(session, settings, now=now - timedelta(days=365))
    with transaction(rt.sessions) as session:
        load_demo(session, people=people, seed=7, now=now, actor="bench", workdir=folder)
    for _ in range(2):
        advance_due(rt, now=datetime.now(UTC))
    return rt


def _busiest(rt: Runtime) -> tuple[str, str, int, int]:
    """(username, API token, a task id, its case id) of the busiest offender manager."""
    with transaction(rt.sessions) as session:
        tasks = session.query(Task).filter(Task.assignee_id.is_not(None)).all()
        counts = Counter(t.assignee_id for t in tasks)
        user_id, _n = counts.most_common(1)[0]
        user = session.get(User, user_id)
        task = next(t for t in tasks if t.assignee_id == user_id)
        return user.username, rotate_token(session, user), task.id, task.case_id


def _time(client, path: str, runs: int, headers=None) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(path, headers=headers or {})
        out.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="iom-pages-") as tmp:
        started = time.perf_counter()
        rt = _setup(args.people, Path(tmp))
        username, token, task_id, case_id = _busiest(rt)
        app = create_app(rt)
        client = app.test_client()
        form = client.get("/sign-in").text
        client.post("/sign-in", data={"username": username, "password": demo_password(
            username), "csrf_token": re.search(r'csrf_token" value="([^"]+)"', form)[1]})
        print(f"{args.people} people, set up in {time.perf_counter() - started:.0f} s; "
              f"signed in as {username}; {args.runs} runs per page (ms, server time)")
        bearer = {"Authorization": f"Bearer {token}"}
        pairs = [("My tasks", "/tasks", "/api/v1/tasks?scope=mine"),
                 ("team queue", "/tasks?scope=queue", "/api/v1/tasks?scope=queue"),
                 ("task", f"/tasks/{task_id}", f"/api/v1/tasks/{task_id}"),
                 ("case", f"/cases/{case_id}", f"/api/v1/cases/{case_id}/explain")]
        for name, page, api in pairs:
            _time(client, page, 3)
            _time(client, api, 3, bearer)  # warm
            pages, apis = _time(client, page, args.runs), _time(client, api, args.runs, bearer)
            p_med, a_med = statistics.median(pages), statistics.median(apis)
            p95 = sorted(pages)[int(0.95 * (len(pages) - 1))]
            print(f"  {name:<11} page median {p_med:6.1f}  p95 {p95:6.1f}   API {api:<28} "
                  f"median {a_med:6.1f}   ratio {p_med / a_med:4.1f}x   "
                  f"{'ok' if p95 < 300 else 'OVER 300 ms'}")
        rt.close()


if __name__ == "__main__":
    main()
