"""Discovery: the plugin is found through its entry point without importing torch; a missing or broken
PyTorch makes it `failed` with a one-line reason saying how to fix it; without the package nothing
else changes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from qlop_torch import _deps

HIDE_TORCH = (
    "import importlib.util as _u\n_real = _u.find_spec\n"
    "_u.find_spec = lambda name, *a, **k: None if name == 'torch' else _real(name, *a, **k)\n"
)
HIDE_PACKAGE = (
    "import qlop.plugins.discovery as _d\n_real = _d.iter_entry_points\n"
    "_d.iter_entry_points = lambda: [e for e in _real() if e.distribution != 'qlop-torch']\n"
)


def _records(proc) -> dict[str, dict]:
    assert proc.returncode == 0, proc.stderr
    return {r["name"]: r for r in json.loads(proc.stdout)}


def test_listing_plugins_registers_both_models_without_importing_torch(run_qlop) -> None:
    probe = "import atexit, sys\natexit.register(lambda: sys.stderr.write('TORCH=%s\\n' % ('torch' in sys.modules)))\n"
    proc = run_qlop("plugins", "list", "--all", "--json", code=probe)
    record = _records(proc)["torch"]
    assert record["status"] == "active" and record["distribution"] == "qlop-torch"
    assert record["provides"] == {"model": ["lstm", "mlp"]}
    assert "TORCH=False" in proc.stderr


def test_missing_torch_fails_the_plugin_and_doctor_says_what_to_install(run_qlop) -> None:
    record = _records(run_qlop("plugins", "list", "--all", "--json", code=HIDE_TORCH))["torch"]
    assert record["status"] == "failed"
    assert record["error"] == "ImportError: PyTorch is not installed; install its CPU build: pip install torch==2.13.0"
    doctor = run_qlop("plugins", "doctor", code=HIDE_TORCH)
    assert doctor.returncode == 1
    assert "plugin 'torch'" in doctor.stdout and "pip install torch==2.13.0" in doctor.stdout


def test_broken_torch_fails_the_plugin_with_a_reinstall_hint(run_qlop, tmp_path: Path) -> None:
    fake = tmp_path / "site" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('libtorch_cpu.so: cannot open shared object file')\n")
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(fake.parent), os.environ.get("PYTHONPATH")]))}
    record = _records(run_qlop("plugins", "list", "--all", "--json", env=env))["torch"]
    assert record["status"] == "failed" and "\n" not in record["error"]
    assert "compiled core torch._C is missing" in record["error"]
    assert record["error"].endswith("pip install --force-reinstall torch==2.13.0")
    doctor = run_qlop("plugins", "doctor", env=env)
    assert doctor.returncode == 1 and "pip install --force-reinstall torch==2.13.0" in doctor.stdout


def test_an_unsupported_torch_release_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _deps.torch_problem() is None, "the installed torch is the supported one"
    monkeypatch.setattr(_deps, "version", lambda name: "2.9.1+cpu")
    assert _deps.torch_problem() == (
        "PyTorch 2.9.1+cpu is installed, qlop-torch needs torch>=2.13,<2.14: pip install torch==2.13.0"
    )


def test_without_the_package_nothing_else_changes(run_qlop, make_config, tmp_path: Path) -> None:
    with_it = _records(run_qlop("plugins", "list", "--all", "--json"))
    without = _records(run_qlop("plugins", "list", "--all", "--json", code=HIDE_PACKAGE))
    assert "torch" not in without
    assert {k: v for k, v in with_it.items() if k != "torch"} == without
    # asking for the model is then the usual one-line unknown-component error
    proc = run_qlop("train", "-c", str(make_config(tmp_path)), "--run-dir", str(tmp_path / "run"), code=HIDE_PACKAGE)
    assert proc.returncode == 2 and "unknown model 'lstm'" in proc.stderr and "Traceback" not in proc.stderr
