"""The contracts feed components what ``qlop run`` feeds them: spy components record what they receive
from the real stages and from the contract classes, and the two records must match."""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qlop import adapters, hookimpl
from qlop.api import BaseFeatureStepPlugin, BaseModelPlugin, BaseStrategyPlugin, ComponentSpec
from qlop.errors import StageError
from qlop.testing import FeatureStepContract, ModelContract, StrategyContract

SEEN: dict[str, list[tuple]] = {"step": [], "train": [], "predict": [], "strategy": []}


def _kind(obj) -> tuple:
    """The type facts a component can rely on (not the values)."""
    if obj is None:
        return ("None",)
    if isinstance(obj, pd.DataFrame):
        return ("DataFrame", tuple(sorted({str(t) for t in obj.dtypes})), tuple(obj.index.names))
    if isinstance(obj, np.ndarray):
        return ("ndarray", str(obj.dtype), obj.ndim)
    return (type(obj).__name__,)


class SpyStep(BaseFeatureStepPlugin):
    """Per-ticker return, NaN on the 13th of each month (so rows go missing from the predictions)."""

    def input_columns(self):
        return ["close"]

    def output_columns(self):
        return ["spy_ret"]

    def transform(self, data):
        SEEN["step"].append((_kind(data), tuple(data.columns), adapters.FINITE_COLUMNS_ATTR in data.attrs))
        ret = data.groupby(level="ticker", sort=False)["close"].pct_change()
        ret[np.asarray(data.index.get_level_values("date").day == 13)] = np.nan
        return pd.DataFrame({"spy_ret": ret.to_numpy(dtype="float64")}, index=data.index)


class SpyModel(BaseModelPlugin):
    """Predicts the training mean of ``y`` shifted by the first feature (JSON artefact)."""

    def train(self, X_train, y_train, X_val=None, y_val=None):
        SEEN["train"].append((_kind(X_train), _kind(y_train), _kind(X_val), _kind(y_val)))
        self.artifact = {"mean": float(np.mean(y_train))}
        self.fit_info = {"n_seen": len(y_train)}
        return self.artifact

    def predict(self, X):
        SEEN["predict"].append(_kind(X))
        first = X.iloc[:, 0].to_numpy(dtype="float64")
        return np.clip(self.artifact["mean"] + np.nan_to_num(first), 0.0, 1.0)

    def save_model(self, artifact, path):
        Path(path, "spy.json").write_text(json.dumps(artifact))
        return ["spy.json"]

    def load_model(self, path):
        self.artifact = json.loads(Path(path, "spy.json").read_text())
        return self.artifact


class SpyStrategy(BaseStrategyPlugin):
    def generate_signals(self, data, model_predictions):
        first = model_predictions.index.get_level_values("date").min()
        SEEN["strategy"].append(
            (
                _kind(data),
                _kind(model_predictions),
                tuple(sorted(model_predictions.columns)),
                len(model_predictions) < len(data),  # predictions for a subset of the rows
                bool(model_predictions.index.isin(data.index).all()),
                data.index.get_level_values("date").min() == first,  # data starts at the first prediction
            )
        )
        prob = model_predictions["prob"].reindex(data.index)
        return pd.DataFrame({"signal": np.where(prob > 0.6, 1, 0).astype("int8")}, index=data.index)


SPIES = types.SimpleNamespace(
    __name__="spies",
    qlop_register_feature_step=hookimpl(lambda: ComponentSpec("spy_step", SpyStep)),
    qlop_register_model=hookimpl(lambda: ComponentSpec("spy_model", SpyModel)),
    qlop_register_strategy=hookimpl(lambda: ComponentSpec("spy_strategy", SpyStrategy)),
)


