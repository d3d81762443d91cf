"""Helpers of the hardening tests (imported by the test modules and the conftest)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

QLOP_MAIN = "from qlop.cli.main import main; main()"

#: The data stage alone on two tickers of the sample: a complete ``qlop run`` in about a second.
DATA_ONLY = """
name = "tiny"
seed = 1
[data]
data_source_type = "sample"
tickers = ["AAPL", "KO"]
start_date = 2010-01-01
end_date = 2012-12-31
"""

#: Every stage on a small slice (3 tickers, 6 years, 3 folds, a few trees): complete in seconds.
SMALL_PIPELINE = """
name = "small"
seed = 3
[data]
data_source_type = "sample"
tickers = {tickers}
start_date = 2006-01-01
end_date = 2011-12-31
[features]
steps = [
  {{ step_type = "returns", step_params = {{ windows = [1, 5] }} }},
  {{ step_type = "rsi", step_params = {{ timeperiod = 14 }} }},
]
[label]
label_type = "leverage_opportunity"
label_params = {{ leverage = 2.0, horizon = 5, take_profit = 0.04, stop_loss = 0.03 }}
[model]
model_type = "xgboost"
model_params = {{ n_estimators = 15, max_depth = 2, nthread = 1, early_stopping_rounds = 0 }}
validation = {{ train_years = {train_years}, test_months = {test_months}, embargo_days = 5 }}
[backtest]
strategy_type = "probability_threshold"
strategy_params = {{ entry = {entry} }}
leverage = 2.0
benchmark = "GSPC"
[export]
format_name = "onnx"
"""


def small_pipeline(
    entry: float = 0.55, tickers: str = '["AAPL", "MSFT", "KO"]', train_years: float = 3.0, test_months: int = 12
) -> str:
    return SMALL_PIPELINE.format(entry=entry, tickers=tickers, train_years=train_years, test_months=test_months)


def qlop_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in ("http_proxy", "https_proxy", "all_proxy") and not k.startswith("QLOP_")
    }
    env.update(extra)
    return env


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The single ``Error: ...`` line of a refused command (asserts exit 2 and no traceback)."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-4000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@contextlib.contextmanager
def tmpfs(path: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    """A small tmpfs mounted at ``path`` for the block (root only; the caller skips otherwise)."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=0777" + (",ro" if read_only else "")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, f"qlop-test-{uuid.uuid4().hex[:8]}", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def assert_complete_or_none(run_dir: Path) -> None:
    """The promise after any command, good or refused: the run directory holds complete artefacts or
    none. No temporary file of an atomic write is left, no lock outlives its run, and every artefact
    the manifest records as finished still has the recorded content."""
    from qlop import runs
    from qlop.layout import RunLayout

    if not run_dir.exists():
        return
    assert runs.leftover_temp_files(run_dir) == [], runs.leftover_temp_files(run_dir)
    assert not RunLayout(run_dir).lock.exists(), "the run lock outlived its run"
    manifest_path = RunLayout(run_dir).manifest
    if not manifest_path.exists():
        left = sorted(p.name for p in run_dir.iterdir())
        assert set(left) <= {RunLayout.CONFIG}, f"artefacts without a manifest: {left}"
        for name in left:
            json.loads((run_dir / name).read_text(encoding="utf-8"))
        return
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert manifest["status"] in ("completed", "failed", "interrupted"), manifest["status"]
    for stage, record in manifest["stages"].items():
        if record.get("status") in ("completed", "cached"):
            assert runs.outputs_valid(run_dir, record["outputs"]), f"{stage}: recorded outputs changed"
        if manifest["status"] == "completed":
            assert record.get("status") in ("completed", "cached", "skipped"), (stage, record)
