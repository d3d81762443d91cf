"""Rules that span config sections, checked when a config is validated, before any stage runs.

Each section's own shape is checked by its pydantic model (:mod:`qlop.config`) and each plugin's params
by its params model; what is left needs two sections, or a plugin's answer, at once: the embargo
against the label's horizon, purged k-fold predictions under a strategy that trades them, and a
benchmark the backtest cannot load. The stages check the same things again on what they read, so a
config that skipped validation still fails cleanly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qlop.errors import ConfigError

if TYPE_CHECKING:
    from qlop.config import PipelineConfig


def embargo_problem(config: "PipelineConfig", label_params: Any, manager: Any) -> str | None:
    """An embargo shorter than the label's own horizon (``BaseLabelPlugin.horizon``, as the train stage
    reads it) lets test labels leak into training."""
    if config.model is None or config.label is None or label_params is None:
        return None
    try:
        horizon = int(manager.create("label", config.label.label_type, label_params, "label.label_params").horizon)
    except Exception:  # noqa: BLE001 - a label that fails here is reported by the stage that runs it
        horizon = 0
    embargo = config.model.validation.embargo_days
    if embargo is not None and embargo < horizon:
        return (
            f"model.validation.embargo_days: {embargo} is shorter than the label horizon ({horizon}); "
            "test labels would leak into training"
        )
    return None


def check_prediction_scheme(config: "PipelineConfig", manager: Any = None) -> None:
    """purged k-fold with a strategy that trades predictions: a config error at validation, before any
    training (the backtest stage also refuses such predictions on disk)."""
    if config.backtest is None or config.model is None or config.model.validation.scheme != "purged_kfold":
        return
    from qlop.plugins.manager import get_plugin_manager

    try:
        cls = (manager or get_plugin_manager()).registry("strategy").get(config.backtest.strategy_type).load()
    except Exception:  # noqa: BLE001 - an unknown or broken strategy is reported by its own check
        return
    if cls.needs_predictions:
        raise ConfigError(
            "model.validation.scheme: purged_kfold predictions come from models trained on later "
            f"data; strategy {config.backtest.strategy_type!r} cannot backtest them (use "
            "walk_forward, or drop [backtest] to compare models)"
        )


def cross_section_problems(
    config: "PipelineConfig", validated: dict[str, Any], manager: Any, benchmark: bool = True
) -> list[str]:
    """Every cross-section problem of ``config`` (one line each); ``validated`` holds the plugins' validated
    params by field path, ``benchmark=False`` skips the benchmark (its source or params already failed)."""
    problems = []
    embargo = embargo_problem(config, validated.get("label.label_params"), manager)
    if embargo:
        problems.append(embargo)
    if config.backtest is not None:
        from qlop.benchmark import check_benchmark

        checks = [lambda: check_benchmark(config, manager)] if benchmark else []
        checks.append(lambda: check_prediction_scheme(config, manager))
        for check in checks:
            try:
                check()
            except ConfigError as exc:
                problems.extend(exc.problems)
    return problems
