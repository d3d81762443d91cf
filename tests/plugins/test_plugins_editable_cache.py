"""An editable-installed plugin (``pip install -e``, as docs/plugins/writing.md teaches) is keyed by its
files: run once, edit the feature formula, run again, and the features stage and everything downstream
recompute with the new values instead of coming back "cached".

The package is installed for real with pip, into a virtual environment of this test that sees the
main environment's packages (``--system-site-packages``), so the shared environment is never changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "qlop-editable-cache-probe"
version = "0.1.0"
requires-python = ">=3.11"

[project.entry-points.qlop]
editable_probe = "qlop_editable_probe"

[tool.setuptools.packages.find]
where = ["src"]
"""

PLUGIN = """
from qlop import hookimpl
from qlop.plugins.specs import ComponentSpec

__version__ = "0.1.0"


@hookimpl
def qlop_register_feature_step():
    return ComponentSpec(name="probe_momentum", factory="qlop_editable_probe.steps:Momentum",
                         summary="test: close over close N bars ago")
"""

# The formula lives in a helper module the plugin module does not import at registration: editing
# any file of the package must count, not only the entry-point module.
STEPS = """
import pandas as pd
from pydantic import BaseModel, ConfigDict
from qlop.interfaces import BaseFeatureStepPlugin

LAG = 5


class MomentumParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Momentum(BaseFeatureStepPlugin):
    params_model = MomentumParams

    def transform(self, data):
        close = data["close"]
        past = close.groupby(level="ticker", sort=False).shift(LAG)
        return pd.DataFrame({"probe_momentum": (close / past - 1.0).astype("float64")}, index=data.index)
"""

CONFIG = """
seed = 3
[data]
data_source_type = "sample"
tickers = ["AAPL", "KO"]
start_date = 2008-01-01
end_date = 2013-12-31
[features]
steps = [{ step_type = "returns", step_params = { windows = [1, 5] } }, { step_type = "probe_momentum" }]
[label]
label_type = "leverage_opportunity"
label_params = { leverage = 2.0, horizon = 5, take_profit = 0.04, stop_loss = 0.03 }
[model]
model_type = "logistic_regression"
validation = { train_years = 2.0, test_months = 12, embargo_days = 5 }
[backtest]
strategy_type = "probability_threshold"
strategy_params = { entry = 0.5 }
leverage = 2.0
"""


def _run(python: Path, cwd: Path, env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [str(python), "-c", "from qlop.cli.main import main; main()", "run", "-c", "c.toml", "--run-dir", "run"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads((cwd / "run" / "manifest.json").read_text())


def _statuses(manifest: dict) -> dict[str, str]:
    return {s: r["status"] for s, r in manifest["stages"].items() if r["status"] != "skipped"}  # no export


def test_editing_an_editable_plugin_recomputes_the_stages_it_feeds(tmp_path):
    import pandas as pd

    project = tmp_path / "qlop-editable-cache-probe"
    (project / "src" / "qlop_editable_probe").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "src" / "qlop_editable_probe" / "__init__.py").write_text(PLUGIN)
    steps = project / "src" / "qlop_editable_probe" / "steps.py"
    steps.write_text(STEPS)

    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True, timeout=120
    )
    python = venv / "bin" / "python"
    pip = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",
            "-e",
            str(project),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr

    env = {k: v for k, v in os.environ.items() if not k.startswith("QLOP_")}
    env.update(QLOP_CACHE_DIR=str(tmp_path / "cache"), QLOP_LOAD_PLUGINS="editable_probe")
    work = tmp_path / "work"
    work.mkdir()
    (work / "c.toml").write_text(CONFIG)
    try:
        listed = subprocess.run(
            [str(python), "-c", "from qlop.cli.main import main; main()", "plugins", "list", "--json"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        record = {r["name"]: r for r in json.loads(listed.stdout)}["editable_probe"]
        assert record["path"] == str(project / "src" / "qlop_editable_probe" / "__init__.py")  # the source tree

        first = _run(python, work, env)
        assert _statuses(first) == {
            "data": "completed",
            "features": "completed",
            "train": "completed",
            "backtest": "completed",
        }
        key = first["stages"]["features"]["plugins"]["editable_probe"]
        assert key.startswith("0.1.0+sha256:")
        values = pd.read_parquet(work / "run" / "features.parquet")["probe_momentum"]
        probs = pd.read_parquet(work / "run" / "predictions.parquet")["prob"]

        again = _run(python, work, env)  # unchanged code: everything cached
        assert set(_statuses(again).values()) == {"cached"}

        steps.write_text(STEPS.replace("LAG = 5", "LAG = 10"))  # same version, new formula
        edited = _run(python, work, env)
        assert _statuses(edited) == {
            "data": "cached",
            "features": "completed",
            "train": "completed",
            "backtest": "completed",
        }
        assert edited["stages"]["features"]["plugins"]["editable_probe"] not in (key, None)
        new_values = pd.read_parquet(work / "run" / "features.parquet")["probe_momentum"]
        assert not new_values.equals(values)
        expected = pd.read_parquet(work / "run" / "data.parquet")["close"]
        expected = expected / expected.groupby(level="ticker", sort=False).shift(10) - 1.0
        pd.testing.assert_series_equal(new_values, expected.reindex(new_values.index), check_names=False)
        assert not pd.read_parquet(work / "run" / "predictions.parquet")["prob"].equals(probs)
    finally:
        subprocess.run(
            [str(python), "-m", "pip", "uninstall", "--quiet", "--yes", "qlop-editable-cache-probe"],
            capture_output=True,
            timeout=300,
        )
        shutil.rmtree(venv, ignore_errors=True)
