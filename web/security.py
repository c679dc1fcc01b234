"""Cookie, CSRF and response-header settings of the pages.

* The session cookie is signed with the key in ``[web] secret_key_file`` (created with
  mode 0600 when missing), HttpOnly, SameSite=Lax, and Secure unless the server listens
  on a loopback address (``secure_cookie = "auto"``).
* CSRF: Flask-WTF's token on every form; the pages' ``before_request`` checks it on each
  POST (the API, which authenticates by bearer token and never by cookie, is not checked).
* Headers on every response: a CSP with no inline script or style and
  ``frame-ancestors 'none'``, ``X-Frame-Options: DENY``, ``nosniff``, a strict referrer
  policy; pages are ``no-store`` (they show personal data).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask, request
from flask_wtf.csrf import CSRFProtect

from workflow.config import Settings
from workflow.errors import ConfigError

csrf = CSRFProtect()

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def _create_key(file: Path) -> None:
    """Write a new key to a private temporary file, then link it into place: a process
    that races us either links first or finds the complete file (never a partial one)."""
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, file)
        except FileExistsError:
            pass  # another process created it first: use theirs
    finally:
        tmp.unlink(missing_ok=True)


def secret_key(path: str) -> bytes:
    """The key in ``path``; created (64 random hex characters, mode 0600) when missing."""
    file = Path(path)
    try:
        if not file.exists():
            _create_key(file)
        key = file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"web.secret_key_file: {exc}") from exc
    if len(key) < 32:
        raise ConfigError(f"web.secret_key_file: {path} holds fewer than 32 characters")
    return key.encode()


def cookie_secure(settings: Settings) -> bool:
    mode = settings.web["secure_cookie"]
    if mode != "auto":
        return mode == "always"
    host = settings.host
    try:
        return not (host == "localhost" or ipaddress.ip_address(host).is_loopback)
    except ValueError:
        return True


def configure(app: Flask, settings: Settings) -> None:
    web = settings.web
    secure = cookie_secure(settings)
    app.config.update(
        SECRET_KEY=secret_key(web["secret_key_file"]),
        SESSION_COOKIE_NAME="iom_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=web["absolute_hours"]),
        WTF_CSRF_CHECK_DEFAULT=False,  # checked by the pages only (web/auth.py)
        WTF_CSRF_TIME_LIMIT=web["absolute_hours"] * 3600,
        WTF_CSRF_SSL_STRICT=secure,
    )
    csrf.init_app(app)

    @app.after_request
    def _headers(response):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if secure:
            response.headers.setdefault("Strict-Transport-Security",
                                        "max-age=31536000; includeSubDomains")
        if not request.path.startswith(("/static/", "/assets/", "/api/", "/metrics")):
            response.headers["Cache-Control"] = "no-store"
        return response
