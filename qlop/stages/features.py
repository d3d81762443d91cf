"""The features stage: ordered feature steps -> ``features.parquet``; the label -> ``labels.parquet``.

Steps run in config order; each sees the panel's columns plus the columns of the steps before it, so
``zscore`` of ``rsi_14`` works when ``rsi`` comes first. Warm-up rows stay in the frame as NaN (the
training stage drops them when ``[features] dropna`` asks it to). Column arrays are handed from step
to step without copies: a frame here is only a set of named views on the same index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qlop.errors import ArtifactError, ComponentConflictError, ConfigError, StageError, UnknownComponentError
from qlop.progress import stage_progress
from qlop.stages.components import component_errors, create

if TYPE_CHECKING:
    import pandas as pd

    from qlop.config import FeaturesConfig, LabelConfig, PipelineConfig

#: ``DataFrame.attrs`` key under which the pipeline tells a step which of its input columns hold no
#: NaN or infinity (a frozenset of names), so a column read by several steps is scanned once. A hint:
#: a step may ignore it; a column missing from it may still be finite.
FINITE_COLUMNS_ATTR = "qlop.finite_columns"

DATA_FILE = "data.parquet"
FEATURES_FILE = "features.parquet"
LABELS_FILE = "labels.parquet"
STAGE = "features"


def _as_features_config(cfg: Any) -> "FeaturesConfig":
    from qlop.config import FeaturesConfig

    if isinstance(cfg, FeaturesConfig):
        return cfg
    if isinstance(cfg, Mapping):
        return FeaturesConfig.model_validate(dict(cfg))
    return FeaturesConfig.model_validate({"steps": list(cfg)})


def _as_label_config(cfg: Any) -> "LabelConfig":
    from qlop.config import LabelConfig

    return cfg if isinstance(cfg, LabelConfig) else LabelConfig.model_validate(dict(cfg))


def _create(kind: str, name: str, params: Any, where: str, prefix: str, manager: Any) -> Any:
    """Build a component; an unknown or clashing name is a config error naming the ``*_type`` field."""
    try:
        return create(kind, name, params, f"{where}.{prefix}_params", manager)
    except (UnknownComponentError, ComponentConflictError) as exc:
        raise ConfigError(f"{where}.{prefix}_type: {exc}") from None


def _declared(names: Any) -> list[str] | None:
    """A step's ``input_columns()`` / ``output_columns()`` as strings (None: not declared)."""
    return None if names is None else [str(c) for c in names]


def _check_names(names: list[str], who: str, produced: dict[str, str], panel_columns: Any) -> None:
    """A feature name may be used once: never a panel column, never another step's column."""
    seen: set[str] = set()
    for name in names:
        if name in panel_columns:
            raise ConfigError(f"{who}: column {name!r} clashes with the panel column of the same name")
        if name in produced:
            raise ConfigError(f"{who}: column {name!r} is also produced by {produced[name]}; "
                              "change the parameters of one of the two steps")
        if name in seen:
            raise ConfigError(f"{who}: produces column {name!r} twice")
        seen.add(name)


def _accept(out: Any, data: "pd.DataFrame", who: str, declared: list[str] | None) -> dict[str, np.ndarray]:
    """The float64 arrays of a step's output, after checking it keeps the index and declared names."""
    import pandas as pd

    if not isinstance(out, pd.DataFrame):
        raise StageError(f"{STAGE}: {who} returned {type(out).__name__}, expected a DataFrame")
    if out.index is not data.index and not out.index.equals(data.index):
        raise StageError(f"{STAGE}: {who} returned a frame whose index differs from its input "
                         f"({len(out)} rows for {len(data)}); keep the (ticker, date) index")
    columns = [str(c) for c in out.columns]
    if declared is not None and columns != declared:
        raise StageError(f"{STAGE}: {who} returned columns {columns} but declared {declared}")
    arrays: dict[str, np.ndarray] = {}
    for name, col in zip(columns, out.columns):
        series = out[col]
        if not (pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)):
            raise StageError(f"{STAGE}: {who} column {name!r} is not numeric (dtype {series.dtype})")
        if series.dtype == np.float64:
            arrays[name] = series.to_numpy()  # no copy: the step's own array
        else:  # ints, bools, nullable dtypes (pd.NA becomes NaN)
            arrays[name] = series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    return arrays


def _accept_arrays(out: Any, n: int, who: str, declared: list[str]) -> dict[str, np.ndarray]:
    """The fast path's output: exactly the declared names, one float64 value per row each."""
    if not isinstance(out, Mapping) or list(out) != declared:
        got = list(out) if isinstance(out, Mapping) else type(out).__name__
        raise StageError(f"{STAGE}: {who} returned {got} but declared {declared}")
    arrays = {}
    for name, values in out.items():
        arr = np.asarray(values)
        if arr.shape != (n,):
            raise StageError(f"{STAGE}: {who} column {name!r} has shape {arr.shape}, expected ({n},)")
        arrays[name] = arr if arr.dtype == np.float64 else arr.astype(np.float64)
    return arrays


