"""Forms generated from params models: what widget each field gets, and how its text is read back."""

from __future__ import annotations

import enum
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from qlop.gui import forms


class Colour(str, enum.Enum):
    red = "red"
    blue = "blue"


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window: int = Field(14, ge=2, le=500, description="Lookback in bars")
    alpha: float = Field(0.5, gt=0, lt=1, description="Smoothing")
    side: Literal["long", "short"] = "long"
    colour: Colour = Colour.blue
    enabled: bool = True
    stop: float | None = Field(None, gt=0, description="Stop distance")
    periods: list[int] = Field(default_factory=lambda: [5, 10], description="Periods")
    names: list[str] = ["a"]
    extra: dict[str, float] = {}
    path: str


def fields() -> dict[str, forms.FieldSpec]:
    return {f.name: f for f in forms.schema_fields(Params.model_json_schema())}


def test_each_field_gets_its_widget_kind_default_and_bounds():
    f = fields()
    assert (f["window"].kind, f["window"].default, f["window"].minimum, f["window"].maximum) == ("int", 14, 2, 500)
    assert not f["window"].exclusive_min
    assert (f["alpha"].kind, f["alpha"].exclusive_min, f["alpha"].exclusive_max) == ("float", True, True)
    assert f["alpha"].bounds_text() == "> 0, < 1"
    assert (f["side"].kind, f["side"].options) == ("choice", ["long", "short"])
    assert (f["colour"].kind, f["colour"].options, f["colour"].default) == ("choice", ["red", "blue"], "blue")
    assert f["enabled"].kind == "bool"
    assert (f["stop"].kind, f["stop"].nullable, f["stop"].minimum) == ("float", True, 0)
    assert (f["periods"].kind, f["periods"].item_kind) == ("list", "int")
    assert f["periods"].default is forms.NO_DEFAULT  # a default_factory: the model fills it in
    assert (f["names"].item_kind, f["names"].default) == ("text", ["a"])
    assert f["extra"].kind == "json"
    assert f["path"].required and f["path"].default is forms.NO_DEFAULT


def test_help_text_carries_description_range_and_nullability():
    f = fields()
    assert f["window"].help_text() == "Lookback in bars Allowed: >= 2, <= 500"
    assert "Leave empty for none." in f["stop"].help_text()


def test_text_values_are_parsed_as_data():
    f = fields()
    assert forms.coerce_value(f["periods"], "5, 10, 20") == [5, 10, 20]
    assert forms.coerce_value(f["periods"], "[1, 2]") == [1, 2]
    assert forms.coerce_value(f["names"], "x, y") == ["x", "y"]
    assert forms.coerce_value(f["stop"], "") is None
    assert forms.coerce_value(f["stop"], "0.02") == 0.02
    assert forms.coerce_value(f["extra"], '{"a": 1.5}') == {"a": 1.5}
    assert forms.coerce_value(f["path"], "  ") is forms.NO_DEFAULT
    assert forms.coerce_value(f["window"], 20) == 20


def test_unparseable_text_names_the_field():
    with pytest.raises(forms.FieldValueError, match=r"^strategy.strategy_params.periods: 'x' is not an integer"):
        forms.coerce_value(fields()["periods"], "5, x", "strategy.strategy_params")
    with pytest.raises(forms.FieldValueError, match="stop: 'abc' is not a number"):
        forms.coerce_value(fields()["stop"], "abc")


def test_defaults_round_trip_through_the_text_widgets():
    """What a form shows for the defaults reads back into values the model accepts unchanged."""
    values = {}
    for spec in forms.schema_fields(Params.model_json_schema()):
        default = spec.default if spec.default is not forms.NO_DEFAULT else None
        shown = forms.text_of(spec, default) if spec.kind in ("list", "json") or spec.nullable else default
        value = forms.coerce_value(spec, shown)
        if value is not forms.NO_DEFAULT:
            values[spec.name] = value
    values["path"] = "x.csv"
    assert Params.model_validate(values) == Params(path="x.csv")


