"""Numbers in configs and plugin params: finite, inside bounds that name their unit, refused in one line.

The class of failure: ``inf`` (TOML ``inf``, YAML ``.inf``, JSON ``Infinity``) passed validation for
money, durations and sizes and crashed later; NaN was refused with a misleading bound; a seed of
``10**30`` passed and failed inside a library. Every number QLOP reads goes through
:class:`qlop.numbers.Number`, and a meta-test holds every number field of the config and of every
plugin shipped in this repository to it.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import BaseModel, Field, ValidationError

import qlop
from qlop.numbers import SEED_MAX, Number, number, seed_field
from qlop.plugins.registry import format_validation_error

REPO = Path(qlop.__file__).resolve().parents[1]
KINDS = ("data_source", "feature_step", "label", "model", "strategy", "exporter")


class Demo(BaseModel):
    bps: float = number(1.0, ge=0, le=1000, unit="bps")
    barrier: float | None = number(None, gt=0, le=100, unit="(price fraction)")
    seed: int = seed_field(42)
    lags: list[Annotated[int, Number(ge=1, le=100, unit="bars")]] = Field([1])
    choice: typing.Literal["sqrt", "log2"] | float = number("sqrt", gt=0, le=1)


def error(**data: typing.Any) -> str:
    with pytest.raises(ValidationError) as exc:
        Demo(**data)
    return format_validation_error(exc.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"bps": float("inf")}, "bps: must be a finite number (got inf)"),
        ({"bps": float("-inf")}, "bps: must be a finite number (got -inf)"),
        ({"bps": float("nan")}, "bps: must be a finite number (got nan)"),
        ({"bps": "inf"}, "bps: must be a finite number (got 'inf')"),
        ({"barrier": float("nan")}, "barrier: must be a finite number (got nan)"),
        ({"bps": 5000}, "bps: must be between 0 and 1000 bps (got 5000)"),
        ({"barrier": 0}, "barrier: must be greater than 0 and at most 100 (price fraction) (got 0)"),
        ({"bps": True}, "bps: must be a number, not true/false (got true)"),
        ({"seed": 10**30}, f"seed: must be between 0 and {SEED_MAX} (got {10**30})"),
        ({"seed": 1e30}, f"seed: must be between 0 and {SEED_MAX} (got 1e+30)"),
        ({"seed": -1}, f"seed: must be between 0 and {SEED_MAX} (got -1)"),
        ({"seed": float("inf")}, "seed: must be a finite number (got inf)"),
        ({"lags": [0, 2]}, "lags.0: must be between 1 and 100 bars (got 0)"),
        ({"lags": [1, float("nan")]}, "lags.1: must be a finite number (got nan)"),
        ({"choice": 2.0}, "choice: must be greater than 0 and at most 1 (got 2.0)"),
    ],
)
def test_number_messages_say_what_is_wrong(data, message):
    assert error(**data) == message


def test_valid_numbers_pass_and_none_stays_allowed():
    d = Demo(bps=0, barrier=None, seed=SEED_MAX, lags=[1, 100], choice="log2")
    assert (d.bps, d.barrier, d.seed, d.lags, d.choice) == (0.0, None, SEED_MAX, [1, 100], "log2")
    assert Demo(choice=0.5).choice == 0.5


def test_bounds_and_unit_reach_the_json_schema():
    props = Demo.model_json_schema()["properties"]
    assert {k: props["bps"][k] for k in ("type", "minimum", "maximum", "unit")} == {
        "type": "number",
        "minimum": 0,
        "maximum": 1000,
        "unit": "bps",
    }
    number_branch = [b for b in props["barrier"]["anyOf"] if b.get("type") == "number"][0]
    assert number_branch == {"type": "number", "exclusiveMinimum": 0, "maximum": 100}
    assert props["barrier"]["unit"] == "(price fraction)"
    assert props["lags"]["items"] == {"type": "integer", "minimum": 1, "maximum": 100, "unit": "bars"}


def test_plugins_show_prints_the_unit(qlop_cli):
    result = qlop_cli.invoke(["plugins", "show", "leverage_opportunity"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert ">= 0, <= 1000 bps" in rows["commission_bps"]
    assert ">= 1, <= 5000 bars" in rows["horizon"]


# -- every number QLOP reads uses the shared type -------------------------------------------------


def _numeric(annotation: typing.Any) -> bool:
    args = typing.get_args(annotation)
    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) is typing.Annotated:
        return _numeric(args[0])
    return typing.get_origin(annotation) in (typing.Union, __import__("types").UnionType) and any(
        a in (int, float) for a in args
    )


def _missing_numbers(model: type[BaseModel], prefix: str, seen: set[type]) -> list[str]:
    """Number fields (``int``/``float``, optional, or list items) without a :class:`Number`."""
    if model in seen:
        return []
    seen.add(model)
    missing = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if _numeric(ann) and not any(isinstance(m, Number) for m in field.metadata):
            missing.append(f"{prefix}{name}")
        if typing.get_origin(ann) is list:
            (item,) = typing.get_args(ann)
            if _numeric(item) and not any(isinstance(m, Number) for m in typing.get_args(item)[1:]):
                missing.append(f"{prefix}{name}[]")
        for arg in (*typing.get_args(ann), ann):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                missing += _missing_numbers(arg, f"{prefix}{name}.", seen)
    return missing


def test_every_config_number_is_finite_and_bounded():
    from qlop.backtest.engine import EngineSettings
    from qlop.config import PipelineConfig
    from qlop.scale.sweepfile import SweepSpec
    from qlop.sim.rules import TradeRules

    missing = []
    for model in (PipelineConfig, EngineSettings, TradeRules, SweepSpec):
        missing += _missing_numbers(model, f"{model.__name__}.", set())
    assert missing == []


def test_every_shipped_plugin_declares_its_numbers_with_the_shared_type(qlop_plugin_manager):
    """Bundled plugins and the example plugin (any plugin whose code lives in this repository)."""
    import importlib
    import sys

    sys.path.insert(0, str(REPO / "examples" / "qlop-example-plugin" / "src"))
    try:
        example = importlib.import_module("qlop_example_plugin")
        qlop_plugin_manager.register(example, name="example")
    finally:
        sys.path.pop(0)
    missing, checked = [], 0
    for kind in KINDS:
        for entry in qlop_plugin_manager.registry(kind).entries():
            model = entry.spec.load_params_model()
            if model is None:
                continue
            source = Path(sys.modules[model.__module__].__file__).resolve()
            if REPO not in source.parents:
                continue  # a plugin installed from elsewhere answers for itself
            checked += 1
            missing += _missing_numbers(model, f"{kind}:{entry.spec.name}.", set())
    assert checked >= 30 and missing == []


# -- through the CLI: TOML, YAML and JSON spellings of non-finite and absurd values ----------------


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "inf.toml",
            "[backtest]\ninitial_capital = inf\n",
            "backtest.initial_capital: must be a finite number (got inf)",
        ),
        (
            "nan.toml",
            "[model]\n[model.validation]\ntrain_years = nan\n",
            "model.validation.train_years: must be a finite number (got nan)",
        ),
        (
            "inf.yaml",
            "model:\n  validation:\n    train_years: .inf\n",
            "model.validation.train_years: must be a finite number (got inf)",
        ),
        (
            "inf.json",
            json.dumps({"backtest": {"min_commission": "Infinity"}}).replace('"Infinity"', "Infinity"),
            "backtest.min_commission: must be a finite number (got inf)",
        ),
        ("seed.toml", f"seed = {10**30}\n", f"seed: must be between 0 and {SEED_MAX} (got {10**30})"),
        ("bps.toml", "[backtest]\ncommission_bps = 5000\n", "backtest.commission_bps: must be between 0 and 1000 bps"),
        (
            "params.toml",
            "[model]\nmodel_params = {learning_rate = inf}\n",
            "model.model_params.learning_rate: must be a finite number (got inf)",
        ),
        (
            "rs.toml",
            f"[model]\nmodel_params = {{random_state = {2**40}}}\n",
            f"model.model_params.random_state: must be between 0 and {SEED_MAX} (got {2**40})",
        ),
    ],
)
def test_config_numbers_are_refused_in_one_line(qlop_cli, tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    result = qlop_cli.invoke(["config", "validate", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: ") and message in lines[0], lines
    assert "Traceback" not in result.output
