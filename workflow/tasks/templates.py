"""Task templates (``workflow/reference/task_templates.toml``) and safe rendering.

Rendering is :meth:`string.Template.safe_substitute` over a flat mapping of plain values:
no ``eval``, no ``str.format`` (which would allow attribute access), unknown names left
as written. A template name absent from the file still yields a task, titled after the
name, so a rule set is never blocked by missing wording.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from string import Template

from workflow.errors import ConfigError

TEMPLATES_FILE = Path(__file__).resolve().parents[1] / "reference" / "task_templates.toml"


@cache
def load_templates(path: Path = TEMPLATES_FILE) -> dict[str, dict]:
    """``{name: template}`` with ``[defaults]`` merged into each. ConfigError when invalid."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path.name}: {exc}") from exc
    defaults = raw.pop("defaults", {})
    out = {}
    for name, body in raw.items():
        if not isinstance(body, dict) or "title" not in body:
            raise ConfigError(f"{path.name}: template {name!r} needs a title")
        out[name] = {**defaults, **body}
    out["__defaults__"] = {"remind_working_days": 1, **defaults}
    return out


def template(name: str) -> dict:
    """The template ``name``, or a generic one (title from the name) when not defined."""
    templates = load_templates()
    if name in templates:
        return templates[name]
    return {**templates["__defaults__"], "title": name.replace("_", " ").capitalize()
            + ": case $case_id", "body": "", "generic": True}


def render(text: str, values: dict) -> str:
    """Substitute ``$name`` placeholders from ``values`` (None shown as "unknown")."""
    flat = {k: ("unknown" if v is None else str(v)) for k, v in values.items()}
    return Template(text).safe_substitute(flat)


def allowed_outcomes(name: str) -> list[str] | None:
    """The outcomes a completion of ``name`` may record, or None when any text is allowed."""
    outcomes = template(name).get("outcomes")
    return list(outcomes) if outcomes else None


def remind_days(name: str) -> int:
    """Working days before the due date to send a reminder (0 = no reminder)."""
    return int(template(name).get("remind_working_days", 1))
