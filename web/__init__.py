"""Web pages for the people who run IOM, served by the same app as the API, at ``/``.

Server-rendered GOV.UK Frontend pages (Jinja macros from govuk-frontend-jinja, compiled
CSS/JS vendored under ``web/static/govuk``): every page works without JavaScript. Pages
call ``workflow/`` only; case data passes through :mod:`web.case_data`. Users sign in with
a password (:mod:`web.auth`); every form carries a CSRF token (:mod:`web.security`).
"""

from __future__ import annotations

from flask import Flask
from jinja2 import ChoiceLoader, PackageLoader, PrefixLoader

from web import errors, navigation, security
from web.blueprint import bp
from web.views import audit, cases, panel, reports, rules, signin, tasks  # noqa: F401  (routes on bp)
from workflow import passwords
from workflow.runtime import Runtime


def register(app: Flask, runtime: Runtime):
    """Register the pages, their templates, sign-in, CSRF and security headers on ``app``;
    return the renderer of error pages (``render(status, code, message, details)``), which
    the app factory hands to the one error mapping (``api/errors.py``)."""
    security.configure(app, runtime.settings)
    passwords.prepare()
    app.jinja_loader = ChoiceLoader([
        PackageLoader("web", "templates"),
        PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
    ])
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.globals["nav_items"] = navigation.items_for
    app.jinja_env.filters.update(errors.FILTERS)

    app.register_blueprint(bp)
    return errors.render_error
