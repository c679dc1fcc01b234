"""Web sign-in: argon2 passwords, the lock-out counted in the database (across app
instances), session cookie flags and time-outs, CSRF on every form, security headers,
and the `iom users` password commands. Real database (both backends), real app."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest

from cli.main import main as iom
from workflow.errors import Unauthenticated
from workflow.passwords import LockedOut, Throttle, check_password, set_password, sign_in

PASSWORD = "a-long-enough-password"
THROTTLE = Throttle(max_failures=3, window=timedelta(minutes=15))


@pytest.fixture
def om(session, make_user, now):
    user, _token = make_user("om1", role="offender_manager", agency="NPS")
    set_password(session, user, PASSWORD, now=now)
    session.commit()
    return user


def _try(session, password, now, address="10.0.0.1", username="om1"):
    try:
        return sign_in(session, username=username, password=password, address=address,
                       now=now, throttle=THROTTLE)
    finally:
        session.commit()  # a failed attempt is kept, as the page's transaction keeps it


def test_password_is_stored_as_argon2id_and_checked(session, om, now):
    assert om.password_hash.startswith("$argon2id$") and PASSWORD not in om.password_hash
    assert check_password(om, PASSWORD) and not check_password(om, PASSWORD + "x")
    assert _try(session, PASSWORD, now).id == om.id
    with pytest.raises(Exception, match="at least 12"):
        set_password(session, om, "short", now=now)


def test_lock_out_per_username_and_address_with_a_moving_clock(session, om, now):
    for left in (2, 1):
        with pytest.raises(Unauthenticated) as failed:
            _try(session, "wrong", now)
        assert failed.value.details["attempts_left"] == left
        now += timedelta(minutes=1)
    with pytest.raises(LockedOut) as locked:
        _try(session, "wrong", now)  # the third failure locks the pair
    first = now - timedelta(minutes=2)
    assert locked.value.until == first + THROTTLE.window
    with pytest.raises(LockedOut):
        _try(session, PASSWORD, now + timedelta(minutes=5))  # right password, still locked
    assert _try(session, PASSWORD, now, address="10.0.0.2").id == om.id  # another address
    later = locked.value.until + timedelta(seconds=1)
    assert _try(session, PASSWORD, later).id == om.id
    from db.models import SignInAttempt

    kept = session.query(SignInAttempt).filter_by(username="om1").all()
    assert all(a.at >= later - THROTTLE.window for a in kept)  # the first failure deleted
    assert len(kept) == 4  # two failures and two successes still within the window


def test_a_success_resets_the_count_and_unknown_users_fail_alike(session, om, now,
                                                                  make_user):
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            _try(session, "wrong", now)
    _try(session, PASSWORD, now)
    with pytest.raises(Unauthenticated) as failed:
        _try(session, "wrong", now + timedelta(seconds=1))
    assert failed.value.details["attempts_left"] == 2  # counted from the success
    nopass, _ = make_user("nopass", role="police")
    messages = set()
    for username in ("nobody", "nopass"):
        with pytest.raises(Unauthenticated) as failed:
            _try(session, PASSWORD, now, username=username)
        messages.add(failed.value.message)
    om.active = False
    session.commit()
    with pytest.raises(Unauthenticated) as failed:
        _try(session, PASSWORD, now)
    messages.add(failed.value.message)
    assert messages == {"the username or password is not right"}


def _token(client, path="/sign-in"):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def _sign_in(client, password=PASSWORD, username="om1"):
    return client.post("/sign-in", data={"username": username, "password": password,
                                         "csrf_token": _token(client)})


def test_lock_out_holds_across_app_instances(settings, om, app):
    from api import create_app
    from workflow.runtime import Runtime

    first = app.test_client()
    for _ in range(settings.web["sign_in_max_failures"]):
        response = _sign_in(first, "wrong")
        assert response.status_code == 200  # the attempt is committed
    assert "tried to sign in too many times" in response.text
    other_runtime = Runtime.from_settings(settings)  # another process, as after a restart
    try:
        other = create_app(other_runtime).test_client()
        response = _sign_in(other)
        assert "tried to sign in too many times" in response.text
        assert other.get("/tasks").status_code == 302
    finally:
        other_runtime.close()


def test_session_cookie_flags_and_security_headers(client, om):
    response = _sign_in(client)
    assert response.status_code == 303 and response.headers["Location"] == "/tasks"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # served on 127.0.0.1 (config.toml): plain-HTTP local use
    page = client.get("/tasks")
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp
    assert "unsafe-inline" not in csp and "<script>" not in page.text
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/tasks").status_code == 401  # the cookie is not an API token


def test_secure_cookie_when_not_on_loopback(settings, om):
    from dataclasses import replace

    from api import create_app
    from workflow.runtime import Runtime

    runtime = Runtime.from_settings(replace(settings, host="0.0.0.0"))
    try:
        client = create_app(runtime).test_client()
        response = _sign_in(client)
        assert "Secure" in response.headers["Set-Cookie"]
        assert "max-age=31536000" in response.headers["Strict-Transport-Security"]
    finally:
        runtime.close()


@pytest.mark.parametrize(("key", "age"), [("seen", 31 * 60), ("signed_in", 11 * 3600)])
def test_idle_and_absolute_time_outs(client, om, key, age):
    _sign_in(client)
    assert client.get("/tasks").status_code == 200
    with client.session_transaction() as cookie:
        cookie[key] = int(time.time()) - age
    response = client.get("/tasks")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]
    assert "ended=" in response.headers["Location"]
    assert client.get("/tasks").status_code == 302  # the session was dropped


def test_a_password_change_ends_open_sessions(client, session, om, now):
    _sign_in(client)
    assert client.get("/tasks").status_code == 200
    set_password(session, om, "another-long-password", now=now)
    session.commit()
    assert client.get("/tasks").status_code == 302


def test_every_form_refuses_a_post_without_its_token(client, om):
    _sign_in(client)
    for path in ("/sign-in", "/sign-out", "/tasks/1/claim", "/tasks/1/complete",
                 "/tasks/1/reassign", "/tasks/1/cancel"):
        response = client.post(path, data={"outcome": "x", "reason": "y"})
        assert response.status_code == 400, path
        assert "did not come from this service" in response.text
    assert client.get("/tasks").status_code == 200  # still signed in


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/",
                                    "/\\evil.example"])
def test_sign_in_never_redirects_off_site(client, om, target):
    response = client.post("/sign-in", data={"username": "om1", "password": PASSWORD,
                                             "next": target, "csrf_token": _token(client)})
    assert response.headers["Location"] == "/tasks"


def test_users_commands_set_print_and_reset_passwords(db_url, session, monkeypatch, capsys,
                                                      now):
    from workflow.users import user_named

    monkeypatch.setenv("IOM_DATABASE_URL", db_url)
    assert iom(["users", "create", "pc1", "--role", "police", "--agency", "police"]) == 0
    first = capsys.readouterr().out.split("sign in at /sign-in): ")[1].strip()
    assert check_password(user_named(session, "pc1"), first)
    session.commit()
    assert iom(["users", "reset-password", "pc1"]) == 0
    second = capsys.readouterr().out.rsplit(": ", 1)[1].strip()
    session.expire_all()
    user = user_named(session, "pc1")
    assert second != first and check_password(user, second) and not check_password(user, first)
    session.commit()
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("chosen-by-the-user\n"))
    assert iom(["users", "set-password", "pc1", "--password-stdin"]) == 0
    session.expire_all()
    assert check_password(user_named(session, "pc1"), "chosen-by-the-user")
    session.commit()
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("short\n"))
    assert iom(["users", "set-password", "pc1", "--password-stdin"]) == 2
    assert "at least 12" in capsys.readouterr().err


def test_demo_users_get_known_passwords_printed_first_until_changed(session, now, runtime,
                                                                    capsys):
    from cli.core import _sign_in_banner
    from workflow.demo.seed import DEMO_USERS, demo_sign_ins, ensure_demo_users
    from workflow.users import user_named

    ensure_demo_users(session, now=now)
    session.commit()
    listed = demo_sign_ins(session)
    assert [u["username"] for u in listed] == [u.username for u in DEMO_USERS]
    assert _try(session, listed[2]["password"], now, username=listed[2]["username"])
    _sign_in_banner(runtime)()  # what `iom serve` (make run) prints before any log line
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Sign in at http://127.0.0.1:8000/sign-in"
    assert any(line.split()[:2] == ["om1", "om1-demo-password"] for line in lines)
    set_password(session, user_named(session, "om1"), "changed-by-om1-now", now=now)
    ensure_demo_users(session, now=now)  # a second make run keeps a changed password
    session.commit()
    assert "om1" not in [u["username"] for u in demo_sign_ins(session)]



def test_secret_key_file_created_private_once_and_refused_when_short(tmp_path):
    import os
    import stat
    from concurrent.futures import ThreadPoolExecutor

    from web.security import secret_key
    from workflow.errors import ConfigError

    path = tmp_path / "keys" / "web.key"
    with ThreadPoolExecutor(8) as pool:  # racing first starts all get the one key
        keys = set(pool.map(lambda _: secret_key(str(path)), range(16)))
    assert len(keys) == 1 and len(keys.pop()) == 64
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["web.key"]
    path.write_text("short\n")
    with pytest.raises(ConfigError, match="fewer than 32"):
        secret_key(str(path))
