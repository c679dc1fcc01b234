"""Canonical JSON text: one spelling for one JSON value, stored and hashed byte-for-byte.

The audit chain hashes the exact text stored in ``audit_entry.payload`` (a text column
on every backend, see :class:`CanonicalJSONText`), so the text must not depend on how a
value was spelled on input nor on the database (PostgreSQL ``jsonb`` rewrites ``1e16``
as ``10000000000000000``; a text column gives back what it was given). The rules:

* objects with keys sorted (by code point), no whitespace (``,`` and ``:``), ASCII only
  (every non-ASCII character as ``\\uXXXX``, so the bytes are the same in any encoding);
* a number is written as its value: a float with an integral value is written as that
  integer (``1e16``, ``1.0`` and ``-0.0`` become ``10000000000000000``, ``1`` and ``0``),
  other floats as Python's shortest round-trip form (``0.1``, ``1.5e-07``); integers at
  most :data:`MAX_INT_BITS` bits;
* refused (:class:`NotCanonical`): NaN and infinities, strings holding NUL (PostgreSQL
  text cannot store it) or a lone surrogate (not encodable as UTF-8), nesting deeper
  than :data:`MAX_DEPTH`;
* values that are not JSON (datetimes, decimals...) are written as ``str(value)``;
  tuples as lists; keys that are not strings as JSON writes them (``1`` -> ``"1"``).

Parsing canonical text and encoding it again gives the same text (tested).
"""

from __future__ import annotations

import json
import math

from sqlalchemy import Text, TypeDecorator

MAX_DEPTH = 100
MAX_INT_BITS = 1024


class NotCanonical(ValueError):
    """The value cannot be stored as canonical JSON; ``path`` names where (``$.a[2]``)."""

    def __init__(self, message: str, path: str):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = message


def check_string(value: str, path: str) -> str:
    """``value`` if it can be stored in any text column, else :class:`NotCanonical`."""
    if "\x00" in value:
        raise NotCanonical("NUL character (\\u0000) is not allowed", path)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NotCanonical("lone surrogate: not valid Unicode", path) from exc
    return value


def _number(value: int | float, path: str) -> int | float:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotCanonical(f"{value} is not a JSON number", path)
        if value.is_integer():
            value = int(value)
        else:
            return value
    if value.bit_length() > MAX_INT_BITS:
        raise NotCanonical(f"integer larger than 2^{MAX_INT_BITS}", path)
    return value


def _key(key, path: str) -> str:
    if isinstance(key, str):
        return check_string(key, path)
    if key is None or isinstance(key, bool):
        return json.dumps(key)
    if isinstance(key, int | float):
        return json.dumps(_number(key, path))
    return check_string(str(key), path)


def normalise(value, path: str = "$", depth: int = 0):
    """The canonical Python value of ``value`` (see the module rules)."""
    if depth > MAX_DEPTH:
        raise NotCanonical(f"nested deeper than {MAX_DEPTH} levels", path)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return _number(value, path)
    if isinstance(value, str):
        return check_string(value, path)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = _key(key, path)
            if name in out:
                raise NotCanonical(f"key {name!r} given twice", path)
            out[name] = normalise(item, f"{path}.{name}", depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [normalise(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    return check_string(str(value), path)


class CanonicalDict(dict):
    """A parsed canonical object that remembers its text, so binding it does not encode
    it again (the audit hashes that text; see ``workflow.audit.record``)."""

    __slots__ = ("text",)

    @classmethod
    def parse(cls, text: str):
        value = json.loads(text)
        if not isinstance(value, dict):
            return value
        out = cls(value)
        out.text = text
        return out


def canonical_text(value) -> str:
    """The canonical JSON text of ``value``; :class:`NotCanonical` if it has none."""
    return json.dumps(normalise(value), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True, allow_nan=False)


class CanonicalJSONText(TypeDecorator):
    """A JSON value stored as its canonical text in a text column (every backend).

    Binding a value writes :func:`canonical_text`; reading parses it. To read the exact
    stored text (what the audit hash covers), select the column through
    ``type_coerce(column, Text)``.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if isinstance(value, CanonicalDict):
            return value.text
        return None if value is None else canonical_text(value)

    def process_result_value(self, value, dialect):
        return None if value is None else json.loads(value)
