"""Limits at the HTTP edge, checked before a request reaches a view or the database.

Contract: whatever a client sends, the answer is a 4xx in the one error shape, never a 5xx.

* Bodies larger than ``[server] max_body_kb`` (CSV uploads: ``max_upload_mb``) -> 413,
  refused from ``Content-Length`` before a byte is read (a chunked body is cut off by
  Werkzeug at the same limit).
* JSON bodies are parsed once here with limits: nesting at most :data:`MAX_JSON_DEPTH`,
  integers at most :data:`MAX_INT_DIGITS` digits, decimals at most
  :data:`MAX_FLOAT_CHARS` characters -> 400.
* NUL characters and unpaired surrogates (which neither PostgreSQL nor UTF-8 can store) in
  the path, the query string or any JSON string or key, and ``NaN``/``Infinity`` in JSON
  -> 422 naming the field (``details.note``), by the rules of ``db/canonical.py``.
* Integer path parameters (ids) are checked against the database column range
  (``integer``: at most 2^31-1) -> 422 naming the parameter.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date

from flask import Flask, current_app, request
from marshmallow import ValidationError, fields
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

from db.canonical import NotCanonical, check_string, normalise
from workflow.errors import InvalidInput

MAX_ID = 2**31 - 1  # PostgreSQL ``integer`` columns (every id in db/models)
MAX_JSON_DEPTH = 32
MAX_INT_DIGITS = 40  # 2**128 fits; a 5,000-digit number does not
MAX_FLOAT_CHARS = 40
# Endpoints that stream a large upload: they get ``max_upload_bytes`` instead.
UPLOAD_ENDPOINTS = frozenset({"imports.Import"})
# Dates a request may name: the service's data never lies outside these years, and
# working-day arithmetic near year 1 or 9999 would overflow.
MIN_DATE, MAX_DATE = date(1900, 1, 1), date(2199, 12, 31)

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class IdConverter(IntegerConverter):
    """``<int:...>`` that never fails on a long number: the range is checked (with a
    clear 422) by :func:`_check_path_ids` instead of ``int()`` blowing up or a bare 404."""

    regex = r"-?\d+"

    def to_python(self, value: str) -> int:
        return int(value) if len(value) <= 12 else MAX_ID + 1

    def to_url(self, value) -> str:
        return str(int(value))


def body_limit() -> int:
    """The largest body this request may carry (bytes)."""
    settings = current_app.extensions["iom_runtime"].settings
    if request.endpoint in UPLOAD_ENDPOINTS:
        return settings.max_upload_bytes
    return settings.max_body_bytes


def _check_size() -> None:
    limit = body_limit()
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        what = "a CSV upload" if request.endpoint in UPLOAD_ENDPOINTS else "a request body"
        raise RequestEntityTooLarge(
            f"the body is {request.content_length} bytes; {what} may be at most {limit} bytes")


def _bad_number(kind: str, limit: int):
    def parse(text: str):
        if len(text.lstrip("-")) > limit:
            raise ValueError(f"a JSON {kind} has {len(text)} characters; at most {limit} "
                             "are accepted")
        return float(text) if kind == "decimal" else int(text)

    return parse


def _depth(text: str) -> int:
    """Deepest bracket nesting of a JSON text, without recursion (strings skipped)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def bad_text(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None: NUL, or an unpaired surrogate."""
    try:
        check_string(value, "$")
    except NotCanonical as exc:
        return f"cannot be stored: {exc.reason}"
    return None


def _check_storable(data) -> None:
    """Refuse what no backend can store (NUL, lone surrogates, NaN, infinities) naming its
    path as the audit does (``details.note``): the same rules as ``db/canonical.py``."""
    try:
        normalise(data)
    except NotCanonical as exc:
        where = exc.path[2:] or "body"
        raise InvalidInput(f"{where}: {exc.reason}",
                           details={"field": where, "reason": exc.reason}) from exc


def load_json_bounded(raw: bytes):
    """Parse a JSON body with the limits above; raises :class:`BadRequest` (400) or
    :class:`InvalidInput` (422) with a message naming the limit."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the JSON body is not UTF-8 (byte {exc.start})") from exc
    if _depth(text) > MAX_JSON_DEPTH:
        raise BadRequest(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(text, parse_int=_bad_number("integer", MAX_INT_DIGITS),
                          parse_float=_bad_number("decimal", MAX_FLOAT_CHARS))
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc
    _check_storable(data)
    return data


def _check_text() -> None:
    reason = bad_text(request.path)
    if reason:
        raise InvalidInput(f"the path {reason}", details={"field": "path"})
    for key, value in request.args.items(multi=True):
        reason = bad_text(key) or bad_text(value)
        if reason:
            raise InvalidInput(f"query parameter {key!r} {reason}", details={"field": key})


def _check_path_ids() -> None:
    for name, value in (request.view_args or {}).items():
        if isinstance(value, int) and not 0 <= value <= MAX_ID:
            raise InvalidInput(f"{name} is out of range: ids are integers from 0 to {MAX_ID}",
                               details={"field": name, "max": MAX_ID})


def check_request() -> None:
    """``before_request``: every edge limit above, before authentication and the views."""
    _check_size()
    _check_text()
    _check_path_ids()
    if request.is_json and request.method in ("POST", "PUT", "PATCH", "DELETE"):
        raw = request.get_data(cache=True)
        if raw.strip():
            load_json_bounded(raw)


def _in_range(value: date) -> None:
    if not MIN_DATE <= value <= MAX_DATE:
        raise ValidationError(f"must be between {MIN_DATE} and {MAX_DATE}")


class BoundedDate(fields.Date):
    """A date between :data:`MIN_DATE` and :data:`MAX_DATE`."""

    def _deserialize(self, value, attr, data, **kwargs):
        result = super()._deserialize(value, attr, data, **kwargs)
        _in_range(result)
        return result


class BoundedAwareDateTime(fields.AwareDateTime):
    """An aware date-time whose day (also in UTC) lies between :data:`MIN_DATE` and
    :data:`MAX_DATE`."""

    def _deserialize(self, value, attr, data, **kwargs):
        result = super()._deserialize(value, attr, data, **kwargs)
        _in_range(result.date())  # first: converting year 1 to UTC could overflow
        _in_range(result.astimezone(UTC).date())
        return result


def register(app: Flask) -> None:
    app.before_request(check_request)