def _stage_records(tmp_path: Path) -> dict[str, set]:
    from qlop.config import PipelineConfig
    from qlop.stages import backtest, data, features, train

    config = PipelineConfig.model_validate(
        {
            "seed": 3,
            "data": {
                "data_source_type": "synthetic",
                "tickers": ["AAA", "BBB", "CCC"],
                "start_date": "2010-01-01",
                "end_date": "2013-12-31",
            },
            "features": {"steps": [{"step_type": "spy_step"}], "dropna": True},
            "label": {"label_type": "leverage_opportunity", "label_params": {"horizon": 5}},
            "model": {"model_type": "spy_model", "validation": {"train_years": 1.0, "test_months": 6}},
            "backtest": {"strategy_type": "spy_strategy", "benchmark": None},
        }
    )
    for stage in (data, features, train, backtest):
        stage.run(config, tmp_path)
    return {k: set(v) for k, v in SEEN.items()}


def _contract_records(tmp_path: Path) -> dict[str, set]:
    class Step(FeatureStepContract):
        component_class = SpyStep

    class Model(ModelContract):
        component_class = SpyModel
        check_learns = False

    class Strategy(StrategyContract):
        component_class = SpyStrategy

    step = Step()
    step._transform(step.make_component(), step.make_panel())
    model = Model()
    fitted = model.make_component()
    data = model.make_training_data()
    model._fit(fitted, data)
    model._fit(fitted, data, validation=False)
    model._predict(fitted, data["X_test"])
    strategy = Strategy()
    panel = strategy.make_panel()
    strategy._signals(strategy.make_component(), panel, strategy.make_oos_predictions(panel))
    return {k: set(v) for k, v in SEEN.items()}


def test_contracts_feed_components_what_the_stages_feed_them(qlop_register, tmp_path, monkeypatch):
    monkeypatch.setenv("QLOP_CACHE_DIR", str(tmp_path / "cache"))
    qlop_register(SPIES)
    for calls in SEEN.values():
        calls.clear()
    in_run = _stage_records(tmp_path / "run")
    for calls in SEEN.values():
        calls.clear()
    in_contract = _contract_records(tmp_path)
    assert in_run == in_contract
    # and the facts themselves: the documented types of qlop.interfaces
    frame = ("DataFrame", ("float64",), ("ticker", "date"))
    y = ("ndarray", "float64", 1)
    assert in_run["train"] == {(frame, y, frame, y), (frame, y, ("None",), ("None",))}
    assert in_run["step"] == {(frame, ("close",), True)}
    assert in_run["strategy"] == {
        (frame, ("DataFrame", ("float64", "int64"), ("ticker", "date")), ("fold", "prob"), True, True, True)
    }


def test_model_fed_a_series_fails_the_contract_as_it_would_fail_the_run():
    """A model that needs ``y`` to be a pandas Series fails the contract, because the stage passes an array."""

    class SeriesOnly(SpyModel):
        def train(self, X_train, y_train, X_val=None, y_val=None):
            return super().train(X_train, y_train.rename("label"), X_val, y_val)

    class Model(ModelContract):
        component_class = SeriesOnly

    contract = Model()
    with pytest.raises(AttributeError, match="rename"):
        contract._fit(contract.make_component(), contract.make_training_data())


def test_feature_step_reading_an_undeclared_column_fails_the_contract():
    class ReadsHigh(SpyStep):
        def transform(self, data):
            return pd.DataFrame({"spy_ret": data["high"] / data["close"]}, index=data.index)

    class Step(FeatureStepContract):
        component_class = ReadsHigh

    contract = Step()
    with pytest.raises(KeyError, match="high"):
        contract._transform(contract.make_component(), contract.make_panel())


def test_prediction_shape_is_checked_the_same_way():
    class Short(SpyModel):
        def predict(self, X):
            return super().predict(X)[:-1]

    model = Short("short")
    model.train(pd.DataFrame({"f": [0.0, 1.0]}), np.array([0.0, 1.0]))
    X = pd.DataFrame({"f": [0.0, 1.0, 2.0]})
    with pytest.raises(StageError, match=r"model 'short' returned \(2,\) predictions for 3 rows \(fold 0\)"):
        adapters.predict_values(model, X, np.arange(3), where="fold 0")

    class Contract(ModelContract):
        component_class = Short

    with pytest.raises(StageError, match=r"returned \(2,\) predictions for 3 rows \(model contract\)"):
        Contract()._predict(model, X)
