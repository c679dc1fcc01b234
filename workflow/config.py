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

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from workflow.errors import ConfigError

RULE_STAGES = ("mapping", "matrixing")


class _DatabaseSchema(Schema):
    url = fields.String(required=True, validate=validate.Length(min=1))


class _ServerSchema(Schema):
    host = fields.String(load_default="127.0.0.1")
    port = fields.Integer(load_default=8000, validate=validate.Range(1, 65535))


class _SchedulerSchema(Schema):
    enabled = fields.Boolean(load_default=True)
    interval_seconds = fields.Integer(load_default=30, validate=validate.Range(min=1))
    batch_size = fields.Integer(load_default=1000, validate=validate.Range(min=1))


class _FactsSchema(Schema):
    newly_sentenced_days = fields.Integer(load_default=182, validate=validate.Range(min=1))
    window_days = fields.Integer(load_default=730, validate=validate.Range(min=1))


class _StageSchema(Schema):
    rulesets = fields.List(fields.String(validate=validate.Length(min=1)), required=True)
    recheck_days = fields.Integer(load_default=7, validate=validate.Range(min=1))


class _StagesSchema(Schema):
    mapping = fields.Nested(_StageSchema, required=True)
    matrixing = fields.Nested(_StageSchema, required=True)


class _SettingsSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    database = fields.Nested(_DatabaseSchema, required=True)
    server = fields.Nested(_ServerSchema, load_default=dict)
    scheduler = fields.Nested(_SchedulerSchema, load_default=dict)
    facts = fields.Nested(_FactsSchema, load_default=dict)
    stages = fields.Nested(_StagesSchema, required=True)


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
    ):
        for key, fld in schema().fields.items():
            targets[f"IOM_{section}_{key}".upper()] = ([section, key], fld)
    for stage in RULE_STAGES:
        for key, fld in _StageSchema().fields.items():
            targets[f"IOM_STAGES_{stage}_{key}".upper()] = (["stages", stage, key], fld)
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


def load_settings(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None
                  ) -> Settings:
    """Read, override and validate the configuration.

    ``path`` defaults to ``$IOM_CONFIG`` or ``./config.toml``. Raises :class:`ConfigError`
    when the file is missing or not TOML, or when any value is invalid.
    """
    env = os.environ if env is None else env
    config_path = Path(path or env.get("IOM_CONFIG") or "config.toml")
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{config_path}: configuration file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: not valid TOML: {exc}") from exc
    raw = _env_overrides(raw, env)
    try:
        data = _SettingsSchema().load(raw)
    except ValidationError as exc:
        details = "; ".join(_flatten_errors(exc.messages))
        raise ConfigError(f"{config_path} (with IOM_* overrides): {details}") from exc
    return Settings(
        database_url=data["database"]["url"],
        host=data["server"]["host"],
        port=data["server"]["port"],
        scheduler_enabled=data["scheduler"]["enabled"],
        interval_seconds=data["scheduler"]["interval_seconds"],
        batch_size=data["scheduler"]["batch_size"],
        newly_sentenced_days=data["facts"]["newly_sentenced_days"],
        window_days=data["facts"]["window_days"],
        stages={
            name: StagePolicy(tuple(stage["rulesets"]), stage["recheck_days"])
            for name, stage in data["stages"].items()
        },
        source=str(config_path),
    )
