"""The base classes plugins implement: one per pipeline stage.

Every component is constructed as ``Cls(name, params)`` where ``params`` is an instance of the class's
``params_model`` (a pydantic model) already validated by QLOP; the stage-specific attribute name
(``model_params``, ``data_source_params``, ...) refers to the same object. Frames follow
:mod:`qlop.schema`: indexed by (``ticker``, ``date``), sorted and unique.

Besides the abstract methods a component must implement, each base class declares the *optional
capabilities* the stages use, with a default that is what QLOP does for a component that does not
override it. The stages call these directly (never probe with ``getattr``), and
docs/plugins/hooks.md lists every one of them. What the stages hand a component is built by
:mod:`qlop.adapters`, the same code the contract tests in :mod:`qlop.testing` use.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # keep pandas off the import path of anything that only needs the contracts
    import numpy as np
    import onnx
    import pandas as pd

    from qlop.sim.rules import TradeRules


class NoParams(BaseModel):
    """Params model of a component that takes no parameters."""

    model_config = ConfigDict(extra="forbid")


class BasePlugin(ABC):
    """What every component shares: a name, validated params, and the attribute alias for them."""

    #: The pydantic model of the component's params; QLOP validates a config's params with it (errors
    #: name the field) and publishes its JSON Schema (the GUI's forms, ``qlop config schema``).
    params_model: ClassVar[type[BaseModel]] = NoParams
    #: The stage-specific alias of ``params`` (``model_params``, ``step_params``, ...), so a component
    #: reads the names the config uses.
    params_attr: ClassVar[str] = "params"
    #: The name the config used for this component (``model_type = "xgboost"``); errors name it.
    name: str
    #: The validated params (an instance of :attr:`params_model`).
    params: BaseModel

    def __init__(self, name: str, params: BaseModel | dict[str, Any] | None = None) -> None:
        if params is None or isinstance(params, dict):
            params = self.params_model.model_validate(params or {})
        self.name = name
        self.params = params
        setattr(self, self.params_attr, params)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, params={self.params!r})"


class BaseDataSourcePlugin(BasePlugin):
    """Loads daily (or other interval) OHLCV bars into the canonical panel."""

    params_attr = "data_source_params"

    @abstractmethod
    def load_data(self, tickers: list[str], start_date: Any, end_date: Any, interval: str) -> "pd.DataFrame":
        """Return the OHLCV panel for ``tickers`` between the dates (inclusive; ``None`` = open).

        The panel is validated by :func:`qlop.schema.validate_panel` after this returns; raise
        :class:`qlop.errors.DataError` naming the ticker for data that cannot be had.
        """

    def cache_token(self) -> str | None:
        """A string that changes whenever the data behind the same params change, or None.

        Why: loaded panels are cached by (source, params, tickers, dates, interval). A source whose
        data can change under the same params (local files edited, a download refreshed) returns, e.g.,
        a hash of file sizes and modification times, so the data stage reloads instead of serving a
        stale cache entry. None (the default): the params alone determine the data.
        """
        return None

    def back_adjusted(self, tickers: list[str]) -> bool | None:
        """Whether the prices this source gives for ``tickers`` are back-adjusted, or None (unknown).

        Why: a back-adjusted series (splits and dividends applied backwards from its last date) has a
        price *level* that depends on events after each bar, so a feature in price units encodes the
        future; ``qlop features build`` warns when such data meets a feature step that is not
        :attr:`BaseFeatureStepPlugin.scale_free`. True when any price column of any of these tickers
        is back-adjusted; False when none is; None (the default): the source does not know.
        """
        return None

    def unknown_tickers(self, tickers: list[str]) -> dict[str, str] | None:
        """For each of ``tickers`` this source cannot provide, a short reason in plain words (naming
        the closest names it has, where it knows them); ``{}`` when it has them all; None (the
        default) when it cannot tell without fetching the data.

        Why: the GUI checks a run's tickers against the chosen source before launching it, and shows
        the reason next to the tickers field; a source answering None is checked by loading each
        ticker instead. Must be cheap (a folder listing, a table of names), never a download.
        """
        return None


class BaseFeatureStepPlugin(BasePlugin):
    """A causal transform: a value at date t may only use bars at or before t of the same ticker.

    ``data`` holds the OHLCV columns plus the feature columns of earlier steps (only the columns of
    :meth:`input_columns` when the step declares them); return only the new columns, on the same
    index. The frame may share memory with the pipeline's arrays: never modify it in place.
    """

    params_attr = "step_params"
    #: Whether the step's output is unchanged when each ticker's prices are multiplied by a positive
    #: constant and its volumes by another, the earlier steps' columns it reads staying as they are.
    #: Why: back-adjusted prices carry a level that depends on later splits and dividends, and tickers'
    #: price levels differ a hundredfold; a scale-free feature sees neither. The feature contract
    #: (:class:`qlop.testing.FeatureStepContract`) checks a step that declares it, and the features
    #: stage warns when back-adjusted data meets a step that does not. A class attribute, or a
    #: property reading the params (a step with a raw price-level option). False (the default): not
    #: claimed.
    scale_free: bool = False

    @abstractmethod
    def transform(self, data: "pd.DataFrame") -> "pd.DataFrame":
        """Return new feature columns (float) indexed like ``data``."""

    def input_columns(self) -> list[str] | None:
        """The columns of ``data`` this step reads, known from the params alone, or None.

        Why: the features stage then checks them before running anything (a missing input is a config
        error naming the step's field) and hands the step only those columns. None (the default): the
        step receives every panel column and every earlier step's column.
        """
        return None

    def output_columns(self) -> list[str] | None:
        """The names of the columns this step returns, in order, known from the params alone, or None.

        Why: name collisions with the panel or with another step are reported before anything is
        computed, and the output is checked against the declaration. It also enables
        :meth:`transform_arrays`. None (the default): names are known after ``transform`` ran.
        """
        return None

    def transform_arrays(self, data: "pd.DataFrame") -> "Mapping[str, np.ndarray] | None":
        """What :meth:`transform` returns, as ``{name: 1-D array}`` in :meth:`output_columns` order, or None.

        Why: a fast path; the stage keeps the arrays without building and unpacking a frame per step.
        Called only when :meth:`output_columns` is declared. None (the default): the stage calls
        :meth:`transform` instead.
        """
        return None


class BaseLabelPlugin(BasePlugin):
    """Computes the target from future bars. Rows whose future is not fully known get NaN."""

    params_attr = "label_params"
    #: ``classification`` (column ``label`` in {0, 1}) or ``regression`` (column ``label`` float); the
    #: train stage picks the model's task, metrics and prediction column (``prob``/``pred``) from it.
    task: ClassVar[str] = "classification"

    @abstractmethod
    def make_labels(self, data: "pd.DataFrame") -> "pd.DataFrame":
        """Return at least the column ``label`` indexed like ``data``."""

    @property
    def horizon(self) -> int:
        """Bars after the signal day that the label looks at; purge and embargo depend on it.

        Default: the params' ``horizon`` field, else 1.
        """
        return int(getattr(self.params, "horizon", 1))

    def trade_rules(self) -> "TradeRules | None":
        """The trade the label scores (:class:`qlop.sim.rules.TradeRules`), or None.

        Why: a strategy with ``barriers = "label"`` exits its backtest trades by the label's own
        take-profit, stop-loss and horizon, so a label of 1 means "this backtest trade would have
        paid off". None (the default): the label scores no single trade, and such a strategy config
        is refused with a message that says to use custom barriers.
        """
        return None


class BaseModelPlugin(BasePlugin):
    """Learns ``y`` from ``X``; the artefact is whatever native object ``train`` returns."""

    params_attr = "model_params"
    #: Tasks this model supports; the train stage refuses a label of another task before any work.
    tasks: ClassVar[tuple[str, ...]] = ("classification",)
    #: Seed for the model's randomness, set by the train stage from the config's ``seed`` before
    #: ``train``, so the same config gives the same model (0 until the stage sets it).
    seed: int = 0
    #: Facts about the last ``train`` call (e.g. boosting rounds kept by early stopping), written into
    #: ``folds.json`` (per fold) and ``model/meta.json`` (final model) and passed to :meth:`final_params`.
    #: Assign a new dict in ``train``; the default is empty (nothing to report).
    fit_info: Mapping[str, Any] = MappingProxyType({})
    #: Seconds spent inside the model library's own calls (cumulative), so ``train_metrics.json`` can
    #: tell QLOP's overhead from the library's time. 0.0 (the default): not measured.
    library_seconds: float = 0.0

    #: The task of the label being learned (one of :attr:`tasks`), set by the train stage before
    #: ``train``; ``classification`` until then.
    task: str
    #: The trained native object (what ``train`` returned or ``load_model`` read); the stage saves it
    #: with ``save_model(self.artifact, path)``. None until trained or loaded.
    artifact: Any
    #: Rows of history one prediction reads. 1: the row alone. L > 1: a sequence model that scores row
    #: (ticker, t) from that ticker's rows t-L+1..t as it is given them (:mod:`qlop.windows`); stages
    #: then hand ``predict`` the L-1 earlier rows of each ticker too, and a row without a complete
    #: window may be NaN (no prediction). A class attribute, or a property reading the params.
    lookback: int = 1
    #: True: ``train`` spreads its own work over the run's Dask cluster (``qlop.api.cluster_client``,
    #: e.g. ``xgboost.dask`` on a frame partitioned by ticker), so the train stage fits the folds one
    #: after another, each across every worker, instead of one fold per worker, and opens a local
    #: cluster when the run has none (refused inside a sweep's task, whose workers the sweep keeps
    #: busy). A class attribute, or a property reading the params.
    uses_cluster: bool = False

    def __init__(self, name: str, params: BaseModel | dict[str, Any] | None = None) -> None:
        super().__init__(name, params)
        self.task = "classification"
        self.artifact = None

    @abstractmethod
    def train(
        self,
        X_train: "pd.DataFrame",
        y_train: "np.ndarray",
        X_val: "pd.DataFrame | None" = None,
        y_val: "np.ndarray | None" = None,
    ) -> Any:
        """Fit on the training rows (``X_val``/``y_val`` for early stopping); return the artefact.

        What the train stage passes (built by :func:`qlop.adapters.model_fit_inputs`, which the
        contract tests use too): ``X_*`` are DataFrames of float64 feature columns on the (ticker,
        date) index, rows in panel order (by ticker, then date); ``y_*`` are 1-D float64 numpy arrays
        aligned with those rows, with no NaN (0.0/1.0 for classification). ``X_val`` and ``y_val`` are
        both None or both given. Set ``self.artifact`` to the returned artefact.
        """

    @abstractmethod
    def predict(self, X: "pd.DataFrame") -> "np.ndarray":
        """Probability of class 1 (classification) or the predicted value (regression).

        ``X`` is a DataFrame like ``X_train``; return one finite value per row (NaN only for rows a
        sequence model, ``lookback > 1``, has no complete window for).
        """

    @abstractmethod
    def save_model(self, artifact: Any, path: str) -> list[str]:
        """Write ``artifact`` into directory ``path`` in the library's own format (never pickle).

        Return the file names written.
        """

    @abstractmethod
    def load_model(self, path: str) -> Any:
        """Read the artefact written by :meth:`save_model` and make it the current one."""

    def feature_importance(self) -> dict[str, float]:
        """Importance per feature name, written to ``train_metrics.json`` and ``model/meta.json`` (GUI).

        Default: empty (the model has no notion of importance).
        """
        return {}

    def final_params(self, fold_infos: list[dict[str, Any]]) -> BaseModel:
        """The params of the final (deployable) model, chosen from what the walk-forward folds learned.

        Why: the final model trains on every usable row, so it has no validation rows for early
        stopping; a model can instead reuse what the folds found (``fold_infos`` holds each fold's
        :attr:`fit_info` and sizes), e.g. the median number of boosting rounds. Default: the
        configured params, unchanged.
        """
        return self.params

    def to_onnx(self, n_features: int, target_opset: int = 15) -> "onnx.ModelProto | None":
        """The trained artefact as an ONNX graph taking a float32 ``[N, n_features]`` input, or None.

        Why: the ``onnx`` exporter writes this graph and checks it against :meth:`predict` with
        onnxruntime, so the model can be served without Python or QLOP. None (the default): the model
        has no ONNX converter, and the ``onnx`` export of it fails with a message naming ``native``.
        """
        return None

    def sklearn_estimator(self) -> Any:
        """The trained artefact as a fitted scikit-learn-API estimator, or None.

        Why: the ``pmml`` exporter hands it to a PMML converter (sklearn2pmml), which reads fitted
        scikit-learn estimators and pipelines and XGBoost's scikit-learn wrappers, and then checks the
        PMML document against :meth:`predict`. It must score exactly what :meth:`predict` scores for
        a float32 feature matrix in the trained column order. None (the default): the ``pmml`` export
        fails naming the formats that remain.
        """
        return None


class BaseStrategyPlugin(BasePlugin):
    """Turns predictions (and prices) into signals for the backtest.

    ``generate_signals`` returns a frame on the panel's index with a ``signal`` column in
    {-1, 0, 1} (short, flat, long), the target position *after* the close of that day: the backtest
    trades it at the next bar's open. Two optional columns: ``weight`` (>= 0, default 1) scales the
    position size; ``score`` (default NaN) orders the entries of one day when capital is short,
    highest first (ties by ticker). Rows left out of the frame are flat.
    """

    params_attr = "strategy_params"
    #: Whether ``generate_signals`` needs ``model_predictions``. Why: a strategy that trades prices
    #: alone (False) runs without a trained model, over every date of the data, and is allowed with
    #: purged k-fold predictions; True (the default) makes the backtest read ``predictions.parquet``.
    needs_predictions: ClassVar[bool] = True

    @abstractmethod
    def generate_signals(self, data: "pd.DataFrame", model_predictions: "pd.DataFrame | None") -> "pd.DataFrame":
        """Return the ``signal`` frame described above, indexed like ``data``.

        What the backtest stage passes (built by :func:`qlop.adapters.strategy_inputs`, which the
        contract tests use too): ``data`` is the OHLCV panel from the first predicted date on (every
        date without predictions); ``model_predictions`` is the out-of-sample predictions frame
        (``prob`` or ``pred``, and ``fold``) with rows for a *subset* of ``data``'s rows only (the rows
        some walk-forward fold scored), or None when :attr:`needs_predictions` is False. Align it with
        ``reindex(data.index)``; a row without a prediction should be flat.
        """

    def barriers(self) -> dict[str, Any] | None:
        """Take-profit / stop-loss / horizon exits the engine applies, or None (strategy exits).

        A dict with ``take_profit``, ``stop_loss`` (price fractions or None), ``horizon`` (bars or
        None), ``exit_on_signal`` (bool) and ``from_label`` (True: fill the missing ones from the
        label's :meth:`BaseLabelPlugin.trade_rules`). Default None: positions close when the signal
        changes.
        """
        return None

    def probability_thresholds(self) -> dict[str, float]:
        """The predicted-probability levels the strategy acts on, by name (``{"entry": 0.55}``).

        Why: the report and the GUI draw the out-of-sample probability over time against these
        levels, which shows at a glance why a strategy sat idle (the model never reached its entry).
        Default: none (a strategy that does not trade on probability levels).
        """
        return {}


class BaseExportFormatPlugin(BasePlugin):
    """Writes a trained model for use outside QLOP."""

    params_attr = "format_params"

    @abstractmethod
    def export(self, artifact: Any, output_path: str) -> dict[str, Any]:
        """Write ``artifact`` (a :class:`qlop.stages.export.ExportInput`) under ``output_path``.

        Return a JSON-able summary (parity figures, hashes) stored as ``export_summary.json``. Its
        optional ``files`` key maps artefact names to paths relative to ``output_path``
        (``{"model": "model.onnx"}``); each becomes an ``export.<name>`` output of the stage, which
        ``qlop run`` and observer hooks report.
        """