def compute_features(panel: "pd.DataFrame", features_cfg: Any, manager: Any = None) -> "pd.DataFrame":
    """Run the configured steps on ``panel``; return the float64 feature frame on ``panel``'s index.

    A step that declares ``output_columns()`` and implements ``transform_arrays(data)`` (returning
    ``{name: array}`` in that order: what ``transform`` would wrap in a frame) is called through the
    latter, which skips building and unpacking a frame per step (see
    :class:`qlop.interfaces.BaseFeatureStepPlugin`).

    ``features_cfg`` is a :class:`qlop.config.FeaturesConfig` (or its dict form). Errors name the step
    by its config path: an unknown step or bad params (``ConfigError``), a missing input column or
    a column-name collision (``ConfigError``), a failure inside a step (``StageError`` naming the
    plugin and version).
    """
    import pandas as pd

    cfg = _as_features_config(features_cfg)
    index = panel.index
    base = {str(c): panel[c].to_numpy() for c in panel.columns}
    features: dict[str, np.ndarray] = {}
    produced: dict[str, str] = {}
    finite: dict[str, bool] = {}
    with stage_progress(STAGE, total=len(cfg.steps), unit="step") as progress:
        for i, step_cfg in enumerate(cfg.steps):
            where = f"features.steps.{i}"
            who = f"{where} ({step_cfg.step_type})"
            step = _create("feature_step", step_cfg.step_type, step_cfg.step_params, where, "step", manager)
            with component_errors(STAGE, "feature_step", step_cfg.step_type, manager):
                inputs = _declared(step.input_columns())
                outputs = _declared(step.output_columns())
            if inputs is not None:
                for col in inputs:
                    if col not in base and col not in features:
                        raise ConfigError(f"{where}.step_params: column {col!r} not found (a step can use the "
                                          f"panel's columns and those of earlier steps: "
                                          f"{', '.join([*base, *features])})")
                arrays = {c: base[c] if c in base else features[c] for c in dict.fromkeys(inputs)}
                for c, a in arrays.items():
                    if c not in finite:
                        finite[c] = a.dtype.kind == "f" and bool(np.isfinite(np.add.reduce(a)))
                data = pd.DataFrame(arrays, index=index, copy=False)
                data.attrs[FINITE_COLUMNS_ATTR] = frozenset(c for c in arrays if finite[c])
            else:
                data = pd.DataFrame({**base, **features}, index=index, copy=False)
            if outputs is not None:
                _check_names(outputs, who, produced, base)
            with component_errors(STAGE, "feature_step", step_cfg.step_type, manager):
                fast = step.transform_arrays(data) if outputs is not None else None
                out = step.transform(data) if fast is None else None
            if fast is not None:
                arrays = _accept_arrays(fast, len(index), who, outputs)
            else:
                arrays = _accept(out, data, who, outputs)
            if outputs is None:
                _check_names(list(arrays), who, produced, base)
            features.update(arrays)
            produced.update(dict.fromkeys(arrays, who))
            progress.advance(message=step_cfg.step_type)
    return pd.DataFrame(features, index=index, copy=False)


def compute_labels(panel: "pd.DataFrame", label_cfg: Any, manager: Any = None) -> "pd.DataFrame":
    """Build the configured label plugin and run it on ``panel``; the frame keeps ``panel``'s index."""
    import pandas as pd

    cfg = _as_label_config(label_cfg)
    name = cfg.label_type
    label = _create("label", name, cfg.label_params, "label", "label", manager)
    with component_errors(STAGE, "label", name, manager):
        out = label.make_labels(panel)
    who = f"label {name!r}"
    if not isinstance(out, pd.DataFrame):
        raise StageError(f"{STAGE}: {who} returned {type(out).__name__}, expected a DataFrame")
    if out.index is not panel.index and not out.index.equals(panel.index):
        raise StageError(f"{STAGE}: {who} returned a frame whose index differs from the panel's")
    if "label" not in out.columns:
        raise StageError(f"{STAGE}: {who} returned no 'label' column (columns: {', '.join(map(str, out.columns))})")
    if out["label"].dtype != np.float64:
        out = out.assign(label=out["label"].to_numpy(dtype=np.float64, na_value=np.nan))
    return out


@dataclass
class FeaturesResult:
    """What the stage built and wrote (``labels`` is None without a ``[label]`` section)."""

    features: "pd.DataFrame"
    labels: "pd.DataFrame | None"
    written: dict[str, str]


def build(config: "PipelineConfig", run_dir: str | Path, manager: Any = None) -> FeaturesResult:
    """Read ``run_dir/data.parquet``, compute features and labels, write both or neither.

    Both files are written to temporary siblings and renamed into place only when both are complete.
    Without a ``[label]`` section only the features are written, and a ``labels.parquet`` left by an
    earlier config is removed so it cannot be trained on by mistake.
    """
    from qlop.atomic import atomic_path
    from qlop.stages.data import read_panel

    if config.features is None:
        raise ConfigError("[features] section is required to build features")
    run_dir = Path(run_dir)
    data_path = run_dir / DATA_FILE
    if not data_path.exists():
        raise ArtifactError(f"{data_path} not found: run `qlop data load` first (or `qlop run`)")
    panel = read_panel(data_path)
    features = compute_features(panel, config.features, manager)
    labels = compute_labels(panel, config.label, manager) if config.label is not None else None
    f_path, l_path = run_dir / FEATURES_FILE, run_dir / LABELS_FILE
    written = {"features": str(f_path)}
    with atomic_path(f_path, suffix=".parquet") as f_tmp:
        features.to_parquet(f_tmp, engine="pyarrow")
        if labels is not None:
            with atomic_path(l_path, suffix=".parquet") as l_tmp:
                labels.to_parquet(l_tmp, engine="pyarrow")
            written["labels"] = str(l_path)
        else:
            l_path.unlink(missing_ok=True)
    return FeaturesResult(features, labels, written)


def run(config: "PipelineConfig", run_dir: str | Path) -> dict[str, str]:
    """Stage entry point: write ``features.parquet`` and ``labels.parquet``; return their paths."""
    return build(config, run_dir).written
