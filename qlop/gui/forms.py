"""Parameter forms generated from a pydantic model's JSON Schema.

A plugin declares its parameters once, as a pydantic model; the GUI reads that model's JSON Schema and
draws one widget per field with the field's default, bounds and description. So an installed
third-party plugin gets a working form with no GUI change. The schema interpretation
(:func:`schema_fields`, :func:`coerce_value`) is pure and tested on its own; :func:`render_fields` is the
thin Streamlit layer.

Values that a widget cannot hold exactly (lists, nested objects, optional values) are edited as text
and parsed as JSON/comma lists; they are data, never evaluated as code.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from qlop.plugins.params import params_schema, resolve_ref, split_nullable  # noqa: F401 (pages use params_schema)

BOOL, INT, FLOAT, CHOICE, TEXT, LIST, JSON = "bool", "int", "float", "choice", "text", "list", "json"

#: Sentinel for "the schema gives no default": the widget starts empty and the model decides.
NO_DEFAULT = object()


@dataclass
class FieldSpec:
    """How one params field is edited: the widget kind, its default, bounds and help text."""

    name: str
    kind: str
    title: str
    default: Any = NO_DEFAULT
    help: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_min: bool = False
    exclusive_max: bool = False
    options: list[Any] = field(default_factory=list)
    nullable: bool = False
    item_kind: str | None = None
    required: bool = False

    def bounds_text(self) -> str:
        """The allowed range as text, e.g. ``> 0, <= 1`` (appended to the help)."""
        parts = []
        if self.minimum is not None:
            parts.append(f"{'>' if self.exclusive_min else '>='} {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"{'<' if self.exclusive_max else '<='} {self.maximum:g}")
        return ", ".join(parts)

    def help_text(self) -> str | None:
        bits = [
            b
            for b in (
                self.help,
                f"Allowed: {self.bounds_text()}" if self.bounds_text() else None,
                "Leave empty for none." if self.nullable else None,
            )
            if b
        ]
        return " ".join(bits) or None


def _scalar_kind(node: dict[str, Any]) -> str:
    if "enum" in node:
        return CHOICE
    if "const" in node:
        return CHOICE
    return {"boolean": BOOL, "integer": INT, "number": FLOAT, "string": TEXT}.get(node.get("type", ""), JSON)


def field_from_schema(name: str, node: dict[str, Any], defs: dict[str, Any], required: bool = False) -> FieldSpec:
    """One :class:`FieldSpec` from a property's schema."""
    node = resolve_ref(node, defs)
    inner, nullable = split_nullable(node, defs)
    spec = FieldSpec(
        name=name,
        kind=JSON,
        title=str(node.get("title") or name.replace("_", " ").capitalize()),
        default=node["default"] if "default" in node else NO_DEFAULT,
        help=node.get("description") or inner.get("description"),
        nullable=nullable,
        required=required,
    )
    if inner.get("_union"):
        return spec
    kind = _scalar_kind(inner)
    if inner.get("type") == "array":
        items = resolve_ref(inner.get("items", {}), defs)
        item_kind = _scalar_kind(items)
        if item_kind in (INT, FLOAT, TEXT, CHOICE):
            spec.kind, spec.item_kind = LIST, item_kind
            spec.options = list(items.get("enum", []))
        return spec
    spec.kind = kind
    if kind == CHOICE:
        spec.options = list(inner["enum"]) if "enum" in inner else [inner["const"]]
    if kind in (INT, FLOAT):
        if "exclusiveMinimum" in inner:
            spec.minimum, spec.exclusive_min = inner["exclusiveMinimum"], True
        elif "minimum" in inner:
            spec.minimum = inner["minimum"]
        if "exclusiveMaximum" in inner:
            spec.maximum, spec.exclusive_max = inner["exclusiveMaximum"], True
        elif "maximum" in inner:
            spec.maximum = inner["maximum"]
    return spec


def schema_fields(schema: dict[str, Any] | None, exclude: set[str] | frozenset[str] = frozenset()) -> list[FieldSpec]:
    """The editable fields of a model's JSON Schema, in declaration order."""
    if not schema:
        return []
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    return [
        field_from_schema(name, node, defs, name in required)
        for name, node in schema.get("properties", {}).items()
        if name not in exclude
    ]


def text_of(spec: FieldSpec, value: Any) -> str:
    """How a value is shown in a text widget (the inverse of :func:`coerce_value`)."""
    if value is None or value is NO_DEFAULT:
        return ""
    if spec.kind == LIST and isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if spec.kind == JSON:
        return json.dumps(value)
    return str(value)


class FieldValueError(ValueError):
    """A text widget holds something that cannot be the field's type; the message names the field."""


def _parse_scalar(kind: str, text: str, name: str) -> Any:
    try:
        if kind == INT:
            value = float(text)
            if not value.is_integer():
                raise ValueError
            return int(value)
        if kind == FLOAT:
            value = float(text)
            if math.isnan(value):
                raise ValueError
            return value
    except ValueError:
        raise FieldValueError(f"{name}: {text!r} is not a{'n integer' if kind == INT else ' number'}") from None
    return text


