"""The features stage: ordered steps, explicit warm-up, collisions, labels, atomic artefacts, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib
from click.testing import CliRunner

from qlop.config import FeaturesConfig, LabelConfig, load_config
from qlop.errors import ArtifactError, ConfigError, StageError
from qlop.stages.features import build, compute_features, compute_labels


def _cfg(*steps: tuple[str, dict]) -> FeaturesConfig:
    return FeaturesConfig.model_validate({"steps": [{"step_type": t, "step_params": p} for t, p in steps]})


def test_steps_run_in_order_and_see_earlier_columns(panel):
    out = compute_features(
        panel,
        _cfg(
            ("rsi", {}), ("zscore", {"columns": ["rsi_14"], "window": 10}), ("lag", {"columns": ["zscore_10_rsi_14"]})
        ),
    )
    assert list(out.columns) == ["rsi_14", "zscore_10_rsi_14", "zscore_10_rsi_14_lag_1"]
    assert out.index is panel.index
    assert (out.dtypes == np.float64).all()
    rsi = out["rsi_14"]
    roll = rsi.groupby(level="ticker", sort=False).rolling(10)
    ref = (rsi - roll.mean().droplevel(0)) / roll.std().droplevel(0)
    np.testing.assert_allclose(out["zscore_10_rsi_14"], ref, rtol=1e-9, equal_nan=True)


def test_warm_up_rows_are_kept_as_nan_per_ticker(panel):
    out = compute_features(panel, _cfg(("rsi", {}), ("zscore", {"columns": ["rsi_14"], "window": 10})))
    assert len(out) == len(panel)
    for ticker, frame in out.groupby(level="ticker"):
        z = frame["zscore_10_rsi_14"].to_numpy()
        # RSI needs 14 bars, then the z-score 10 RSI values: the first valid row is the 24th.
        assert np.isnan(z[:23]).all() and not np.isnan(z[23:]).any(), ticker


def test_compute_features_matches_talib_directly_per_ticker(panel):
    out = compute_features(panel, _cfg(("macd", {}), ("atr", {"timeperiod": 10})))
    for ticker, frame in panel.groupby(level="ticker"):
        h, l, c = (frame[k].to_numpy() for k in ("high", "low", "close"))
        np.testing.assert_array_equal(out.loc[ticker, "atr_10"], talib.ATR(h, l, c, timeperiod=10))
        np.testing.assert_array_equal(out.loc[ticker, "macd_hist_12_26_9"], talib.MACD(c)[2])


def test_column_collision_names_both_steps(panel):
    with pytest.raises(ConfigError) as info:
        compute_features(panel, _cfg(("rsi", {}), ("returns", {}), ("talib", {"function": "RSI"})))
    assert str(info.value) == (
        "features.steps.2 (talib): column 'rsi_14' is also produced by features.steps.0 "
        "(rsi); change the parameters of one of the two steps"
    )


def test_collision_with_a_panel_column_is_refused(panel):
    with pytest.raises(ConfigError, match=r"features.steps.0 \(talib\): column 'close' clashes with the panel"):
        compute_features(panel, _cfg(("talib", {"function": "AVGPRICE", "prefix": "close"})))


def test_missing_input_column_names_the_step_field(panel):
    with pytest.raises(ConfigError) as info:
        compute_features(panel, _cfg(("zscore", {"columns": ["rsi_14"]}), ("rsi", {})))
    assert str(info.value).startswith("features.steps.0.step_params: column 'rsi_14' not found")


def test_unknown_step_and_bad_params_name_the_field(panel):
    with pytest.raises(
        ConfigError, match=r"^features.steps.0.step_type: unknown feature step 'rsii'. Did you mean 'rsi'"
    ):
        compute_features(panel, _cfg(("rsii", {})))
    with pytest.raises(ConfigError, match=r"^features.steps.1.step_params.timeperiod:"):
        compute_features(panel, _cfg(("rsi", {}), ("atr", {"timeperiod": 0})))


class _Plugin:
    """A third-party plugin module stand-in with a misbehaving and a well-behaved step."""

    from qlop.plugins.markers import hookimpl as _hookimpl

    @staticmethod
    @_hookimpl
    def qlop_register_feature_step():
        from qlop.interfaces import BaseFeatureStepPlugin
        from qlop.plugins.specs import ComponentSpec

        class Broken(BaseFeatureStepPlugin):
            def transform(self, data):
                raise ZeroDivisionError("division by zero")

        class Shorter(BaseFeatureStepPlugin):
            def transform(self, data):
                return pd.DataFrame({"x": 1.0}, index=data.index[:-1])

        class Gap(BaseFeatureStepPlugin):
            def transform(self, data):
                prev = data["close"].groupby(level="ticker").shift(1)
                return pd.DataFrame({"gap": data["open"] / prev - 1, "up": data["open"] > prev})

        class Text(BaseFeatureStepPlugin):
            def transform(self, data):
                return pd.DataFrame({"t": "a"}, index=data.index)

        from qlop_contrib.features.base import PanelStep

        class Liar(PanelStep):
            def output_columns(self):
                return ["a"]

            def compute(self, data, groups):
                return {"b": np.zeros(len(data))}

        return [
            ComponentSpec("broken", Broken),
            ComponentSpec("shorter", Shorter),
            ComponentSpec("gap", Gap),
            ComponentSpec("text", Text),
            ComponentSpec("liar", Liar),
        ]


@pytest.fixture
def manager():
    from qlop.plugins.discovery import Selection
    from qlop.plugins.manager import PluginManager

    pm = PluginManager(Selection(autoload=False), warn=None)
    pm.register(_Plugin, name="thirdparty", version="0.1")
    return pm


def test_third_party_steps_join_the_pipeline_as_float64(panel, manager):
    out = compute_features(panel, _cfg(("rsi", {}), ("gap", {})), manager=manager)
    assert list(out.columns) == ["rsi_14", "gap", "up"]
    assert (out.dtypes == np.float64).all()
    assert set(np.unique(out["up"])) <= {0.0, 1.0}


@pytest.mark.parametrize(
    "step,message",
    [
        ("broken", r"^features: feature step 'broken' \(plugin 'thirdparty' 0.1\) failed: ZeroDivisionError"),
        ("shorter", r"^features: features.steps.0 \(shorter\) returned a frame whose index differs"),
        ("text", r"^features: features.steps.0 \(text\) column 't' is not numeric"),
        ("liar", r"^features: features.steps.0 \(liar\) returned \['b'\] but declared \['a'\]"),
    ],
)
def test_a_failing_third_party_step_is_a_stage_error_naming_it(panel, manager, step, message):
    with pytest.raises(StageError, match=message):
        compute_features(panel, _cfg((step, {})), manager=manager)


def test_compute_labels_runs_the_label_plugin(panel):
    labels = compute_labels(panel, LabelConfig(label_type="leverage_opportunity", label_params={"horizon": 5}))
    assert labels.index.equals(panel.index)
    assert {"label", "net_return", "exit_reason", "bars_held"} <= set(labels.columns)
    assert labels["label"].dtype == np.float64
    for _, frame in labels.groupby(level="ticker"):
        assert frame["label"].iloc[-5:].isna().all() and frame["label"].iloc[:-5].notna().all()


def test_compute_labels_bad_params_name_the_field(panel):
    with pytest.raises(ConfigError, match=r"^label.label_params.horizon:"):
        compute_labels(panel, {"label_type": "leverage_opportunity", "label_params": {"horizon": 0}})


CONFIG = """
[data]
data_source_type = "sample"
tickers = ["AAPL", "SPY"]
start_date = "2008-01-01"
end_date = "2010-12-31"

