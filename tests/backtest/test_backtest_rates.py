"""Calendars and rates in the backtest: periods per year read from the dates, CAGR on calendar time,
the risk-free rate in Sharpe, Sortino and alpha, interest on idle cash (a constant or a series read
through a data source, applied on the right days), and what metrics.json and the report state.

Rate series here are made up for the tests and written to CSV files: the sample data has none.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qlop import metrics as m
from qlop.backtest import EngineSettings, run_engine
from qlop.calendar import calendar_years, periods_per_year
from qlop.config import config_from_data
from qlop.errors import ConfigError
from qlop.sim.terms import RateSeries
from qlop.stages import backtest as stage

SAMPLE = Path(__file__).resolve().parents[2] / "qlop_contrib" / "data" / "ohlcv"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("QLOP_CACHE_DIR", str(tmp_path / "cache"))


def write_rates(folder: Path, ticker: str, prints: dict[pd.Timestamp, float]) -> RateSeries:
    """A CSV rate series in the data sources' OHLCV layout (close = the annual rate in percent)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["Date,Open,High,Low,Close,Volume"]
    lines += [f"{d:%Y-%m-%d},{r},{r},{r},{r},0" for d, r in sorted(prints.items())]
    (folder / f"{ticker}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return RateSeries(data_source_type="csv", data_source_params={"path": str(folder)}, ticker=ticker, units="percent")


def flat_panel(dates: pd.DatetimeIndex, ticker: str = "X") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": ticker,
            "date": dates,
            "open": 100.0,
            "high": 100.0,
            "low": 100.0,
            "close": 100.0,
            "adj_close": 100.0,
            "volume": 1.0,
        }
    ).set_index(["ticker", "date"])


# ------------------------------------------------------------------------------------- calendars
def test_a_7_day_calendar_gives_365_periods_per_year():
    assert periods_per_year(pd.date_range("2017-06-01", "2021-06-30", freq="D")) == 365.0
    assert periods_per_year(pd.date_range("2017-06-01", "2021-06-30", freq="W-FRI")) == 52.0
    # the sample's US stock calendar (holidays included): 252 bars a year
    aapl = pd.read_csv(SAMPLE / "AAPL.csv", parse_dates=["Date"])["Date"]
    assert periods_per_year(aapl[(aapl >= "2004-06-01") & (aapl <= "2016-06-30")]) == 252.0
    # under a year of data: its bars scaled to a year of its calendar span
    assert periods_per_year(pd.date_range("2021-03-01", periods=90, freq="D")) == pytest.approx(365.25)


