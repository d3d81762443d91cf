"""Generative tests: for every generated config or data file, QLOP answers (exit 0) or refuses in one line
(exit 2), never with a traceback, and the run directory holds complete artefacts or none.

Configs are mutated from a small valid pipeline across every field of the config and of the params of
the plugins each section names (:mod:`fuzz`); data files are generated CSV and Parquet tables. A bounded
number of examples runs in CI; ``QLOP_FUZZ=1`` runs thousands (docs/hardening.md).
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import pytest
from fuzz import examples, market_table, mutated_config, write_config, write_table
from hardening_helpers import assert_complete_or_none
from hypothesis import given
from hypothesis import strategies as st

from qlop.testing.plugin import QlopCli

#: The CLI in-process (a fresh plugin manager per call): no import cost per example.
CLI = QlopCli()

#: Sections of the config whose values name places on disk: never pointed at the machine's own folders
#: by a generated config (the file-system tests cover them).
PINNED = ("runs_dir", "plugins_dir")

_scratch = Path(tempfile.mkdtemp(prefix="qlop-fuzz-"))
_counter = itertools.count()


def _fresh(name: str) -> Path:
    path = _scratch / f"{name}-{next(_counter)}"
    path.mkdir(parents=True)
    return path


def _base(runs: Path) -> dict[str, Any]:
    return {
        "name": "fuzz",
        "seed": 1,
        "runs_dir": str(runs),
        "data": {
            "data_source_type": "sample",
            "tickers": ["AAPL", "KO"],
            "start_date": "2008-01-01",
            "end_date": "2012-12-31",
        },
        "features": {
            "steps": [
                {"step_type": "returns", "step_params": {"windows": [1, 5]}},
                {"step_type": "rsi", "step_params": {"timeperiod": 14}},
            ]
        },
        "label": {
            "label_type": "leverage_opportunity",
            "label_params": {"horizon": 5, "take_profit": 0.04, "stop_loss": 0.03},
        },
        "model": {
            "model_type": "logistic_regression",
            "model_params": {},
            "validation": {"train_years": 2.0, "test_months": 12},
        },
        "backtest": {"strategy_type": "probability_threshold", "strategy_params": {"entry": 0.55}, "benchmark": "GSPC"},
        "export": {"format_name": "onnx"},
    }


def _kinds(manager: Any, cheap: bool) -> dict[str, list[str]]:
    """Component names to swap in: every registered one for validation; for runs, the ones that run in a
    second or two offline (no network, database, Java or PyTorch)."""
    kinds = {
        k: manager.registry(k).names()
        for k in ("data_source", "feature_step", "label", "model", "strategy", "exporter")
    }
    if cheap:
        kinds["data_source"] = ["sample", "synthetic"]
        kinds["model"] = ["baseline", "logistic_regression", "xgboost"]
        kinds["exporter"] = [n for n in kinds["exporter"] if n in ("onnx", "native", "predictions")]
    return kinds


def _pin(data: dict[str, Any], runs: Path) -> dict[str, Any]:
    data["runs_dir"] = str(runs)
    data.pop("plugins_dir", None)
    return data


def check(result: Any, run_dir: Path | None = None) -> None:
    """QLOP's promise for one command: exit 0 or 2, no traceback, one error line when refused, and a run
    directory holding complete artefacts or none."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}\n{result.output[-3000:]}"
    )
    assert result.exit_code in (0, 2), result.output[-3000:]
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, result.stderr[-3000:]
    if run_dir is not None:
        assert_complete_or_none(run_dir)


@pytest.fixture(scope="module")
def manager() -> Any:
    from qlop.plugins.manager import get_plugin_manager

    return get_plugin_manager()


@pytest.mark.slow
@examples(ci=100)
@given(data=st.data(), fmt=st.sampled_from(["toml", "json", "yaml"]))
def test_generated_configs_validate_or_are_refused_in_one_line(manager, data, fmt):
    runs = _scratch / "runs"
    config = data.draw(mutated_config(_base(runs), manager, _kinds(manager, cheap=False), max_changes=4))
    path = write_config(_fresh("validate") / "config", _pin(config, runs), fmt)
    check(CLI.invoke(["config", "validate", str(path)]))


@pytest.mark.slow
@examples(ci=20)
@given(data=st.data(), fmt=st.sampled_from(["toml", "json", "yaml"]))
def test_generated_configs_run_or_are_refused_leaving_whole_artefacts(manager, data, fmt):
    runs = _scratch / "runs"  # one runs folder: unchanged stages are reused, as in a real study
    config = data.draw(mutated_config(_base(runs), manager, _kinds(manager, cheap=True), max_changes=2, hostile=10))
    path = write_config(_fresh("run") / "config", _pin(config, runs), fmt)
    run_dir = runs / f"r{next(_counter)}"
    check(CLI.invoke(["run", "-c", str(path), "--run-dir", str(run_dir)]), run_dir)


@pytest.mark.slow
@examples(ci=60)
@given(
    rows=market_table(),
    fmt=st.sampled_from(["csv", "parquet"]),
    mangle=st.sampled_from([0] * 8 + [1, 2, 3]),
    long_file=st.booleans(),
)
def test_generated_data_files_load_or_are_refused_leaving_whole_artefacts(rows, fmt, mangle, long_file):
    folder = _fresh("data")
    if long_file:
        source = write_table(folder / "panel", rows, fmt, mangle)
    else:  # a folder of <TICKER> files
        source = folder / "tickers"
        source.mkdir()
        for ticker in sorted({str(r.get("ticker", "AAA")) for r in rows} or {"AAA"}):
            own = [{k: v for k, v in r.items() if k != "ticker"} for r in rows if str(r.get("ticker", "AAA")) == ticker]
            write_table(source / (ticker or "blank"), own, fmt, mangle)
    config = {
        "name": "files",
        "runs_dir": str(folder / "runs"),
        "data": {"data_source_type": fmt, "data_source_params": {"path": str(source)}},
        "features": {"steps": [{"step_type": "returns", "step_params": {"windows": [1, 5]}}]},
        "label": {"label_type": "leverage_opportunity", "label_params": {"horizon": 3}},
    }
    path = write_config(folder / "config", config, "json")
    run_dir = folder / "runs" / "r"
    check(CLI.invoke(["run", "-c", str(path), "--run-dir", str(run_dir)]), run_dir)
    if long_file:
        check(CLI.invoke(["data", "info", str(source)]))


@examples(ci=20)
@given(raw=st.binary(max_size=200), fmt=st.sampled_from(["toml", "json", "yaml"]))
def test_arbitrary_bytes_as_a_config_are_refused_in_one_line(raw, fmt):
    path = _fresh("bytes") / f"config.{fmt}"
    path.write_bytes(raw)
    check(CLI.invoke(["config", "validate", str(path)]))
