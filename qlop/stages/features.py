"""The features stage: ordered feature steps -> ``features.parquet``; the label -> ``labels.parquet``.

Steps run in config order; each sees the panel's columns plus the columns of the steps before it, so
``zscore`` of ``rsi_14`` works when ``rsi`` comes first. Warm-up rows stay in the frame as NaN (the
training stage drops them when ``[features] dropna`` asks it to). Column arrays are handed from step
to step without copies: a frame here is only a set of named views on the same index.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qlop.adapters import FINITE_COLUMNS_ATTR as FINITE_COLUMNS_ATTR  # the hint's name, also served here
from qlop.adapters import accept_labels, call_feature_step, declared_columns, feature_step_input
from qlop.errors import ArtifactError, ComponentConflictError, ConfigError, UnknownComponentError
from qlop.layout import RunLayout
from qlop.progress import stage_progress
from qlop.sessions import bar_attrs
from qlop.stages.components import component_errors, create

if TYPE_CHECKING:
    import pandas as pd

    from qlop.config import FeaturesConfig, LabelConfig, PipelineConfig

log = logging.getLogger(__name__)

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


def _check_names(names: list[str], who: str, produced: dict[str, str], panel_columns: Any) -> None:
    """A feature name may be used once: never a panel column, never another step's column."""
    seen: set[str] = set()
    for name in names:
        if name in panel_columns:
            raise ConfigError(f"{who}: column {name!r} clashes with the panel column of the same name")
        if name in produced:
            raise ConfigError(
                f"{who}: column {name!r} is also produced by {produced[name]}; "
                "change the parameters of one of the two steps"
            )
        if name in seen:
            raise ConfigError(f"{who}: produces column {name!r} twice")
        seen.add(name)


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
    return _compute(panel, features_cfg, manager).features


@dataclass
class _Computed:
    features: "pd.DataFrame"
    #: feature column -> the step (config path and type) that made it, "... via <step>" when it depends on
    #: the price scale only through an earlier step's column
    scale_dependent: dict[str, str] = field(default_factory=dict)


def _compute(panel: "pd.DataFrame", features_cfg: Any, manager: Any = None) -> _Computed:
    """:func:`compute_features`, and which columns are not scale-free.

    A column is scale-free when its step declares ``scale_free`` and every earlier feature it reads is
    scale-free (the step's claim covers the panel's prices and volumes, not what earlier steps made).
    """
    import pandas as pd

    cfg = _as_features_config(features_cfg)
    index = panel.index
    base = {str(c): panel[c].to_numpy() for c in panel.columns}
    features: dict[str, np.ndarray] = {}
    produced: dict[str, str] = {}
    finite: dict[str, bool] = {}
    scale_dependent: dict[str, str] = {}
    with stage_progress(STAGE, total=len(cfg.steps), unit="step") as progress:
        for i, step_cfg in enumerate(cfg.steps):
            where = f"features.steps.{i}"
            who = f"{where} ({step_cfg.step_type})"
            step = _create("feature_step", step_cfg.step_type, step_cfg.step_params, where, "step", manager)
            with component_errors(STAGE, "feature_step", step_cfg.step_type, manager):
                inputs, outputs = declared_columns(step)
            data = feature_step_input(
                {**base, **features}, index, inputs, finite, f"{where}.step_params", bars=bar_attrs(panel)
            )
            if outputs is not None:
                _check_names(outputs, who, produced, base)
            with component_errors(STAGE, "feature_step", step_cfg.step_type, manager):
                arrays = call_feature_step(step, data, outputs, who, STAGE)
            if outputs is None:
                _check_names(list(arrays), who, produced, base)
            with component_errors(STAGE, "feature_step", step_cfg.step_type, manager):
                claims = bool(step.scale_free)
            read = [c for c in (features if inputs is None else inputs) if c in features]
            heir = next((scale_dependent[c] for c in read if c in scale_dependent), None)
            if not claims or heir is not None:
                # a scale-free step over a price-scale feature: name the step, and the step at the root
                origin = who if not claims else f"{who} via {heir.split(' via ')[-1]}"
                scale_dependent.update(dict.fromkeys(arrays, origin))
            features.update(arrays)
            produced.update(dict.fromkeys(arrays, who))
            progress.advance(message=step_cfg.step_type)
    return _Computed(pd.DataFrame(features, index=index, copy=False), scale_dependent)


