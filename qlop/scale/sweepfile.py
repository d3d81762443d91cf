"""The sweep file: a base config, the axes to vary, and the variants they make.

```toml
base = "quickstart.toml"            # relative to this file, or an inline [base] table
mode = "grid"                       # or "random" with samples = N and seed = S
[[axes]]
path = "label.label_params.leverage"
values = [1.5, 2.0, 3.0]
```

Every variant is a full config built from the base with the axis values set at their dotted paths
(``features.steps.0.step_params.timeperiod`` indexes lists), and every one is validated, plugins'
params included, before anything runs: a sweep that would fail on variant 37 of 40 after an hour
fails now, with one line per bad variant naming its axis and value. Nothing here imports pandas.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from qlop.errors import ConfigError
from qlop.numbers import number, seed_field


class SweepAxis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(..., description="Dotted config path, e.g. label.label_params.leverage")
    values: list[Any] = Field(..., min_length=1, description="Values the axis takes")

    @field_validator("path")
    @classmethod
    def _dotted(cls, v: str) -> str:
        parts = v.split(".")
        if not v or any(not p.strip() or p != p.strip() for p in parts):
            raise ValueError(f"{v!r} is not a dotted config path (e.g. backtest.strategy_params.entry)")
        return v


class SweepSpec(BaseModel):
    """The parsed sweep file."""

    model_config = ConfigDict(extra="forbid")

    base: str | dict[str, Any] = Field(
        ..., description="Base config: a path relative to the sweep file, or an inline table"
    )
    mode: Literal["grid", "random"] = "grid"
    samples: int | None = number(
        None, ge=1, le=10**6, unit="variants", description="Variants drawn from the grid (random mode)"
    )
    seed: int = seed_field(0, description="Seed of the random draw (random mode)")
    name: str | None = Field(None, description="The sweep's name (default: the sweep file's stem)")
    axes: list[SweepAxis] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> SweepSpec:
        if self.mode == "random" and self.samples is None:
            raise ValueError('mode = "random" needs samples = N')
        if self.mode == "grid" and self.samples is not None:
            raise ValueError('samples is for mode = "random" (a grid runs every combination)')
        paths = [a.path for a in self.axes]
        for i, p in enumerate(paths):
            for q in paths[:i]:
                if p == q:
                    raise ValueError(f"axes: {p} appears twice")
                if p.startswith(q + ".") or q.startswith(p + "."):
                    raise ValueError(f"axes: {q} and {p} overlap (one is inside the other)")
        return self


@dataclass
class Variant:
    """One point of the sweep: its axis values and the full config they make."""

    id: str
    index: int
    values: dict[str, Any]
    data: dict[str, Any] = field(repr=False)
    config: Any = field(default=None, repr=False)  # PipelineConfig once valid
    config_hash: str | None = None

    def label(self) -> str:
        return ", ".join(f"{p}={value_text(v)}" for p, v in self.values.items())


@dataclass
class Sweep:
    """A loaded sweep: its file, spec, base config data and its validated variants."""

    path: Path
    spec: SweepSpec
    base: dict[str, Any]
    base_dir: Path
    variants: list[Variant]

    @property
    def name(self) -> str:
        return self.spec.name or self.path.stem

    @property
    def axes(self) -> list[str]:
        return [a.path for a in self.spec.axes]


def value_text(value: Any) -> str:
    """A short, stable text of an axis value (JSON, dates as ISO)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, separators=(",", ":"))


class SweepValidationError(ConfigError):
    """Some variants are invalid: one line per bad variant."""

    def __init__(self, sweep_path: Path, lines: list[str], total: int) -> None:
        self.lines = lines
        head = f"{sweep_path}: {len(lines)} of {total} variant(s) invalid, nothing was run:"
        super().__init__("\n".join([head, *(f"  {line}" for line in lines)]))


# -- dotted paths ------------------------------------------------------------------------------