[features]
steps = [
  {{ step_type = "returns", step_params = {{ windows = [1, 5] }} }},
  {{ step_type = "rsi" }},
  {{ step_type = "zscore", step_params = {{ columns = ["{zcol}"] }} }},
]
{label}
"""
LABEL = """
[label]
label_type = "leverage_opportunity"
label_params = { leverage = 2.0, horizon = 5 }
"""


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    from qlop.stages import data

    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.format(zcol="rsi_14", label=LABEL))
    data.run(load_config(cfg), tmp_path / "run")
    return tmp_path / "run"


def _write(tmp_path: Path, zcol: str = "rsi_14", label: str = LABEL) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(CONFIG.format(zcol=zcol, label=label))
    return path


def test_build_writes_features_and_labels(tmp_path, run_dir):
    result = build(load_config(_write(tmp_path)), run_dir)
    assert result.written == {"features": str(run_dir / "features.parquet"), "labels": str(run_dir / "labels.parquet")}
    features = pd.read_parquet(run_dir / "features.parquet")
    labels = pd.read_parquet(run_dir / "labels.parquet")
    panel = pd.read_parquet(run_dir / "data.parquet")
    assert features.index.equals(panel.index) and labels.index.equals(panel.index)
    assert list(features.columns) == ["ret_1", "ret_5", "rsi_14", "zscore_20_rsi_14"]
    assert (features.dtypes == np.float64).all()
    pd.testing.assert_frame_equal(features, result.features, check_freq=False)
    assert sorted(p.name for p in run_dir.iterdir()) == ["data.parquet", "features.parquet", "labels.parquet"]


def test_failed_build_writes_nothing(tmp_path, run_dir):
    with pytest.raises(ConfigError):
        build(load_config(_write(tmp_path, zcol="nope")), run_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == ["data.parquet"]


def test_build_without_label_section_removes_stale_labels(tmp_path, run_dir):
    build(load_config(_write(tmp_path)), run_dir)
    result = build(load_config(_write(tmp_path, label="")), run_dir)
    assert result.labels is None and "labels" not in result.written
    assert not (run_dir / "labels.parquet").exists()


def test_build_needs_the_data_artefact(tmp_path):
    with pytest.raises(ArtifactError, match=r"data.parquet not found: run `qlop data load` first"):
        build(load_config(_write(tmp_path)), tmp_path / "empty")


def test_cli_build_prints_the_label_table(tmp_path, run_dir):
    from qlop.cli.main import cli

    res = CliRunner().invoke(cli, ["features", "build", "-c", str(_write(tmp_path)), "--run-dir", str(run_dir)])
    assert res.exit_code == 0, res.output
    assert f"Wrote {run_dir / 'features.parquet'}: 1,514 rows x 4 features" in res.output
    lines = res.output.splitlines()
    header = next(line for line in lines if "base rate" in line)
    for column in ("ticker", "rows", "labelled", "mean net", "tp", "sl", "liq", "horizon"):
        assert column in header
    rows = {line.split()[1]: line for line in lines if line.startswith("│")}
    assert {"AAPL", "SPY", "ALL"} <= set(rows)
    assert "757" in rows["AAPL"] and "1,514" in rows["ALL"]
    labels = pd.read_parquet(run_dir / "labels.parquet")
    rate = labels.loc["AAPL", "label"].mean()
    assert f"{100 * rate:.1f}%" in rows["AAPL"]


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path, run_dir):
    from qlop.cli.main import cli

    res = CliRunner().invoke(
        cli, ["features", "build", "-c", str(_write(tmp_path, zcol="nope")), "--run-dir", str(run_dir)]
    )
    assert res.exit_code == 2
    assert res.output.startswith("Error: features.steps.2.step_params: column 'nope' not found")
    assert len(res.output.strip().splitlines()) == 1
    res = CliRunner().invoke(
        cli, ["features", "build", "-c", str(_write(tmp_path)), "--run-dir", str(tmp_path / "nothing")]
    )
    assert res.exit_code == 2 and "run `qlop data load` first" in res.output


def test_tickers_shorter_than_the_warm_up_and_empty_panels(kit):
    """A ticker with fewer bars than a step's lookback gets NaN, never an error or another ticker's bars."""
    panel = kit.sample_panel(("AAPL", "SPY"), "2005-02-01", "2005-03-02")  # SPY starts 2005-02-25: 4 bars
    assert len(panel.loc["SPY"]) == 4
    cfg = _cfg(
        ("rsi", {}),
        ("macd", {}),
        ("bollinger", {}),
        ("rvol", {}),
        ("drawdown", {"windows": [20]}),
        ("returns", {"windows": [1, 5]}),
        ("xrank", {"columns": ["ret_1"]}),
    )
    out = compute_features(panel, cfg)
    spy = out.loc["SPY"]
    assert spy.drop(columns=["ret_1", "drawdown", "xrank_ret_1"]).isna().all().all()
    assert spy["ret_1"].notna().sum() == 3 and spy["drawdown"].notna().all()
    aapl = compute_features(panel.loc[["AAPL"]], cfg)
    pd.testing.assert_frame_equal(out.loc[["AAPL"]].drop(columns="xrank_ret_1"), aapl.drop(columns="xrank_ret_1"))
    empty = compute_features(panel.iloc[:0], cfg)
    assert empty.shape == (0, out.shape[1]) and list(empty.columns) == list(out.columns)
