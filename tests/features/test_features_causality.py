"""Every bundled feature step is causal and per-ticker: the checks run over the whole registry.

Causal: a value at date t never changes when rows after t are removed or replaced. Per-ticker: a
ticker computed alone equals its rows computed inside the panel (for every step but the
cross-sectional rank, whose point is to compare tickers on the same date).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

#: Parameters that exercise each bundled step (every registered step must have an entry).
EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "talib": [
        {"function": "ADX"},
        {"function": "STOCH"},
        {"function": "OBV"},
        {"function": "MAMA"},
        {"function": "CDLHAMMER"},
    ],
    "rsi": [{}],
    "atr": [{}],
    "natr": [{}],
    "macd": [{}],
    "sma": [{"raw": True}],
    "ema": [{"raw": True}],
    "bollinger": [{"raw": True}],
    "returns": [{"windows": [1, 5, 20], "kinds": ["simple", "log"]}],
    "lag": [{"columns": ["close", "volume"], "periods": [1, 2]}],
    "rvol": [{"window": 20}],
    "zscore": [{"columns": ["close", "volume"], "window": 20}],
    "drawdown": [{"windows": [20, 63]}],
    "relvol": [{"window": 20}],
    "calendar": [{"fields": ["weekday", "month", "day_of_month", "day_of_year", "quarter"]}],
    "xrank": [{"columns": ["close", "volume"]}],
}
CROSS_SECTIONAL = {"xrank"}
CASES = [(name, params) for name, options in EXAMPLES.items() for params in options]
IDS = [f"{name}-{params.get('function', i)}" for name, options in EXAMPLES.items() for i, params in enumerate(options)]


def _bundled_steps() -> list[str]:
    from qlop.plugins.manager import get_plugin_manager

    registry = get_plugin_manager().registry("feature_step")
    return [e.spec.name for e in registry.entries() if e.plugin == "qlop_contrib.features"]


def test_every_bundled_step_is_covered():
    assert sorted(_bundled_steps()) == sorted(EXAMPLES)


def _dates(frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(frame.index.get_level_values("date"))


def _upto(frame: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    return frame[_dates(frame) <= cutoff]


def perturb_after(panel: pd.DataFrame, cutoff: pd.Timestamp, seed: int = 3) -> pd.DataFrame:
    """Different but valid bars after ``cutoff``: prices scaled per row, new volumes, some missing."""
    out = panel.copy()
    after = _dates(out) > cutoff
    rng = np.random.default_rng(seed)
    k = int(after.sum())
    factor = np.exp(rng.normal(0.0, 0.3, k))
    for col in ("open", "high", "low", "close", "adj_close"):
        out.loc[after, col] = out.loc[after, col].to_numpy() * factor
    volume = rng.lognormal(15.0, 1.0, k)
    volume[rng.uniform(size=k) < 0.05] = np.nan
    out.loc[after, "volume"] = volume
    return out


def _assert_same(expected: pd.DataFrame, actual: pd.DataFrame, what: str) -> None:
    assert list(actual.columns) == list(expected.columns)
    assert actual.index.equals(expected.index), what
    for col in expected.columns:
        a, b = expected[col].to_numpy(), actual[col].to_numpy()
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        if not same.all():
            i = int(np.flatnonzero(~same)[0])
            raise AssertionError(f"{what}: column {col!r} at {expected.index[i]}: {a[i]!r} != {b[i]!r}")


@pytest.fixture(scope="module")
def base_panel():
    from qlop.schema import validate_panel
    from qlop_contrib.datasources.sample import SampleSource

    raw = SampleSource("sample", {}).load_data(["AAPL", "C", "GOOGL", "SPY"], "2004-01-01", "2006-06-30", "1d")
    return validate_panel(raw, "sample slice")


@pytest.mark.parametrize("name,params", CASES, ids=IDS)
def test_causal_when_later_rows_are_removed(kit, base_panel, name, params):
    step = kit.make_step(name, params)
    full = step.transform(base_panel.copy())
    assert full.notna().any().all(), f"{name}: a column is all NaN on {len(base_panel)} rows"
    for cutoff in ("2004-09-15", "2005-03-01", "2006-01-31"):
        cut = pd.Timestamp(cutoff)
        truncated = step.transform(_upto(base_panel, cut).copy())
        _assert_same(_upto(full, cut), truncated, f"{name}: rows after {cutoff} removed")


@pytest.mark.parametrize("name,params", CASES, ids=IDS)
def test_causal_when_later_rows_change(kit, base_panel, name, params):
    step = kit.make_step(name, params)
    full = step.transform(base_panel.copy())
    for cutoff in ("2005-03-01", "2006-01-31"):
        cut = pd.Timestamp(cutoff)
        perturbed = perturb_after(base_panel, cut)
        assert (perturbed["close"] != base_panel["close"]).sum() > 100
        changed = step.transform(perturbed)
        _assert_same(_upto(full, cut), _upto(changed, cut), f"{name}: rows after {cutoff} changed")


@pytest.mark.parametrize(
    "name,params",
    [c for c in CASES if c[0] not in CROSS_SECTIONAL],
    ids=[i for i, c in zip(IDS, CASES) if c[0] not in CROSS_SECTIONAL],
)
def test_no_ticker_bleed(kit, base_panel, name, params):
    step = kit.make_step(name, params)
    full = step.transform(base_panel.copy())
    for ticker in ("GOOGL", "SPY"):  # they start after the tickers before them in the panel
        alone = step.transform(base_panel.loc[[ticker]].copy())
        _assert_same(full.loc[[ticker]], alone, f"{name}: {ticker} alone vs in the panel")


def test_cross_sectional_rank_uses_the_same_date_only(kit, base_panel):
    """Changing every other date's values leaves a date's ranks alone."""
    step = kit.make_step("xrank", {"columns": ["close"]})
    full = step.transform(base_panel.copy())
    day = pd.Timestamp("2005-06-01")
    other = base_panel.copy()
    keep = _dates(other) == day
    other.loc[~keep, "close"] = np.random.default_rng(0).uniform(1, 100, int((~keep).sum()))
    changed = step.transform(other)
    _assert_same(full[keep], changed[keep], "xrank with other dates changed")


def test_the_checks_catch_look_ahead(base_panel):
    """A step that peeks one bar ahead fails both causality checks (so the checks above can fail)."""
    from qlop_contrib.features.base import PanelStep

    class NextClose(PanelStep):
        def output_columns(self):
            return ["next_close"]

        def compute(self, data, groups):
            c = data["close"].to_numpy()
            nxt = np.full(len(c), np.nan)
            nxt[:-1] = c[1:]
            return {"next_close": nxt}

    step = NextClose("next_close", {})
    full = step.transform(base_panel.copy())
    cut = pd.Timestamp("2005-03-01")
    with pytest.raises(AssertionError, match="next_close"):
        _assert_same(_upto(full, cut), step.transform(_upto(base_panel, cut).copy()), "look-ahead")
    with pytest.raises(AssertionError, match="next_close"):
        _assert_same(_upto(full, cut), _upto(step.transform(perturb_after(base_panel, cut)), cut), "look-ahead")