def get_path(data: Any, path: str) -> Any:
    """The value at ``path`` in nested dicts/lists, or ``None`` when it is not there."""
    node = data
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``path`` to ``value``, creating missing tables; lists are indexed by number."""
    parts = path.split(".")
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[:i]) or "the config"
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"{path}: {where} is a list of {len(node)}; {part!r} is not an index in it")
            if last:
                node[int(part)] = copy.deepcopy(value)
                return
            node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = copy.deepcopy(value)
                return
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
        else:
            raise ConfigError(f"{path}: {where} is {value_text(node)}, not a table")


# -- loading -----------------------------------------------------------------------------------


def read_sweep_spec(path: str | Path) -> SweepSpec:
    from qlop.config import parse_config_text, read_config_file
    from qlop.plugins.registry import format_validation_error

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "toml"
    raw = parse_config_text(read_config_file(path), fmt, str(path))
    try:
        return SweepSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {format_validation_error(exc)}") from None


def read_base(spec: SweepSpec, sweep_path: Path) -> tuple[dict[str, Any], Path]:
    """The base config's data and the folder its relative paths are read from."""
    from qlop.config import parse_config_text, read_config_file

    if isinstance(spec.base, dict):
        return copy.deepcopy(spec.base), sweep_path.parent
    base_path = sweep_path.parent / spec.base
    if not base_path.is_file():
        raise ConfigError(f"{sweep_path}: base: {base_path} not found (a path is relative to the sweep file)")
    fmt = base_path.suffix.lstrip(".").lower() or "toml"
    return parse_config_text(read_config_file(base_path), fmt, str(base_path)), base_path.parent


def grid_points(spec: SweepSpec) -> list[tuple[int, ...]]:
    """Value indices of every variant: the whole grid, or ``samples`` distinct points of it drawn with
    ``seed`` (kept in grid order, so a sweep file always means the same variants)."""
    sizes = [len(a.values) for a in spec.axes]
    total = 1
    for n in sizes:
        total *= n
    if spec.mode == "grid":
        return list(itertools.product(*(range(n) for n in sizes)))
    assert spec.samples is not None
    if spec.samples > total:
        raise ConfigError(f"samples = {spec.samples} exceeds the {total} points of the grid")
    chosen = sorted(random.Random(spec.seed).sample(range(total), spec.samples))
    points = []
    for flat in chosen:
        idx = []
        for n in reversed(sizes):
            flat, r = divmod(flat, n)
            idx.append(r)
        points.append(tuple(reversed(idx)))
    return points


def _axis_of(error: str, values: dict[str, Any]) -> list[str]:
    """The axes an error is about, else every axis. An axis is named by a problem whose field path is
    its own, inside it or around it, or a sibling field whose message names the axis's key (a
    cross-field check such as ``maintenance_margin: leverage 50 x ... >= 1``)."""
    problems = [tuple(x.strip() for x in part.split(":", 1)) for part in error.split("; ") if ":" in part]

    def about(path: str, field_path: str, message: str) -> bool:
        if field_path == path or field_path.startswith(path + ".") or path.startswith(field_path + "."):
            return True
        parent, _, leaf = path.rpartition(".")
        return field_path.rpartition(".")[0] == parent and leaf in message.replace(":", " ").split()

    hit = [p for p in values if any(about(p, f, m) for f, m in problems)]
    return hit or list(values)


def load_sweep(path: str | Path, manager: Any = None) -> Sweep:
    """Read the sweep file and its base, build and validate every variant (all of them, then raise)."""
    from qlop.config import config_from_data, validate_plugins
    from qlop.runs import config_hash

    path = Path(path)
    spec = read_sweep_spec(path)
    base, base_dir = read_base(spec, path)
    points = grid_points(spec)
    width = max(3, len(str(len(points))))
    variants: list[Variant] = []
    bad: list[str] = []
    for n, point in enumerate(points):
        values = {axis.path: axis.values[i] for axis, i in zip(spec.axes, point)}
        variant = Variant(id=f"v{n + 1:0{width}d}", index=n, values=values, data=copy.deepcopy(base))
        variants.append(variant)
        try:
            for axis_path, value in values.items():
                try:
                    set_path(variant.data, axis_path, value)
                except ConfigError as exc:
                    raise ConfigError(str(exc)) from None
            config = config_from_data(variant.data, "")
            if config.plugins_dir and not Path(config.plugins_dir).is_absolute():
                config.plugins_dir = str((base_dir / config.plugins_dir).resolve())
            validate_plugins(config, manager)
        except ConfigError as exc:
            message = str(exc).removeprefix(": ")
            named = _axis_of(message, values)
            where = ", ".join(f"{p} = {value_text(values[p])}" for p in named)
            bad.append(f"{variant.id} ({where}): {message}")
            continue
        variant.config = config
        variant.config_hash = config_hash(config)
    if bad:
        raise SweepValidationError(path, bad, len(variants))
    return Sweep(path=path, spec=spec, base=base, base_dir=base_dir, variants=variants)