def compute_labels(panel: "pd.DataFrame", label_cfg: Any, manager: Any = None) -> "pd.DataFrame":
    """Build the configured label plugin and run it on ``panel``; the frame keeps ``panel``'s index."""
    cfg = _as_label_config(label_cfg)
    name = cfg.label_type
    label = _create("label", name, cfg.label_params, "label", "label", manager)
    with component_errors(STAGE, "label", name, manager):
        out = label.make_labels(panel)
    return accept_labels(out, panel, f"label {name!r}", STAGE)


@dataclass
class FeaturesResult:
    """What the stage built and wrote (``labels`` is None without a ``[label]`` section)."""

    features: "pd.DataFrame"
    labels: "pd.DataFrame | None"
    written: dict[str, str]
    #: what the caller should warn about, e.g. price-scale features on back-adjusted data
    warnings: list[str] = field(default_factory=list)


def back_adjusted(config: "PipelineConfig", panel: "pd.DataFrame", manager: Any = None) -> bool | None:
    """Whether the data source says the panel's prices are back-adjusted (None: it does not know)."""
    data = config.data
    source = create("data_source", data.data_source_type, data.data_source_params, "data.data_source_params", manager)
    tickers = [str(t) for t in panel.index.get_level_values(0).unique()]
    with component_errors(STAGE, "data_source", data.data_source_type, manager):
        answer = source.back_adjusted(tickers)
    return None if answer is None else bool(answer)


def scale_warning(scale_dependent: dict[str, str], source: str) -> str:
    """The one-line warning for price-scale features computed on back-adjusted data."""
    by_step: dict[str, list[str]] = {}
    for column, who in scale_dependent.items():
        by_step.setdefault(who, []).append(column)
    named = "; ".join(
        f"{who}: {', '.join(cols[:3])}{', ...' if len(cols) > 3 else ''}" for who, cols in by_step.items()
    )
    return (
        f"features: data source {source!r} gives back-adjusted prices, whose level before a split or "
        f"dividend depends on that later event, and these features are not scale-free ({named}): their "
        "values encode future adjustments; use scale-free forms (docs/features.md, 'Scale-free features')"
    )


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
    layout = RunLayout(run_dir)
    data_path = layout.data
    if not data_path.exists():
        raise ArtifactError(f"{data_path} not found: run `qlop data load` first (or `qlop run`)")
    panel = read_panel(data_path)
    computed = _compute(panel, config.features, manager)
    features = computed.features
    warnings = []
    if computed.scale_dependent and back_adjusted(config, panel, manager):
        warnings.append(scale_warning(computed.scale_dependent, config.data.data_source_type))
    labels = compute_labels(panel, config.label, manager) if config.label is not None else None
    f_path, l_path = layout.features, layout.labels
    written = {"features": str(f_path)}
    with atomic_path(f_path, suffix=".parquet") as f_tmp:
        features.to_parquet(f_tmp, engine="pyarrow")
        if labels is not None:
            with atomic_path(l_path, suffix=".parquet") as l_tmp:
                labels.to_parquet(l_tmp, engine="pyarrow")
            written["labels"] = str(l_path)
        else:
            l_path.unlink(missing_ok=True)
    return FeaturesResult(features, labels, written, warnings)


def run(config: "PipelineConfig", run_dir: str | Path) -> dict[str, str]:
    """Stage entry point: write ``features.parquet`` and ``labels.parquet``; return their paths.

    Warnings (see :attr:`FeaturesResult.warnings`) go to the log, which ``qlop run`` shows and records.
    """
    result = build(config, run_dir)
    for message in result.warnings:
        log.warning("%s", message)
    return result.written
