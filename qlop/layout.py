"""The run directory's layout: the one place that names a run's artefacts and makes run ids.

Every module that reads or writes a run directory (the stages, ``qlop runs``, the report, the GUI,
the exporters through :mod:`qlop.api`) asks :class:`RunLayout` where an artefact lives, so renaming
one is a one-line change here. A run directory looks like this::

    <runs_dir>/<run id>/
      config.json  manifest.json  events.jsonl  .qlop.lock (while a process writes)
      data.parquet  features.parquet  labels.parquet
      predictions.parquet  predictions_final.parquet  folds.json  train_metrics.json
      model/meta.json  model/<the model plugin's own files>                  (the final model)
      model/folds/000/meta.json  model/folds/000/<its files>  ...           (each fold's model)
      backtest/equity.parquet  backtest/trades.parquet  backtest/metrics.json  backtest/report.html
      export/export_summary.json  export/<the exporter's files, e.g. bundle.json + model.onnx>

Run ids are ``<UTC timestamp>-<tag>``: the tag is 8 hex digits of the config hash for ``qlop run``
and of the task id for runs the GUI launches (so a page can find a task's directory again). The
module imports nothing heavy: the CLI root, the GUI and the relay use it freely.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

#: Where ``qlop run``, ``qlop runs`` and ``qlop gui`` keep run directories unless told otherwise.
DEFAULT_RUNS_DIR = "runs"
#: Folder under the runs folder where the GUI keeps the configs (and console logs) of its launches.
GUI_LAUNCHES_DIR = ".qlop-gui"
#: Length of the tag at the end of a run id.
TAG_LENGTH = 8


class RunLayout:
    """The artefacts of one run directory.

    Class attributes are file names (relative to the run directory, or to their folder for the files
    inside ``model/``, ``backtest/`` and ``export/``); properties of an instance are full paths.
    """

    # -- the run ---------------------------------------------------------------------------------
    CONFIG = "config.json"
    MANIFEST = "manifest.json"
    EVENTS = "events.jsonl"
    #: held (flock) while a process writes into the run directory (:mod:`qlop.rundir`)
    LOCK = ".qlop.lock"
    # -- data and features -----------------------------------------------------------------------
    DATA = "data.parquet"
    FEATURES = "features.parquet"
    LABELS = "labels.parquet"
    # -- train -----------------------------------------------------------------------------------
    PREDICTIONS = "predictions.parquet"
    FINAL_PREDICTIONS = "predictions_final.parquet"
    FOLDS = "folds.json"
    TRAIN_METRICS = "train_metrics.json"
    MODEL_DIR = "model"
    MODEL_META = "meta.json"
    #: under ``model/``: one folder per walk-forward fold's model, its native files and ``meta.json``
    FOLD_MODELS = "folds"
    # -- backtest --------------------------------------------------------------------------------
    BACKTEST_DIR = "backtest"
    EQUITY = "equity.parquet"
    TRADES = "trades.parquet"
    POSITIONS = "positions.parquet"
    BACKTEST_METRICS = "metrics.json"
    REPORT = "report.html"
    # -- export ----------------------------------------------------------------------------------
    EXPORT_DIR = "export"
    EXPORT_SUMMARY = "export_summary.json"
    #: an ONNX bundle (``export/`` of a run, or any copy of that folder): its spec and its model
    BUNDLE = "bundle.json"
    ONNX_MODEL = "model.onnx"

    #: metrics files read after a stage (relative to the run dir) and turned into ``metric`` events
    STAGE_METRICS = {"train": TRAIN_METRICS, "backtest": f"{BACKTEST_DIR}/{BACKTEST_METRICS}"}
    #: a stage's own summary, whose scalar entries go into its manifest record (e.g. export parity)
    STAGE_SUMMARIES = {"export": f"{EXPORT_DIR}/{EXPORT_SUMMARY}"}
    #: suffixes of the deployable model files an exporter may write into ``export/``
    MODEL_SUFFIXES = (".onnx", ".pmml")

    @classmethod
    def top_level_names(cls) -> frozenset[str]:
        """Every file and folder QLOP itself puts directly in a run directory."""
        return frozenset(
            {
                cls.CONFIG,
                cls.MANIFEST,
                cls.EVENTS,
                cls.LOCK,
                cls.DATA,
                cls.FEATURES,
                cls.LABELS,
                cls.PREDICTIONS,
                cls.FINAL_PREDICTIONS,
                cls.FOLDS,
                cls.TRAIN_METRICS,
                cls.MODEL_DIR,
                cls.BACKTEST_DIR,
                cls.EXPORT_DIR,
            }
        )

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunLayout({str(self.root)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunLayout) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    @property
    def run_id(self) -> str:
        return self.root.name

    def is_run(self) -> bool:
        """A run directory is one with a manifest (written before the first stage starts)."""
        return self.manifest.is_file()

    # -- paths -----------------------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.root / self.CONFIG

    @property
    def manifest(self) -> Path:
        return self.root / self.MANIFEST

    @property
    def events(self) -> Path:
        return self.root / self.EVENTS

    @property
    def lock(self) -> Path:
        return self.root / self.LOCK

    @property
    def data(self) -> Path:
        return self.root / self.DATA

    @property
    def features(self) -> Path:
        return self.root / self.FEATURES

    @property
    def labels(self) -> Path:
        return self.root / self.LABELS

    @property
    def predictions(self) -> Path:
        return self.root / self.PREDICTIONS

    @property
    def final_predictions(self) -> Path:
        return self.root / self.FINAL_PREDICTIONS

    @property
    def folds(self) -> Path:
        return self.root / self.FOLDS

    @property
    def train_metrics(self) -> Path:
        return self.root / self.TRAIN_METRICS

    @property
    def model_dir(self) -> Path:
        return self.root / self.MODEL_DIR

    @property
    def model_meta(self) -> Path:
        return self.model_dir / self.MODEL_META

    @classmethod
    def fold_model_name(cls, fold: int) -> str:
        """A fold model's folder relative to ``model/``: ``folds/003`` for fold 3."""
        return f"{cls.FOLD_MODELS}/{int(fold):03d}"

    def fold_model_dir(self, fold: int) -> Path:
        """The folder of walk-forward fold ``fold``'s model."""
        return self.model_dir / self.fold_model_name(fold)

    @property
    def backtest_dir(self) -> Path:
        return self.root / self.BACKTEST_DIR

    @property
    def equity(self) -> Path:
        return self.backtest_dir / self.EQUITY

    @property
    def trades(self) -> Path:
        return self.backtest_dir / self.TRADES

    @property
    def positions(self) -> Path:
        """Target-weight books: per (date, ticker) the position after the close."""
        return self.backtest_dir / self.POSITIONS

    @property
    def backtest_metrics(self) -> Path:
        return self.backtest_dir / self.BACKTEST_METRICS

    @property
    def report(self) -> Path:
        return self.backtest_dir / self.REPORT

    @property
    def export_dir(self) -> Path:
        return self.root / self.EXPORT_DIR

    @property
    def export_summary(self) -> Path:
        return self.export_dir / self.EXPORT_SUMMARY

    @property
    def bundle(self) -> Path:
        return self.export_dir / self.BUNDLE

    def exported_models(self) -> list[Path]:
        """The deployable model files of ``export/`` (ONNX, PMML; none when the run exported nothing)."""
        if not self.export_dir.is_dir():
            return []
        return sorted(p for p in self.export_dir.iterdir() if p.suffix in self.MODEL_SUFFIXES and p.is_file())


