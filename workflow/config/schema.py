"""The configuration's schema: every section and key, its default and its validation.

``workflow.config.load_settings`` loads the file and the environment through
:class:`SettingsSchema`; the policy sections are exposed as validated dicts
(:data:`POLICY_SECTIONS`).
"""

from __future__ import annotations

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


class DatabaseSchema(Schema):
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


class ServerSchema(Schema):
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


class SchedulerSchema(Schema):
    enabled = fields.Boolean(load_default=True)
    interval_seconds = fields.Integer(load_default=30, validate=validate.Range(min=1))
    batch_size = fields.Integer(load_default=10_000, validate=validate.Range(min=1))
    chunk_size = fields.Integer(load_default=1000, validate=validate.Range(1, 5000))
    # Processes a pass's chunks are advanced in (scheduler/pass_workers.py); > 1 needs
    # PostgreSQL (checked in SettingsSchema: SQLite has one writer at a time).
    pass_workers = fields.Integer(load_default=1, validate=validate.Range(1, 64))


class FactsSchema(Schema):
    newly_sentenced_days = fields.Integer(load_default=182, validate=validate.Range(min=1))
    window_days = fields.Integer(load_default=730, validate=validate.Range(min=1))


class StageSchema(Schema):
    rulesets = fields.List(fields.String(validate=validate.Length(min=1)), required=True)
    recheck_days = fields.Integer(load_default=7, validate=validate.Range(min=1))


class RulesetsSchema(Schema):
    rulesets = fields.List(fields.String(validate=validate.Length(min=1)), required=True)


# --- guards and agenda (issue 11): rule sets evaluated beside every stage, not a stage ---
# (These and programme_links only seed the stage policy: see workflow/policy.)
GUARD_DEFAULTS = {"exclusion": ("mappa-exclusion", "youth-age-floor"),
                  "agenda": ("agenda-priority",), "programme_links": ("programme-links",)}


class StagesSchema(Schema):
    mapping = fields.Nested(StageSchema, required=True)
    matrixing = fields.Nested(StageSchema, required=True)
    review = fields.Nested(StageSchema)
    exclusion = fields.Nested(RulesetsSchema, load_default=lambda: {
        "rulesets": list(GUARD_DEFAULTS["exclusion"])})
    agenda = fields.Nested(RulesetsSchema, load_default=lambda: {
        "rulesets": list(GUARD_DEFAULTS["agenda"])})
    programme_links = fields.Nested(RulesetsSchema, load_default=lambda: {
        "rulesets": list(GUARD_DEFAULTS["programme_links"])})


def _check_schedule(value: str) -> None:
    parts = value.lower().split()
    if not (len(parts) == 2 and parts[0] in ORDINALS and parts[1] in WEEKDAYS):
        raise ValidationError(
            f"{value!r}: expected '<first|second|third|fourth|last> <weekday>'")


class PanelSchema(Schema):
    schedule = fields.String(load_default="first thursday", validate=_check_schedule)
    time = fields.String(load_default="10:00", validate=validate.Regexp(r"^\d{2}:\d{2}$"))
    agenda_days_before = fields.Integer(load_default=7, validate=validate.Range(0, 60))
    max_cases = fields.Integer(load_default=20, validate=validate.Range(min=1))


class AllocationSchema(Schema):
    rulesets = fields.List(fields.String(validate=validate.Length(min=1)),
                           load_default=lambda: ["lead-professional", "intensity-by-risk"])


class CapacitySchema(Schema):
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


class ReviewSchema(Schema):
    very_high_days = fields.Integer(load_default=28, validate=validate.Range(min=1))
    high_days = fields.Integer(load_default=56, validate=validate.Range(min=1))
    medium_days = fields.Integer(load_default=91, validate=validate.Range(min=1))
    low_days = fields.Integer(load_default=182, validate=validate.Range(min=1))
    default_days = fields.Integer(load_default=91, validate=validate.Range(min=1))


class TasksSchema(Schema):
    # Rule sets evaluated after a compliance event (tasks / enforcement only).
    compliance_rulesets = fields.List(fields.String(validate=validate.Length(min=1)),
                                      load_default=lambda: ["enforcement-triggers"])
    escalate_after_working_days = fields.Integer(load_default=0, validate=validate.Range(0, 60))
    # Minutes between two periodic compliance checks of an active case (partner data
    # about the person makes it due at once).
    compliance_recheck_minutes = fields.Integer(load_default=60,
                                                validate=validate.Range(1, 10080))
    digest_hour = fields.Integer(load_default=7, validate=validate.Range(0, 23))
    retry_base_seconds = fields.Integer(load_default=60, validate=validate.Range(min=1))
    retry_max_seconds = fields.Integer(load_default=3600, validate=validate.Range(min=1))


class SmtpSchema(Schema):
    enabled = fields.Boolean(load_default=False)
    host = fields.String(load_default="127.0.0.1")
    port = fields.Integer(load_default=25, validate=validate.Range(1, 65535))
    sender = fields.String(load_default="iom@localhost", validate=validate.Email())
    timeout_seconds = fields.Float(load_default=10.0, validate=validate.Range(min=0.1))


class AuditSchema(Schema):
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


class LoggingSchema(Schema):
    format = fields.String(load_default="human", validate=validate.OneOf(("human", "json")))
    level = fields.String(load_default="INFO", validate=validate.OneOf(
        ("DEBUG", "INFO", "WARNING", "ERROR")))


class MetricsSchema(Schema):
    enabled = fields.Boolean(load_default=True)
    # "" = /metrics answers without a token; else the scraper sends it as a bearer token.
    token = fields.String(load_default="")


class WebSchema(Schema):
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


class SettingsSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    database = fields.Nested(DatabaseSchema, required=True)
    server = fields.Nested(ServerSchema, load_default=dict)
    scheduler = fields.Nested(SchedulerSchema, load_default=dict)
    facts = fields.Nested(FactsSchema, load_default=dict)
    stages = fields.Nested(StagesSchema, required=True)
    panel = fields.Nested(PanelSchema, load_default=dict)
    allocation = fields.Nested(AllocationSchema, load_default=dict)
    capacity = fields.Nested(CapacitySchema, load_default=dict)
    review = fields.Nested(ReviewSchema, load_default=dict)
    tasks = fields.Nested(TasksSchema, load_default=dict)
    smtp = fields.Nested(SmtpSchema, load_default=dict)
    audit = fields.Nested(AuditSchema, load_default=dict)
    web = fields.Nested(WebSchema, load_default=dict)
    logging = fields.Nested(LoggingSchema, load_default=dict)
    metrics = fields.Nested(MetricsSchema, load_default=dict)

    @validates_schema
    def _one_writer(self, data, **_kw):
        workers = data.get("scheduler", {}).get("pass_workers", 1)
        url = data.get("database", {}).get("url", "postgresql")  # absent: reported itself
        if workers > 1 and not url.startswith("postgresql"):
            raise ValidationError(f"{workers} pass workers need PostgreSQL: SQLite has one "
                                  "writer at a time, set 1", "scheduler.pass_workers")


# Sections of policy beyond the core ones, exposed as plain validated dicts on Settings.
POLICY_SECTIONS = {"panel": PanelSchema, "allocation": AllocationSchema,
                   "capacity": CapacitySchema, "review": ReviewSchema}
POLICY_SECTIONS.update(tasks=TasksSchema, smtp=SmtpSchema, audit=AuditSchema,
                       logging=LoggingSchema, metrics=MetricsSchema,
                       web=WebSchema)
