"""The sweep directory's layout: the one place that names a sweep's artefacts.

::

    <sweep dir>/
      sweep.json        axes, variants (config diffs, run dirs, status, timings), trial statistics
      results.parquet   one row per variant: axis values + headline metrics + deflated Sharpe
      report.html       sortable table, heatmap of a metric over two axes, Sharpe distribution
      events.jsonl      the sweep's live events (each with its variant)
      runs/<variant id>-<config hash>/   each variant's ordinary run directory
      stages/<stage>-<key>/              where each distinct stage ran once; variants hard-link it

A stage shared by several variants (same data and features, different strategy) runs once into
``stages/`` under its content-hash key; every variant's run directory then takes it from there as an
ordinary cached stage, so ``runs/`` holds complete runs that ``qlop runs``, the GUI and the exporters
read like any other.
"""

from __future__ import annotations

from pathlib import Path

from qlop.layout import RunLayout


class SweepLayout:
    SWEEP_JSON = "sweep.json"
    RESULTS = "results.parquet"
    REPORT = RunLayout.REPORT  # the sweep's own report, named like a backtest's
    EVENTS = RunLayout.EVENTS  # the same event log a run keeps
    RUNS_DIR = "runs"
    STAGES_DIR = "stages"
    #: characters of the config hash in a variant's run directory name, of the key in a stage's
    HASH_CHARS = 10
    KEY_CHARS = 16

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def sweep_json(self) -> Path:
        return self.root / self.SWEEP_JSON

    @property
    def results(self) -> Path:
        return self.root / self.RESULTS

    @property
    def report(self) -> Path:
        return self.root / self.REPORT

    @property
    def events(self) -> Path:
        return self.root / self.EVENTS

    @property
    def runs(self) -> Path:
        return self.root / self.RUNS_DIR

    @property
    def stages(self) -> Path:
        return self.root / self.STAGES_DIR

    def variant_run(self, variant_id: str, config_hash: str) -> Path:
        return self.runs / f"{variant_id}-{config_hash[: self.HASH_CHARS]}"

    def stage_dir(self, stage: str, key: str) -> Path:
        return self.stages / f"{stage}-{key[: self.KEY_CHARS]}"


def default_sweep_dir(runs_dir: str | Path, sweep_name: str) -> Path:
    """``<runs_dir>/sweeps/<sweep name>``: rerunning the same sweep file resumes in the same place."""
    return Path(runs_dir) / "sweeps" / sweep_name
