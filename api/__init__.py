"""HTTP API: Flask app factory. Views are thin; workflow/ does the work."""

from __future__ import annotations

from flask_smorest import Api

from api import edge, errors, observability
from api.contract import ContractPlugin
from api.schemas import ErrorOut
from api.shedding import Limits, LoadShedder
from api.transactions import RetryingFlask, transaction_per_request
from workflow.runtime import Runtime


class _Api(Api):
    """flask-smorest with our one error shape for HTTP errors (404, 405, 422...), and
    documented as such: every operation lists its error statuses with that body."""

    ERROR_SCHEMA = ErrorOut
    DEFAULT_ERROR_RESPONSE_NAME = None  # each status is declared (api/contract.py)

    def handle_http_exception(self, error):
        return errors.handle_http_exception(error)


def create_app(runtime: Runtime) -> RetryingFlask:
    """Build the app on ``runtime``. Each request runs in one transaction: committed when
    the response is a success, rolled back otherwise, and run again when it lost to a
    concurrent transaction (``api/transactions.py``)."""
    app = RetryingFlask("iom", static_folder=None)  # the pages serve theirs (web/)
    app.config.update(
        API_TITLE="IOM case workflow",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={"components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}}, "security": [{"bearer": []}]},
        JSON_SORT_KEYS=False,
    )
    app.extensions["iom_runtime"] = runtime
    app.url_map.converters["int"] = edge.IdConverter
    api = _Api(app, spec_kwargs={"extra_plugins": [ContractPlugin()]})
    api.register_converter(edge.IdConverter, lambda _c: {"type": "integer", "minimum": 0,
                                                         "maximum": edge.MAX_ID})
    errors.register(app)
    observability.register(app, runtime)  # request id, log line, metrics; /metrics
    edge.register(app)  # before the session is opened: bad input never reaches the database

    transaction_per_request(app, runtime)

    from api.views import (
        agencies,
        cases,
        evaluate,
        events,
        health,
        imports,
        panel,
        reports,
        rulesets,
        sharing,
        tasks,
    )

    for module in (health, cases, imports, evaluate, rulesets, panel, tasks, events, reports,
                   sharing, agencies):
        api.register_blueprint(module.blp, url_prefix="/api/v1")

    from web import register as register_pages

    app.extensions[errors.PAGE_ERRORS] = register_pages(app, runtime)

    # Outermost: past capacity, 503 with Retry-After before any work (api/shedding.py).
    app.wsgi_app = LoadShedder(app.wsgi_app, Limits.from_settings(runtime.settings))
    return app
