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
                modules = [f"qlop.{alias.name}" for alias in node.names] if node.module == "qlop" else [node.module]
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
    (pkg / "a.py").write_text(
        "import qlop.stages.data\nfrom qlop import hookimpl\nfrom qlop.api import DataError\n"
        "def f():\n    from qlop.sim.engine import simulate\n"
        "from . import sibling\nimport qlop_contrib.x\nimport qlopx\n"
    )
    assert private_qlop_imports(pkg, ("qlop.api",)) == [
        "pkg/a.py:1 imports qlop.stages.data",
        "pkg/a.py:2 imports qlop.hookimpl",
        "pkg/a.py:5 imports qlop.sim.engine",
    ]


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
    code = (
        "import json, sys\n"
        "from qlop.api import BaseFeatureStepPlugin, BaseModelPlugin, ComponentSpec, DataError, hookimpl\n"
        "print(json.dumps(sorted(m for m in ('pandas', 'numpy', 'pyarrow', 'xgboost', 'qlop.stages')"
        " if m in sys.modules)))\n"
    )
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


def bundled_plugin_imports(root: Path) -> list[str]:
    """``file:line`` of every import of ``qlop_contrib`` (any form, at any depth) below ``root``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            if any(m == "qlop_contrib" or m.startswith("qlop_contrib.") for m in modules):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_the_core_never_imports_the_bundled_plugins():
    """``qlop`` knows interfaces, never a concrete plugin: the bundled ones are found by discovery,
    by module name, like any other (``qlop/plugins/discovery.py``)."""
    assert bundled_plugin_imports(ROOT / "qlop") == []


#: Imports every ``qlop`` module with ``qlop_contrib`` unimportable; prints the failures as JSON.
BLOCKED_IMPORTS = r"""
import importlib, importlib.abc, json, pkgutil, sys

class BlockBundled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "qlop_contrib" or name.startswith("qlop_contrib."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, BlockBundled())
import qlop

names = sorted(m.name for m in pkgutil.walk_packages(qlop.__path__, "qlop."))
failed = {}
for name in names:
    try:
        importlib.import_module(name)
    except BaseException as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
import qlop.runs
print(json.dumps({"modules": names, "failed": failed, "fingerprint": qlop.runs.code_fingerprint(),
                  "contrib_loaded": sorted(m for m in sys.modules if m.startswith("qlop_contrib"))}))
"""


def test_every_qlop_module_imports_with_the_bundled_plugins_unimportable():
    done = subprocess.run([sys.executable, "-c", BLOCKED_IMPORTS], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(report["modules"]) > 50 and {"qlop.api", "qlop.stages.backtest", "qlop.testing.data"} <= set(
        report["modules"]
    )
    assert report["failed"] == {}
    assert report["contrib_loaded"] == []
    assert len(report["fingerprint"]) == 64  # the code hash is computed without the bundled package