def coerce_value(spec: FieldSpec, raw: Any, path: str = "") -> Any:
    """Turn a widget's raw value into the JSON value sent to the params model.

    Text widgets (lists, JSON, optional numbers) are parsed here; an empty text is ``None`` for a
    nullable field and "not given" (:data:`NO_DEFAULT`) otherwise, so the model's default applies.
    """
    name = f"{path}.{spec.name}" if path else spec.name
    if not isinstance(raw, str) or spec.kind == CHOICE and not spec.nullable:
        return raw
    if spec.kind == TEXT and not spec.nullable:
        return NO_DEFAULT if not raw.strip() and spec.default is NO_DEFAULT else raw
    text = raw.strip()
    if not text:
        return None if spec.nullable else NO_DEFAULT
    if spec.kind in (INT, FLOAT):
        return _parse_scalar(spec.kind, text, name)
    if spec.kind == LIST:
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError as exc:
                raise FieldValueError(f"{name}: not a JSON list ({exc.msg})") from None
        items = [t.strip() for t in text.split(",") if t.strip()]
        return [_parse_scalar(spec.item_kind or TEXT, t, name) for t in items]
    if spec.kind == JSON:
        try:
            return json.loads(text)
        except ValueError:
            return text  # a plain string in a union-typed field; the model validates it
    return text


# -- Streamlit layer -------------------------------------------------------------------------------


def _number_bounds(spec: FieldSpec) -> tuple[Any, Any]:
    lo, hi = spec.minimum, spec.maximum
    if spec.kind == INT:
        if lo is not None:
            lo = int(math.floor(lo)) + 1 if spec.exclusive_min else int(math.ceil(lo))
        if hi is not None:
            hi = int(math.ceil(hi)) - 1 if spec.exclusive_max else int(math.floor(hi))
    else:
        lo = float(lo) if lo is not None else None
        hi = float(hi) if hi is not None else None
    return lo, hi


def render_field(spec: FieldSpec, key: str, container: Any = None, current: Any = NO_DEFAULT) -> Any:
    """Draw one widget and return its raw value. ``current`` overrides the schema default."""
    import streamlit as st

    box = container or st
    value = spec.default if current is NO_DEFAULT else current
    label, help_text = spec.title, spec.help_text()
    if spec.kind == BOOL and not spec.nullable:
        return box.checkbox(label, value=bool(value) if value is not NO_DEFAULT else False, key=key, help=help_text)
    if spec.kind == CHOICE and not spec.nullable:
        options = spec.options
        index = options.index(value) if value in options else 0
        return box.selectbox(label, options, index=index, key=key, help=help_text)
    if spec.kind == CHOICE and all(isinstance(o, str) for o in spec.options):
        # an optional choice: "" (shown as "none") stands for None, as an empty text box does
        choices = ["", *spec.options]
        if isinstance(value, str) and value not in choices:
            choices.append(value)  # a value from a pasted config stays selectable
        index = choices.index(value) if isinstance(value, str) and value in choices else 0
        return box.selectbox(label, choices, index=index, key=key, help=help_text, format_func=lambda o: o or "(none)")
    if spec.kind in (INT, FLOAT) and not spec.nullable and value is not NO_DEFAULT and value is not None:
        lo, hi = _number_bounds(spec)
        # a value outside the bounds (a pasted config, a plugin's odd default) is shown as is and left
        # to the params model to reject with its own message, rather than crashing the widget
        lo = lo if lo is None or value >= lo else None
        hi = hi if hi is None or value <= hi else None
        if spec.kind == INT:
            return box.number_input(
                label, min_value=lo, max_value=hi, value=int(value), step=1, key=key, help=help_text
            )
        number = float(value)
        step = 10 ** math.floor(math.log10(abs(number))) / 10 if number else 0.01
        return box.number_input(
            label, min_value=lo, max_value=hi, value=number, step=step, format="%g", key=key, help=help_text
        )
    if spec.kind == JSON:
        return box.text_area(label, value=text_of(spec, value), key=key, help=(help_text or "") + " (JSON)", height=68)
    placeholder = "comma-separated" if spec.kind == LIST else ("none" if spec.nullable else None)
    return box.text_input(label, value=text_of(spec, value), key=key, help=help_text, placeholder=placeholder)


def render_fields(
    fields: list[FieldSpec],
    key_prefix: str,
    path: str,
    container: Any = None,
    current: dict[str, Any] | None = None,
    columns: int = 3,
    anchors: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Draw a form for ``fields``; return (params dict, errors for values that cannot be parsed).

    Fields left empty are omitted so the params model applies its own default. With ``anchors``, an
    empty slot under each widget is stored there by the field's path (``path.name``), so a problem
    found later can be shown next to the field it concerns.
    """
    import streamlit as st

    box = container or st
    current = current or {}
    values: dict[str, Any] = {}
    errors: list[str] = []
    if not fields:
        box.caption("No parameters.")
        return values, errors
    cols = box.columns(min(columns, len(fields)))
    for i, spec in enumerate(fields):
        col = cols[i % len(cols)]
        raw = render_field(spec, f"{key_prefix}.{spec.name}", col, current.get(spec.name, NO_DEFAULT))
        if anchors is not None:
            anchors[f"{path}.{spec.name}"] = col.empty()
        try:
            value = coerce_value(spec, raw, path)
        except FieldValueError as exc:
            errors.append(str(exc))
            continue
        if value is not NO_DEFAULT:
            values[spec.name] = value
    return values, errors
