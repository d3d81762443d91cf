"""End-to-end helpers: the real ``qlop`` CLI in subprocesses on a small slice of the sample data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

#: Run the installed CLI with this interpreter (``-m qlop.cli.main`` would make a second copy of the
#: module as ``__main__``, with its own classes).
QLOP_MAIN = "from qlop.cli.main import main; main()"


#: A complete pipeline small enough to run in seconds: 3 tickers, 8 years, 4 walk-forward folds.
SMALL_CONFIG = """
name = "e2e"
seed = 7
[data]
data_source_type = "sample"
tickers = ["AAPL", "MSFT", "KO"]
start_date = 2006-01-01
end_date = 2013-12-31
[features]
steps = [
  {{ step_type = "returns", step_params = {{ windows = [1, 5, 20] }} }},
  {{ step_type = "rsi", step_params = {{ timeperiod = 14 }} }},
  {{ step_type = "natr", step_params = {{ timeperiod = 14 }} }},{extra_steps}
]
[label]
label_type = "leverage_opportunity"
label_params = {{ leverage = 2.0, horizon = 5, take_profit = 0.04, stop_loss = 0.03 }}
[model]
model_type = "xgboost"
model_params = {{ n_estimators = 30, max_depth = 3, nthread = 1 }}
validation = {{ train_years = 3.0, test_months = 12, embargo_days = 5 }}
[backtest]
strategy_type = "probability_threshold"
strategy_params = {{ entry = 0.55 }}
leverage = 2.0
[export]
format_name = "onnx"
"""

#: A feature step that sleeps for $QLOP_E2E_SLEEP seconds, so a test can interrupt a run mid-stage.
SLEEPY_PLUGIN = """
import os, time
import pandas as pd
from pydantic import BaseModel, ConfigDict
from qlop import hookimpl
from qlop.interfaces import BaseFeatureStepPlugin
from qlop.plugins.specs import ComponentSpec

class SleepyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

class Sleepy(BaseFeatureStepPlugin):
    params_model = SleepyParams
    def transform(self, data):
        time.sleep(float(os.environ.get("QLOP_E2E_SLEEP", "0")))
        return pd.DataFrame({"sleepy_one": 1.0}, index=data.index)

@hookimpl
def qlop_register_feature_step():
    return ComponentSpec(name="sleepy", factory=Sleepy, params_model=SleepyParams, summary="test: sleeps")
"""


def write_config(path: Path, extra_steps: str = "") -> Path:
    path.write_text(SMALL_CONFIG.format(extra_steps=extra_steps), encoding="utf-8")
    return path


def qlop_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(extra)
    return env


def qlop(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", QLOP_MAIN, *args],
        cwd=cwd,
        env=env or qlop_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def qlop_popen(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", QLOP_MAIN, *args],
        cwd=cwd,
        env=env or qlop_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def wait_for_event(path: Path, predicate, timeout: float = 120.0, proc: subprocess.Popen | None = None) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in read_jsonl(path):
            if predicate(event):
                return event
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process ended first: {proc.returncode} {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.05)
    raise AssertionError(f"no matching event in {path} after {timeout} s")
