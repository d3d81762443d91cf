"""Hook specifications: the contract between QLOP and its plugins.

Registration hooks take no arguments and return one spec, an iterable of specs, or ``None``. QLOP
collects every plugin's answers into one typed registry per kind. Observer hooks are told about each
stage of a run; they must not change the data they are shown.

Implement a hook with ``@qlop.hookimpl`` on a function of the same name in your plugin module and
declare the module under the ``qlop`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Union

from qlop.plugins.markers import hookspec
from qlop.plugins.specs import CommandSpec, ComponentSpec

#: What a registration hook may return (kept for type checkers of plugin code).
SpecResult = Union[ComponentSpec, Iterable[ComponentSpec], None]
CommandResult = Union[CommandSpec, Iterable[CommandSpec], None]


@hookspec
def qlop_register_data_source() -> ComponentSpec | Iterable[ComponentSpec] | None:
    """Register data sources: components that load an OHLCV panel.

    Called once when the data-source registry is first used.

    :return: a :class:`~qlop.plugins.specs.ComponentSpec` (or several) whose factory subclasses
        :class:`qlop.interfaces.BaseDataSourcePlugin`.

    Example::

        @qlop.hookimpl
        def qlop_register_data_source():
            return ComponentSpec(name="my_vendor", factory="my_pkg.source:MyVendorSource",
                                 summary="Daily bars from My Vendor's files")
    """


@hookspec
def qlop_register_feature_step() -> ComponentSpec | Iterable[ComponentSpec] | None:
    """Register feature steps: causal transforms of the panel into feature columns.

    Called once when the feature-step registry is first used.

    :return: spec(s) whose factory subclasses :class:`qlop.interfaces.BaseFeatureStepPlugin`.

    Example::

        @qlop.hookimpl
        def qlop_register_feature_step():
            return ComponentSpec(name="gap", factory=GapStep, summary="Overnight gap, open/prev close - 1")
    """


@hookspec
def qlop_register_label() -> ComponentSpec | Iterable[ComponentSpec] | None:
    """Register labels: targets computed from future bars (the only stage allowed to look ahead).

    Called once when the label registry is first used.

    :return: spec(s) whose factory subclasses :class:`qlop.interfaces.BaseLabelPlugin`.

    Example::

        @qlop.hookimpl
        def qlop_register_label():
            return ComponentSpec(name="big_move", factory="my_pkg.labels:BigMove")
    """


@hookspec
def qlop_register_model() -> ComponentSpec | Iterable[ComponentSpec] | None:
    """Register models that learn labels from features.

    Called once when the model registry is first used.

    :return: spec(s) whose factory subclasses :class:`qlop.interfaces.BaseModelPlugin`.

    Example::

        @qlop.hookimpl
        def qlop_register_model():
            return ComponentSpec(name="lgbm", factory="my_pkg.models:LightGBMModel",
                                 params_model="my_pkg.models:LightGBMParams")
    """


@hookspec
def qlop_register_strategy() -> ComponentSpec | Iterable[ComponentSpec] | None:
    """Register strategies that turn model predictions (and prices) into trading signals.

    Called once when the strategy registry is first used.

    :return: spec(s) whose factory subclasses :class:`qlop.interfaces.BaseStrategyPlugin`.

    Example::

        @qlop.hookimpl
        def qlop_register_strategy():
            return ComponentSpec(name="momentum", factory=MomentumStrategy)
    """


@hookspec
def qlop_register_exporter() -> ComponentSpec | Iterable[ComponentSpec] | None:
    """Register export formats that write a trained model (and its metadata) for deployment.

    Called once when the exporter registry is first used.

    :return: spec(s) whose factory subclasses :class:`qlop.interfaces.BaseExportFormatPlugin`.

    Example::

        @qlop.hookimpl
        def qlop_register_exporter():
            return ComponentSpec(name="pmml", factory="my_pkg.export:PMMLExporter")
    """


@hookspec
def qlop_register_commands() -> CommandSpec | Iterable[CommandSpec] | None:
    """Register extra ``qlop`` CLI commands.

    The command object is imported only when the command runs, so keep ``target`` a string.

    :return: a :class:`~qlop.plugins.specs.CommandSpec` (or several).

    Example::

        @qlop.hookimpl
        def qlop_register_commands():
            return CommandSpec(name="hello", target="my_pkg.cli:hello", summary="Say hello")
    """


@hookspec
def qlop_before_stage(stage: str, run_dir: str, config: Mapping[str, Any]) -> None:
    """Called before a pipeline stage starts.

    :param stage: the stage name (``data``, ``features``, ``train``, ``backtest``, ``export``).
    :param run_dir: the run directory the stage writes into.
    :param config: the resolved pipeline config as plain data (read-only).

    Example::

        @qlop.hookimpl
        def qlop_before_stage(stage, run_dir, config):
            print(f"starting {stage} in {run_dir}")
    """


@hookspec
def qlop_after_stage(stage: str, run_dir: str, outputs: Mapping[str, str], seconds: float) -> None:
    """Called after a pipeline stage finished successfully.

    :param stage: the stage name.
    :param run_dir: the run directory.
    :param outputs: artefact name -> path of what the stage wrote.
    :param seconds: wall time of the stage.

    Example::

        @qlop.hookimpl
        def qlop_after_stage(stage, run_dir, outputs, seconds):
            notify(f"{stage} took {seconds:.1f}s")
    """


@hookspec
def qlop_on_stage_error(stage: str, run_dir: str, error: BaseException) -> None:
    """Called when a stage fails, before the error stops the run.

    :param stage: the stage name.
    :param run_dir: the run directory.
    :param error: the exception that stopped the stage.

    Example::

        @qlop.hookimpl
        def qlop_on_stage_error(stage, run_dir, error):
            alert(f"{stage} failed: {error}")
    """
