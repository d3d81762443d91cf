"""One run layout: every artefact name of a run directory lives in qlop.layout, and one run-id rule."""

from __future__ import annotations

import ast
import datetime as dt
import re
from pathlib import Path

from qlop.layout import (
    RunLayout,
    find_tagged_run,
    gui_launch_config,
    new_run_dir,
    resolve_run,
    run_id,
)

REPO = Path(__file__).resolve().parents[2]
FILE_NAMES = sorted({v for k, v in vars(RunLayout).items() if k.isupper() and isinstance(v, str) and "." in v})
DIR_NAMES = {RunLayout.MODEL_DIR, RunLayout.BACKTEST_DIR, RunLayout.EXPORT_DIR}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        ):
            found.add(id(node.body[0].value))
    return found


def test_artefact_names_are_written_only_in_the_layout_module():
    """Code (not docstrings) names a run's files through RunLayout: no literal ``"metrics.json"`` or
    ``run_dir / "backtest"`` anywhere else in qlop or the bundled plugins."""
    name = re.compile(r"(?<![\w.-])(" + "|".join(map(re.escape, FILE_NAMES)) + r")(?!\w)")
    offenders = []
    for path in sorted([*REPO.glob("qlop/**/*.py"), *REPO.glob("qlop_contrib/**/*.py")]):
        if path == REPO / "qlop" / "layout.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        where = path.relative_to(REPO)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docs
                and name.search(node.value)
            ):
                offenders.append(f"{where}:{node.lineno}: {node.value[:60]!r}")
            if (
                isinstance(node, ast.BinOp)
                and isinstance(node.op, ast.Div)
                and isinstance(node.right, ast.Constant)
                and node.right.value in DIR_NAMES
            ):
                offenders.append(f"{where}:{node.lineno}: / {node.right.value!r}")
    assert not offenders, "use qlop.layout.RunLayout:\n" + "\n".join(offenders)


def test_the_scan_catches_a_literal():
    """The check above is not vacuous: the names it looks for are the files a real run writes."""
    assert {
        "config.json",
        "manifest.json",
        "events.jsonl",
        "data.parquet",
        "features.parquet",
        "labels.parquet",
        "predictions.parquet",
        "folds.json",
        "train_metrics.json",
        "meta.json",
        "equity.parquet",
        "trades.parquet",
        "metrics.json",
        "report.html",
        "export_summary.json",
        "bundle.json",
        "model.onnx",
    } <= set(FILE_NAMES)


def test_paths_of_a_run(tmp_path):
    layout = RunLayout(tmp_path / "r")
    assert layout.backtest_metrics == tmp_path / "r" / "backtest" / "metrics.json"
    assert layout.model_meta == tmp_path / "r" / "model" / "meta.json"
    assert layout.export_summary == tmp_path / "r" / "export" / "export_summary.json"
    assert RunLayout.STAGE_METRICS["backtest"] == "backtest/metrics.json"
    assert not layout.is_run() and layout.exported_models() == []
    layout.root.mkdir()
    layout.manifest.write_text("{}")
    assert layout.is_run() and layout.run_id == "r"


def test_one_run_id_rule_for_the_cli_and_the_gui(tmp_path):
    """``qlop run`` tags a run id with its config hash, the GUI with its task id: same shape, never reused."""
    from qlop.config import config_from_data
    from qlop.gui.launcher import new_run_dir as gui_run_dir
    from qlop.runs import config_hash
    from qlop.runs import new_run_dir as cli_run_dir

    now = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)
    assert run_id("0123456789abcdef", now) == "20240506-070809-01234567"
    config = config_from_data({"data": {"data_source_type": "sample", "tickers": ["AAPL"]}})
    first = cli_run_dir(tmp_path, config, now)
    assert first.name == f"20240506-070809-{config_hash(config)[:8]}"
    first.mkdir()
    assert cli_run_dir(tmp_path, config, now).name == first.name + "-2"  # an existing directory is never reused
    shape = re.compile(r"\d{8}-\d{6}-[0-9a-f]{8}")
    assert shape.fullmatch(gui_run_dir(tmp_path, "fedcba9876543210").name)
    assert new_run_dir(tmp_path, "fedcba98", now).name == "20240506-070809-fedcba98"


def test_a_task_finds_its_run_dir_again_and_names_cannot_escape(tmp_path):
    task = "fedcba9876543210aaaa"
    run = new_run_dir(tmp_path, task)
    assert find_tagged_run(tmp_path, task) is None  # not started: no events yet
    run.mkdir()
    RunLayout(run).events.write_text("")
    assert find_tagged_run(tmp_path, task) == run
    for bad in ("", "..", "../x", "a/b", "*", "[ab]"):
        assert find_tagged_run(tmp_path, bad) is None
        assert resolve_run(tmp_path, bad) is None
    assert resolve_run(tmp_path, run.name) is None  # no manifest: not a run yet
    RunLayout(run).manifest.write_text("{}")
    assert resolve_run(tmp_path, run.name) == run
    assert gui_launch_config(tmp_path, task) == tmp_path / ".qlop-gui" / f"{task}.json"
