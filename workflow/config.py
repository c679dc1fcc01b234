"""Service configuration: ``config.toml`` plus ``IOM_``-prefixed environment overrides.

Nothing is read at import time. :func:`load_settings` reads the file, applies the
environment, validates everything and returns an immutable :class:`Settings`, or
raises :class:`ConfigError` naming the offending key and its source.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from workflow.errors import ConfigError

RULE_STAGES = ("mapping", "matrixing", "review")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ORDINALS = ("first", "second", "third", "fourth", "last")


_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


def _with_driver(value: str, key: str) -> str:
    """SQLite or PostgreSQL; a bare ``postgresql://`` (or ``postgres://``) URL gets the
    installed driver, psycopg 3 (SQLAlchemy would otherwise look for psycopg2)."""
    try:
        url = make_url(value)
    except ArgumentError as exc:
        raise ValidationError(f"not a database URL: {exc}", key) from exc
    backend = {"postgres": "postgresql"}.get(url.get_backend_name(), url.get_backend_name())
    if backend not in _DRIVERS:
        raise ValidationError(f"{url.get_backend_name()!r}: expected sqlite or "
                              "postgresql", key)
    if "+" not in url.drivername:
        url = url.set(drivername=_DRIVERS[backend])
    return url.render_as_string(hide_password=False)


class _DatabaseSchema(Schema):
    # What the service connects as: on PostgreSQL a least-privilege role (db/roles.py).
    url = fields.String(required=True, validate=validate.Length(min=1))
    # What migrations run as (the owner of the tables); "" = the same as url.
    owner_url = fields.String(load_default="")

    @post_load
    def _driver(self, data, **_kw):
        url = _with_driver(data["url"], "url")
        owner = _with_driver(data["owner_url"], "owner_url") if data["owner_url"] else ""
        if owner and make_url(owner).get_backend_name() != make_url(url).get_backend_name():
            raise ValidationError("owner_url and url must name the same kind of database",
                                  "owner_url")
        return {**data, "url": url, "owner_url": owner}


class _ServerSchema(Schema):
    host = fields.String(load_default="127.0.0.1")
    port = fields.Integer(load_default=8000, validate=validate.Range(1, 65535))
    # Largest request body (JSON) and largest CSV upload, refused with 413 above.
    max_body_kb = fields.Integer(load_default=1024, validate=validate.Range(1, 1024 * 1024))
    max_upload_mb = fields.Integer(load_default=200, validate=validate.Range(1, 64 * 1024))
    # Days a user's API token is valid from its issue (iom users create / rotate).
    token_days = fields.Integer(load_default=90, validate=validate.Range(1, 3660))
    # "auto": gunicorn (processes) on PostgreSQL, waitress (one process) on SQLite.
    kind = fields.String(load_default="auto",
                         validate=validate.OneOf(("auto", "waitress", "gunicorn")))
    workers = fields.Integer(load_default=0, validate=validate.Range(0, 256))  # 0: CPUs
    threads = fields.Integer(load_default=8, validate=validate.Range(1, 256))
    # Load shedding (api/shedding.py): requests at work at once, how many more may wait
    # and for how long; beyond that 503 with Retry-After at once.
    max_in_flight = fields.Integer(load_default=8, validate=validate.Range(1, 256))
    max_queued = fields.Integer(load_default=32, validate=validate.Range(0, 1024))
    queue_wait_ms = fields.Integer(load_default=1000, validate=validate.Range(0, 60_000))
    retry_after_s = fields.Integer(load_default=1, validate=validate.Range(1, 3600))


SHEDDING_KEYS = ("max_in_flight", "max_queued", "queue_wait_ms", "retry_after_s")


class _SchedulerSchema(Schema):
    enabled = fields.Boolean(load_default=True)
    interval_seconds = fields.Integer(load_default=30, validate=validate.Range(min=1))
    batch_size = fields.Integer(load_default=10_000, validate=validate.Range(min=1))
    chunk_size = fields.Integer(load_default=1000, validate=validate.Range(1, 5000))
    # Processes a pass's chunks are advanced in (scheduler/pass_workers.py); > 1 needs
    # PostgreSQL (checked in _SettingsSchema: SQLite has one writer at a time).
    pass_workers = fields.Integer(load_default=1, validate=validate.Range(1, 64))


class _FactsSchema(Schema):
    newly_sentenced_days = fields.Integer(load_default=182, validate=validate.Range(min=1))
    window_days = fields.Integer(load_default=730, validate=validate.Range(min=1))


class _StageSchema(Schema):
    rulesets = fields.List(fields.String(validate=validate.Length(min=1)), required=True)
    recheck_days = fields.Integer(load_default=7, validate=validate.Range(min=1))


class _RulesetsSchema(Schema):
    rulesets = fields.List(fields.String(validate=validate.Length(min=1)), required=True)


# --- guards and agenda (issue 11): rule sets evaluated beside every stage, not a stage ---
# (These and programme_links only seed the stage policy: see workflow/policy.)
GUARD_DEFAULTS = {"exclusion": ("mappa-exclusion", "youth-age-floor"),
                  "agenda": ("agenda-priority",), "programme_links": ("programme-links",)}


class _StagesSchema(Schema):
    mapping = fields.Nested(_StageSchema, required=True)
    matrixing = fields.Nested(_StageSchema, required=True)
    review = fields.Nested(_StageSchema)
    exclusion = fields.Nested(_RulesetsSchema, load_default=lambda: {
        "rulesets": list(GUARD_DEFAULTS["exclusion"])})
    agenda = fields.Nested(_RulesetsSchema, load_default=lambda: {
        "rulesets": list(GUARD_DEFAULTS["agenda"])})
    programme_links = fields.Nested(_RulesetsSchema, load_default=lambda: {
        "rulesets": list(GUARD_DEFAULTS["programme_links"])})


def _check_schedule(value: str) -> None:
    parts = value.lower().split()
    if not (len(parts) == 2 and parts[0] in ORDINALS and parts[1] in WEEKDAYS):
        raise ValidationError(
            f"{value!r}: expected '<first|second|third|fourth|last> <weekday>'")


class _PanelSchema(Schema):
    schedule = fields.String(load_default="first thursday", validate=_check_schedule)
    time = fields.String(load_default="10:00", validate=validate.Regexp(r"^\d{2}:\d{2}$"))
    agenda_days_before = fields.Integer(load_default=7, validate=validate.Range(0, 60))
    max_cases = fields.Integer(load_default=20, validate=validate.Range(min=1))


class _AllocationSchema(Schema):
    rulesets = fields.List(fields.String(validate=validate.Length(min=1)),
                           load_default=lambda: ["lead-professional", "intensity-by-risk"])


class _CapacitySchema(Schema):
    nominals_per_unit = fields.Integer(load_default=40, validate=validate.Range(min=1))
    nps_offender_managers = fields.Float(load_default=0.8, validate=validate.Range(min=0.01))
    nps_police = fields.Float(load_default=1.0, validate=validate.Range(min=0.01))
    crc_offender_managers = fields.Float(load_default=1.3, validate=validate.Range(min=0.01))
    crc_police = fields.Float(load_default=1.0, validate=validate.Range(min=0.01))
    nonstat_police = fields.Float(load_default=1.0, validate=validate.Range(min=0.01))
    mix_nps = fields.Float(load_default=22, validate=validate.Range(min=0))
    mix_crc = fields.Float(load_default=34, validate=validate.Range(min=0))
    mix_nonstat = fields.Float(load_default=35, validate=validate.Range(min=0))
    staff_offender_managers = fields.Integer(load_default=3, validate=validate.Range(min=0))
    staff_police = fields.Integer(load_default=2, validate=validate.Range(min=0))
    team_cohort = fields.Integer(load_default=100, validate=validate.Range(min=1))


class _ReviewSchema(Schema):
    very_high_days = fields.Integer(load_default=28, validate=validate.Range(min=1))
    high_days = fields.Integer(load_default=56, validate=validate.Range(min=1))
    medium_days = fields.Integer(load_default=91, validate=validate.Range(min=1))
    low_days = fields.Integer(load_default=182, validate=validate.Range(min=1))
    default_days = fields.Integer(load_default=91, validate=validate.Range(min=1))


class _TasksSchema(Schema):
    # Rule sets evaluated after a compliance event (tasks / enforcement only).
    compliance_rulesets = fields.List(fields.String(validate=validate.Length(min=1)),
                                      load_default=lambda: ["enforcement-triggers"])
    escalate_after_working_days = fields.Integer(load_default=0, validate=validate.Range(0, 60))
    digest_hour = fields.Integer(load_default=7, validate=validate.Range(0, 23))
    retry_base_seconds = fields.Integer(load_default=60, validate=validate.Range(min=1))
    retry_max_seconds = fields.Integer(load_default=3600, validate=validate.Range(min=1))


class _SmtpSchema(Schema):
    enabled = fields.Boolean(load_default=False)
    host = fields.String(load_default="127.0.0.1")
    port = fields.Integer(load_default=25, validate=validate.Range(1, 65535))
    sender = fields.String(load_default="iom@localhost", validate=validate.Email())
    timeout_seconds = fields.Float(load_default=10.0, validate=validate.Range(min=0.1))


class _AuditSchema(Schema):
    # HMAC key file (outside the database); "" or a missing file: entries are not signed.
    key_file = fields.String(load_default="")
    # Where signed checkpoints of the chain head are appended (the auditor's copy).
    checkpoint_dir = fields.String(load_default="var/audit-checkpoints",
                                   validate=validate.Length(min=1))
    checkpoint_minutes = fields.Integer(load_default=60, validate=validate.Range(1, 10080))
    # Sealing the access log (workflow/access_seal.py): how often, rows per sealed batch
    # (one signed audit entry each), and how old a read must be to be sealed.
    access_seal_minutes = fields.Integer(load_default=1, validate=validate.Range(1, 1440))
    access_seal_batch = fields.Integer(load_default=5000, validate=validate.Range(1, 100_000))
    access_settle_seconds = fields.Integer(load_default=60, validate=validate.Range(0, 3600))


class _LoggingSchema(Schema):
    format = fields.String(load_default="human", validate=validate.OneOf(("human", "json")))
    level = fields.String(load_default="INFO", validate=validate.OneOf(
        ("DEBUG", "INFO", "WARNING", "ERROR")))


class _MetricsSchema(Schema):
    enabled = fields.Boolean(load_default=True)
    # "" = /metrics answers without a token; else the scraper sends it as a bearer token.
    token = fields.String(load_default="")


class _WebSchema(Schema):
    """The web pages (web/): session cookie, time-outs and sign-in throttling."""

    # Signs the session cookie; created (0600) on first start when missing.
    secret_key_file = fields.String(load_default="var/web-secret.key",
                                    validate=validate.Length(min=1))
    idle_minutes = fields.Integer(load_default=30, validate=validate.Range(1, 24 * 60))
    absolute_hours = fields.Integer(load_default=10, validate=validate.Range(1, 7 * 24))
    # auto: Secure unless the server listens on a loopback address (plain-HTTP local use).
    secure_cookie = fields.String(load_default="auto",
                                  validate=validate.OneOf(("auto", "always", "never")))
    sign_in_max_failures = fields.Integer(load_default=5, validate=validate.Range(1, 100))
    sign_in_window_minutes = fields.Integer(load_default=15, validate=validate.Range(1, 1440))
    password_min_length = fields.Integer(load_default=12, validate=validate.Range(8, 200))


class _SettingsSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    database = fields.Nested(_DatabaseSchema, required=True)
    server = fields.Nested(_ServerSchema, load_default=dict)
    scheduler = fields.Nested(_SchedulerSchema, load_default=dict)
    facts = fields.Nested(_FactsSchema, load_default=dict)
    stages = fields.Nested(_StagesSchema, required=True)
    panel = fields.Nested(_PanelSchema, load_default=dict)
    allocation = fields.Nested(_AllocationSchema, load_default=dict)
    capacity = fields.Nested(_CapacitySchema, load_default=dict)
    review = fields.Nested(_ReviewSchema, load_default=dict)
    tasks = fields.Nested(_TasksSchema, load_default=dict)
    smtp = fields.Nested(_SmtpSchema, load_default=dict)
    audit = fields.Nested(_AuditSchema, load_default=dict)
    web = fields.Nested(_WebSchema, load_default=dict)
    logging = fields.Nested(_LoggingSchema, load_default=dict)
    metrics = fields.Nested(_MetricsSchema, load_default=dict)

    @validates_schema
    def _one_writer(self, data, **_kw):
        workers = data.get("scheduler", {}).get("pass_workers", 1)
        url = data.get("database", {}).get("url", "postgresql")  # absent: reported itself
        if workers > 1 and not url.startswith("postgresql"):
            raise ValidationError(f"{workers} pass workers need PostgreSQL: SQLite has one "
                                  "writer at a time, set 1", "scheduler.pass_workers")


# Sections of policy beyond the core ones, exposed as plain validated dicts on Settings.
POLICY_SECTIONS = {"panel": _PanelSchema, "allocation": _AllocationSchema,
                   "capacity": _CapacitySchema, "review": _ReviewSchema}
POLICY_SECTIONS.update(tasks=_TasksSchema, smtp=_SmtpSchema, audit=_AuditSchema,
                       logging=_LoggingSchema, metrics=_MetricsSchema,
                       web=_WebSchema)


@dataclass(frozen=True)
class StagePolicy:
    rulesets: tuple[str, ...]
    recheck_days: int


@dataclass(frozen=True)
class Settings:
    database_url: str
    host: str
    port: int
    scheduler_enabled: bool
    interval_seconds: int
    batch_size: int
    newly_sentenced_days: int
    window_days: int
    stages: Mapping[str, StagePolicy] = field(default_factory=dict)
    source: str = ""
    chunk_size: int = 1000
    pass_workers: int = 1  # processes advancing a pass's chunks (PostgreSQL only)
    panel: Mapping = field(default_factory=lambda: _defaults("panel"))
    allocation: Mapping = field(default_factory=lambda: _defaults("allocation"))
    capacity: Mapping = field(default_factory=lambda: _defaults("capacity"))
    review: Mapping = field(default_factory=lambda: _defaults("review"))
    tasks: Mapping = field(default_factory=lambda: _defaults("tasks"))
    smtp: Mapping = field(default_factory=lambda: _defaults("smtp"))
    audit: Mapping = field(default_factory=lambda: _defaults("audit"))
    web: Mapping = field(default_factory=lambda: _defaults("web"))
    logging: Mapping = field(default_factory=lambda: _defaults("logging"))
    metrics: Mapping = field(default_factory=lambda: _defaults("metrics"))
    server_kind: str = "auto"  # waitress | gunicorn | auto (see server_choice)
    workers: int = 0
    threads: int = 8
    database_owner_url: str = ""  # migrations; "" = database_url
    # [stages.exclusion] / [stages.agenda]: read through workflow.guards accessors only.
    guard_rulesets: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(GUARD_DEFAULTS))
    max_body_bytes: int = 1024 * 1024
    max_upload_bytes: int = 200 * 1024 * 1024
    # [server] load shedding: SHEDDING_KEYS -> validated values.
    shedding: Mapping = field(default_factory=lambda: {
        k: v for k, v in _ServerSchema().load({}).items() if k in SHEDDING_KEYS})
    token_days: int = 90


def _defaults(section: str) -> dict:
    return POLICY_SECTIONS[section]().load({})


def _env_overrides(raw: dict, env: Mapping[str, str]) -> dict:
    """Apply ``IOM_<SECTION>_<KEY>`` (and ``IOM_STAGES_<STAGE>_<KEY>``) to ``raw``.

    Names are derived from the known schema so underscores inside keys are unambiguous.
    Lists are comma-separated.
    """
    targets: dict[str, tuple[list[str], object]] = {}
    for section, schema in (
        ("database", _DatabaseSchema),
        ("server", _ServerSchema),
        ("scheduler", _SchedulerSchema),
        ("facts", _FactsSchema),
        *POLICY_SECTIONS.items(),
    ):
        for key, fld in schema().fields.items():
            targets[f"IOM_{section}_{key}".upper()] = ([section, key], fld)
    for stage in RULE_STAGES:
        for key, fld in _StageSchema().fields.items():
            targets[f"IOM_STAGES_{stage}_{key}".upper()] = (["stages", stage, key], fld)
    for stage in GUARD_DEFAULTS:
        targets[f"IOM_STAGES_{stage.upper()}_RULESETS"] = (["stages", stage, "rulesets"],
                                                   _RulesetsSchema().fields["rulesets"])
    for name, value in env.items():
        if not name.startswith("IOM_") or name not in targets:
            continue
        path, fld = targets[name]
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = [v.strip() for v in value.split(",") if v.strip()] if isinstance(
            fld, fields.List
        ) else value
    return raw


def _flatten_errors(messages, prefix: str = "") -> list[str]:
    out: list[str] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            out.extend(_flatten_errors(value, f"{prefix}{key}."))
    else:
        for message in messages if isinstance(messages, list) else [messages]:
            out.append(f"{prefix.rstrip('.')}: {message}")
    return out


DEFAULT_CONFIG = Path(__file__).resolve().parent / "config.default.toml"


def config_file(path: str | os.PathLike | None, env: Mapping[str, str]) -> Path:
    """The file to read: ``path`` (``--config``), else ``$IOM_CONFIG``, else
    ``./config.toml`` when there is one, else the defaults packaged with the code (so
    ``iom`` works from any directory). A file named explicitly must exist: the error
    says which of ``--config`` / ``IOM_CONFIG`` named it."""
    named = ("--config", path) if path else ("IOM_CONFIG", env.get("IOM_CONFIG"))
    if named[1]:
        given = Path(named[1])
        if not given.is_file():
            raise ConfigError(f"{given}: configuration file not found (named by {named[0]}; "
                              "without --config or IOM_CONFIG, ./config.toml or the packaged "
                              "defaults are used)")
        return given
    local = Path("config.toml")
    return local if local.is_file() else DEFAULT_CONFIG


def load_settings(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None
                  ) -> Settings:
    """Read, override and validate the configuration.

    The file is chosen by :func:`config_file`. Raises :class:`ConfigError` when a named
    file is missing or not TOML, or when any value is invalid.
    """
    env = os.environ if env is None else env
    config_path = config_file(path, env)
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: not valid TOML: {exc}") from exc
    raw = _env_overrides(raw, env)
    try:
        data = _SettingsSchema().load(raw)
    except ValidationError as exc:
        details = "; ".join(_flatten_errors(exc.messages))
        raise ConfigError(f"{config_path} (with IOM_* overrides): {details}") from exc
    guards = {name: tuple(data["stages"].pop(name)["rulesets"]) for name in GUARD_DEFAULTS}
    return Settings(
        guard_rulesets=guards,
        database_url=data["database"]["url"],
        database_owner_url=data["database"]["owner_url"],
        host=data["server"]["host"],
        port=data["server"]["port"],
        max_body_bytes=data["server"]["max_body_kb"] * 1024,
        max_upload_bytes=data["server"]["max_upload_mb"] * 1024 * 1024,
        shedding={key: data["server"][key] for key in SHEDDING_KEYS},
        token_days=data["server"]["token_days"],
        server_kind=data["server"]["kind"],
        workers=data["server"]["workers"],
        threads=data["server"]["threads"],
        scheduler_enabled=data["scheduler"]["enabled"],
        interval_seconds=data["scheduler"]["interval_seconds"],
        batch_size=data["scheduler"]["batch_size"],
        chunk_size=data["scheduler"]["chunk_size"],
        pass_workers=data["scheduler"]["pass_workers"],
        newly_sentenced_days=data["facts"]["newly_sentenced_days"],
        window_days=data["facts"]["window_days"],
        stages={
            name: StagePolicy(tuple(stage["rulesets"]), stage["recheck_days"])
            for name, stage in data["stages"].items()
        },
        source=str(config_path),
        **{name: data[name] for name in POLICY_SECTIONS},
    )
