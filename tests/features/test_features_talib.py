"""TA-Lib steps equal TA-Lib called directly on each ticker's own arrays, with stable column names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib

from qlop.errors import ConfigError, DataError


def _cols(frame: pd.DataFrame, *names: str) -> list[np.ndarray]:
    return [frame[n].to_numpy(dtype=np.float64) for n in names]


def test_rsi_equals_talib_per_ticker(kit, panel):
    out = kit.make_step("rsi", {"timeperiod": 9}).transform(panel)
    expected = kit.per_ticker(panel, lambda f: {"rsi_9": talib.RSI(*_cols(f, "close"), timeperiod=9)})
    kit.assert_columns_equal(out, expected)


@pytest.mark.parametrize("name,func", [("atr", talib.ATR), ("natr", talib.NATR)])
def test_atr_natr_equal_talib_per_ticker(kit, panel, name, func):
    out = kit.make_step(name, {"timeperiod": 14}).transform(panel)
    expected = kit.per_ticker(panel, lambda f: {f"{name}_14": func(*_cols(f, "high", "low", "close"), timeperiod=14)})
    kit.assert_columns_equal(out, expected)


def test_macd_equals_talib_per_ticker(kit, panel):
    out = kit.make_step("macd", {"fastperiod": 5, "slowperiod": 13, "signalperiod": 4}).transform(panel)

    def ref(f):
        m, s, h = talib.MACD(*_cols(f, "close"), fastperiod=5, slowperiod=13, signalperiod=4)
        return {"macd_5_13_4": m, "macd_signal_5_13_4": s, "macd_hist_5_13_4": h}

    kit.assert_columns_equal(out, kit.per_ticker(panel, ref))


@pytest.mark.parametrize("name,func", [("sma", talib.SMA), ("ema", talib.EMA)])
def test_moving_average_ratio_and_raw_equal_talib(kit, panel, name, func):
    out = kit.make_step(name, {"timeperiod": 30, "raw": True}).transform(panel)

    def ref(f):
        (c,) = _cols(f, "close")
        avg = func(c, timeperiod=30)
        return {f"close_to_{name}_30": c / avg - 1.0, f"{name}_30": avg}

    kit.assert_columns_equal(out, kit.per_ticker(panel, ref), rtol=1e-15)
    # Without raw, only the scale-free ratio is emitted.
    assert list(kit.make_step(name, {"timeperiod": 30}).transform(panel).columns) == [f"close_to_{name}_30"]


def test_bollinger_pctb_and_width_from_talib_bands(kit, panel):
    out = kit.make_step("bollinger", {"timeperiod": 20, "nbdev": 2.5, "raw": True}).transform(panel)

    def ref(f):
        (c,) = _cols(f, "close")
        up, mid, lo = talib.BBANDS(c, timeperiod=20, nbdevup=2.5, nbdevdn=2.5, matype=0)
        return {
            "bb_pctb_20_2p5": (c - lo) / (up - lo),
            "bb_width_20_2p5": (up - lo) / mid,
            "bb_upper_20_2p5": up,
            "bb_middle_20_2p5": mid,
            "bb_lower_20_2p5": lo,
        }

    kit.assert_columns_equal(out, kit.per_ticker(panel, ref), rtol=1e-12)


def test_named_step_on_another_column_says_so_in_its_name(kit, panel):
    panel["adj_close"] = panel["close"] * 0.5
    out = kit.make_step("rsi", {"column": "adj_close"}).transform(panel)
    assert list(out.columns) == ["rsi_adj_close_14"]
    sma = kit.make_step("sma", {"column": "adj_close", "raw": True}).transform(panel)
    assert list(sma.columns) == ["adj_close_to_sma_20", "sma_adj_close_20"]


def test_each_ticker_warms_up_from_its_own_first_bar(kit, panel):
    out = kit.make_step("rsi", {"timeperiod": 14}).transform(panel)["rsi_14"]
    for ticker, values in out.groupby(level="ticker"):
        v = values.to_numpy()
        assert np.isnan(v[:14]).all() and not np.isnan(v[14:]).any(), ticker


@pytest.mark.parametrize(
    "params,outputs",
    [
        ({"function": "ADX", "timeperiod": 14}, ["adx_14"]),
        ({"function": "adx"}, ["adx_14"]),
        ({"function": "STOCH", "fastk_period": 7}, ["stoch_slowk_7_3_0_3_0", "stoch_slowd_7_3_0_3_0"]),
        ({"function": "OBV"}, ["obv"]),
        ({"function": "CDLENGULFING"}, ["cdlengulfing"]),
        (
            {"function": "BBANDS", "nbdevup": 1.5, "prefix": "bb"},
            ["bb_upperband_20_1p5_2_0", "bb_middleband_20_1p5_2_0", "bb_lowerband_20_1p5_2_0"],
        ),
        ({"function": "SAR", "acceleration": 0.03}, ["sar_0p03_0p2"]),
    ],
)
def test_generic_talib_equals_talib_per_ticker(kit, params, outputs):
    # Volume is complete in this slice (the NaN-volume days are handled in their own test).
    panel = kit.sample_panel(("AAPL", "GOOGL", "SPY"), "2005-01-01", "2007-12-31")
    step = kit.make_step("talib", params)
    out = step.transform(panel)
    func = getattr(talib, params["function"].upper())
    info = talib.abstract.Function(params["function"].upper()).info
    series = [s for v in info["input_names"].values() for s in ([v] if isinstance(v, str) else v)]
    kwargs = {k: v for k, v in params.items() if k not in ("function", "prefix")}

    def ref(f):
        res = func(*_cols(f, *series), **kwargs)
        res = res if isinstance(res, tuple) else (res,)
        return dict(zip(outputs, res))

    kit.assert_columns_equal(out, kit.per_ticker(panel, ref))


def test_generic_talib_inputs_map_series_to_other_columns(kit, panel):
    out = kit.make_step(
        "talib", {"function": "ROC", "timeperiod": 3, "inputs": {"close": "open"}, "prefix": "roc_open"}
    ).transform(panel)
    expected = kit.per_ticker(panel, lambda f: {"roc_open_3": talib.ROC(*_cols(f, "open"), timeperiod=3)})
    kit.assert_columns_equal(out, expected)


def _validation_error(kit, params) -> str:
    with pytest.raises(ConfigError) as info:
        kit.make_step("talib", params)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_talib_function_is_a_one_line_config_error_with_a_suggestion(kit):
    message = _validation_error(kit, {"function": "ADXX"})
    assert message == "step_params.function: unknown TA-Lib function; did you mean 'ADX'? (got 'ADXX')"


def test_unknown_talib_parameter_names_the_field(kit):
    message = _validation_error(kit, {"function": "ADX", "timeperod": 14})
    assert message.startswith("step_params.timeperod: not a parameter of TA-Lib ADX (parameters: timeperiod)")


def test_talib_parameter_of_the_wrong_type_names_the_field(kit):
    message = _validation_error(kit, {"function": "RSI", "timeperiod": "fourteen"})
    assert message.startswith("step_params.timeperiod:")


def test_talib_parameter_out_of_talib_range_names_the_field(kit):
    message = _validation_error(kit, {"function": "RSI", "timeperiod": 1})
    assert message == "step_params.timeperiod: out of TA-Lib RSI's range (got 1)"
    message = _validation_error(kit, {"function": "BBANDS", "matype": 42})
    assert message == "step_params.matype: out of TA-Lib BBANDS's range (got 42)"


def test_talib_unknown_input_series_names_the_field(kit):
    message = _validation_error(kit, {"function": "RSI", "inputs": {"high": "close"}})
    assert message.startswith("step_params.inputs.high: TA-Lib RSI has no input 'high'")


@pytest.mark.parametrize(
    "name,params",
    [
        ("rsi", {"timeperiod": 1}),
        ("macd", {"fastperiod": 30, "slowperiod": 26}),
        ("bollinger", {"nbdev": 0}),
        ("sma", {"window": 20}),
    ],
)
def test_named_step_params_are_validated(kit, name, params):
    with pytest.raises(ConfigError, match=r"^step_params"):
        kit.make_step(name, params)


def test_missing_values_inside_a_series_are_skipped_not_spread(kit):
    """TA-Lib turns a NaN inside a series into wrong numbers; the step computes on the finite rows."""
    panel = kit.sample_panel(("C", "AAPL"), "2009-06-01", "2010-12-31")
    assert panel["volume"].isna().sum() >= 4  # C 2009-08-05, 2009-12-17/18, and 2010-04-26 for both
    out = kit.make_step("talib", {"function": "OBV"}).transform(panel)["obv"]

    def ref(f):
        c, v = _cols(f, "close", "volume")
        ok = ~np.isnan(v)
        res = np.full(len(c), np.nan)
        res[ok] = talib.OBV(c[ok], v[ok])
        return {"obv": res}

    expected = kit.per_ticker(panel, ref)["obv"]
    np.testing.assert_array_equal(out.to_numpy(), expected)
    assert np.isnan(out.loc[("C", "2010-04-26")])
    assert not np.isnan(out.loc[("C", "2010-04-27")])


def test_leading_nans_of_an_earlier_feature_are_handled_like_talib(kit, panel):
    rsi = kit.make_step("rsi").transform(panel)
    data = panel.join(rsi)
    out = kit.make_step("sma", {"column": "rsi_14", "timeperiod": 5, "raw": True}).transform(data)
    expected = kit.per_ticker(data, lambda f: {"sma_rsi_14_5": talib.SMA(*_cols(f, "rsi_14"), timeperiod=5)})
    np.testing.assert_allclose(out["sma_rsi_14_5"].to_numpy(), expected["sma_rsi_14_5"], rtol=0, equal_nan=True)


def test_unsorted_panel_is_refused_naming_ticker_and_date(kit, panel):
    shuffled = panel.iloc[::-1]
    with pytest.raises(DataError, match=r"ticker SPY, date 2010-12-30: dates not increasing"):
        kit.make_step("rsi").transform(shuffled)
    interleaved = pd.concat([panel.loc[["AAPL"]].iloc[:10], panel.loc[["C"]], panel.loc[["AAPL"]].iloc[10:]])
    with pytest.raises(DataError, match=r"ticker AAPL, date .*: rows are not grouped by ticker"):
        kit.make_step("rsi").transform(interleaved)


def test_every_talib_function_through_the_generic_step_equals_talib(kit):
    """All of TA-Lib's functions with their default parameters, against TA-Lib called per ticker."""
    panel = kit.sample_panel(("AAPL", "SPY"), "2005-01-01", "2006-06-30")
    panel["periods"] = 10.0  # MAVP's per-bar period input
    checked = 0
    for name in talib.get_functions():
        step = kit.make_step("talib", {"function": name})
        out = step.transform(panel)
        info = talib.abstract.Function(name).info
        series = [s for v in info["input_names"].values() for s in ([v] if isinstance(v, str) else v)]
        kwargs = dict(info["parameters"])
        func = getattr(talib, name)

        def ref(f, func=func, series=series, kwargs=kwargs):
            res = func(*_cols(f, *series), **kwargs)
            return dict(enumerate(res if isinstance(res, tuple) else (res,)))

        expected = kit.per_ticker(panel, ref)
        assert out.shape[1] == len(expected) == len(info["output_names"]), name
        for i, col in enumerate(out.columns):
            np.testing.assert_array_equal(out[col].to_numpy(), expected[i], err_msg=f"{name} {col}")
        checked += 1
    assert checked == len(talib.get_functions()) > 150
