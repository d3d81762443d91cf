"""``qlop plugins show NAME``: a component's parameters (type, default, allowed values, description)
read from its params model's JSON Schema, as a table or as JSON."""

from __future__ import annotations

import json
import re
import types
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from qlop import hookimpl
from qlop.plugins.params import describe_params
from qlop.plugins.specs import ComponentSpec


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alpha: float = Field(0.5, gt=0, lt=1, description="Inner weight")


class Demo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window: int = Field(20, ge=2, le=500, description="Bars in the window")
    mode: Literal["fast", "slow"] = Field("fast", description="Speed")
    lags: list[int] = Field(default_factory=lambda: [1, 2], min_length=1, description="Lags")
    seed: int | None = Field(None, ge=0, description="Seed")
    mix: int | str = Field(3, description="Either")
    path: str = Field(..., min_length=1, description="Where")
    inner: Inner = Field(default_factory=Inner)
    tiny: float = Field(1e-8, gt=0, le=1e6)


def _by_name(schema):
    return {p.name: p for p in describe_params(schema)}


def test_describe_params_reads_types_defaults_bounds_and_help():
    from typing import Annotated

    class WithItems(BaseModel):
        periods: list[Annotated[int, Field(ge=1, le=250)]] = Field([1, 5], min_length=1, max_length=4)

    docs = _by_name(Demo.model_json_schema())
    assert list(docs) == ["window", "mode", "lags", "seed", "mix", "path", "inner.alpha", "tiny"]
    w = docs["window"]
    assert (w.type, w.default, w.allowed, w.description) == ("integer", "20", ">= 2, <= 500", "Bars in the window")
    assert (docs["mode"].type, docs["mode"].default, docs["mode"].allowed) == (
        "string",
        '"fast"',
        'one of "fast", "slow"',
    )
    assert (docs["lags"].type, docs["lags"].default, docs["lags"].allowed) == (
        "list of integer",
        "(computed)",
        "non-empty",
    )
    assert (docs["seed"].type, docs["seed"].default, docs["seed"].allowed) == ("integer or none", "none", ">= 0")
    assert docs["mix"].type == "integer | string" and docs["mix"].default == "3"
    assert (docs["path"].default, docs["path"].required, docs["path"].allowed) == ("(required)", True, "non-empty")
    assert (docs["inner.alpha"].type, docs["inner.alpha"].default, docs["inner.alpha"].allowed) == (
        "number",
        "0.5",
        "> 0, < 1",
    )
    assert (docs["tiny"].default, docs["tiny"].allowed) == ("1e-08", "> 0, <= 1000000")
    periods = _by_name(WithItems.model_json_schema())["periods"]
    assert (periods.type, periods.default, periods.allowed) == (
        "list of integer",
        "[1, 5]",
        "each >= 1, <= 250, 1..4 items",
    )
    assert describe_params(None) == []