def test_every_bundled_plugin_form_builds():
    """Every installed plugin's params model turns into a form (no field falls through unhandled)."""
    from qlop.plugins.manager import get_plugin_manager
    from qlop.plugins.specs import KINDS

    pm = get_plugin_manager()
    seen = 0
    for kind in KINDS:
        if kind == "command":
            continue
        for name in pm.registry(kind).names():
            schema = forms.params_schema(pm.registry(kind).get(name))
            for spec in forms.schema_fields(schema):
                assert spec.kind in {"bool", "int", "float", "choice", "text", "list", "json"}
                seen += 1
    assert seen > 0


def test_database_vendor_and_pmml_plugins_appear_with_their_forms():
    """The New-run page lists the sql and alphavantage sources and the pmml exporter, with their params."""
    from qlop.gui.views import new_page

    assert {"sql", "alphavantage"} <= set(new_page._names("data_source"))
    assert "pmml" in new_page._names("exporter")
    sql = {f.name: f for f in new_page._spec_fields("data_source", "sql")}
    assert (sql["url"].kind, sql["url"].default) == ("text", "sqlite:///qlop.sqlite")
    assert (sql["password_env"].default, sql["table"].default) == ("QLOP_SQL_PASSWORD", "ohlcv")
    assert (sql["query"].kind, sql["query"].nullable) == ("text", True) and sql["columns"].kind == "json"
    av = {f.name: f for f in new_page._spec_fields("data_source", "alphavantage")}
    assert av["api_key_env"].default == "ALPHAVANTAGE_API_KEY"
    assert (av["max_retries"].kind, av["max_retries"].minimum, av["max_retries"].maximum) == ("int", 0, 20)
    pmml = {f.name: f for f in new_page._spec_fields("exporter", "pmml")}
    assert (pmml["parity_tolerance"].default, pmml["java_home"].nullable) == (1e-6, True)


def test_the_backtest_benchmark_field_takes_the_shorthand_false_or_a_table():
    """The GUI's backtest form edits the benchmark as JSON text, starting from the default reference."""
    from qlop.config import BacktestConfig

    spec = next(f for f in forms.schema_fields(BacktestConfig.model_json_schema()) if f.name == "benchmark")
    assert spec.kind == forms.JSON and spec.nullable
    assert spec.default == {"data_source_type": "sample", "data_source_params": {}, "ticker": "SPY", "kind": None}

    def benchmark(text: str):
        value = forms.coerce_value(spec, text, "backtest")
        return BacktestConfig.model_validate({"benchmark": value}).benchmark

    assert benchmark(forms.text_of(spec, spec.default)) == BacktestConfig().benchmark
    assert benchmark("IXIC").ticker == "IXIC" and benchmark('"IXIC"').data_source_type == "sample"
    assert benchmark("false") is None and benchmark("") is None
    assert benchmark(
        '{"data_source_type": "csv", "data_source_params": {"path": "spx.csv"}, "ticker": "SPX"}'
    ).model_dump() == {
        "data_source_type": "csv",
        "data_source_params": {"path": "spx.csv"},
        "ticker": "SPX",
        "kind": None,
    }


def test_new_run_data_fields_offer_interval_session_and_resample_choices() -> None:
    """The New run form draws choice boxes for the bar interval, the session and resampling; the
    optional ones read back "" (shown as "(none)") as None, and a chosen value as itself."""
    from qlop.config import DataConfig, PipelineConfig

    fields = {f.name: f for f in forms.schema_fields(DataConfig.model_json_schema())}
    assert fields["interval"].kind == forms.CHOICE and not fields["interval"].nullable
    assert {"1m", "5m", "1h", "4h", "1d"} <= set(fields["interval"].options)
    session = fields["session"]
    assert session.kind == forms.CHOICE and session.nullable and {"24/7", "XNYS"} <= set(session.options)
    assert forms.coerce_value(session, "", "data") is None
    assert forms.coerce_value(session, "XNYS", "data") == "XNYS"
    assert fields["resample"].kind == forms.CHOICE and "1h" in fields["resample"].options
    # what the form sends validates as a config
    cfg = PipelineConfig.model_validate({"data": {"interval": "1h", "session": "24/7", "resample": None}})
    assert cfg.data.bar_interval == "1h"
