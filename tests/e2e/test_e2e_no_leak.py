"""No future leak, end to end: scrambling every price after a date D changes nothing that is known at D.

Two runs of the real stages (features with the quickstart's feature set, leverage-opportunity labels,
walk-forward XGBoost with early stopping, probability-threshold backtest) on the same real sample panel,
except that in the second every ticker's OHLCV rows after D are shuffled in time. Whatever a user reads
for a date on or before D must be bit-identical in both: features, labels whose horizon ends by D,
out-of-sample predictions, and the backtest's equity curve and the entries of its trades. A feature, a
purge, an early-stopping slice or a backtest step that peeked past D would make them differ.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qlop.atomic import write_parquet
from qlop.config import PipelineConfig, load_config
from qlop.stages import backtest as backtest_stage
from qlop.stages import data as data_stage
from qlop.stages import features as features_stage
from qlop.stages import train as train_stage
from qlop.validation import label_end_dates

QUICKSTART = Path(__file__).parents[2] / "examples" / "quickstart.toml"
#: A few sessions into a walk-forward test window (2011-07-05 ..): the fold predicting these days was
#: trained right up to the window, so a missing purge would let prices after D into its predictions.
CUT = pd.Timestamp("2011-07-12")
HORIZON = 10


def _config() -> PipelineConfig:
    """The quickstart pipeline (every feature step, label, model, strategy) on 4 tickers and 8 years."""
    raw = load_config(QUICKSTART).model_dump(mode="json")
    raw["data"].update(tickers=["AAPL", "JPM", "KO", "XOM"], start_date="2006-01-01", end_date="2013-12-31")
    raw["model"]["model_params"].update(n_estimators=40, nthread=1)
    raw["model"]["validation"].update(train_years=3.0, test_months=6)
    raw["backtest"]["strategy_params"].update(entry=0.5)  # enough trades around D to matter
    raw["backtest"]["benchmark"] = None
    raw["export"] = None
    return PipelineConfig.model_validate(raw)


def _scramble_after(panel: pd.DataFrame, cut: pd.Timestamp, seed: int = 0) -> pd.DataFrame:
    """Each ticker's whole bars after ``cut`` permuted in time (bars stay internally consistent)."""
    rng = np.random.default_rng(seed)
    values = panel.to_numpy(copy=True)
    dates = panel.index.get_level_values("date")
    tickers = panel.index.get_level_values("ticker")
    for ticker in tickers.unique():
        rows = np.flatnonzero((tickers == ticker) & (dates > cut))
        values[rows] = values[rng.permutation(rows)]
    return pd.DataFrame(values, index=panel.index, columns=panel.columns)


def _run(config: PipelineConfig, panel: pd.DataFrame, run_dir: Path) -> dict[str, pd.DataFrame]:
    run_dir.mkdir(parents=True)
    write_parquet(panel, run_dir / "data.parquet")
    features_stage.run(config, run_dir)
    train_stage.run(config, run_dir)
    backtest_stage.run(config, run_dir)
    out = {name: pd.read_parquet(run_dir / f"{name}.parquet") for name in ("features", "labels", "predictions")}
    out["equity"] = pd.read_parquet(run_dir / "backtest" / "equity.parquet")
    out["trades"] = pd.read_parquet(run_dir / "backtest" / "trades.parquet")
    out["dir"] = run_dir
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], pd.DataFrame]:
    config = _config()
    panel = data_stage.load_panel(config.data)
    scrambled = _scramble_after(panel, CUT)
    root = tmp_path_factory.mktemp("no_leak")
    return _run(config, panel, root / "real"), _run(config, scrambled, root / "scrambled"), panel


def _until(frame: pd.DataFrame, cut: pd.Timestamp) -> pd.DataFrame:
    level = frame.index.get_level_values("date") if isinstance(frame.index, pd.MultiIndex) else frame.index
    return frame[level <= cut]


def test_the_scramble_reaches_the_pipeline(runs):
    """The control: after D the two runs do differ, so equality before D is not vacuous."""
    real, scrambled, _ = runs
    after = real["features"].index.get_level_values("date") > CUT
    assert not real["features"][after].equals(scrambled["features"][after])
    p_after = real["predictions"].index.get_level_values("date") > CUT
    assert not np.allclose(real["predictions"]["prob"][p_after], scrambled["predictions"]["prob"][p_after])
    assert not real["equity"]["equity"].equals(scrambled["equity"]["equity"])


