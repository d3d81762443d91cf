"""The example third-party plugin's model trains, predicts and exports through a config, core unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from qlop.cli.main import cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "qlop-example-plugin"


@pytest.fixture
def example_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if not (EXAMPLE / "src" / "qlop_example_plugin" / "models.py").exists():
        pytest.fail(f"example plugin missing at {EXAMPLE}")
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    text = (EXAMPLE / "example.toml").read_text()
    text = text.split("[backtest]")[0] + '\n[export]\nformat_name = "native"\n'
    cfg = tmp_path / "example.toml"
    cfg.write_text(text)
    return cfg


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, ["-p", "qlop_example_plugin", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_example_plugin_model_trains_through_a_config(example_config: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    for stage in (["data", "load"], ["features", "build"], ["train"], ["predict"], ["export"]):
        _run(*stage, "-c", str(example_config), "--run-dir", str(run_dir))
    meta = json.loads((run_dir / "model" / "meta.json").read_text())
    assert meta["model_type"] == "numpy_logistic" and meta["plugin"]["plugin"] == "qlop_example_plugin"
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    assert len(preds) > 1000 and preds["prob"].between(0, 1).all()
    assert (run_dir / "export" / meta["model_file"]).read_bytes() == (
        run_dir / "model" / meta["model_file"]
    ).read_bytes()
    # the example model has no ONNX converter: the onnx exporter says so in one line
    cfg = example_config.read_text().replace('format_name = "native"', 'format_name = "onnx"')
    example_config.write_text(cfg)
    result = CliRunner().invoke(
        cli, ["-p", "qlop_example_plugin", "export", "-c", str(example_config), "--run-dir", str(run_dir)]
    )
    assert result.exit_code == 2 and "no ONNX converter" in result.output
    assert json.loads((run_dir / "export" / "export_summary.json").read_text())["format_name"] == "native"
