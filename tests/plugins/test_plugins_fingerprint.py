"""What stands for a plugin's code in a cache key: the version of a wheel install, a hash of the files
of an editable install or a local plugin (so editing it never serves a stale cached stage)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from qlop.plugins import fingerprint
from qlop.plugins.fingerprint import code_id, is_editable
from qlop.plugins.records import SOURCE_CLI, SOURCE_ENTRY_POINT, SOURCE_PLUGINS_DIR, PluginRecord


def _install(site: Path, dist: str, package: str, direct_url: dict | None) -> Path:
    """A fake installed distribution (dist-info on ``site``) whose package lives in ``site/src``."""
    info = site / f"{dist.replace('-', '_')}-0.3.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3.0\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))
    pkg = site / "src" / package
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("X = 1\n")
    (pkg / "steps.py").write_text("def f(x):\n    return x + 1\n")
    return pkg


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(site / "src"))
    is_editable.cache_clear()
    yield site
    is_editable.cache_clear()
    for name in [m for m in sys.modules if m.startswith("qlop_fp_")]:
        del sys.modules[name]


def _record(dist: str, module: str, source: str = SOURCE_ENTRY_POINT) -> PluginRecord:
    return PluginRecord("fp", source, module=module, distribution=dist, version="0.3.0")


def test_a_wheel_install_is_keyed_by_its_version(site):
    _install(site, "qlop-fp-wheel", "qlop_fp_wheel", None)
    _install(site, "qlop-fp-localwheel", "qlop_fp_localwheel", {"url": "file:///x", "dir_info": {}})
    assert not is_editable("qlop-fp-wheel") and not is_editable("qlop-fp-localwheel")
    assert code_id(_record("qlop-fp-wheel", "qlop_fp_wheel")) == "0.3.0"
    assert code_id(_record("qlop-fp-localwheel", "qlop_fp_localwheel")) == "0.3.0"
    # a distribution that cannot be found (e.g. a test double) has only its name and version
    assert code_id(_record("qlop-fp-not-installed", "qlop_fp_nowhere")) == "0.3.0"


def test_an_editable_install_is_keyed_by_its_package_files(site):
    pkg = _install(site, "qlop-fp-edit", "qlop_fp_edit", {"url": "file:///x", "dir_info": {"editable": True}})
    assert is_editable("qlop-fp-edit")
    importlib.import_module("qlop_fp_edit")
    record = _record("qlop-fp-edit", "qlop_fp_edit.steps")
    first = code_id(record)
    assert first is not None and first.startswith("0.3.0+sha256:") and len(first) == len("0.3.0+sha256:") + 64
    assert code_id(record) == first
    # byte-code caches do not count; any other file of the package does (a helper module, not the
    # entry-point module itself)
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "steps.cpython-311.pyc").write_bytes(b"\0" * 10)
    assert code_id(record) == first
    (pkg / "steps.py").write_text("def f(x):\n    return x + 2\n")
    second = code_id(record)
    assert second != first
    (pkg / "data.json").write_text("{}")
    assert code_id(record) not in (first, second)


def test_a_plugins_dir_file_and_a_p_module_are_keyed_by_their_files(site, tmp_path):
    plugin_file = tmp_path / "local_thing.py"
    plugin_file.write_text("A = 1\n")
    local = PluginRecord(
        "local_thing", SOURCE_PLUGINS_DIR, module="qlop_local_plugins.local_thing", path=str(plugin_file)
    )
    before = code_id(local)
    assert before is not None and before.startswith("sha256:")
    plugin_file.write_text("A = 2\n")
    assert code_id(local) != before

    pkg = site / "src" / "qlop_fp_cli"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("__version__ = '1.2'\n")
    cli_record = PluginRecord("qlop_fp_cli", SOURCE_CLI, module="qlop_fp_cli", version="1.2")
    value = code_id(cli_record)  # found without importing it
    assert "qlop_fp_cli" not in sys.modules
    assert value is not None and value.startswith("1.2+sha256:")
    (pkg / "more.py").write_text("B = 1\n")
    assert code_id(cli_record) != value


def test_no_files_no_version_gives_none(site):
    assert code_id(PluginRecord("ghost", SOURCE_CLI, module="qlop_fp_does_not_exist")) is None
    assert fingerprint.source_hash(PluginRecord("ghost", SOURCE_PLUGINS_DIR)) is None
