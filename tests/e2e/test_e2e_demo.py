"""``qlop demo``: the README's first command, end to end on the embedded data."""

from __future__ import annotations

import json

import pytest
from e2e_helpers import qlop  # noqa: E402

pytestmark = pytest.mark.slow


def test_demo_leaves_a_report_metrics_and_an_onnx_model_under_runs(tmp_path):
    result = qlop("demo", cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    run_dirs = [p for p in (tmp_path / "runs").iterdir() if (p / "manifest.json").is_file()]
    assert len(run_dirs) == 1
    # beside the run: the experiment's trials ledger, which counts this config once
    ledger = json.loads(next((tmp_path / "runs" / "trials").glob("*.json")).read_text())
    assert len(ledger["trials"]) == 1
    run_dir = run_dirs[0]
    report = run_dir / "backtest" / "report.html"
    assert report.is_file() and report.stat().st_size > 10_000
    metrics = json.loads((run_dir / "backtest" / "metrics.json").read_text())
    assert metrics
    onnx_files = list((run_dir / "export").glob("*.onnx"))
    assert onnx_files
    import onnx

    onnx.checker.check_model(onnx.load(str(onnx_files[0])))
    assert f"report: {report.resolve()}" in result.stdout
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "completed"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["label"]["label_type"] == "leverage_opportunity" and config["backtest"]["leverage"] > 1
    assert len(config["data"]["tickers"]) >= 10 and config["export"]["format_name"] == "onnx"
