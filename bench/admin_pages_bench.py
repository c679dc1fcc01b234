"""Benchmark the team lead, panel chair and auditor pages' server time on the demo
borough: ``python -m bench.admin_pages_bench --people 3000``.

Same set-up as ``bench.pages_bench`` (demo borough in a temporary SQLite file, two
scheduler passes, the agenda of the next meeting built), then each page is timed through
the WSGI app in process, signed in as the demo team lead ``lead1`` or auditor
``auditor1``, with the JSON API's nearest read as the same-run baseline. The impact
preview (a POST that evaluates every open case of the stages the set runs in, twice) is
timed apart: it is a computation, not a page read. Target: every page under 300 ms.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

from api import create_app
from bench.pages_bench import _setup, _time
from db.models import Case, RuleSetVersion
from db.session import transaction
from workflow.demo.seed import demo_password
from workflow.panel import build_agenda, next_meeting_on
from workflow.policy.store import policy_in_force
from workflow.users import rotate_token, user_named

PAN = "pan-london-selection"


def _meeting_and_case(rt) -> tuple[int | None, int, str, int]:
    """(meeting id or None, a case that moved, the Pan-London version in force, the
    number of cases on the agenda)."""
    with transaction(rt.sessions) as session:
        now = datetime.now(UTC)
        panel = policy_in_force(session, rt.settings, now).panel
        held = next_meeting_on(panel["schedule"], now.date())
        meeting = build_agenda(session, now=datetime.combine(held - timedelta(days=1),
                                                             clock(9), UTC),
                               settings=rt.settings, actor="bench")
        case = session.query(Case).filter(Case.state != "mapping").first()
        version = session.query(RuleSetVersion).filter_by(
            name=PAN, status="published").one().version
        return (meeting.id if meeting else None), case.id, version[:12], (
            len(meeting.items) if meeting else 0)


def _client(app, username: str):
    client = app.test_client()
    form = client.get("/sign-in").text
    client.post("/sign-in", data={"username": username, "password": demo_password(username),
                                  "csrf_token": re.search(r'csrf_token" value="([^"]+)"',
                                                          form)[1]})
    return client


def _report(name, client, page, api_client, api, runs, bearer) -> None:
    _time(client, page, 3)
    _time(api_client, api, 3, bearer)
    pages, apis = _time(client, page, runs), _time(api_client, api, runs, bearer)
    p_med, a_med = statistics.median(pages), statistics.median(apis)
    p95 = sorted(pages)[int(0.95 * (len(pages) - 1))]
    print(f"  {name:<14} page median {p_med:7.1f}  p95 {p95:7.1f}   API {api:<34} median "
          f"{a_med:6.1f}   ratio {p_med / a_med:5.1f}x   {'ok' if p95 < 300 else 'OVER'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="iom-admin-pages-") as tmp:
        started = time.perf_counter()
        rt = _setup(args.people, Path(tmp))
        meeting_id, case_id, version, agenda = _meeting_and_case(rt)
        with transaction(rt.sessions) as session:
            bearer = {"Authorization": "Bearer " + rotate_token(session, user_named(
                session, "lead1"))}
        app = create_app(rt)
        lead, auditor, api = _client(app, "lead1"), _client(app, "auditor1"), app.test_client()
        print(f"{args.people} people, set up in {time.perf_counter() - started:.0f} s; "
              f"{args.runs} runs per page (ms, server time); {agenda} cases on the agenda")
        rows = [("rule sets", lead, "/rules", "/api/v1/rulesets"),
                ("version", lead, f"/rules/{PAN}/{version}",
                 f"/api/v1/rulesets/{PAN}/versions/{version}"),
                ("approvals", lead, "/rules/approvals", "/api/v1/rulesets"),
                ("workload", lead, "/workload", "/api/v1/cases?state=allocated"),
                ("access log", auditor, "/audit", "/api/v1/health"),
                ("chronology", auditor, f"/audit/cases/{case_id}",
                 f"/api/v1/cases/{case_id}/explain")]
        if meeting_id:
            rows.append(("panel meeting", lead, f"/panel/{meeting_id}",
                         f"/api/v1/panels/{meeting_id}"))
        for name, client, page, api_path in rows:
            _report(name, client, page, api, api_path, args.runs, bearer)
        token = re.search(r'csrf_token" value="([^"]+)"', lead.get("/rules/approvals").text)[1]
        start = time.perf_counter()
        response = lead.post(f"/rules/{PAN}/{version}/preview", data={"csrf_token": token})
        assert response.status_code == 200, response.status_code
        print(f"  impact preview of {PAN} (POST, every open mapping case twice): "
              f"{(time.perf_counter() - start) * 1000:.0f} ms")
        rt.close()


if __name__ == "__main__":
    main()