def test_the_metrics_use_the_inferred_periods_and_record_them():
    rng = np.random.default_rng(3)
    dates = pd.date_range("2019-01-01", "2021-12-31", freq="D")
    r = rng.normal(0.0005, 0.01, dates.size)
    equity = 1000 * np.cumprod(1 + r)
    out = m.performance_metrics(equity, 1000.0, dates=dates.to_numpy())
    assert (out["periods_per_year"], out["periods_per_year_source"]) == (365.0, "inferred")
    assert out["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(365), rel=1e-12)
    assert out["annual_volatility"] == pytest.approx(r.std(ddof=1) * math.sqrt(365), rel=1e-12)
    over = m.performance_metrics(equity, 1000.0, dates=dates.to_numpy(), periods_per_year=252)
    assert (over["periods_per_year"], over["periods_per_year_source"]) == (252.0, "config")
    assert over["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252), rel=1e-12)


def test_cagr_is_compounded_over_calendar_time_not_bar_count():
    """Doubling over two calendar years is sqrt(2) - 1 a year whatever the bar count: 731 daily bars
    (a 7-day calendar) or 522 business days. With bars counted as 252 a year the 7-day book would
    read 731 / 252 = 2.9 years."""
    for dates in (pd.date_range("2019-01-01", "2020-12-31", freq="D"), pd.bdate_range("2019-01-01", "2020-12-31")):
        n = dates.size
        equity = 1000 * 2.0 ** (np.arange(1, n + 1) / n)
        out = m.performance_metrics(equity, 1000.0, dates=dates.to_numpy())
        assert out["years"] == pytest.approx(calendar_years(dates), rel=1e-12)
        assert out["years"] == pytest.approx(731 / 365.25, rel=0.003)
        assert out["cagr"] == pytest.approx(2.0 ** (1 / out["years"]) - 1, rel=1e-12)
        assert out["cagr"] == pytest.approx(math.sqrt(2) - 1, abs=0.001)


# ----------------------------------------------------------------------------------- risk-free
def test_the_risk_free_return_enters_sharpe_sortino_the_sharpe_inference_and_alpha():
    rng = np.random.default_rng(11)
    dates = pd.bdate_range("2015-01-01", "2017-12-31")
    b = rng.normal(0.0004, 0.01, dates.size)
    r = 1.3 * b + rng.normal(0.0001, 0.004, dates.size)
    rf = np.where(np.arange(dates.size) < dates.size // 2, 0.0, 0.0002)  # a rate that changes half way
    equity = 1000 * np.cumprod(1 + r)
    out = m.performance_metrics(equity, 1000.0, dates=dates.to_numpy(), benchmark_returns=b, risk_free_returns=rf)
    ppy = out["periods_per_year"]
    x = r - rf
    assert out["sharpe"] == pytest.approx(x.mean() / x.std(ddof=1) * math.sqrt(ppy), rel=1e-12)
    dd = math.sqrt(np.mean(np.minimum(x, 0) ** 2)) * math.sqrt(ppy)
    assert out["sortino"] == pytest.approx(x.mean() * ppy / dd, rel=1e-12)
    assert out["probabilistic_sharpe"] == pytest.approx(m.probabilistic_sharpe_ratio(x), rel=1e-12)
    xb = b - rf
    beta = np.mean((xb - xb.mean()) * x) / np.mean((xb - xb.mean()) ** 2)
    assert out["beta"] == pytest.approx(beta, rel=1e-10)
    assert out["alpha"] == pytest.approx((1 + np.mean(x - beta * xb)) ** ppy - 1, rel=1e-10)
    assert out["risk_free_return"] == pytest.approx(np.prod(1 + rf) - 1, rel=1e-12)
    zero = m.performance_metrics(equity, 1000.0, dates=dates.to_numpy())
    assert zero["sharpe"] > out["sharpe"]


def test_a_book_in_cash_earns_the_cash_rate_and_has_no_excess_return(tmp_path):
    """No trades, risk-free 5 % (ACT/360): cash compounds daily over calendar days, weekends included, and
    its return is exactly the risk-free return, so Sharpe is undefined, not a large number."""
    dates = pd.bdate_range("2021-01-04", "2021-12-31")
    panel = flat_panel(dates)
    signals = pd.DataFrame({"signal": 0}, index=panel.index)
    res = run_engine(panel, signals, EngineSettings(risk_free=0.05))
    days = (dates - dates[0]).days.to_numpy()
    np.testing.assert_allclose(res.equity["cash"].to_numpy(), 100_000 * (1 + 0.05 / 360) ** days, rtol=1e-12)
    bt = config_from_data({"backtest": {"risk_free": 0.05}}).backtest
    rf = stage.risk_free_returns(bt, res.equity.index)
    out = m.performance_metrics(res.equity["equity"].to_numpy(), 100_000, dates=dates.to_numpy(), risk_free_returns=rf)
    assert out["sharpe"] is None and out["total_return"] == pytest.approx(out["risk_free_return"], rel=1e-12)
    # cash_rate = 0: idle cash earns nothing even with a risk-free rate
    res0 = run_engine(panel, signals, EngineSettings(risk_free=0.05, cash_rate=0.0))
    assert (res0.equity["cash"] == 100_000).all()


def test_a_time_varying_cash_rate_is_applied_on_the_right_days(tmp_path):
    """2 % until 2021-03-12 (a Friday: its print holds over the weekend), 8 % from 2021-03-15: the
    cash of one-ticker and shared books alike grows by each calendar day's own rate."""
    start = pd.Timestamp("2021-03-01")
    prints = {d: (2.0 if d <= pd.Timestamp("2021-03-12") else 8.0) for d in pd.bdate_range(start, "2021-04-30")}
    series = write_rates(tmp_path / "rates", "TBILL", prints)
    dates = pd.bdate_range("2021-03-01", "2021-03-31")
    day_rates = [
        0.02 if d <= pd.Timestamp("2021-03-14") else 0.08
        for d in pd.date_range(dates[0], dates[-1] - pd.Timedelta(days=1))
    ]
    expected = 100_000 * np.cumprod([1.0] + [1 + r / 360 for r in day_rates])
    expected = pd.Series(expected, index=pd.date_range(dates[0], dates[-1])).reindex(dates).to_numpy()
    one = flat_panel(dates)
    two = pd.concat([one, flat_panel(dates, "Y")]).sort_index()
    for panel, books in ((one, None), (two, "ticker"), (two, None)):
        res = run_engine(
            panel, pd.DataFrame({"signal": 0}, index=panel.index), EngineSettings(cash_rate=series), books=books
        )
        cash = res.equity["cash"]
        cash = cash.loc["X"] if books == "ticker" else cash
        np.testing.assert_allclose(cash.to_numpy(), expected, rtol=1e-12)


def test_cash_left_beside_a_position_earns_interest_while_the_position_is_open():
    """A long with half the equity as margin: the other half earns the cash rate; at the exit the book
    holds that grown cash plus the trade's proceeds."""
    dates = pd.bdate_range("2021-01-04", periods=12)
    panel = flat_panel(dates)
    sig = np.zeros(len(dates))
    sig[:5] = 1
    signals = pd.DataFrame({"signal": sig}, index=panel.index)
    cfg = EngineSettings(position_size=0.5, risk_free=0.1, commission_bps=0, slippage_bps=0, financing_rate=0.0)
    res = run_engine(panel, signals, cfg)
    t = res.trades.iloc[0]
    days = (dates - dates[0]).days.to_numpy()
    g = (1 + 0.1 / 360) ** days
    i_entry, i_exit = dates.get_loc(t["entry_date"]), dates.get_loc(t["exit_date"])
    margin = 100_000 * g[i_entry] * 0.5
    assert t["margin"] == pytest.approx(margin, rel=1e-12)
    cash_exit = (100_000 * g[i_entry] - margin) * g[i_exit] / g[i_entry] + margin + t["pnl"]
    assert res.equity["cash"].iloc[i_exit] == pytest.approx(cash_exit, rel=1e-12)
    assert res.equity["cash"].iloc[-1] == pytest.approx(cash_exit * g[-1] / g[i_exit], rel=1e-12)


# ---------------------------------------------------------------------------- config and stage
BASE = {
    "name": "rates",
    "data": {
        "data_source_type": "sample",
        "tickers": ["AAPL", "KO"],
        "start_date": "2012-01-01",
        "end_date": "2013-06-30",
    },
    "backtest": {"strategy_type": "sma_crossover", "strategy_params": {"fast": 5, "slow": 20}, "leverage": 2.0},
}


def _config(**backtest):
    data = json.loads(json.dumps(BASE))
    data["backtest"].update(backtest)
    return config_from_data(data)


def test_metrics_json_and_the_report_state_the_conventions(tmp_path):
    written = stage.run(_config(risk_free=0.02, stop_slippage_bps=5), tmp_path)
    metrics = json.loads(Path(written["metrics"]).read_text())
    assert metrics["day_count"] == "act_360"
    # 2012 is the one full calendar year here: 250 sessions (the exchanges closed for two days in October)
    assert (metrics["periods_per_year"], metrics["periods_per_year_source"]) == (250.0, "inferred")
    assert metrics["risk_free"] == 0.02 and metrics["cash_rate"] == 0.02 and metrics["financing_rate"] == 0.05
    assert metrics["stop_slippage_bps"] == 5.0
    span = (pd.Timestamp(metrics["end"]) - pd.Timestamp(metrics["start"])).days + 1  # + one bar's spacing
    assert metrics["years"] == pytest.approx(span / 365.25, rel=1e-12)
    report = Path(written["report"]).read_text()
    for text in (
        "Day count",
        "act_360",
        "Periods per year (inferred)",
        "250.00",
        "Risk-free rate",
        "2% a year",
        "Interest on idle cash",
        "Stop slippage (bps)",
    ):
        assert text in report
    over = stage.compute(_config(periods_per_year=260), tmp_path)["metrics"]
    assert (over["periods_per_year"], over["periods_per_year_source"]) == (260.0, "config")


def test_a_rate_series_in_the_config_is_loaded_through_the_data_source(tmp_path):
    prints = {d: (0.25 if d.year == 2012 else 4.0) for d in pd.bdate_range("2011-12-01", "2013-07-31")}
    write_rates(tmp_path / "rates", "TB3MS", prints)
    table = {
        "data_source_type": "csv",
        "data_source_params": {"path": str(tmp_path / "rates")},
        "ticker": "TB3MS",
        "units": "percent",
    }
    out = stage.compute(_config(risk_free=table), tmp_path)
    metrics = out["metrics"]
    assert metrics["risk_free"] == "TB3MS.close from csv (percent)"
    days = out["equity"].index
    rf = stage.risk_free_returns(_config(risk_free=table).backtest, days)
    # each period's risk-free return is that of the calendar days in between, at that year's rate
    jump = days.get_loc(days[days >= "2013-01-02"][0])
    gap = (days[jump] - days[jump - 1]).days
    assert rf[jump] == pytest.approx(
        (1 + 0.0025 / 360) ** ((pd.Timestamp("2013-01-01") - days[jump - 1]).days)
        * (1 + 0.04 / 360) ** (gap - (pd.Timestamp("2013-01-01") - days[jump - 1]).days)
        - 1,
        rel=1e-12,
    )
    # a series that does not cover the backtest: one line naming the field and both ranges
    short = {d: 1.0 for d in pd.bdate_range("2012-06-01", "2013-07-31")}
    write_rates(tmp_path / "late", "LATE", short)
    with pytest.raises(
        ConfigError,
        match=r"^backtest\.(cash_rate|risk_free): rate series LATE\.close .* covers "
        r"2012-06-01\.\.2013-07-31, not the data's",
    ):
        stage.compute(
            _config(risk_free={**table, "ticker": "LATE", "data_source_params": {"path": str(tmp_path / "late")}}),
            tmp_path,
        )


def test_config_rate_fields_validate_with_one_line_errors():
    bt = _config(risk_free=0.02).backtest
    assert bt.risk_free == 0.02 and bt.cash_rate is None and bt.effective_cash_rate == 0.02
    with pytest.raises(
        ConfigError, match=r"backtest\.risk_free: must be between -1 and 1 \(annual fraction\) \(got 2.0\)$"
    ):
        _config(risk_free=2.0)
    with pytest.raises(ConfigError, match=r"backtest\.financing_rate\.series\.units: Field required$"):
        _config(financing_rate={"data_source_type": "csv", "ticker": "X"})


def test_a_changed_rate_file_changes_the_backtest_cache_key(tmp_path):
    """The backtest stage's cache inputs include the rate series' source token: editing the file reruns it."""
    import os

    from qlop import runs
    from qlop.plugins.manager import get_plugin_manager

    write_rates(tmp_path / "rates", "RF", {pd.Timestamp("2011-12-01"): 1.0, pd.Timestamp("2013-07-01"): 1.0})
    table = {
        "data_source_type": "csv",
        "data_source_params": {"path": str(tmp_path / "rates")},
        "ticker": "RF",
        "units": "percent",
    }
    config = _config(risk_free=table)
    before = runs.rate_series_tokens(config, "backtest", get_plugin_manager())
    assert set(before) == {"rate:backtest.risk_free"}
    path = tmp_path / "rates" / "RF.csv"
    path.write_text(path.read_text() + "2013-07-02,2,2,2,2,0\n")
    os.utime(path, ns=(1, 2_000_000_000_000_000_000))
    assert runs.rate_series_tokens(config, "backtest", get_plugin_manager()) != before
    assert runs.rate_series_tokens(_config(), "backtest", get_plugin_manager()) == {}
