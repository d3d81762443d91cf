"""A component's parameters, read from its params model's JSON Schema.

A plugin declares its parameters once, as a pydantic model. The GUI draws forms from that model's
JSON Schema and ``qlop plugins show`` prints it as a table; both read the schema through the helpers
here (``$ref`` resolution, ``X | None`` unions), so they describe a parameter the same way. Pure
functions over plain dicts: nothing here imports pydantic or the component.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: JSON Schema type names as a config author reads them.
_TYPE_NAMES = {
    "integer": "integer",
    "number": "number",
    "string": "string",
    "boolean": "boolean",
    "array": "list",
    "object": "table",
    "null": "null",
}


def params_schema(spec: Any) -> dict[str, Any] | None:
    """JSON Schema of a component spec's params model (None when the plugin declares none).

    Loads the params model, which imports the module that defines it (never done just to list
    plugins)."""
    model = spec.load_params_model()
    if model is None:
        return None
    return model.model_json_schema()


def resolve_ref(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/$defs/Name``) and merge the referring node's own keys over it."""
    seen = 0
    while "$ref" in node and seen < 20:
        name = node["$ref"].rsplit("/", 1)[-1]
        target = dict(defs.get(name, {}))
        target.update({k: v for k, v in node.items() if k != "$ref"})
        node, seen = target, seen + 1
    return node


def split_nullable(node: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """``anyOf: [X, {type: null}]`` (pydantic's ``X | None``) -> (X, True); other unions are returned
    marked ``_union`` with their resolved non-null variants under ``_variants``."""
    variants = node.get("anyOf") or node.get("oneOf")
    if not variants:
        return node, False
    non_null = [resolve_ref(v, defs) for v in variants if v.get("type") != "null"]
    nullable = len(non_null) < len(variants)
    if len(non_null) == 1:
        inner = dict(non_null[0])
        for key in ("title", "description", "default", "unit"):
            if key in node:
                inner[key] = node[key]
        if inner.get("anyOf") or inner.get("oneOf"):  # ``(X | Y) | None``: the union inside
            inner, _ = split_nullable(inner, defs)
        return inner, nullable
    return {**node, "_union": True, "_variants": non_null}, nullable


@dataclass(frozen=True)
class ParamDoc:
    """One parameter as ``qlop plugins show`` prints it."""

    name: str
    type: str
    default: str
    allowed: str
    description: str
    required: bool = False


def format_value(value: Any) -> str:
    """A value as it would be written in a TOML config (``none`` for null, which TOML lacks)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number(value)
    return json.dumps(value)


def _number(value: Any) -> str:
    """``200``, ``0.05``, ``1.0``, ``1000000`` (not ``1e+06``), ``1e-08``."""
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value)) if abs(value) >= 1e6 else repr(value)
    return f"{value:g}" if 0 < abs(value) < 1e-4 else repr(value)


def _range(lo: Any, hi: Any, unit: str) -> str | None:
    if lo == 1 and hi is None:
        return "non-empty"
    if lo is not None and lo == hi:
        return f"exactly {lo} {unit.rstrip('s') if lo == 1 else unit}"
    if lo is not None and hi is not None:
        return f"{lo}..{hi} {unit}"
    if lo is not None:
        return f"at least {lo} {unit}"
    if hi is not None:
        return f"at most {hi} {unit}"
    return None


def _type_text(node: dict[str, Any], defs: dict[str, Any]) -> str:
    if node.get("_union"):
        return " | ".join(_type_text(v, defs) for v in node["_variants"])
    if "const" in node:
        return _TYPE_NAMES.get(node.get("type", ""), "value")
    if node.get("type") == "array":
        items = resolve_ref(node.get("items", {}), defs)
        items, _ = split_nullable(items, defs)
        return f"list of {_type_text(items, defs)}" if items else "list"
    kind = node.get("type")
    if isinstance(kind, list):
        return " | ".join(_TYPE_NAMES.get(k, str(k)) for k in kind)
    if kind is None and "enum" in node:
        return "choice"
    return _TYPE_NAMES.get(kind or "", kind or "any")


def _bounds(node: dict[str, Any]) -> list[str]:
    parts = []
    if "enum" in node:
        parts.append("one of " + ", ".join(format_value(v) for v in node["enum"]))
    if "const" in node:
        parts.append(f"= {format_value(node['const'])}")
    bounds = [
        f"{op} {_number(node[key])}"
        for key, op in (("exclusiveMinimum", ">"), ("minimum", ">="), ("exclusiveMaximum", "<"), ("maximum", "<="))
        if key in node
    ]
    if bounds and node.get("unit"):  # the unit the bounds count (qlop.numbers.Number)
        bounds[-1] += f" {node['unit']}"
    parts.extend(bounds)
    if "multipleOf" in node:
        parts.append(f"multiple of {_number(node['multipleOf'])}")
    length = _range(node.get("minLength"), node.get("maxLength"), "characters")
    if length:
        parts.append(length)
    if "pattern" in node:
        parts.append(f"matches {node['pattern']}")
    return parts


def _allowed_text(node: dict[str, Any], defs: dict[str, Any]) -> str:
    if node.get("_union"):
        return "; ".join(t for t in (_allowed_text(v, defs) for v in node["_variants"]) if t)
    parts = _bounds(node)
    if node.get("type") == "array":
        items, _ = split_nullable(resolve_ref(node.get("items", {}), defs), defs)
        item_parts = _bounds(items)
        if item_parts:
            parts.append("each " + ", ".join(item_parts))
        count = _range(node.get("minItems"), node.get("maxItems"), "items")
        if count:
            parts.append(count)
        if node.get("uniqueItems"):
            parts.append("no repeats")
    return ", ".join(parts)


def describe_params(schema: dict[str, Any] | None) -> list[ParamDoc]:
    """Every parameter of a params model's JSON Schema, in declaration order.

    A parameter that is itself a model (a nested table) is listed field by field as ``outer.inner``.
    """
    if not schema:
        return []
    return _describe(schema, schema.get("$defs", {}), "", depth=0)


def _describe(schema: dict[str, Any], defs: dict[str, Any], prefix: str, depth: int) -> list[ParamDoc]:
    required = set(schema.get("required", []))
    docs: list[ParamDoc] = []
    for name, raw in (schema.get("properties") or {}).items():
        node = resolve_ref(raw, defs)
        inner, nullable = split_nullable(node, defs)
        if inner.get("type") == "object" and inner.get("properties") and depth < 3 and not nullable:
            docs.extend(_describe(inner, defs, f"{prefix}{name}.", depth + 1))
            continue
        type_text = _type_text(inner, defs)
        if nullable:
            type_text += " or none"
        has_default = "default" in node or "default" in raw
        default = node.get("default", raw.get("default"))
        docs.append(
            ParamDoc(
                name=f"{prefix}{name}",
                type=type_text,
                default=format_value(default) if has_default else ("(required)" if name in required else "(computed)"),
                allowed=_allowed_text(inner, defs),
                description=str(raw.get("description") or node.get("description") or inner.get("description") or ""),
                required=name in required and not has_default,
            )
        )
    return docs
