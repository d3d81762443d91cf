"""``synthetic``: seeded, OHLC-consistent, reproducible, with the statistics its params promise."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from qlop.errors import DataError
from qlop.schema import validate_panel
from qlop.testing import DataSourceContract
from qlop_contrib.datasources.synthetic import SyntheticSource, ar1


class TestSyntheticContract(DataSourceContract):
    component_name = "synthetic"
    params = {"n_bars": 400}
    unknown_ticker = None  # any name is a valid synthetic ticker


def gen(tickers: list[str] | None = None, start: Any = None, end: Any = None, **params: Any) -> pd.DataFrame:
    return SyntheticSource("synthetic", params).load_data(tickers or [], start, end, "1d")


def test_same_seed_same_panel_other_seed_other_panel() -> None:
    a = gen(n_tickers=20, n_bars=300, seed=7)
    pd.testing.assert_frame_equal(a, gen(n_tickers=20, n_bars=300, seed=7))
    b = gen(n_tickers=20, n_bars=300, seed=8)
    assert not np.allclose(a["close"], b["close"])


def test_a_tickers_path_does_not_depend_on_the_others() -> None:
    alone = gen(["XYZ"], n_bars=200, seed=3)
    crowd = gen([f"T{i}" for i in range(70)] + ["XYZ"], n_bars=200, seed=3)  # crosses a block boundary
    pd.testing.assert_frame_equal(crowd.loc[["XYZ"]], alone)


def test_canonical_and_ohlc_consistent() -> None:
    panel = gen(n_tickers=130, n_bars=250, seed=1)
    pd.testing.assert_frame_equal(validate_panel(panel), panel)
    assert (panel["high"] >= np.maximum(panel["open"], panel["close"])).all()
    assert (panel["low"] <= np.minimum(panel["open"], panel["close"])).all()
    assert (panel["volume"] >= 1).all() and (panel["volume"] == np.round(panel["volume"])).all()
    assert panel.index.unique("ticker").tolist()[:2] == ["SYN00000", "SYN00001"]
    dates = panel.index.unique("date")
    assert dates[0] == pd.Timestamp("2000-01-03") and (dates.day_of_week < 5).all()


def test_dates_follow_start_and_end() -> None:
    panel = gen(["A"], "2020-03-02", "2020-03-31", n_bars=100)
    dates = panel.index.get_level_values("date")
    assert dates[0] == pd.Timestamp("2020-03-02") and dates[-1] == pd.Timestamp("2020-03-31")
    assert len(panel) == 22
    with pytest.raises(DataError, match="no business day"):
        gen(["A"], "2020-03-07", "2020-03-08")


def test_volatility_and_drift_match_the_params() -> None:
    """With no vol-of-vol and no jumps the model is GBM: check annualised vol and drift of log returns."""
    panel = gen(n_tickers=50, n_bars=2000, seed=11, vol=0.2, vol_of_vol=0.0, jump_intensity=0.0, drift=0.1)
    logc = np.log(panel["close"]).to_numpy().reshape(50, 2000)
    r = np.diff(logc, axis=1)
    assert abs(r.std() * np.sqrt(252) - 0.2) < 0.005
    # mean log return = drift - sigma^2/2 per year; standard error over 50*2000 days is ~0.02 a year
    assert abs(r.mean() * 252 - (0.1 - 0.02)) < 0.06


def test_stochastic_volatility_clusters_and_jumps_fatten_tails() -> None:
    calm = gen(n_tickers=30, n_bars=2000, seed=5, vol_of_vol=0.0, jump_intensity=0.0)
    wild = gen(n_tickers=30, n_bars=2000, seed=5, vol_of_vol=0.25, jump_intensity=10.0)

    def stats(panel: pd.DataFrame) -> tuple[float, float]:
        r = np.diff(np.log(panel["close"].to_numpy().reshape(30, 2000)), axis=1)
        kurt = float(((r - r.mean()) ** 4).mean() / r.var() ** 2 - 3)
        a = np.abs(r)
        acf = float(np.mean([np.corrcoef(x[:-1], x[1:])[0, 1] for x in a]))
        return kurt, acf

    k0, acf0 = stats(calm)
    k1, acf1 = stats(wild)
    assert abs(k0) < 0.5 and k1 > 3.0
    assert abs(acf0) < 0.05 and acf1 > 0.1


@pytest.mark.parametrize("phi", [0.0, 0.3, 0.98, 0.9995, 1.0])
def test_ar1_matches_the_recursion(phi: float) -> None:
    shocks = np.random.default_rng(0).standard_normal((3000, 4))
    expected = np.empty_like(shocks)
    state = np.zeros(4)
    for t in range(len(shocks)):
        state = phi * state + shocks[t]
        expected[t] = state
    np.testing.assert_allclose(ar1(shocks, phi), expected, rtol=1e-9, atol=1e-9)


def test_duplicate_names_refused() -> None:
    with pytest.raises(DataError, match="unique"):
        gen(["A", "A"])
