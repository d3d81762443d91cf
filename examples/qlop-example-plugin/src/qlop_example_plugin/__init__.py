"""The plugin module named by the ``qlop`` entry point.

It only returns spec records: every factory is a ``"module:Class"`` string, so QLOP can list this
plugin without importing pandas or numpy. Each component lives in its own module.
"""

from __future__ import annotations

from qlop.api import CommandSpec, ComponentSpec, hookimpl

__version__ = "0.1.0"

_P = "qlop_example_plugin"


@hookimpl
def qlop_register_feature_step() -> ComponentSpec:
    return ComponentSpec(
        name="range_position",
        factory=f"{_P}.features:RangePosition",
        summary="Where the close sits in the rolling high-low range (0 = at the low, 1 = at the high)",
        params_model=f"{_P}.features:RangePositionParams",
    )


@hookimpl
def qlop_register_label() -> ComponentSpec:
    return ComponentSpec(
        name="forward_return_sign",
        factory=f"{_P}.labels:ForwardReturnSign",
        summary="1 when the close `horizon` bars ahead beats today's close by more than `threshold`",
        params_model=f"{_P}.labels:ForwardReturnSignParams",
    )


@hookimpl
def qlop_register_model() -> ComponentSpec:
    return ComponentSpec(
        name="numpy_logistic",
        factory=f"{_P}.models:NumpyLogistic",
        summary="L2-regularised logistic regression (Newton's method in numpy), saved as JSON",
        params_model=f"{_P}.models:NumpyLogisticParams",
    )


@hookimpl
def qlop_register_strategy() -> ComponentSpec:
    return ComponentSpec(
        name="probability_band",
        factory=f"{_P}.strategies:ProbabilityBand",
        summary="Long above `upper`, short below `lower` (if allowed), flat in between",
        params_model=f"{_P}.strategies:ProbabilityBandParams",
    )


@hookimpl
def qlop_register_commands() -> CommandSpec:
    return CommandSpec(name="example-info", target=f"{_P}.cli:info", summary="What the example plugin provides")
