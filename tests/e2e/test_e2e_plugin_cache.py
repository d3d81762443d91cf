"""The run cache follows the code of unversioned plugins: editing a ``--plugins-dir`` file reruns its stage.

A local plugin has no version number to put in a stage's cache key, so its file's hash stands in for it;
otherwise ``qlop run`` would keep serving features computed by the old code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from e2e_helpers import qlop  # noqa: E402  (tests/e2e, on sys.path via conftest)

PLUGIN = """
import pandas as pd
from pydantic import BaseModel, ConfigDict
from qlop import hookimpl
from qlop.interfaces import BaseFeatureStepPlugin
from qlop.plugins.specs import ComponentSpec

class P(BaseModel):
    model_config = ConfigDict(extra="forbid")

class Const(BaseFeatureStepPlugin):
    params_model = P
    def transform(self, data):
        return pd.DataFrame({"local_const": VALUE}, index=data.index)

@hookimpl
def qlop_register_feature_step():
    return ComponentSpec(name="local_const", factory=Const, params_model=P, summary="test: a constant")
"""

CONFIG = """
[data]
tickers = ["AAPL", "KO"]
start_date = 2010-01-01
end_date = 2011-12-31
[features]
steps = [{ step_type = "returns", step_params = { windows = [1] } }, { step_type = "local_const" }]
"""


def _run(tmp_path: Path) -> tuple[dict[str, str], float]:
    proc = qlop("--plugins-dir", "plug", "run", "-c", "c.toml", "--run-dir", "run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    statuses = {stage: rec["status"] for stage, rec in manifest["stages"].items()}
    value = float(pd.read_parquet(tmp_path / "run" / "features.parquet")["local_const"].iloc[-1])
    return statuses, value


def test_editing_a_plugins_dir_step_reruns_features(tmp_path):
    (tmp_path / "plug").mkdir()
    source = tmp_path / "plug" / "local_const.py"
    source.write_text(PLUGIN.replace("VALUE", "1.0"), encoding="utf-8")
    (tmp_path / "c.toml").write_text(CONFIG, encoding="utf-8")

    statuses, value = _run(tmp_path)
    assert statuses["features"] == "completed" and value == 1.0
    statuses, value = _run(tmp_path)
    assert statuses["features"] == "cached" and value == 1.0  # unchanged code: still cached

    source.write_text(PLUGIN.replace("VALUE", "2.0"), encoding="utf-8")
    statuses, value = _run(tmp_path)
    assert statuses["data"] == "cached"
    assert statuses["features"] == "completed" and value == 2.0
    recorded = json.loads((tmp_path / "run" / "manifest.json").read_text())["stages"]["features"]["plugins"]
    assert recorded["local_const"].startswith("sha256:")
