"""A sweep's task graph: one task per distinct stage computation, one per variant.

A stage's real cache key (:func:`qlop.runs.cache_key`) hashes its config sections, its plugins' code
and the *content* of its upstream artefacts, which exist only after they ran. To key tasks before
anything runs, the plan key puts each upstream stage's plan key where the artefact hashes go:
same data config + same feature config + same plugins and code => same ``features`` key. Variants that
differ only in the strategy therefore share the data, features, train and export tasks, and only their
backtests differ. Each stage task runs a config cut down to that stage and its upstream (later sections
absent, so later stages are skipped) into its own run directory under ``stages/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlop import runs
from qlop.scale.layout import SweepLayout
from qlop.scale.sweepfile import Variant

#: Config sections a stage needs (its own and its upstream's); the others are removed from its task's
#: config so the pipeline skips every stage after it.
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "data": (),
    "features": ("features", "label"),
    "train": ("features", "label", "model"),
    "backtest": ("features", "label", "model", "backtest"),
    "export": ("features", "label", "model", "export"),
}
OPTIONAL_SECTIONS = ("features", "label", "model", "backtest", "export")


@dataclass
class StageTask:
    """One distinct stage computation, shared by every variant in ``variants``."""

    stage: str
    key: str
    deps: tuple[str, ...]
    config: dict[str, Any] = field(repr=False)
    run_dir: Path
    variants: list[str] = field(default_factory=list)


@dataclass
class VariantPlan:
    variant: Variant
    run_dir: Path
    stage_keys: dict[str, str]  # stage -> plan key, for the stages this variant runs


def stage_config(config_data: dict[str, Any], stage: str) -> dict[str, Any]:
    """``config_data`` with every section after ``stage`` removed."""
    keep = STAGE_SECTIONS[stage]
    return {k: (None if k in OPTIONAL_SECTIONS and k not in keep else v) for k, v in config_data.items()}


def plan_keys(config: Any, manager: Any, *, salt: str | None = None) -> dict[str, str]:
    """Plan key of every stage ``config`` runs (see the module docstring). ``salt`` makes the keys
    unique to one variant (no sharing: what the benchmark compares against)."""
    keys: dict[str, str] = {}
    for stage in runs.STAGES:
        if not runs.stage_enabled(config, stage):
            continue
        inputs = {f"plan:{dep}": keys[dep] for dep in runs.STAGE_INPUTS[stage]}
        if stage == "data":
            token = runs.data_source_token(config, manager)
            if token is not None:
                inputs["source_token"] = token
        if salt is not None:
            inputs["unshared"] = salt
        keys[stage] = runs.cache_key(config, stage, inputs, runs.stage_plugins(config, stage, manager))
    return keys


def plan_sweep(
    variants: list[Variant], layout: SweepLayout, manager: Any, *, share: bool = True
) -> tuple[dict[str, StageTask], list[VariantPlan]]:
    """The stage tasks (by key, in a valid run order) and each variant's plan."""
    tasks: dict[str, StageTask] = {}
    plans: list[VariantPlan] = []
    for variant in variants:
        config = variant.config
        keys = plan_keys(config, manager, salt=None if share else variant.id)
        dumped = config.model_dump(mode="json")
        for stage, key in keys.items():
            task = tasks.get(key)
            if task is None:
                deps = tuple(keys[d] for d in runs.STAGE_INPUTS[stage])
                task = tasks[key] = StageTask(
                    stage, key, deps, stage_config(dumped, stage), layout.stage_dir(stage, key)
                )
            task.variants.append(variant.id)
        assert variant.config_hash is not None
        plans.append(VariantPlan(variant, layout.variant_run(variant.id, variant.config_hash), keys))
    return tasks, plans
