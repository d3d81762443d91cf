"""Hypothesis strategies for the generative hardening tests: configs and market-data files.

Configs start from a small valid pipeline and get a few fields replaced. A field is any leaf of the
config's JSON Schema or of the JSON Schema of the plugin a section names (read with the same helpers as
``qlop plugins show`` and the GUI forms), and its new value is drawn from that schema node: mostly values
the schema allows (so runs get deep into the stages), often boundaries, sometimes values it refuses
(out of range, ``inf``/``nan``, absurd magnitudes, wrong types). Configs are written as TOML, JSON or
YAML. Data files are CSV or Parquet tables with the panel's columns and hostile content.

The number of examples comes from the Hypothesis profile: ``ci`` (bounded, the default) or ``fuzz``
(``QLOP_FUZZ=1``, long; see docs/hardening.md).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from qlop.plugins.params import resolve_ref, split_nullable

settings.register_profile(
    "ci",
    max_examples=10,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("QLOP_FUZZ_EXAMPLES", "2000")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = os.environ.get("QLOP_FUZZ") == "1"


def examples(ci: int) -> Any:
    """``@examples(40)``: that many examples in CI; the profile's count under ``QLOP_FUZZ=1``."""
    if FUZZ:
        return settings(settings.get_profile("fuzz"))
    return settings(settings.get_profile("ci"), max_examples=ci)


# -- values from a JSON Schema node ------------------------------------------------------------

HOSTILE_NUMBERS = [math.inf, -math.inf, math.nan, 10**30, -(10**30), 1e308, -1.0, 0, 2**63, 1e-300]
WRONG_TYPES = st.one_of(
    st.booleans(),
    st.text(max_size=8),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=5), st.integers(), max_size=2),
    st.none(),
)


def _number_values(node: dict[str, Any], integer: bool, hostile: int) -> st.SearchStrategy[Any]:
    lo = node.get("minimum", node.get("exclusiveMinimum"))
    hi = node.get("maximum", node.get("exclusiveMaximum"))
    inside: list[st.SearchStrategy[Any]] = []
    if integer:
        lo_i = int(math.floor(lo)) + (1 if "exclusiveMinimum" in node else 0) if lo is not None else -1000
        hi_i = int(math.ceil(hi)) - (1 if "exclusiveMaximum" in node else 0) if hi is not None else lo_i + 1000
        hi_i = max(lo_i, min(hi_i, lo_i + 10**6))
        inside.append(st.integers(lo_i, min(hi_i, lo_i + 50)))  # small values: cheap runs
        inside.append(st.sampled_from([lo_i, hi_i]))
    else:
        lo_f = float(lo) if lo is not None else -1e6
        hi_f = float(hi) if hi is not None else lo_f + 1e6
        inside.append(
            st.floats(
                lo_f,
                hi_f,
                allow_nan=False,
                allow_infinity=False,
                exclude_min="exclusiveMinimum" in node,
                exclude_max="exclusiveMaximum" in node,
            )
        )
        edges = [
            x
            for x, excluded in ((lo_f, "exclusiveMinimum" in node), (hi_f, "exclusiveMaximum" in node))
            if not excluded
        ]
        if edges:
            inside.append(st.sampled_from(edges))
    outside = [x for x in (lo, hi) if x is not None]
    just_out = st.sampled_from([x + d for x in outside for d in (-1, 1)]) if outside else st.nothing()
    return st.one_of(*inside * hostile, just_out, st.sampled_from(HOSTILE_NUMBERS))


