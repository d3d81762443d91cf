"""Contract test classes: inherit one in a ``Test*`` class, name your component, and pytest runs the checks.

Example::

    from qlop.testing import FeatureStepContract

    class TestGapStep(FeatureStepContract):
        component_name = "gap"          # looked up through the plugin registries, as a run would
        params = {"window": 5}

or ``component_class = GapStep`` to test a class without registering it, or ``plugin = my_module`` to
register a plugin module for the lookup without installing it. Override ``make_panel`` to feed your
own data. Every check is fast (a few hundred rows) and names the column, ticker and date that broke it.

The contracts feed a component through :mod:`qlop.adapters`, the code the stages use: a feature step
gets only its declared input columns, a model gets ``y`` as a float64 numpy array, a strategy gets
predictions for only the out-of-sample rows. Passing a contract therefore means working in ``qlop run``.
"""

from __future__ import annotations

import datetime as dt
import json
import pickle
import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from qlop import adapters
from qlop.layout import RunLayout
from qlop.schema import INDEX_NAMES, OHLCV_COLUMNS
from qlop.sessions import bar_attrs
from qlop.testing.data import make_ohlcv_panel, perturb_after, rescale_panel

__all__ = [
    "ComponentContract",
    "DataSourceContract",
    "FeatureStepContract",
    "LabelContract",
    "ModelContract",
    "StrategyContract",
    "ExporterContract",
    "assert_same_values",
]

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill", ".pck")


def assert_same_values(
    expected: pd.DataFrame, actual: pd.DataFrame, what: str, rtol: float = 1e-9, atol: float = 1e-12
) -> None:
    """Equal frames (same index, columns, NaN where NaN); the failure names column, ticker and date."""
    assert list(actual.columns) == list(expected.columns), (
        f"{what}: columns differ: {list(expected.columns)} vs {list(actual.columns)}"
    )
    assert actual.index.equals(expected.index), f"{what}: index differs"
    for col in expected.columns:
        a, b = expected[col].to_numpy(), actual[col].to_numpy()
        if a.dtype.kind in "fc" or b.dtype.kind in "fc":
            a, b = a.astype("float64"), b.astype("float64")
            both_nan = np.isnan(a) & np.isnan(b)
            close = np.isclose(a, b, rtol=rtol, atol=atol) | both_nan
        else:
            close = np.array([x == y or (pd.isna(x) and pd.isna(y)) for x, y in zip(a, b)], dtype=bool)
        if not close.all():
            i = int(np.flatnonzero(~close)[0])
            key = expected.index[i]
            where = ", ".join(
                f"{n} {v}" for n, v in zip(expected.index.names, key if isinstance(key, tuple) else (key,))
            )
            raise AssertionError(
                f"{what}: column {col!r} at {where}: {a[i]!r} != {b[i]!r} ({int((~close).sum())} value(s) differ)"
            )


def _cutoff(panel: pd.DataFrame, fraction: float = 0.6) -> pd.Timestamp:
    dates = np.sort(panel.index.get_level_values(INDEX_NAMES[1]).unique())
    return pd.Timestamp(dates[int(len(dates) * fraction)])