def test_features_up_to_the_cut_are_unchanged(runs):
    real, scrambled, _ = runs
    before = _until(real["features"], CUT)
    assert len(before) > 1000 and before.notna().all(axis=1).sum() > 1000
    pd.testing.assert_frame_equal(before, _until(scrambled["features"], CUT), check_exact=True)


def test_labels_whose_horizon_ends_by_the_cut_are_unchanged_and_the_rest_may_change(runs):
    real, scrambled, panel = runs
    ends = label_end_dates(panel.index, HORIZON)
    closed = ~np.isnat(ends) & (ends <= CUT.to_datetime64())
    pd.testing.assert_frame_equal(real["labels"][closed], scrambled["labels"][closed], check_exact=True)
    # a label looks only at bars t+1..t+H: the last H rows of every ticker have none
    last_h = real["labels"].groupby(level="ticker").tail(HORIZON)
    assert last_h["label"].isna().all()
    reaching = (~closed) & (panel.index.get_level_values("date") <= CUT)
    assert not real["labels"]["net_return"][reaching].equals(scrambled["labels"]["net_return"][reaching])


def test_predictions_up_to_the_cut_are_unchanged(runs):
    real, scrambled, _ = runs
    before = _until(real["predictions"], CUT)
    assert before["fold"].nunique() >= 3  # several walk-forward folds end before D
    pd.testing.assert_frame_equal(before, _until(scrambled["predictions"], CUT), check_exact=True)


def test_backtest_equity_and_entries_up_to_the_cut_are_unchanged(runs):
    real, scrambled, _ = runs
    eq = _until(real["equity"], CUT)
    assert eq.index[0] == real["predictions"].index.get_level_values("date").min()  # starts out of sample
    pd.testing.assert_frame_equal(eq, _until(scrambled["equity"], CUT), check_exact=True)
    entry_cols = ["ticker", "side", "signal_date", "entry_date", "entry_price", "quantity", "margin"]
    a = real["trades"].loc[real["trades"]["entry_date"] <= CUT, entry_cols].reset_index(drop=True)
    b = scrambled["trades"].loc[scrambled["trades"]["entry_date"] <= CUT, entry_cols].reset_index(drop=True)
    assert len(a) >= 5
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # trades closed by D are the same trades, exits included
    closed_a = real["trades"][real["trades"]["exit_date"] <= CUT].reset_index(drop=True)
    closed_b = scrambled["trades"][scrambled["trades"]["exit_date"] <= CUT].reset_index(drop=True)
    pd.testing.assert_frame_equal(closed_a, closed_b, check_exact=True)


def test_the_check_catches_a_walk_forward_without_purge(runs, monkeypatch):
    """The negative control: training rows whose labels reach into the test window leak prices past D."""
    import qlop.validation

    real, scrambled, _ = runs
    folds = pd.read_json(real["dir"] / "folds.json")
    assert (pd.to_datetime(folds["test_start"]) < CUT).any() and (folds["n_purged"] > 0).all()
    monkeypatch.setattr(qlop.validation, "_purge_mask", lambda dates, *a: np.zeros(dates.shape, dtype=bool))
    config = _config()
    config.model.validation.validation_fraction = 0.0  # the unpurged rows go into the fit itself
    leaky = {}
    for name, run in (("real", real), ("scrambled", scrambled)):
        train_stage.run(config, run["dir"])
        leaky[name] = _until(pd.read_parquet(run["dir"] / "predictions.parquet"), CUT)
    assert not leaky["real"]["prob"].equals(leaky["scrambled"]["prob"])


def test_signals_trade_at_the_next_open(runs):
    real, _, panel = runs
    trades = real["trades"]
    assert len(trades)
    for row in trades.itertuples():
        bars = panel.loc[row.ticker]
        pos = bars.index.get_loc(row.signal_date)
        assert bars.index[pos + 1] == row.entry_date
        assert row.entry_price >= bars["open"].iloc[pos + 1]  # the next open, plus slippage on a long
        assert row.entry_price == pytest.approx(bars["open"].iloc[pos + 1], rel=1e-3)
