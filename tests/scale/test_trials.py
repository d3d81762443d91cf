"""The trials ledger: every distinct backtested config of an experiment counts once, from runs and sweeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scale_helpers import write_base

from qlop.config import load_config
from qlop.trials import count_trials, ledger_path, record_trials, trial_hash


def test_trial_hash_follows_what_shapes_the_backtest_only(tmp_path: Path) -> None:
    config = load_config(write_base(tmp_path / "b.toml", tmp_path / "runs"))
    h = trial_hash(config)
    renamed = config.model_copy(update={"name": "other", "runs_dir": "/elsewhere"})
    assert trial_hash(renamed) == h
    from qlop.config import ExportConfig

    assert trial_hash(config.model_copy(update={"export": ExportConfig(format_name="native")})) == h
    changed = config.model_copy(deep=True)
    changed.backtest.strategy_params["entry"] = 0.6
    assert trial_hash(changed) != h
    assert trial_hash(config.model_copy(update={"seed": 8})) != h


def test_ledger_counts_distinct_hashes_and_survives_repeats(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    assert count_trials(runs, "exp") == 0
    assert (
        record_trials(runs, "exp", [{"config_hash": "a", "run_dir": "r1"}, {"config_hash": "b", "run_dir": "r2"}]) == 2
    )
    assert record_trials(runs, "exp", [{"config_hash": "a", "run_dir": "r3", "sharpe": 0.5}]) == 2
    assert record_trials(runs, "other", [{"config_hash": "a", "run_dir": "r4"}]) == 1
    data = json.loads(ledger_path(runs, "exp").read_text())
    assert data["trials"]["a"]["runs"] == 2 and data["trials"]["a"]["last_run_dir"] == "r3"
    assert data["trials"]["a"]["sharpe"] == 0.5
    odd = ledger_path(runs, "a/b c")
    assert odd.parent == runs / "trials" and "/" not in odd.name[:-5] and odd != ledger_path(runs, "a_b_c")


@pytest.mark.slow
def test_one_off_qlop_runs_are_counted_in_the_ledger(tmp_path: Path) -> None:
    from e2e_helpers import qlop

    runs = tmp_path / "runs"
    base = write_base(tmp_path / "b.toml", runs)
    first = qlop("run", "-c", str(base), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "trials: 1 distinct backtested config(s) named 'sweeptest'" in first.stderr
    again = qlop("run", "-c", str(base), cwd=tmp_path)  # the same config again: not a new trial
    assert "trials: 1 distinct" in again.stderr
    base.write_text(base.read_text().replace("entry = 0.55", "entry = 0.6"))
    third = qlop("run", "-c", str(base), cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    assert "trials: 2 distinct" in third.stderr
    assert count_trials(runs, "sweeptest") == 2