# -- run ids and the runs folder --------------------------------------------------------------


def run_id(tag: str, now: dt.datetime | None = None) -> str:
    """``<UTC timestamp>-<first 8 characters of tag>``: sorts by time, names what made the run."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{tag[:TAG_LENGTH]}"


def new_run_dir(runs_dir: str | Path, tag: str, now: dt.datetime | None = None) -> Path:
    """A fresh run directory path under ``runs_dir`` (``-2``, ``-3``... appended, never an existing one)."""
    root = Path(runs_dir)
    base = run_id(tag, now)
    candidate, n = root / base, 1
    while candidate.exists():
        n += 1
        candidate = root / f"{base}-{n}"
    return candidate


def _plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\*?[]")


def find_tagged_run(runs_dir: str | Path, tag: str) -> Path | None:
    """The run directory whose id ends with ``tag`` and that has started logging events.

    Lets the GUI re-attach to a task (tag = task id) after its server restarted and the relay forgot it.
    """
    if not _plain_name(tag):
        return None
    short = tag[:TAG_LENGTH]
    root = Path(runs_dir)
    for path in sorted([*root.glob(f"*-{short}"), *root.glob(f"*-{short}-[0-9]*")]):
        if RunLayout(path).events.is_file():
            return path
    return None


def resolve_run(runs_dir: str | Path, name: str) -> Path | None:
    """The run directory called ``name`` directly under ``runs_dir`` (no path tricks from a URL)."""
    if not _plain_name(name):
        return None
    path = Path(runs_dir) / name
    return path if RunLayout(path).is_run() else None


def iter_run_dirs(runs_dir: str | Path) -> Iterator[Path]:
    """Run directories (holding a manifest) directly under ``runs_dir``, in name order."""
    root = Path(runs_dir)
    if not root.is_dir():
        return iter(())
    return iter(sorted(p.parent for p in root.glob(f"*/{RunLayout.MANIFEST}")))


def gui_launch_config(runs_dir: str | Path, task_id: str) -> Path:
    """Where the GUI writes the config of a run it launches (its console log sits beside it, ``.log``)."""
    return Path(runs_dir) / GUI_LAUNCHES_DIR / f"{task_id}.json"
