"""What the stages hand a component, and how they accept what it returns: one implementation.

The features, train and backtest stages turn their frames into a component's inputs through these
functions, and the contract tests of :mod:`qlop.testing` call the same functions, so a component that
passes its contract receives in ``qlop run`` exactly the types and rows it was tested with:

- a feature step gets :func:`feature_step_input` (only its declared input columns, sharing memory
  with the pipeline's arrays, with the finite-columns hint) and is called by :func:`call_feature_step`
  (the ``transform_arrays`` fast path when declared), whose output is checked the same way;
- a label's output is checked by :func:`accept_labels`;
- a model gets ``X`` as a float64 DataFrame on the (ticker, date) index and ``y`` as a 1-D float64
  numpy array (:func:`model_fit_inputs`), and is asked for predictions by :func:`predict_values` (a
  sequence model with the history its windows need), which checks them;
- a strategy gets the panel from the first predicted date on and predictions for a *subset* of its
  rows, the out-of-sample ones (:func:`strategy_inputs`).

Errors are :class:`qlop.errors.StageError` naming the stage and the component.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from qlop.errors import ConfigError, DataError, StageError
from qlop.sessions import bar_attrs

if TYPE_CHECKING:
    import pandas as pd

#: ``DataFrame.attrs`` key under which the pipeline tells a step which of its input columns hold no
#: NaN or infinity (a frozenset of names), so a column read by several steps is scanned once. A hint:
#: a step may ignore it; a column missing from it may still be finite.
FINITE_COLUMNS_ATTR = "qlop.finite_columns"


# -- feature steps --------------------------------------------------------------------------------


def declared_columns(step: Any) -> tuple[list[str] | None, list[str] | None]:
    """The step's ``input_columns()`` and ``output_columns()`` as strings (None: not declared)."""
    inputs, outputs = step.input_columns(), step.output_columns()
    return (
        None if inputs is None else [str(c) for c in inputs],
        None if outputs is None else [str(c) for c in outputs],
    )


def feature_step_input(
    columns: Mapping[str, np.ndarray],
    index: "pd.Index",
    inputs: list[str] | None,
    finite: dict[str, bool] | None = None,
    where: str = "feature step",
    bars: Mapping[str, Any] | None = None,
) -> "pd.DataFrame":
    """The frame a feature step is handed: named views on ``columns`` (no copies), on ``index``.

    ``columns`` are the panel's columns followed by those of earlier steps. With declared ``inputs``
    the frame holds only those (a missing one is a :class:`ConfigError` naming ``where``) and carries
    :data:`FINITE_COLUMNS_ATTR`; ``finite`` caches the finiteness of each column across steps.
    Without, it holds every column. ``bars`` (an intraday panel's ``attrs``: interval, session, time
    zone; see :func:`qlop.sessions.bar_attrs`) go into the frame's ``attrs`` so a step can read its
    sessions with :func:`qlop.sessions.panel_bars`.
    """
    import pandas as pd

    if inputs is None:
        frame = pd.DataFrame(dict(columns), index=index, copy=False)
        frame.attrs.update(bars or {})
        return frame
    for col in inputs:
        if col not in columns:
            raise ConfigError(
                f"{where}: column {col!r} not found (a step can use the panel's columns and "
                f"those of earlier steps: {', '.join(columns)})"
            )
    arrays = {c: columns[c] for c in dict.fromkeys(inputs)}
    finite = {} if finite is None else finite
    for c, a in arrays.items():
        if c not in finite:
            finite[c] = a.dtype.kind == "f" and bool(np.isfinite(np.add.reduce(a)))
    data = pd.DataFrame(arrays, index=index, copy=False)
    data.attrs[FINITE_COLUMNS_ATTR] = frozenset(c for c in arrays if finite[c])
    data.attrs.update(bars or {})
    return data


