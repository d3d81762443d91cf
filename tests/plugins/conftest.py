"""Fixtures of the plugin-system tests: real installs of the example and fixture plugin packages.

The packages are installed once per session with pip (``--no-deps --target`` a temporary folder, from
copies of their sources so no build files land in the repository), and put on ``PYTHONPATH`` for
``qlop`` subprocesses: ``importlib.metadata`` finds their ``*.dist-info`` there, so the entry-point
path is exercised for real while the Python environment itself stays untouched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "qlop-example-plugin"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PACKAGES = {
    "example": EXAMPLE,
    "broken": FIXTURES / "broken",
    "typo": FIXTURES / "typo",
    "clash": FIXTURES / "clash",
    "badsig": FIXTURES / "badsig",
}


@dataclass
class Installed:
    sites: list[Path]

    def env(self, *, markers: Path | None = None, cache: Path, **extra: str) -> dict[str, str]:
        """Environment for a ``qlop`` subprocess that sees the installed plugins."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("QLOP_")}
        env["PYTHONPATH"] = os.pathsep.join([*map(str, self.sites), *filter(None, [os.environ.get("PYTHONPATH")])])
        env["QLOP_CACHE_DIR"] = str(cache)
        env["COLUMNS"] = "200"
        if markers is not None:
            env["QLOP_TEST_IMPORT_MARKERS"] = str(markers)
        env.update(extra)
        return env


def _pip_install(source: Path, site: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--no-compile",
        "--target",
        str(site),
        str(source),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"pip install of {source.name} failed:\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="session")
def installed_plugins(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """pip-installs the example plugin and the fixture plugins (broken, typo, clash, badsig) once.

    One ``--target`` folder per package, installed in parallel (each build is a separate process).
    """
    from concurrent.futures import ThreadPoolExecutor

    root = tmp_path_factory.mktemp("plugin-install")
    jobs = []
    for name, path in PACKAGES.items():
        copy = root / "src" / name
        shutil.copytree(path, copy, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "tests"))
        jobs.append((copy, root / "site" / name))
    with ThreadPoolExecutor(max_workers=max(2, min(len(jobs), os.cpu_count() or 2))) as pool:
        list(pool.map(lambda job: _pip_install(*job), jobs))
    return Installed([site for _, site in jobs])


@dataclass
class QlopProcess:
    installed: Installed
    cache: Path
    markers: Path

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, python_args: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        """Run the real CLI (``python -m qlop.cli.main ARGS``) in a subprocess."""
        full_env = self.installed.env(markers=self.markers, cache=self.cache, **(env or {}))
        return subprocess.run(
            [sys.executable, *python_args, "-m", "qlop.cli.main", *args],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=cwd or self.cache,
            timeout=300,
        )

    def python(self, code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full_env = self.installed.env(markers=self.markers, cache=self.cache, **(env or {}))
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, cwd=self.cache, timeout=300
        )

    def imported(self) -> set[str]:
        """Fixture plugin modules whose import started (they leave a marker file)."""
        return {p.name for p in self.markers.iterdir()}


@pytest.fixture
def qlop_proc(installed_plugins: Installed, tmp_path: Path) -> QlopProcess:
    cache, markers = tmp_path / "cache", tmp_path / "markers"
    cache.mkdir()
    markers.mkdir()
    return QlopProcess(installed_plugins, cache, markers)
