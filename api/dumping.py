"""A cheaper ``Schema.dump`` for the plain dicts the read endpoints return.

The response schemas stay marshmallow schemas (they document the answers in the OpenAPI
document, and anything but a plain dict is dumped by marshmallow itself). For a plain
dict (and lists of them) :class:`FastDumpSchema` gives the same result as marshmallow's
``dump`` from a plan compiled once per schema instance: for each field in
``dump_fields`` order, its value read from the dict (missing: the field's dump default,
else left out, as marshmallow does) and converted as the field's own ``_serialize``
would: ``Integer`` ``int()``, ``String`` ``str()``, ``DateTime`` ``isoformat()``,
``Raw`` as is, ``Dict`` copied, ``List`` and ``Nested`` item by item; any other field
is serialised by the field itself. A schema with dump hooks, an object that is not a
dict, or a field read through a dotted attribute goes to marshmallow whole.
``tests/test_api_dump.py`` checks the bytes of every read endpoint's answer against
marshmallow's.

:data:`ENABLED` switches the cheaper path off (the test compares both).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from marshmallow import Schema, fields, missing

ENABLED = True


class _NotPlain(Exception):
    """The object is not a plain dict: marshmallow dumps it."""


def _none_or(convert: Callable) -> Callable:
    return lambda value: None if value is None else convert(value)


_iso = datetime.isoformat  # marshmallow's own ISO serialisation (a datetime only)


def _converter(field: fields.Field) -> Callable | None:
    """``value -> serialised`` for the field types above (exact types, default options),
    or None when the field must serialise itself."""
    kind = type(field)
    if kind is fields.Raw:
        return lambda value: value
    if kind is fields.Integer and not field.as_string:
        return _none_or(int)
    if kind is fields.String:
        return _none_or(lambda v: v.decode("utf-8") if isinstance(v, bytes) else str(v))
    if kind in (fields.DateTime, fields.AwareDateTime) and field.format in (None, "iso",
                                                                          "iso8601"):
        return _none_or(_iso)
    if kind is fields.Dict and field.key_field is None and field.value_field is None:
        return _none_or(field.mapping_type)
    if kind is fields.Nested:
        nested = field.schema
        if nested._hooks and any(nested._hooks.values()):
            return None
        plan = _plan(nested)
        if nested.many or field.many:
            return _none_or(lambda value: [_dump_one(plan, item) for item in value])
        return _none_or(lambda value: _dump_one(plan, value))
    if kind is fields.List:
        inner = _converter(field.inner)
        if inner is None:
            return None
        return _none_or(lambda value: [inner(item) for item in value])
    return None


def _as_is(field: fields.Field) -> type | None:
    """The exact type whose values the field's converter returns unchanged: ``str`` for
    ``String``, ``int`` for ``Integer``, None for the rest (converted every time)."""
    kind = type(field)
    if kind is fields.String:
        return str
    if kind is fields.Integer and not field.as_string:
        return int
    return None


def _plan(schema: Schema) -> list[tuple]:
    """``[(output key, attribute, convert or None, kept as is, field, name, schema)]`` of
    ``schema``, cached on it."""
    plan = schema.__dict__.get("_iom_dump_plan")
    if plan is None:
        plan = []
        for name, field in schema.dump_fields.items():
            attribute = field.attribute if field.attribute is not None else name
            if "." in attribute:
                raise _NotPlain
            convert = _converter(field) if field._CHECK_ATTRIBUTE else None
            key = field.data_key if field.data_key is not None else name
            plan.append((key, attribute, convert, _as_is(field), field, name, schema))
        schema.__dict__["_iom_dump_plan"] = plan
    return plan


def _dump_one(plan: list[tuple], obj) -> dict:
    if type(obj) is not dict:
        raise _NotPlain
    out = {}
    for key, attribute, convert, as_is, field, name, schema in plan:
        if convert is None:  # the field serialises itself, as marshmallow calls it
            value = field.serialize(name, obj, accessor=schema.get_attribute)
            if value is not missing:
                out[key] = value
            continue
        value = obj.get(attribute, missing)
        if value is missing:
            value = getattr(obj, attribute, missing)  # as marshmallow's get_value does
            if value is missing:
                default = field.dump_default
                value = default() if callable(default) else default
                if value is missing:
                    continue
        # None stays None and a value of the type the field gives is that value, for
        # every converter above: skip the call (most values of a page).
        out[key] = value if value is None or type(value) is as_is else convert(value)
    return out


class FastDumpSchema(Schema):
    """A response schema whose ``dump`` of plain dicts skips marshmallow's per-field
    machinery (same result; see the module docstring)."""

    def dump(self, obj, *, many: bool | None = None):
        many = self.many if many is None else bool(many)
        if not ENABLED or (self._hooks and any(self._hooks.values())):
            return super().dump(obj, many=many)
        if many:
            obj = list(obj)
        try:
            plan = _plan(self)
            if many:
                return [_dump_one(plan, item) for item in obj]
            return _dump_one(plan, obj)
        except _NotPlain:
            return super().dump(obj, many=many)
