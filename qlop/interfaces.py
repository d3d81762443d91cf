"""The base classes plugins implement: one per pipeline stage.

Every component is constructed as ``Cls(name, params)`` where ``params`` is an instance of the class's
``params_model`` (a pydantic model) already validated by QLOP; the stage-specific attribute name
(``model_params``, ``data_source_params``, ...) refers to the same object. Frames follow
:mod:`qlop.schema`: indexed by (``ticker``, ``date``), sorted and unique.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # keep pandas off the import path of anything that only needs the contracts
    import numpy as np
    import pandas as pd


class NoParams(BaseModel):
    """Params model of a component that takes no parameters."""

    model_config = ConfigDict(extra="forbid")


class BasePlugin(ABC):
    """What every component shares: a name, validated params, and the attribute alias for them."""

    params_model: ClassVar[type[BaseModel]] = NoParams
    params_attr: ClassVar[str] = "params"

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


class BaseFeatureStepPlugin(BasePlugin):
    """A causal transform: a value at date t may only use bars at or before t of the same ticker.

    ``data`` holds the OHLCV columns plus the feature columns of earlier steps; return only the new
    columns, on the same index.
    """

    params_attr = "step_params"

    @abstractmethod
    def transform(self, data: "pd.DataFrame") -> "pd.DataFrame":
        """Return new feature columns (float) indexed like ``data``."""


class BaseLabelPlugin(BasePlugin):
    """Computes the target from future bars. Rows whose future is not fully known get NaN."""

    params_attr = "label_params"
    #: ``classification`` (column ``label`` in {0, 1}) or ``regression`` (column ``label`` float).
    task: ClassVar[str] = "classification"

    @abstractmethod
    def make_labels(self, data: "pd.DataFrame") -> "pd.DataFrame":
        """Return at least the column ``label`` indexed like ``data``."""

    @property
    def horizon(self) -> int:
        """Bars after the signal day that the label looks at; purge and embargo depend on it."""
        return int(getattr(self.params, "horizon", 1))


class BaseModelPlugin(BasePlugin):
    """Learns ``y`` from ``X``; the artefact is whatever native object ``train`` returns."""

    params_attr = "model_params"
    #: tasks this model supports
    tasks: ClassVar[tuple[str, ...]] = ("classification",)

    def __init__(self, name: str, params: BaseModel | dict[str, Any] | None = None) -> None:
        super().__init__(name, params)
        self.task = "classification"
        self.artifact: Any = None

    @abstractmethod
    def train(self, X_train: "pd.DataFrame", y_train: "pd.Series", X_val: "pd.DataFrame | None" = None,
              y_val: "pd.Series | None" = None) -> Any:
        """Fit on the training rows (``X_val``/``y_val`` for early stopping); return the artefact."""

    @abstractmethod
    def predict(self, X: "pd.DataFrame") -> "np.ndarray":
        """Probability of class 1 (classification) or the predicted value (regression)."""

    @abstractmethod
    def save_model(self, artifact: Any, path: str) -> list[str]:
        """Write ``artifact`` into directory ``path`` in the library's own format (never pickle).

        Return the file names written.
        """

    @abstractmethod
    def load_model(self, path: str) -> Any:
        """Read the artefact written by :meth:`save_model` and make it the current one."""

    def feature_importance(self) -> dict[str, float]:
        """Importance per feature name, when the model has one."""
        return {}


class BaseStrategyPlugin(BasePlugin):
    """Turns predictions (and prices) into signals for the backtest.

    ``generate_signals`` returns a frame on the panel's index with a ``signal`` column in
    {-1, 0, 1} (short, flat, long), the target position *after* the close of that day: the backtest
    trades it at the next bar's open. An optional ``weight`` column scales the position size.
    """

    params_attr = "strategy_params"
    #: whether ``model_predictions`` is required
    needs_predictions: ClassVar[bool] = True

    @abstractmethod
    def generate_signals(self, data: "pd.DataFrame", model_predictions: "pd.DataFrame | None") -> "pd.DataFrame":
        """Return the ``signal`` frame described above."""

    def barriers(self) -> dict[str, Any] | None:
        """Take-profit / stop-loss / horizon exits the engine applies, or None (strategy exits)."""
        return None


class BaseExportFormatPlugin(BasePlugin):
    """Writes a trained model for use outside QLOP."""

    params_attr = "format_params"

    @abstractmethod
    def export(self, artifact: Any, output_path: str) -> dict[str, Any]:
        """Write ``artifact`` (a :class:`qlop.stages.export.ExportInput`) under ``output_path``.

        Return a summary (paths written, parity figures) that is stored in the run manifest.
        """