def test_show_xgboost_prints_every_parameter_with_default_and_bounds(qlop_cli):
    result = qlop_cli.invoke(["plugins", "show", "xgboost"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("plugin qlop_contrib.models ")
    assert "model xgboost - Gradient-boosted trees" in out
    assert re.search(r"^parameter +type +default +allowed +description$", out, flags=re.MULTILINE)
    rows = {
        "n_estimators": r"integer +200 +>= 1, <= 20000 trees +Boosting rounds",
        "max_depth": r"integer +4 +>= 1, <= 20 levels +Maximum tree depth",
        "learning_rate": r"number +0\.05 +> 0, <= 1 +Shrinkage per round",
        "tree_method": r'string +"hist" +one of "hist", "approx", "exact" +Tree construction',
        "random_state": r"integer or none +none +>= 0, <= 4294967295 +Seed",
    }
    for name, pattern in rows.items():
        assert re.search(rf"^{name} +{pattern}", out, flags=re.MULTILINE), (name, out)
    # only the component asked for, not the other models of the same plugin
    assert "logistic_regression" not in out and "random_forest" not in out
    assert not any(line != line.rstrip() for line in out.splitlines())


def test_show_json_carries_each_components_params_schema(qlop_cli):
    data = json.loads(qlop_cli.invoke(["plugins", "show", "xgboost", "--json"]).stdout)
    assert data["name"] == "qlop_contrib.models" and data["status"] == "active"
    [comp] = data["components"]
    assert (comp["kind"], comp["name"]) == ("model", "xgboost")
    props = comp["params_schema"]["properties"]
    assert props["max_depth"]["default"] == 4 and props["max_depth"]["maximum"] == 20
    whole = json.loads(qlop_cli.invoke(["plugins", "show", "qlop_contrib.models", "--json"]).stdout)
    assert {c["name"] for c in whole["components"]} == {"xgboost", "logistic_regression", "random_forest", "baseline"}


def test_show_a_third_party_component_and_its_failures(qlop_fake_entry_points, qlop_cli):
    plugin = types.SimpleNamespace(
        qlop_register_model=hookimpl(
            lambda: [
                ComponentSpec("demo_model", types.SimpleNamespace, "A demo", params_model=Demo),
                ComponentSpec("no_params", types.SimpleNamespace, "Takes a plain dict"),
                ComponentSpec("broken_params", types.SimpleNamespace, "Bad", params_model="qlop_no_such_mod:P"),
            ]
        )
    )
    qlop_fake_entry_points.add("demo", plugin, distribution="qlop-demo", version="2.0")
    out = qlop_cli.invoke(["plugins", "show", "demo"])
    assert out.exit_code == 0, out.output
    text = out.stdout
    assert text.startswith("plugin demo 2.0 (entry-point; active)")
    assert "  distribution: qlop-demo" in text
    assert re.search(r"^window +integer +20 +>= 2, <= 500 +Bars in the window$", text, flags=re.MULTILINE)
    assert re.search(r"^inner\.alpha +number +0\.5 +> 0, < 1 +Inner weight$", text, flags=re.MULTILINE)
    assert re.search(r"^path +string +\(required\) +non-empty +Where$", text, flags=re.MULTILINE)
    assert "model no_params - Takes a plain dict\n  no params model declared" in text
    assert "model broken_params - Bad\n  parameters unavailable: ModuleNotFoundError: No module named" in text
    unknown = qlop_cli.invoke(["plugins", "show", "demo_modle"])
    assert unknown.exit_code == 2 and "Did you mean 'demo_model'?" in unknown.stderr
    wrong_kind = qlop_cli.invoke(["plugins", "show", "demo_model", "--kind", "strategy"])
    assert wrong_kind.exit_code == 2
    assert "no strategy component named 'demo_model'" in wrong_kind.stderr


def test_show_a_disabled_plugin_says_so(qlop_fake_entry_points, qlop_cli):
    plugin = types.SimpleNamespace(
        qlop_register_model=hookimpl(
            lambda: ComponentSpec("demo_model", types.SimpleNamespace, "A demo", params_model=Demo)
        )
    )
    qlop_fake_entry_points.add("demo", plugin)
    out = qlop_cli.invoke(["plugins", "show", "demo"], env={"QLOP_DISABLE_PLUGINS": "demo"})
    assert out.exit_code == 0, out.output
    assert out.stdout.startswith("plugin demo 0.0.1 (entry-point; disabled: disabled by QLOP_DISABLE_PLUGINS)")
    assert "provides no components (not loaded)" in out.stdout
    assert qlop_fake_entry_points.loaded == []


def test_a_rate_term_shows_as_a_number_or_a_table_with_its_bounds():
    """The trade terms' rates are a constant or a rate-series table (``X | None`` included): the number's
    bounds and unit still show."""
    from qlop_contrib.labels.leverage import LeverageOpportunityParams

    docs = _by_name(LeverageOpportunityParams.model_json_schema())
    assert (docs["financing_rate"].type, docs["financing_rate"].allowed) == (
        "number | table",
        ">= 0, <= 1 (annual fraction)",
    )
    assert (docs["cash_rate"].type, docs["cash_rate"].allowed) == (
        "number | table or none",
        ">= -1, <= 1 (annual fraction)",
    )
    assert docs["day_count"].default == '"act_360"'