def value_for(node: dict[str, Any], defs: dict[str, Any], depth: int = 0, hostile: int = 3) -> st.SearchStrategy[Any]:
    """A value for a schema node: mostly ones it allows, sometimes ones it refuses (about one in
    ``hostile + 1``: the wrong type, out of range, non-finite)."""
    node = resolve_ref(node, defs)
    inner, nullable = split_nullable(node, defs)
    if inner.get("_union"):
        options = [value_for(v, defs, depth + 1, hostile) for v in inner["_variants"]]
        allowed = st.one_of(*options)
    elif "enum" in inner:
        allowed = st.sampled_from(inner["enum"])
    elif "const" in inner:
        allowed = st.just(inner["const"])
    else:
        kind = inner.get("type")
        if kind == "integer":
            allowed = _number_values(inner, True, hostile)
        elif kind == "number":
            allowed = _number_values(inner, False, hostile)
        elif kind == "boolean":
            allowed = st.booleans()
        elif kind == "string":
            fmt = inner.get("format")
            if fmt == "date":
                allowed = st.one_of(st.dates().map(str), st.sampled_from(["2010-02-30", "1900-01-01", "9999-12-31"]))
            else:
                allowed = st.one_of(
                    st.text(min_size=inner.get("minLength", 0), max_size=12),
                    st.sampled_from(["", "../..", "/", "close", "AAPL", "x" * 300]),
                )
        elif kind == "array" and depth < 2:
            item = value_for(inner.get("items", {}), defs, depth + 1, hostile)
            allowed = st.lists(item, min_size=inner.get("minItems", 0), max_size=min(inner.get("maxItems", 4), 4))
        elif kind == "object" and depth < 2:
            allowed = st.dictionaries(
                st.sampled_from(["x", "window", "horizon", "path", "columns"]),
                st.one_of(st.integers(-5, 50), st.text(max_size=6)),
                max_size=2,
            )
        else:
            allowed = WRONG_TYPES
    choices = [allowed] * hostile + [WRONG_TYPES]
    default = node.get("default", inner.get("default"))
    if default is not None and hostile > 3:  # gentle mode: often the default, so runs get deep
        choices += [st.just(default)] * (hostile // 2)
    if nullable:
        choices.append(st.none())
    return st.one_of(*choices)


def leaves(schema: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every field of a model's JSON Schema as (path, node); nested models are walked."""
    defs = schema.get("$defs", {})
    out: list[tuple[tuple[str, ...], dict[str, Any]]] = []

    def walk(node: dict[str, Any], path: tuple[str, ...]) -> None:
        node = resolve_ref(node, defs)
        inner, _ = split_nullable(node, defs)
        props = inner.get("properties")
        if props and len(path) < 4:
            for name, child in props.items():
                walk(child, (*path, name))
        else:
            out.append((path, node))

    walk(schema, prefix)
    return [(p, n) for p, n in out if p]


# -- configs ---------------------------------------------------------------------------------


def set_path(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = data
    for key in path[:-1]:
        if isinstance(node, list):
            node = node[int(key)]
            continue
        if not isinstance(node.get(key), (dict, list)):
            node[key] = {}
        node = node[key]
    if isinstance(node, list):
        node[int(path[-1])] = value
    else:
        node[path[-1]] = value


PLUGIN_SECTIONS: dict[str, tuple[str, tuple[str, ...], str]] = {
    # section path -> (kind, path of the type field, params key)
    "data": ("data_source", ("data", "data_source_type"), "data_source_params"),
    "label": ("label", ("label", "label_type"), "label_params"),
    "model": ("model", ("model", "model_type"), "model_params"),
    "backtest": ("strategy", ("backtest", "strategy_type"), "strategy_params"),
    "export": ("exporter", ("export", "format_name"), "format_params"),
}


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = data
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


@st.composite
def mutated_config(
    draw: Callable[..., Any],
    base: dict[str, Any],
    manager: Any,
    kinds: dict[str, list[str]],
    max_changes: int = 3,
    hostile: int = 3,
) -> dict[str, Any]:
    """``base`` with 1..max_changes fields replaced: config fields, a component's type (among ``kinds``) or a
    field of the params of the component a section names (from that plugin's JSON Schema). About one
    value in ``hostile + 1`` is one the schema refuses."""
    from qlop.config import PipelineConfig

    data = json.loads(json.dumps(base))
    top = leaves(PipelineConfig.model_json_schema())
    top_defs = PipelineConfig.model_json_schema().get("$defs", {})
    for _ in range(draw(st.integers(1, max_changes))):
        target = draw(st.sampled_from(["config", "config", "type", "params", "params", "params", "step"]))
        if target == "config":
            path, node = draw(st.sampled_from(top))
            if path[0] in data or draw(st.booleans()):
                set_path(data, path, draw(value_for(node, top_defs, hostile=hostile)))
        elif target == "type":
            section = draw(st.sampled_from([s for s in PLUGIN_SECTIONS if s in data]))
            kind, type_path, params_key = PLUGIN_SECTIONS[section]
            names = kinds[kind] * hostile + ["no_such_plugin"]
            set_path(data, type_path, draw(st.sampled_from(names)))
            data[section][params_key] = {}
        elif target == "params":
            section = draw(st.sampled_from([s for s in PLUGIN_SECTIONS if s in data]))
            kind, type_path, params_key = PLUGIN_SECTIONS[section]
            _params_change(draw, data, manager, kind, _get(data, type_path), (section, params_key), hostile)
        elif "features" in data and data["features"].get("steps"):
            steps = data["features"]["steps"]
            i = draw(st.integers(0, len(steps) - 1))
            if draw(st.integers(0, 3)) == 0:
                steps[i] = {"step_type": draw(st.sampled_from(kinds["feature_step"])), "step_params": {}}
            else:
                _params_change(
                    draw,
                    data,
                    manager,
                    "feature_step",
                    steps[i].get("step_type"),
                    ("features", "steps", str(i), "step_params"),
                    hostile,
                )
    return data


def _params_change(
    draw: Callable[..., Any],
    data: dict[str, Any],
    manager: Any,
    kind: str,
    name: Any,
    params_path: tuple[str, ...],
    hostile: int,
) -> None:
    try:
        model = manager.registry(kind).get(name).load_params_model()
    except Exception:  # noqa: BLE001 - an unknown plugin name: fuzz an arbitrary key
        model = None
    if model is None:
        set_path(data, (*params_path, draw(st.sampled_from(["x", "window"]))), draw(WRONG_TYPES))
        return
    schema = model.model_json_schema()
    fields = leaves(schema)
    if not fields or draw(st.integers(0, 3 * hostile)) == 0:
        set_path(data, (*params_path, "no_such_param"), draw(WRONG_TYPES))
        return
    path, node = draw(st.sampled_from(fields))
    set_path(data, (*params_path, *path), draw(value_for(node, schema.get("$defs", {}), hostile=hostile)))


# -- writing configs -----------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # TOML rejects JSON's surrogate-pair escapes
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(
                f"{json.dumps(str(k), ensure_ascii=False)} = {_toml_value(v)}"
                for k, v in value.items()
                if v is not None
            )
            + "}"
        )
    raise TypeError(type(value))


def to_toml(data: dict[str, Any]) -> str:
    """A small TOML writer (inline tables; TOML has no null, so None values are left out)."""
    return "".join(
        f"{json.dumps(str(k), ensure_ascii=False)} = {_toml_value(v)}\n" for k, v in data.items() if v is not None
    )


def write_config(path_stem: Path, data: dict[str, Any], fmt: str) -> Path:
    path = path_stem.with_suffix(f".{fmt}")
    if fmt == "toml":
        path.write_text(to_toml(data), encoding="utf-8")
    elif fmt == "json":
        path.write_text(json.dumps(data, default=str), encoding="utf-8")  # NaN/Infinity as JSON allows
    else:
        import yaml

        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


# -- market-data files -------------------------------------------------------------------------

COLUMNS = ["date", "ticker", "open", "high", "low", "close", "adj_close", "volume"]
CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.floats(1, 500),
    st.floats(1, 500),
    st.floats(1, 500),
    st.integers(-5, 10**7),
    st.sampled_from(["", "NaN", "inf", "-", "null", "1e400", "abc", "1,5"]),
)


@st.composite
def market_table(draw: Callable[..., Any]) -> list[dict[str, Any]]:
    """Rows of a long OHLCV table: mostly plausible (increasing dates, consistent prices), with hostile
    cells, duplicate or unordered dates, unknown tickers and missing or extra columns mixed in."""
    tickers = draw(
        st.lists(st.sampled_from(["AAA", "BBB", "C C", "", "ÄÖ", "x" * 40]), min_size=1, max_size=3, unique=True)
    )
    n = draw(st.integers(0, 60))
    rows = []
    for t in tickers:
        price = draw(st.floats(1, 300))
        for i in range(n):
            day = f"2020-{1 + i // 28:02d}-{1 + i % 28:02d}"
            drift = draw(st.floats(-0.05, 0.05))
            price = max(0.01, price * (1 + drift))
            row = {
                "date": day,
                "ticker": t,
                "open": price,
                "high": price * 1.01,
                "low": price * 0.99,
                "close": price,
                "adj_close": price,
                "volume": 1000 + i,
            }
            if draw(st.integers(0, 9)) == 0:
                row[draw(st.sampled_from(COLUMNS))] = draw(CELLS)
            rows.append(row)
    if rows and draw(st.integers(0, 5)) == 0:
        rows.append(dict(draw(st.sampled_from(rows))))  # a duplicated (ticker, date)
    if rows and draw(st.integers(0, 5)) == 0:
        rows.reverse()
    if draw(st.integers(0, 6)) == 0:
        drop = draw(st.sampled_from(COLUMNS))
        for r in rows:
            r.pop(drop, None)
    if draw(st.integers(0, 8)) == 0:
        for r in rows:
            r["extra"] = "z"
    return rows


def write_table(path_stem: Path, rows: list[dict[str, Any]], fmt: str, mangle: int) -> Path:
    """CSV or Parquet; ``mangle`` sometimes damages the bytes (not UTF-8, truncated, empty)."""
    import pandas as pd

    path = path_stem.with_suffix(f".{fmt}")
    frame = pd.DataFrame(rows)
    if fmt == "csv":
        data = frame.to_csv(index=False).encode("utf-8")
    else:
        import io

        buffer = io.BytesIO()
        try:
            frame.to_parquet(buffer, index=False)
        except Exception:  # noqa: BLE001 - mixed cell types pyarrow will not write: store them as text
            frame.astype(str).to_parquet(buffer, index=False)
        data = buffer.getvalue()
    if mangle == 1:
        data = data[: len(data) // 2]
    elif mangle == 2:
        data = b"\xff\xfe" + data[1:]
    elif mangle == 3:
        data = b""
    path.write_bytes(data)
    return path
