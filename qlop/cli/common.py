"""Options and helpers shared by the stage commands (every one takes ``-c CONFIG`` and ``--run-dir``)."""

from __future__ import annotations

import functools
from typing import Any

import click

config_option = click.option(
    "-c",
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Pipeline config (TOML, JSON or YAML).",
)


def run_dir_option(func: Any) -> Any:
    """``--run-dir DIR`` of a stage command: the directory is checked (never ``/`` or the home
    directory, never a non-empty directory that is not a QLOP run) and locked while the command runs
    (:func:`qlop.rundir.claim_run_dir`), so it cannot write into a directory a run is writing."""

    @functools.wraps(func)
    def claimed(*args: Any, **kwargs: Any) -> Any:
        from qlop.rundir import claim_run_dir

        with claim_run_dir(kwargs["run_dir"]):
            return func(*args, **kwargs)

    return click.option(
        "--run-dir",
        "run_dir",
        required=True,
        type=click.Path(file_okay=False),
        help="Run directory to read inputs from and write artefacts into.",
    )(claimed)


def load_stage_config(ctx: click.Context, config_path: str) -> Any:
    """Configure plugins from the global options, then read and fully validate the config."""
    from qlop.cli.main import ensure_plugin_manager
    from qlop.config import load_config

    ensure_plugin_manager(ctx)
    return load_config(config_path)


def require_section(config: Any, section: str, config_path: str) -> Any:
    from qlop.errors import ConfigError

    value = getattr(config, section)
    if value is None:
        raise ConfigError(f"{config_path}: [{section}] section is required for this command")
    return value


def cluster_options(func: Any) -> Any:
    """``--workers N`` / ``--scheduler ADDRESS``: where Dask runs a command's tasks (see qlop.scale.cluster)."""
    func = click.option(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Use an existing Dask cluster (e.g. tcp://HOST:8786) instead of a local one.",
    )(func)
    return click.option(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="Local Dask worker processes, one thread each (default: the number of cores).",
    )(func)


def cluster_spec(workers: int | None, scheduler: str | None) -> Any:
    """The validated :class:`qlop.scale.cluster.ClusterSpec` of the two options above."""
    from qlop.scale.cluster import ClusterSpec

    return ClusterSpec(workers=workers, scheduler=scheduler)