def call_feature_step(
    step: Any, data: "pd.DataFrame", outputs: list[str] | None, who: str, stage: str = "features"
) -> dict[str, np.ndarray]:
    """Run ``step`` on ``data`` as the features stage does; return its columns as float64 arrays.

    A step with declared ``outputs`` is first asked for its ``transform_arrays`` fast path; otherwise
    (or when that returns None) ``transform`` is called. Either output is checked: the index is kept,
    the declared names come back in order, every column is numeric (ints, bools and nullable dtypes
    become float64, ``pd.NA`` NaN).
    """
    fast = step.transform_arrays(data) if outputs is not None else None
    if fast is not None:
        return _accept_arrays(fast, len(data), who, outputs or [], stage)
    return _accept_frame(step.transform(data), data, who, outputs, stage)


def _accept_frame(
    out: Any, data: "pd.DataFrame", who: str, declared: list[str] | None, stage: str
) -> dict[str, np.ndarray]:
    import pandas as pd

    if not isinstance(out, pd.DataFrame):
        raise StageError(f"{stage}: {who} returned {type(out).__name__}, expected a DataFrame")
    if out.index is not data.index and not out.index.equals(data.index):
        raise StageError(
            f"{stage}: {who} returned a frame whose index differs from its input "
            f"({len(out)} rows for {len(data)}); keep the (ticker, date) index"
        )
    columns = [str(c) for c in out.columns]
    if declared is not None and columns != declared:
        raise StageError(f"{stage}: {who} returned columns {columns} but declared {declared}")
    arrays: dict[str, np.ndarray] = {}
    for name, col in zip(columns, out.columns):
        series = out[col]
        if not (pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)):
            raise StageError(f"{stage}: {who} column {name!r} is not numeric (dtype {series.dtype})")
        if series.dtype == np.float64:
            arrays[name] = series.to_numpy()  # no copy: the step's own array
        else:  # ints, bools, nullable dtypes (pd.NA becomes NaN)
            arrays[name] = series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    return arrays


def _accept_arrays(out: Any, n: int, who: str, declared: list[str], stage: str) -> dict[str, np.ndarray]:
    if not isinstance(out, Mapping) or list(out) != declared:
        got = list(out) if isinstance(out, Mapping) else type(out).__name__
        raise StageError(f"{stage}: {who} returned {got} but declared {declared}")
    arrays = {}
    for name, values in out.items():
        arr = np.asarray(values)
        if arr.shape != (n,):
            raise StageError(f"{stage}: {who} column {name!r} has shape {arr.shape}, expected ({n},)")
        arrays[name] = arr if arr.dtype == np.float64 else arr.astype(np.float64)
    return arrays


def run_feature_step(step: Any, panel: "pd.DataFrame", who: str = "feature step") -> "pd.DataFrame":
    """One step on ``panel`` alone, exactly as the features stage would run it first: the float64 frame."""
    import pandas as pd

    inputs, outputs = declared_columns(step)
    columns = {str(c): panel[c].to_numpy() for c in panel.columns}
    data = feature_step_input(columns, panel.index, inputs, where=who, bars=bar_attrs(panel))
    return pd.DataFrame(call_feature_step(step, data, outputs, who), index=panel.index, copy=False)


# -- labels ---------------------------------------------------------------------------------------


def accept_labels(out: Any, panel: "pd.DataFrame", who: str, stage: str = "features") -> "pd.DataFrame":
    """A label's ``make_labels`` output as the stage keeps it: same index, a float64 ``label`` column."""
    import pandas as pd

    if not isinstance(out, pd.DataFrame):
        raise StageError(f"{stage}: {who} returned {type(out).__name__}, expected a DataFrame")
    if out.index is not panel.index and not out.index.equals(panel.index):
        raise StageError(f"{stage}: {who} returned a frame whose index differs from the panel's")
    if "label" not in out.columns:
        raise StageError(f"{stage}: {who} returned no 'label' column (columns: {', '.join(map(str, out.columns))})")
    if out["label"].dtype != np.float64:
        out = out.assign(label=out["label"].to_numpy(dtype=np.float64, na_value=np.nan))
    return out


# -- models ---------------------------------------------------------------------------------------


