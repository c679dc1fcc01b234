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

from marshmallow import ValidationError, fields

from workflow.config.schema import (
    GUARD_DEFAULTS,
    ORDINALS,
    POLICY_SECTIONS,
    RULE_STAGES,
    SHEDDING_KEYS,
    WEEKDAYS,
    DatabaseSchema,
    FactsSchema,
    RulesetsSchema,
    SchedulerSchema,
    ServerSchema,
    SettingsSchema,
    StageSchema,
)
from workflow.errors import ConfigError

__all__ = ["ORDINALS", "RULE_STAGES", "WEEKDAYS", "ConfigError", "Settings", "StagePolicy",
           "load_settings"]


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
        k: v for k, v in ServerSchema().load({}).items() if k in SHEDDING_KEYS})
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
        ("database", DatabaseSchema),
        ("server", ServerSchema),
        ("scheduler", SchedulerSchema),
        ("facts", FactsSchema),
        *POLICY_SECTIONS.items(),
    ):
        for key, fld in schema().fields.items():
            targets[f"IOM_{section}_{key}".upper()] = ([section, key], fld)
    for stage in RULE_STAGES:
        for key, fld in StageSchema().fields.items():
            targets[f"IOM_STAGES_{stage}_{key}".upper()] = (["stages", stage, key], fld)
    for stage in GUARD_DEFAULTS:
        targets[f"IOM_STAGES_{stage.upper()}_RULESETS"] = (["stages", stage, "rulesets"],
                                                   RulesetsSchema().fields["rulesets"])
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


DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config.default.toml"


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
        data = SettingsSchema().load(raw)
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
