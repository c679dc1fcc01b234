"""Browser tests: the real server over a real socket, driven by Playwright in the
operating system's Chromium (``/usr/bin/chromium``; ``playwright install`` cannot
download browsers here). Fixtures for every page test:

* ``server`` (per test module, on each backend of ``IOM_TEST_BACKENDS``): a migrated
  SQLite file, or the session's PostgreSQL test database emptied, with the shipped rule
  sets and stage policy published, served by waitress on a free port in a thread;
  ``server.session()`` for seeding (commit and close before the browser acts: SQLite
  takes the write lock per transaction); ``server.user(...)`` creates a user with a
  password.
* ``browser`` (per test session) and ``page`` (a fresh context per test: no cookies).
* fixtures ``sign_in(page, server, username)`` and ``check_page(page, name)``; the
  latter runs axe-core (vendored, ``tests/browser/vendor/axe.min.js``) and fails on any
  serious or critical violation, on any Content-Security-Policy violation, script
  error or failed asset, and writes a screenshot to ``var/screenshots/<name>.png``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from dbsupport import BACKENDS, _truncate_pg
from serving import serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "browser" / "vendor" / "axe.min.js"
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM = os.environ.get("IOM_TEST_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "browser-test-password"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


@dataclass
class LiveServer:
    url: str
    runtime: object

    def session(self):
        return self.runtime.sessions()

    def user(self, username: str, *, role: str, agency: str | None = None,
             display_name: str | None = None):
        """Create a user whose web password is :data:`PASSWORD`; returns its id."""
        from password_helpers import give_password

        from workflow.users import create_user

        with self.session() as session:
            user, _token = create_user(session, username=username, role=role, agency=agency,
                                       display_name=display_name or username.title())
            give_password(session, user, PASSWORD, now=datetime.now(UTC))
            user_id = user.id
            session.commit()
        return user_id


    def supervised_case(self, om_id: int, *, agency: str = "CRC", ogrs: int = 81,
                        offence: str = "theft", ref: str | None = None) -> int:
        """A person newly convicted (30 days ago) with an OGRS score, supervised by the
        user ``om_id``, and a mapping case due now; returns the case id."""
        from db.models import Assessment, Case, OffendingEvent, Person, Supervision

        now = datetime.now(UTC)
        with self.session() as session:
            n = session.query(Person).count() + 1
            person = Person(partner_ref=ref or f"BR{n:04d}", given_name="Jordan",
                            family_name=f"Example{n}", sex="M", date_of_birth=date(1990, 5, 1))
            convicted = (now - timedelta(days=30)).date()
            session.add_all([
                person,
                OffendingEvent(partner_ref=f"BC{n}", person=person, kind="conviction",
                               occurred_on=convicted, offence_category=offence),
                Assessment(partner_ref=f"BO{n}", person=person, assessed_on=convicted,
                           ogrs_2yr=ogrs),
                Supervision(partner_ref=f"BS{n}", person=person, provider=agency,
                            offender_manager_user_id=om_id,
                            start_on=(now - timedelta(days=40)).date())])
            case = Case(person=person, state="mapping", state_since=now - timedelta(days=1),
                        opened_at=now - timedelta(days=1), next_due_at=now)
            session.add(case)
            session.flush()
            case_id = case.id
            session.commit()
        return case_id

    def tick(self, now: datetime | None = None):
        """One scheduler pass, as the running scheduler would do it."""
        from scheduler.jobs import advance_due

        return advance_due(self.runtime, now=now or datetime.now(UTC))


def _database(request, folder: Path) -> str:
    """A migrated, empty database for one module's server on ``request.param``."""
    if request.param == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), folder / "iom.sqlite3")
        return f"sqlite:///{folder / 'iom.sqlite3'}"
    url = request.getfixturevalue("pg_database")  # the session's; no other test runs now
    _truncate_pg(url)
    return url


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory):
    from workflow.config import load_settings
    from workflow.policy.store import seed_policy
    from workflow.rulesets import sync_shipped
    from workflow.runtime import Runtime

    folder = tmp_path_factory.mktemp("browser")
    settings = load_settings(ROOT / "config.toml", env={
        "IOM_DATABASE_URL": _database(request, folder),
        "IOM_AUDIT_KEY_FILE": str(folder / "audit.key"),
        "IOM_AUDIT_CHECKPOINT_DIR": str(folder / "checkpoints"),
        "IOM_WEB_SECRET_KEY_FILE": str(folder / "web.key"),
        "IOM_WEB_SIGN_IN_MAX_FAILURES": "3"})
    runtime = Runtime.from_settings(settings)
    year_ago = datetime.now(UTC) - timedelta(days=365)
    with runtime.sessions() as session:
        sync_shipped(session, now=year_ago)
        seed_policy(session, settings, now=year_ago)
        session.commit()
    server, stop = serve_in_thread(runtime, threads=4)
    yield LiveServer(f"http://127.0.0.1:{server.effective_port}", runtime)
    stop()
    runtime.close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies) and page; console errors are collected and
    checked by :func:`check_page`."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.console_problems = []
    # Script errors, CSP refusals and failed assets count; a page answered 400/403/404 on
    # purpose (a form's error state, the 403 page) logs "Failed to load resource" too,
    # so failed responses are judged by kind instead: any failed asset is a problem.
    page.on("console", lambda m: m.type == "error" and not m.text.startswith(
        "Failed to load resource") and page.console_problems.append(m.text))
    page.on("response", lambda r: r.status >= 400 and r.request.resource_type != "document"
            and page.console_problems.append(f"{r.status} {r.url}"))
    page.on("pageerror", lambda e: page.console_problems.append(str(e)))
    yield page
    context.close()


def _sign_in(page, server: LiveServer, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{server.url}/sign-in")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#sign-in")


def _tab_to(page, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching ``selector`` has the focus (keyboard only)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)",
                         selector):
            return
    raise AssertionError(f"{selector} never got the focus in {limit} presses of Tab")


def _check_page(page, name: str) -> None:
    """axe-core: no serious or critical violation; no CSP violation or script error;
    a full-page screenshot in var/screenshots/<name>.png."""
    page.wait_for_load_state("load")
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("options => axe.run(document, options)",
                           {"runOnly": {"type": "tag", "values": AXE_TAGS},
                            "resultTypes": ["violations"]})
    bad = [{"id": v["id"], "impact": v["impact"], "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5]}
           for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{name}: accessibility violations\n{json.dumps(bad, indent=1)}"
    assert page.console_problems == [], f"{name}: {page.console_problems}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def sign_in():
    """``sign_in(page, server, username, password=PASSWORD)``: fill in and send the form."""
    return _sign_in


@pytest.fixture
def check_page():
    """``check_page(page, name)``: axe, CSP/console errors, screenshot (see module doc)."""
    return _check_page


@pytest.fixture
def tab_to():
    """``tab_to(page, selector)``: press Tab until ``selector`` has the focus."""
    return _tab_to