def model_fit_inputs(X: "pd.DataFrame", y: Any, rows: np.ndarray | None = None) -> tuple["pd.DataFrame", np.ndarray]:
    """``X`` and ``y`` (optionally only ``rows``, positions) as ``BaseModelPlugin.train`` receives them.

    ``X``: a DataFrame of float64 columns on the (ticker, date) index (other numeric columns are
    cast); ``y``: a 1-D float64 numpy array aligned with ``X`` (a Series is turned into its values).
    """
    import pandas as pd

    values = (
        y.to_numpy(dtype=np.float64, na_value=np.nan)
        if isinstance(y, (pd.Series, pd.Index))
        else np.asarray(y, dtype=np.float64)
    )
    if values.ndim != 1 or len(values) != len(X):
        raise ValueError(f"y must be 1-D with one value per row of X ({len(X)}), got shape {values.shape}")
    if rows is not None:
        return model_input(X.iloc[rows]), values[rows]
    return model_input(X), values


def model_input(X: "pd.DataFrame") -> "pd.DataFrame":
    """``X`` as ``BaseModelPlugin.train`` / ``predict`` receive it: float64 columns (no copy if already)."""
    if all(dtype == np.float64 for dtype in X.dtypes):
        return X
    return X.astype(np.float64)


def predict_values(
    model: Any, X: "pd.DataFrame", rows: np.ndarray | None = None, available: np.ndarray | None = None, where: str = ""
) -> np.ndarray:
    """The model's predictions for the rows at positions ``rows`` of ``X`` (all rows when None), as the
    stages ask for them: a float64 array, one value per row, checked by :func:`check_predictions`.

    ``X`` goes through :func:`model_input`. A sequence model (``lookback > 1``) is also handed the
    earlier ``available`` rows each row's window needs (:func:`qlop.windows.predict_rows`).
    """
    from qlop.windows import predict_rows

    X = model_input(X)
    if rows is None:
        pred = np.asarray(model.predict(X), dtype=np.float64)
        n = len(X)
    else:
        pred = predict_rows(model, X, rows, available)
        n = len(rows)
    check_predictions(pred, n, model, where)
    return pred


def check_predictions(pred: np.ndarray, n_rows: int, model: Any, where: str) -> None:
    """One prediction per row, finite, except NaN where a sequence model has no complete window."""
    name = model.name
    at = f" ({where})" if where else ""
    if pred.shape != (n_rows,):
        raise StageError(f"model {name!r} returned {pred.shape} predictions for {n_rows} rows{at}")
    if np.isinf(pred).any():
        raise StageError(f"model {name!r} returned infinite predictions{at}")
    if model.lookback <= 1 and np.isnan(pred).any():
        raise StageError(
            f"model {name!r} returned NaN predictions{at}; only a sequence model "
            "(lookback > 1) may leave rows without a complete window unscored"
        )


def fold_info(model: Any, n_fit: int, n_val: int, val_start: str | None = None) -> dict[str, Any]:
    """One walk-forward fold's record after ``train``: its sizes plus the model's ``fit_info``.

    Written to ``folds.json``; the list of them is what ``final_params`` receives.
    """
    info: dict[str, Any] = {"n_fit": int(n_fit), "n_val": int(n_val)}
    if val_start is not None:
        info["val_start"] = val_start
    info.update(model.fit_info)
    return info


# -- strategies -----------------------------------------------------------------------------------


def strategy_inputs(
    panel: "pd.DataFrame", predictions: "pd.DataFrame | None"
) -> tuple["pd.DataFrame", "pd.DataFrame | None"]:
    """The ``(data, model_predictions)`` a strategy's ``generate_signals`` receives in a backtest.

    With predictions the backtest covers the out-of-sample period: ``data`` is the panel from the first
    predicted date on, and ``predictions`` are passed as they are, for a subset of those rows only
    (a row no walk-forward fold scored has none). Without (a strategy that does not need them) it is
    the whole panel and None.
    """
    if predictions is None or not len(predictions):
        return panel, predictions
    first = predictions.index.get_level_values(-1).min()
    window = panel[panel.index.get_level_values(1) >= first]
    if not len(window):
        raise DataError(f"predictions start on {first:%Y-%m-%d}, after the last date of the data")
    return window, predictions