def _upto(frame: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    return frame[np.asarray(frame.index.get_level_values(INDEX_NAMES[1]) <= cutoff)]


class ComponentContract:
    """What every contract shares: how the component under test is built.

    Set exactly one of ``component_class`` (test the class directly) or ``component_name`` (look it up
    by name through the plugin registries, exactly as a config would; add ``plugin`` to register a
    module or object for the lookup without installing it). ``params`` are validated by the
    component's params model first, so invalid defaults fail here too.
    """

    kind: ClassVar[str] = ""
    component_name: ClassVar[str | None] = None
    component_class: ClassVar[type | None] = None
    params: ClassVar[dict[str, Any]] = {}
    plugin: ClassVar[Any] = None
    #: tolerances of the equality checks (causality, determinism, round trips)
    rtol: ClassVar[float] = 1e-9
    atol: ClassVar[float] = 1e-12

    def make_component(self) -> Any:
        """A fresh, independent instance of the component under test."""
        from qlop.plugins.registry import make_component

        if self.component_class is not None:
            from qlop.plugins.registry import Entry, Registry
            from qlop.plugins.specs import ComponentSpec

            name = self.component_name or self.component_class.__name__.lower()
            spec = ComponentSpec(name=name, factory=self.component_class)
            registry = Registry(self.kind, [Entry(spec, "<test>", None)])
            return make_component(registry, name, dict(self.params), f"{self.kind}_params")
        if not self.component_name:
            raise pytest.UsageError(f"{type(self).__name__}: set component_name or component_class")
        manager = self._manager()
        try:
            return manager.create(self.kind, self.component_name, dict(self.params), f"{self.kind}_params")
        except Exception as exc:
            broken = [
                f"{r.name}: {r.status}: {r.error}"
                for r in manager.records.values()
                if r.status in ("failed", "incompatible")
            ]
            if broken:
                raise AssertionError(f"{exc} (plugins that did not load: {'; '.join(broken)})") from exc
            raise

    def _manager(self) -> Any:
        from qlop.plugins.discovery import Selection
        from qlop.plugins.manager import PluginManager

        if self.plugin is not None:
            manager = PluginManager(Selection(autoload=False, strict=True), warn=None)
            name = getattr(self.plugin, "__name__", None) or type(self.plugin).__name__
            manager.register(self.plugin, name=name)
            return manager
        # The author's installed plugin is found through its entry point, like a real run.
        return PluginManager(Selection.from_env(), warn=None).load()

    @pytest.fixture
    def component(self) -> Any:
        return self.make_component()


class _PanelMixin:
    panel_tickers: ClassVar[tuple[str, ...]] = ("AAA", "BBB", "CCC")
    panel_days: ClassVar[int] = 260

    def make_panel(self, seed: int = 0, n_days: int | None = None) -> pd.DataFrame:
        """The input panel; override to test on your own data (keep it small)."""
        return make_ohlcv_panel(self.panel_tickers, n_days=n_days or self.panel_days, seed=seed)


# -- data sources ------------------------------------------------------------------------------


class DataSourceContract(ComponentContract):
    """A data source returns the canonical, validated panel, honouring the requested tickers and dates."""

    kind = "data_source"
    tickers: ClassVar[tuple[str, ...]] = ("AAPL", "MSFT")
    start_date: ClassVar[str | None] = "2015-01-01"
    end_date: ClassVar[str | None] = "2015-06-30"
    interval: ClassVar[str] = "1d"
    #: a ticker the source certainly does not have (None: skip that check)
    unknown_ticker: ClassVar[str | None] = "QLOP_NO_SUCH_TICKER"

    def _load(self, component: Any, tickers: Any = None) -> pd.DataFrame:
        start = dt.date.fromisoformat(self.start_date) if self.start_date else None
        end = dt.date.fromisoformat(self.end_date) if self.end_date else None
        return component.load_data(list(tickers or self.tickers), start, end, self.interval)

    @pytest.fixture
    def loaded(self, component: Any) -> pd.DataFrame:
        return self._load(component)

    def test_returns_canonical_panel(self, loaded: pd.DataFrame) -> None:
        from qlop.schema import validate_panel

        assert isinstance(loaded, pd.DataFrame), f"load_data returned {type(loaded).__name__}"
        assert list(loaded.index.names) == list(INDEX_NAMES), f"index names {loaded.index.names}"
        assert loaded.index.is_unique, "duplicate (ticker, date) rows"
        assert loaded.index.is_monotonic_increasing, "panel is not sorted by (ticker, date)"
        for col in OHLCV_COLUMNS:
            assert col in loaded.columns, f"missing column {col!r}"
            assert loaded[col].dtype == np.float64, f"column {col!r} is {loaded[col].dtype}, not float64"
        dates = loaded.index.get_level_values(INDEX_NAMES[1])
        assert dates.dtype == np.dtype("datetime64[ns]"), f"dates are {dates.dtype}, not tz-naive datetime64[ns]"
        assert (dates == dates.normalize()).all(), "dates are not at midnight"
        canonical = validate_panel(loaded, source=f"{self.kind} {self.component_name}")
        assert_same_values(canonical, loaded[list(OHLCV_COLUMNS)], "panel after validation")

    def test_honours_requested_tickers(self, loaded: pd.DataFrame) -> None:
        got = set(loaded.index.get_level_values(INDEX_NAMES[0]).unique())
        assert got == set(self.tickers), f"requested {sorted(self.tickers)}, got {sorted(got)}"

    def test_honours_requested_dates(self, loaded: pd.DataFrame) -> None:
        dates = loaded.index.get_level_values(INDEX_NAMES[1])
        assert len(dates), "no rows in the requested range"
        if self.start_date:
            assert dates.min() >= pd.Timestamp(self.start_date), f"rows before {self.start_date}: {dates.min()}"
        if self.end_date:
            assert dates.max() <= pd.Timestamp(self.end_date), f"rows after {self.end_date}: {dates.max()}"

    def test_unknown_ticker_is_a_data_error(self, component: Any) -> None:
        from qlop.errors import DataError

        if self.unknown_ticker is None:
            pytest.skip("unknown_ticker is None for this source")
        with pytest.raises(DataError, match=re.escape(self.unknown_ticker)):
            self._load(component, [self.unknown_ticker])

    def test_unknown_tickers_agrees_with_load_data(self, component: Any) -> None:
        """``unknown_tickers`` (when the source can tell) clears the tickers it loads and names the one
        it cannot load, with a reason."""
        found = component.unknown_tickers(list(self.tickers))
        if found is None:
            return  # the source cannot tell cheaply: the GUI loads each ticker instead
        assert found == {}, f"unknown_tickers({list(self.tickers)}) names tickers load_data returns: {found}"
        if self.unknown_ticker is not None:
            missing = component.unknown_tickers([self.tickers[0], self.unknown_ticker])
            assert list(missing or {}) == [self.unknown_ticker], (
                f"unknown_tickers missed {self.unknown_ticker}: {missing}"
            )
            assert str(missing[self.unknown_ticker]).strip(), "unknown_tickers gave no reason"

    def test_deterministic(self, loaded: pd.DataFrame) -> None:
        again = self._load(self.make_component())
        assert_same_values(loaded, again, "second load", self.rtol, self.atol)

    def test_cache_token(self, component: Any) -> None:
        """The data stage puts ``cache_token()`` into its cache key: a string (or None), stable."""
        token = component.cache_token()
        assert token is None or isinstance(token, str), f"cache_token returned {type(token).__name__}, not str/None"
        assert self.make_component().cache_token() == token, "cache_token differs between two instances"


# -- feature steps ------------------------------------------------------------------------------


class FeatureStepContract(_PanelMixin, ComponentContract):
    """A feature step is causal, per-ticker, deterministic, and returns float columns on the same index."""

    kind = "feature_step"
    #: False for cross-sectional features (e.g. a rank across tickers per date): skips the bleed check
    per_ticker: ClassVar[bool] = True
    #: tolerances of the scale-free check (rescaled prices round differently)
    scale_rtol: ClassVar[float] = 1e-7
    scale_atol: ClassVar[float] = 1e-10

    def _transform(self, component: Any, data: pd.DataFrame) -> pd.DataFrame:
        """The step's columns as the features stage computes them (input frame, fast path, checks)."""
        return adapters.run_feature_step(component, data.copy(), f"feature step {component.name!r}")

    def _step_input(self, component: Any, panel: pd.DataFrame) -> pd.DataFrame:
        """The frame the features stage hands the step (its declared input columns, or all)."""
        inputs, _ = adapters.declared_columns(component)
        columns = {str(c): panel[c].to_numpy() for c in panel.columns}
        return adapters.feature_step_input(
            columns, panel.index, inputs, where=f"feature step {component.name!r}", bars=bar_attrs(panel)
        )

    def _raw_transform(self, component: Any, panel: pd.DataFrame) -> pd.DataFrame:
        out = component.transform(self._step_input(component, panel.copy()))
        assert isinstance(out, pd.DataFrame), f"transform returned {type(out).__name__}, not a DataFrame"
        return out

    @pytest.fixture
    def panel(self) -> pd.DataFrame:
        return self.make_panel()

    @pytest.fixture
    def features(self, component: Any, panel: pd.DataFrame) -> pd.DataFrame:
        return self._transform(component, panel)

    def test_index_preserved(self, panel: pd.DataFrame, features: pd.DataFrame) -> None:
        assert features.index.equals(panel.index), "features must be indexed exactly like the input panel"

    def test_float_columns_with_new_names(self, component: Any, panel: pd.DataFrame) -> None:
        features = self._raw_transform(component, panel)
        assert len(features.columns), "no feature columns returned"
        assert features.columns.is_unique, f"duplicate column names: {list(features.columns)}"
        for col in features.columns:
            assert isinstance(col, str) and col, f"column name {col!r} is not a non-empty string"
            assert col not in panel.columns, f"column {col!r} overwrites an input column"
            assert features[col].dtype == np.float64, f"column {col!r} is {features[col].dtype}, not float64"
            values = features[col].to_numpy()
            assert not np.isinf(values).any(), f"column {col!r} has infinite values"
        assert features.notna().any().all(), (
            f"columns entirely NaN: {[c for c in features.columns if features[c].isna().all()]}"
        )

    def test_stable_names(self, component: Any, features: pd.DataFrame) -> None:
        other = self._transform(component, self.make_panel(seed=7, n_days=self.panel_days + 40))
        assert list(other.columns) == list(features.columns), "column names depend on the data"

    def test_deterministic(self, panel: pd.DataFrame, features: pd.DataFrame) -> None:
        again = self._transform(self.make_component(), panel)
        assert_same_values(features, again, "second transform", self.rtol, self.atol)

    def test_input_not_modified(self, component: Any, panel: pd.DataFrame) -> None:
        """The stage hands a step views on its own arrays: writing into them would corrupt the panel."""
        before = panel.copy()
        adapters.run_feature_step(component, panel, f"feature step {component.name!r}")
        assert_same_values(before, panel, "input panel after transform", 0.0, 0.0)

    def test_transform_matches_fast_path(self, component: Any, panel: pd.DataFrame, features: pd.DataFrame) -> None:
        """``transform`` (used outside the pipeline) and ``transform_arrays`` (used by it) agree."""
        raw = self._raw_transform(component, panel)
        assert_same_values(features, raw.astype("float64"), "transform vs the pipeline's result", self.rtol, self.atol)

    def test_no_ticker_bleed(self, component: Any, panel: pd.DataFrame, features: pd.DataFrame) -> None:
        if not self.per_ticker:
            pytest.skip("cross-sectional feature (per_ticker = False)")
        for ticker in panel.index.get_level_values(INDEX_NAMES[0]).unique():
            alone = self._transform(component, panel.loc[[ticker]])
            assert_same_values(
                features.loc[[ticker]],
                alone,
                f"ticker {ticker} computed alone vs within the panel",
                self.rtol,
                self.atol,
            )

    def test_causal_truncation(self, component: Any, panel: pd.DataFrame, features: pd.DataFrame) -> None:
        cutoff = _cutoff(panel)
        truncated = self._transform(component, _upto(panel, cutoff))
        assert_same_values(
            _upto(features, cutoff),
            truncated,
            f"look-ahead: features up to {cutoff.date()} change when later rows are removed",
            self.rtol,
            self.atol,
        )

    def test_causal_perturbation(self, component: Any, panel: pd.DataFrame, features: pd.DataFrame) -> None:
        cutoff = _cutoff(panel, 0.5)
        changed = self._transform(component, perturb_after(panel, cutoff))
        assert_same_values(
            _upto(features, cutoff),
            _upto(changed, cutoff),
            f"look-ahead: features up to {cutoff.date()} change when later rows change",
            self.rtol,
            self.atol,
        )

    def test_scale_free(self, component: Any, panel: pd.DataFrame, features: pd.DataFrame) -> None:
        """A step that declares ``scale_free`` gives the same output when each ticker's prices are
        multiplied by its own constant and its volumes by another (what back-adjustment does to a
        ticker's history, and how tickers' price levels differ)."""
        if not component.scale_free:
            pytest.skip("the step does not declare scale_free")
        rescaled = self._transform(component, rescale_panel(panel))
        assert_same_values(
            features,
            rescaled,
            "scale_free: the output changes when each ticker's prices are multiplied by a "
            "constant (and its volumes by another)",
            self.scale_rtol,
            self.scale_atol,
        )


# -- labels -------------------------------------------------------------------------------------


class LabelContract(_PanelMixin, ComponentContract):
    """A label gives a float ``label`` column on the same index, NaN for the last ``horizon`` bars of each
    ticker, and looks no further ahead than its declared horizon."""

    kind = "label"
    #: False for labels that compare tickers (e.g. beating the cross-section): skips the bleed check
    per_ticker: ClassVar[bool] = True

    @pytest.fixture
    def panel(self) -> pd.DataFrame:
        return self.make_panel()

    @pytest.fixture
    def labels(self, component: Any, panel: pd.DataFrame) -> pd.DataFrame:
        out = component.make_labels(panel.copy())
        assert isinstance(out, pd.DataFrame), f"make_labels returned {type(out).__name__}, not a DataFrame"
        return out

    def test_index_preserved(self, panel: pd.DataFrame, labels: pd.DataFrame) -> None:
        assert labels.index.equals(panel.index), "labels must be indexed exactly like the input panel"

    def test_label_column(self, component: Any, labels: pd.DataFrame) -> None:
        assert "label" in labels.columns, f"no 'label' column (got {list(labels.columns)})"
        values = labels["label"]
        assert values.dtype == np.float64, f"label is {values.dtype}, not float64"
        known = values.dropna().to_numpy()
        assert len(known), "every label is NaN"
        assert np.isfinite(known).all(), "label has infinite values"
        if component.task == "classification":
            bad = sorted(float(x) for x in set(np.unique(known)) - {0.0, 1.0})
            assert not bad, f"classification labels must be 0.0/1.0/NaN, got {bad[:5]}"
        else:
            assert component.task == "regression", f"task must be classification or regression, not {component.task!r}"

    def test_declares_horizon(self, component: Any) -> None:
        horizon = component.horizon
        assert isinstance(horizon, int) and horizon >= 1, f"horizon must be a positive int, got {horizon!r}"

    def test_nan_tail_of_horizon_rows(self, component: Any, labels: pd.DataFrame) -> None:
        horizon = component.horizon
        for ticker, rows in labels["label"].groupby(level=INDEX_NAMES[0], sort=False):
            tail = rows.iloc[-horizon:]
            assert tail.isna().all(), (
                f"ticker {ticker}: the last {horizon} bar(s) cannot know their future, but "
                f"{tail.dropna().index.get_level_values(1)[0].date()} has label {tail.dropna().iloc[0]}"
            )

    def test_looks_no_further_than_horizon(self, component: Any, panel: pd.DataFrame, labels: pd.DataFrame) -> None:
        horizon = component.horizon
        cutoff = _cutoff(panel, 0.5)
        changed = component.make_labels(perturb_after(panel, cutoff))
        dates = pd.Series(panel.index.get_level_values(INDEX_NAMES[1]), index=panel.index)
        last_seen = dates.groupby(level=INDEX_NAMES[0], sort=False).shift(-horizon)
        settled = np.asarray(last_seen.notna() & (last_seen <= cutoff))
        assert settled.any(), "panel too short for this horizon; override make_panel"
        assert_same_values(
            labels[settled],
            changed[settled],
            f"labels whose {horizon}-bar window ends by {cutoff.date()} change when later "
            "rows change (the label looks further ahead than its horizon)",
            self.rtol,
            self.atol,
        )

    def test_no_ticker_bleed(self, component: Any, panel: pd.DataFrame, labels: pd.DataFrame) -> None:
        if not self.per_ticker:
            pytest.skip("cross-sectional label (per_ticker = False)")
        for ticker in panel.index.get_level_values(INDEX_NAMES[0]).unique():
            alone = component.make_labels(panel.loc[[ticker]].copy())
            assert_same_values(
                labels.loc[[ticker]], alone, f"ticker {ticker} labelled alone vs within the panel", self.rtol, self.atol
            )

    def test_deterministic(self, panel: pd.DataFrame, labels: pd.DataFrame) -> None:
        again = self.make_component().make_labels(panel.copy())
        assert_same_values(labels, again, "second labelling", self.rtol, self.atol)


# -- models -------------------------------------------------------------------------------------


class ModelContract(ComponentContract):
    """A model trains and predicts with the right shapes, is deterministic under its seed, and saves
    (without pickle) and loads back to identical predictions."""

    kind = "model"
    #: ``classification`` or ``regression``
    task: ClassVar[str] = "classification"
    n_rows: ClassVar[int] = 600
    n_features: ClassVar[int] = 5
    #: whether to check that the model beats chance on an easy synthetic signal
    check_learns: ClassVar[bool] = True

    def make_training_data(self, seed: int = 0) -> dict[str, Any]:
        """Features ``f0..fk`` on a (ticker, date) index; the target depends mostly on f0 and f1."""
        rng = np.random.default_rng(seed)
        n = self.n_rows
        index = pd.MultiIndex.from_arrays(
            [
                np.repeat(["AAA", "BBB"], n // 2 + 1)[:n],
                np.tile(pd.bdate_range("2020-01-01", periods=n // 2 + 1), 2)[:n],
            ],
            names=list(INDEX_NAMES),
        )
        X = pd.DataFrame(
            rng.normal(size=(n, self.n_features)), index=index, columns=[f"f{i}" for i in range(self.n_features)]
        )
        signal = 1.5 * X["f0"] - 1.0 * X["f1"] + rng.normal(0, 0.5, n)
        y = (signal > 0).astype("float64") if self.task == "classification" else signal.astype("float64")
        y.name = "label"
        a, b = int(n * 0.6), int(n * 0.8)
        return {
            "X_train": X.iloc[:a],
            "y_train": y.iloc[:a],
            "X_val": X.iloc[a:b],
            "y_val": y.iloc[a:b],
            "X_test": X.iloc[b:],
            "y_test": y.iloc[b:],
            "X": X,
        }

    def make_component(self) -> Any:
        model = super().make_component()
        assert self.task in model.tasks, f"model supports {model.tasks}, contract task is {self.task!r}"
        model.task = self.task
        return model

    @pytest.fixture
    def data(self) -> dict[str, Any]:
        return self.make_training_data()

    def _fit(self, model: Any, data: dict[str, Any], validation: bool = True) -> Any:
        """``train`` as the train stage calls it: X float64 frames, y float64 numpy arrays."""
        X_train, y_train = adapters.model_fit_inputs(data["X_train"], data["y_train"])
        X_val, y_val = adapters.model_fit_inputs(data["X_val"], data["y_val"]) if validation else (None, None)
        return model.train(X_train, y_train, X_val, y_val)

    def _predict(self, model: Any, X: pd.DataFrame, history: pd.DataFrame | None = None) -> np.ndarray:
        """Predictions for the rows of ``X`` as the stages ask for them (:func:`qlop.adapters.predict_values`,
        checked the same way): a sequence model (``lookback > 1``) also gets the earlier rows of
        ``history`` it needs."""
        if history is None:
            return adapters.predict_values(model, X, where="model contract")
        rows = history.index.get_indexer(X.index)
        assert (rows >= 0).all(), "X holds rows that history does not"
        return adapters.predict_values(model, history, rows, where="model contract")

    def _test_pred(self, model: Any, data: dict[str, Any]) -> np.ndarray:
        return self._predict(model, data["X_test"], data["X"])

    @pytest.fixture
    def trained(self, component: Any, data: dict[str, Any]) -> Any:
        artifact = self._fit(component, data)
        assert artifact is not None, "train must return the trained artefact"
        return component

    def test_train_predict_shapes(self, trained: Any, data: dict[str, Any]) -> None:
        pred = self._test_pred(trained, data)
        assert np.isfinite(pred).all(), "predictions contain NaN or inf (rows with their full history)"

    def test_probabilities_in_unit_interval(self, trained: Any, data: dict[str, Any]) -> None:
        if self.task != "classification":
            pytest.skip("regression model")
        pred = self._test_pred(trained, data)
        assert ((pred >= 0) & (pred <= 1)).all(), f"probabilities outside [0, 1]: {pred.min()}..{pred.max()}"

    def test_learns_an_easy_signal(self, trained: Any, data: dict[str, Any]) -> None:
        if not self.check_learns:
            pytest.skip("check_learns is off")
        pred = self._test_pred(trained, data)
        y = data["y_test"].to_numpy()
        if self.task == "classification":
            assert pred[y == 1].mean() > pred[y == 0].mean(), "predictions do not separate the classes at all"
        else:
            assert np.corrcoef(pred, y)[0, 1] > 0.5, "predictions do not follow the target"

    def test_deterministic_under_seed(self, trained: Any, data: dict[str, Any]) -> None:
        other = self.make_component()
        self._fit(other, data)
        np.testing.assert_allclose(
            self._test_pred(other, data),
            self._test_pred(trained, data),
            rtol=self.rtol,
            atol=self.atol,
            err_msg="two trainings with the same params and seed differ",
        )

    def test_input_not_modified(self, component: Any, data: dict[str, Any]) -> None:
        before = {k: v.copy() for k, v in data.items()}
        self._fit(component, data)
        self._test_pred(component, data)
        for key, value in before.items():
            assert value.equals(data[key]), f"{key} was modified by train/predict"

    def test_trains_without_validation_rows(self, component: Any, data: dict[str, Any]) -> None:
        """The final model of a run trains on every row, with ``X_val = y_val = None``."""
        self._fit(component, data, validation=False)
        assert np.isfinite(self._test_pred(component, data)).all(), "predictions contain NaN or inf"

    def test_final_params_and_fit_info(self, trained: Any, data: dict[str, Any]) -> None:
        """``fit_info`` is stored as JSON; ``final_params`` (from the folds' infos) builds a model that trains."""
        info = adapters.fold_info(trained, len(data["X_train"]), len(data["X_val"]))
        json.dumps(info)
        params = trained.final_params([info, info])
        assert isinstance(params, type(trained.params)), (
            f"final_params returned {type(params).__name__}, not {type(trained.params).__name__}"
        )
        final = type(trained)(trained.name, params)
        final.task = trained.task
        self._fit(final, data, validation=False)
        self._test_pred(final, data)

    def test_save_load_round_trip(self, trained: Any, data: dict[str, Any], tmp_path: Path) -> None:
        target = tmp_path / RunLayout.MODEL_DIR
        target.mkdir()
        written = trained.save_model(trained.artifact, str(target))
        assert written, "save_model must return the names of the files it wrote"
        for name in written:
            assert (target / name).exists(), f"save_model listed {name!r} but it is not in {target}"
        fresh = self.make_component()
        fresh.load_model(str(target))
        np.testing.assert_allclose(
            self._test_pred(fresh, data),
            self._test_pred(trained, data),
            rtol=self.rtol,
            atol=self.atol,
            err_msg="predictions after save_model/load_model differ",
        )

    def test_no_pickle_written(self, trained: Any, tmp_path: Path) -> None:
        target = tmp_path / RunLayout.MODEL_DIR
        target.mkdir()
        trained.save_model(trained.artifact, str(target))
        for path in sorted(p for p in target.rglob("*") if p.is_file()):
            assert path.suffix.lower() not in PICKLE_SUFFIXES, f"{path.name}: pickle-like file written"
            head = path.read_bytes()[:2]
            is_pickle = len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= pickle.HIGHEST_PROTOCOL
            assert not is_pickle, f"{path.name} is a pickle (unsafe to load, breaks across versions)"

    def _all_rows(self, model: Any, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"pred": self._predict(model, X)}, index=X.index)

    def test_lookback(self, trained: Any) -> None:
        lookback = trained.lookback
        assert isinstance(lookback, int) and lookback >= 1, f"lookback must be a positive int, got {lookback!r}"

    def test_predictions_causal_truncation(self, trained: Any, data: dict[str, Any]) -> None:
        X = data["X"]
        cutoff = _cutoff(X, 0.9)
        full = self._all_rows(trained, X)
        assert_same_values(
            _upto(full, cutoff),
            self._all_rows(trained, _upto(X, cutoff)),
            f"look-ahead: predictions up to {cutoff.date()} change when later rows are removed",
            self.rtol,
            self.atol,
        )

    def test_predictions_causal_perturbation(self, trained: Any, data: dict[str, Any]) -> None:
        X = data["X"]
        cutoff = _cutoff(X, 0.85)
        later = np.asarray(X.index.get_level_values(INDEX_NAMES[1]) > cutoff)
        changed = X.copy()
        changed.iloc[later] = np.random.default_rng(5).normal(size=(int(later.sum()), X.shape[1])) * 3.0
        assert_same_values(
            _upto(self._all_rows(trained, X), cutoff),
            _upto(self._all_rows(trained, changed), cutoff),
            f"look-ahead: predictions up to {cutoff.date()} change when later rows change",
            self.rtol,
            self.atol,
        )

    def test_predictions_no_ticker_bleed(self, trained: Any, data: dict[str, Any]) -> None:
        X = data["X"]
        full = self._all_rows(trained, X)
        for ticker in X.index.get_level_values(INDEX_NAMES[0]).unique():
            assert_same_values(
                full.loc[[ticker]],
                self._all_rows(trained, X.loc[[ticker]]),
                f"ticker {ticker} scored alone vs within the frame",
                self.rtol,
                self.atol,
            )

    def test_feature_importance(self, trained: Any, data: dict[str, Any]) -> None:
        importance = trained.feature_importance()
        assert isinstance(importance, dict), "feature_importance must return a dict"
        unknown = set(importance) - set(data["X_train"].columns)
        assert not unknown, f"feature_importance names unknown features {sorted(unknown)}"
        assert all(np.isfinite(float(v)) for v in importance.values()), "non-finite importance"


# -- strategies ---------------------------------------------------------------------------------


class StrategyContract(_PanelMixin, ComponentContract):
    """A strategy returns ``signal`` in {-1, 0, 1} on the panel's index, causally and deterministically."""

    kind = "strategy"

    def make_predictions(self, panel: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
        """Predictions as the train stage writes them (``prob``, ``fold``), here for every row."""
        rng = np.random.default_rng(seed)
        return pd.DataFrame(
            {"prob": rng.uniform(0, 1, len(panel)), "fold": np.zeros(len(panel), dtype="int64")}, index=panel.index
        )

    def make_oos_predictions(self, panel: pd.DataFrame, seed: int = 5) -> pd.DataFrame:
        """Predictions for a subset of the rows, shaped like a walk-forward's: none during the first
        training window, none for the first weeks of a ticker listed later, and scattered rows with
        incomplete features missing."""
        full = self.make_predictions(panel, seed)
        dates = full.index.get_level_values(INDEX_NAMES[1])
        tickers = full.index.get_level_values(INDEX_NAMES[0])
        start = _cutoff(panel, 0.4)
        keep = np.asarray(dates >= start)
        late = tickers.unique()[-1]
        keep &= ~np.asarray((tickers == late) & (dates < _cutoff(panel, 0.55)))
        keep &= np.random.default_rng(seed).uniform(size=len(full)) > 0.1
        return full[keep]

    @pytest.fixture
    def panel(self) -> pd.DataFrame:
        return self.make_panel()

    @pytest.fixture
    def predictions(self, panel: pd.DataFrame) -> pd.DataFrame:
        return self.make_predictions(panel)

    def _signals(self, component: Any, panel: pd.DataFrame, predictions: pd.DataFrame | None) -> pd.DataFrame:
        """``generate_signals`` on what the backtest stage passes (:func:`qlop.adapters.strategy_inputs`)."""
        preds = predictions.copy() if (predictions is not None and component.needs_predictions) else None
        if preds is None and component.needs_predictions:
            raise AssertionError("needs_predictions is True but no predictions were given")
        data, preds = adapters.strategy_inputs(panel, preds)
        out = component.generate_signals(data.copy(), preds)
        assert isinstance(out, pd.DataFrame), f"generate_signals returned {type(out).__name__}, not a DataFrame"
        return out

    def _check_signals(self, data: pd.DataFrame, signals: pd.DataFrame) -> None:
        assert signals.index.equals(data.index), "signals must be indexed exactly like the data passed in"
        if "signal" not in signals.columns and "weight" in signals.columns:  # target weights
            from qlop.backtest.engine import align_targets

            align_targets(data, signals)
            return
        assert "signal" in signals.columns, f"no 'signal' column (got {list(signals.columns)})"
        values = signals["signal"].to_numpy(dtype="float64")
        assert not np.isnan(values).any(), "signal has NaN (use 0 for flat)"
        bad = sorted(float(x) for x in set(np.unique(values)) - {-1.0, 0.0, 1.0})
        assert not bad, f"signal must be -1, 0 or 1; got {bad[:5]}"
        from qlop.backtest.engine import align_signals

        align_signals(data, signals)  # what the backtest engine accepts (weight, score)

    @pytest.fixture
    def signals(self, component: Any, panel: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
        return self._signals(component, panel, predictions)

    def test_signal_column(self, panel: pd.DataFrame, signals: pd.DataFrame) -> None:
        self._check_signals(panel, signals)

    def test_predictions_for_a_subset_of_rows(self, component: Any, panel: pd.DataFrame) -> None:
        """The backtest passes out-of-sample predictions only: the panel from the first predicted date
        on, and no prediction for the rows no walk-forward fold scored."""
        if not component.needs_predictions:
            pytest.skip("strategy does not use predictions (needs_predictions = False)")
        subset = self.make_oos_predictions(panel)
        data, _ = adapters.strategy_inputs(panel, subset)
        assert len(subset) < len(data), "make_oos_predictions must leave rows of the window without a prediction"
        try:
            signals = self._signals(component, panel, subset)
        except AssertionError:
            raise
        except Exception as exc:
            raise AssertionError(
                f"generate_signals failed with predictions for only part of the rows (as a "
                f"backtest passes them): {type(exc).__name__}: {exc}"
            ) from exc
        self._check_signals(data, signals)

    def test_weight_column(self, signals: pd.DataFrame) -> None:
        if "weight" not in signals.columns:
            pytest.skip("no weight column")
        weight = signals["weight"].to_numpy(dtype="float64")
        if "signal" not in signals.columns:  # target weights: signed fractions of equity, NaN holds
            ok = ~np.isinf(weight) & (np.abs(np.nan_to_num(weight)) <= 1000)
            assert ok.all(), "a target weight must be finite (or NaN: hold) and within -1000 .. 1000"
            return
        assert np.isfinite(weight).all() and (weight >= 0).all(), "weight must be finite and >= 0"

    def test_causal(
        self, component: Any, panel: pd.DataFrame, predictions: pd.DataFrame, signals: pd.DataFrame
    ) -> None:
        cutoff = _cutoff(panel, 0.5)
        changed = self._signals(component, perturb_after(panel, cutoff), perturb_after(predictions, cutoff))
        assert_same_values(
            _upto(signals, cutoff),
            _upto(changed, cutoff),
            f"look-ahead: signals up to {cutoff.date()} change when later data change",
            self.rtol,
            self.atol,
        )

    def test_deterministic(self, panel: pd.DataFrame, predictions: pd.DataFrame, signals: pd.DataFrame) -> None:
        again = self._signals(self.make_component(), panel, predictions)
        assert_same_values(signals, again, "second generate_signals", self.rtol, self.atol)

    def test_barriers(self, component: Any) -> None:
        barriers = component.barriers()
        assert barriers is None or isinstance(barriers, dict), "barriers() must return None or a dict"


# -- exporters ----------------------------------------------------------------------------------


class ExporterContract(ComponentContract):
    """An exporter writes files under ``output_path`` only, atomically, and returns a JSON-able summary.

    Subclasses implement :meth:`make_artifact` (what the export stage would hand the exporter).
    """

    kind = "exporter"

    def make_artifact(self, tmp_path: Path) -> Any:
        raise pytest.UsageError(f"{type(self).__name__}: implement make_artifact(self, tmp_path)")

    @pytest.fixture
    def artifact(self, tmp_path: Path) -> Any:
        inputs = tmp_path / "inputs"  # an empty folder the artefact's files may be written into
        inputs.mkdir()
        return self.make_artifact(inputs)

    def _files(self, root: Path) -> set[Path]:
        return {p for p in root.rglob("*") if p.is_file()}

    def test_writes_under_output_path(self, component: Any, artifact: Any, tmp_path: Path) -> None:
        out = tmp_path / RunLayout.EXPORT_DIR
        out.mkdir()
        before = self._files(tmp_path)
        component.export(artifact, str(out))
        new = self._files(tmp_path) - before
        inside = {p for p in new if out in p.parents}
        assert inside, f"nothing written under {out}"
        outside = sorted(str(p) for p in new - inside)
        assert not outside, f"files written outside output_path: {outside}"
        leftovers = sorted(p.name for p in inside if ".tmp" in p.name)
        assert not leftovers, f"temporary files left behind: {leftovers}"

    def test_returns_json_summary(self, component: Any, artifact: Any, tmp_path: Path) -> None:
        out = tmp_path / RunLayout.EXPORT_DIR
        out.mkdir()
        summary = component.export(artifact, str(out))
        assert isinstance(summary, dict) and summary, "export must return a non-empty dict summary"
        json.dumps(summary, default=str)

    def test_export_twice_overwrites(self, component: Any, artifact: Any, tmp_path: Path) -> None:
        out = tmp_path / RunLayout.EXPORT_DIR
        out.mkdir()
        first = component.export(artifact, str(out))
        files = {p.relative_to(out): p.read_bytes() for p in self._files(out)}
        second = self.make_component().export(artifact, str(out))
        assert set(second) == set(first), "summary keys differ between two exports"
        again = {p.relative_to(out) for p in self._files(out)}
        assert again == set(files), "a second export into the same folder left different files"
