"""``qlop.api`` is the whole plugin-author surface: bundled plugins use nothing else, and it stays light."""

from __future__ import annotations

import ast
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import qlop.api

ROOT = Path(__file__).resolve().parents[2]
API_DOC = ROOT / "docs" / "plugins" / "api.md"


def private_qlop_imports(root: Path, allowed: tuple[str, ...]) -> list[str]:
    """``file:line module`` of every absolute import of a ``qlop`` module outside ``allowed`` (a module
    and its submodules). ``from qlop import X`` counts as importing ``qlop.X``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = ([f"qlop.{alias.name}" for alias in node.names] if node.module == "qlop"
                           else [node.module])
            else:
                continue
            for module in modules:
                if module != "qlop" and not module.startswith("qlop."):
                    continue
                if not any(module == a or module.startswith(a + ".") for a in allowed):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {module}")
    return found


def test_scanner_catches_every_import_form(tmp_path, monkeypatch):
    """The rule below is only as good as the scan: each way of reaching an internal module is seen."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("import qlop.stages.data\nfrom qlop import hookimpl\nfrom qlop.api import DataError\n"
                              "def f():\n    from qlop.sim.engine import simulate\n"
                              "from . import sibling\nimport qlop_contrib.x\nimport qlopx\n")
    assert private_qlop_imports(pkg, ("qlop.api",)) == [
        "pkg/a.py:1 imports qlop.stages.data", "pkg/a.py:2 imports qlop.hookimpl",
        "pkg/a.py:5 imports qlop.sim.engine"]


def test_bundled_plugins_import_only_the_public_api():
    assert private_qlop_imports(ROOT / "qlop_contrib", ("qlop.api",)) == []


def test_example_plugin_imports_only_the_public_api_and_its_tests_the_testkit():
    example = ROOT / "examples" / "qlop-example-plugin"
    assert private_qlop_imports(example / "src", ("qlop.api",)) == []
    assert private_qlop_imports(example / "tests", ("qlop.api", "qlop.testing")) == []


def test_every_export_resolves_and_says_what_it_is():
    undocumented = []
    for name in qlop.api.__all__:
        value = getattr(qlop.api, name)
        if (inspect.isclass(value) or inspect.isfunction(value)) and not inspect.getdoc(value):
            undocumented.append(name)
    assert undocumented == []
    assert set(qlop.api.__all__) <= set(dir(qlop.api))
    with pytest.raises(AttributeError, match="no attribute 'stages'"):
        qlop.api.stages  # noqa: B018


def test_api_page_lists_exactly_the_exports():
    text = API_DOC.read_text(encoding="utf-8")
    rows = re.findall(r"^\| (`[^|]+`) \|", text, flags=re.M)
    listed = {n for row in rows for n in re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", row)}
    assert listed == set(qlop.api.__all__)


def test_registering_through_the_api_imports_no_heavy_library():
    code = ("import json, sys\n"
            "from qlop.api import BaseFeatureStepPlugin, BaseModelPlugin, ComponentSpec, DataError, hookimpl\n"
            "print(json.dumps(sorted(m for m in ('pandas', 'numpy', 'pyarrow', 'xgboost', 'qlop.stages')"
            " if m in sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout) == []


def test_grouping_helpers_are_the_ones_feature_steps_use(qlop_ohlcv_panel):
    panel = qlop_ohlcv_panel
    groups = qlop.api.ticker_groups(panel.index)
    assert groups is qlop.api.ticker_groups(panel.index)  # computed once per index
    tickers = panel.index.get_level_values(0)
    for start, end in groups.slices():
        assert len(set(tickers[start:end])) == 1
    assert len(groups) == tickers.nunique()
    with pytest.raises(qlop.api.DataError, match="not grouped by ticker|not increasing|duplicated"):
        qlop.api.ticker_groups(panel.iloc[::-1].index)
