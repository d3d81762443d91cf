"""``qlop train`` and ``qlop predict``: walk-forward training, and scoring with a run's model or a bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from qlop.cli.common import (
    cluster_options,
    cluster_spec,
    config_option,
    load_stage_config,
    require_section,
    run_dir_option,
)
from qlop.layout import RunLayout


@click.command("train")
@config_option
@run_dir_option
@cluster_options
@click.pass_context
def train_cmd(ctx: click.Context, config_path: str, run_dir: str, workers: int | None, scheduler: str | None) -> None:
    """Walk-forward training: out-of-sample predictions, fold metrics and the final model.

    Reads DIR/features.parquet and DIR/labels.parquet; writes DIR/predictions.parquet, DIR/folds.json,
    DIR/train_metrics.json and DIR/model/. With --workers N or --scheduler ADDRESS the folds train as
    Dask tasks (predictions identical to a serial run).
    """
    import contextlib

    from qlop.cli.tables import echo_table, train_table
    from qlop.scale.cluster import cluster_session
    from qlop.stages import train as stage

    spec = cluster_spec(workers, scheduler) if workers is not None or scheduler is not None else None
    config = load_stage_config(ctx, config_path)
    require_section(config, "model", config_path)
    require_section(config, "label", config_path)
    with cluster_session(spec) if spec is not None else contextlib.nullcontext():
        result = stage.train(config, run_dir)
    metrics = result["metrics"]
    click.echo(
        f"{config.model.model_type} ({metrics['task']}, {metrics['scheme']}): "
        f"{metrics['n_folds']} folds, {metrics['n_predictions']} out-of-sample predictions "
        f"({metrics['overall']['n']} with a known label)"
    )
    echo_table(train_table(metrics, result["folds"]))
    for name, path in result["artifacts"].items():
        click.echo(f"wrote {name}: {path}")


@click.command("predict")
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Pipeline config (with --run-dir).",
)
@click.option(
    "--run-dir",
    "run_dir",
    type=click.Path(file_okay=False),
    default=None,
    help=f"Score DIR/{RunLayout.FEATURES} with the run's final model.",
)
@click.option(
    "--bundle",
    "bundle_dir",
    type=click.Path(file_okay=False),
    default=None,
    help=f"An exported bundle directory (DIR/{RunLayout.EXPORT_DIR}): score raw OHLCV with onnxruntime alone.",
)
@click.option(
    "--data",
    "data_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="OHLCV panel file for --bundle (.parquet, or .csv with a ticker column / named TICKER.csv).",
)
@click.option(
    "--fold",
    "fold",
    type=click.IntRange(min=0),
    default=None,
    help=f"With --run-dir: score fold N's rows of {RunLayout.PREDICTIONS} again with fold N's saved model and compare.",
)
@click.option(
    "--output",
    "output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the --bundle or --fold predictions (.parquet or .csv; default: print).",
)
@click.pass_context
def predict_cmd(
    ctx: click.Context,
    config_path: str | None,
    run_dir: str | None,
    bundle_dir: str | None,
    data_path: str | None,
    fold: int | None,
    output: str | None,
) -> None:
    """Score features with a run's final model, reproduce a fold's out-of-sample predictions, or score raw
    OHLCV with an exported ONNX bundle.

    \b
      qlop predict -c CONFIG --run-dir DIR          -> DIR/predictions_final.parquet
      qlop predict --run-dir DIR --fold N [--output OUT]
      qlop predict --bundle DIR/export --data FILE [--output OUT]
    """
    if bundle_dir is not None:
        if config_path or run_dir or fold is not None:
            raise click.UsageError("--bundle cannot be combined with -c/--run-dir/--fold")
        if data_path is None:
            raise click.UsageError("--bundle needs --data FILE (an OHLCV panel)")
        _predict_bundle(ctx, bundle_dir, data_path, output)
        return
    if fold is not None:
        if not run_dir or data_path:
            raise click.UsageError("--fold needs --run-dir DIR (and no --data)")
        _predict_fold(ctx, run_dir, fold, output)
        return
    if not config_path or not run_dir:
        raise click.UsageError("give -c CONFIG --run-dir DIR, or --bundle DIR --data FILE")
    if data_path or output:
        raise click.UsageError("--data/--output only apply with --bundle")
    from qlop.stages.predict import predict

    config = load_stage_config(ctx, config_path)
    written = predict(config, run_dir)
    for name, path in written.items():
        click.echo(f"wrote {name}: {path}")


def _predict_fold(ctx: click.Context, run_dir: str, fold: int, output: str | None) -> None:
    """Reproduce fold ``fold``'s out-of-sample predictions and say whether they equal the recorded ones."""
    import numpy as np
    import pandas as pd

    from qlop.cli.main import ensure_plugin_manager
    from qlop.errors import ArtifactError
    from qlop.stages.predict import fold_predictions

    ensure_plugin_manager(ctx)
    if output is not None and Path(output).suffix.lower() not in OUTPUT_SUFFIXES:
        from qlop.errors import ConfigError

        raise ConfigError(f"--output: {output}: use a .parquet or .csv file name")
    layout = RunLayout(run_dir)
    again = fold_predictions(layout.root, fold)
    column = again.columns[0]
    recorded = pd.read_parquet(layout.predictions)[column].reindex(again.index).to_numpy()
    values = again[column].to_numpy()
    diff = float(np.max(np.abs(values - recorded))) if len(values) else 0.0
    where = f"{layout.fold_model_dir(fold)}"
    if output is not None:
        write_predictions(again, output)
        click.echo(f"wrote {len(again)} predictions: {output}")
    if not np.array_equal(values, recorded):
        raise ArtifactError(
            f"fold {fold}: the model in {where} scores its {len(values)} rows differently from "
            f"{layout.predictions} (max |diff| {diff:.3g})"
        )
    click.echo(
        f"fold {fold}: {len(values):,} out-of-sample predictions scored again by {where}: identical to "
        f"{layout.predictions.name} (max |diff| 0)"
    )


def _predict_bundle(ctx: click.Context, bundle_dir: str, data_path: str, output: str | None) -> None:
    from qlop.bundle import score_file
    from qlop.cli.main import ensure_plugin_manager

    ensure_plugin_manager(ctx)
    if output is not None and Path(output).suffix.lower() not in OUTPUT_SUFFIXES:
        from qlop.errors import ConfigError

        raise ConfigError(f"--output: {output}: use a .parquet or .csv file name")  # before scoring
    predictions = score_file(bundle_dir, data_path)
    if output is None:
        tail = predictions.groupby(level=0).tail(1)
        click.echo(f"{len(predictions)} rows scored; latest per ticker:")
        click.echo(tail.to_string())
        return
    write_predictions(predictions, output)
    click.echo(f"wrote {len(predictions)} predictions: {output}")


OUTPUT_SUFFIXES = (".parquet", ".pq", ".csv")


def write_predictions(frame: Any, output: str) -> Path:
    """Write a predictions frame atomically as Parquet or CSV (by the file suffix)."""
    from qlop.atomic import atomic_path, write_parquet
    from qlop.errors import ConfigError

    path = Path(output)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return write_parquet(frame, path)
    if suffix == ".csv":
        flat = frame.reset_index()
        flat["date"] = flat["date"].dt.strftime("%Y-%m-%d")
        with atomic_path(path, suffix=".csv") as tmp:
            flat.to_csv(tmp, index=False, float_format="%.10g")
        return path
    raise ConfigError(f"--output: {output}: use a .parquet or .csv file name")
