"""docs/plugins/writing.md is executable: its files are built, pip-installed and their tests run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

WRITING = Path(__file__).resolve().parents[2] / "docs" / "plugins" / "writing.md"

pytestmark = pytest.mark.timeout(600)


def doc_files() -> dict[str, str]:
    files = {}
    for block in re.findall(r"```(?:toml|python)\n(.*?)```", WRITING.read_text(), flags=re.S):
        first, _, rest = block.partition("\n")
        m = re.match(r"# file: (\S+)$", first.strip())
        if m:
            files[m.group(1)] = rest
    return files


def test_walkthrough_names_every_file_it_builds():
    assert set(doc_files()) == {
        "pyproject.toml",
        "src/qlop_gap/__init__.py",
        "src/qlop_gap/steps.py",
        "tests/test_gap.py",
    }


@pytest.mark.slow
def test_walkthrough_builds_an_installed_tested_plugin(tmp_path):
    project = tmp_path / "qlop-gap"
    for name, text in doc_files().items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    site = tmp_path / "site"
    pip = subprocess.run(
        [
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
            str(project),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("QLOP_")}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
        QLOP_CACHE_DIR=str(tmp_path / "cache"),
    )
    listed = subprocess.run(
        [sys.executable, "-m", "qlop.cli.main", "plugins", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    record = {r["name"]: r for r in json.loads(listed.stdout)}["gap"]
    assert (record["status"], record["source"], record["version"]) == ("active", "entry-point", "0.1.0")
    assert record["provides"] == {"feature_step": ["gap"]}
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    passed = re.search(r"(\d+) passed", tests.stdout)
    assert passed and int(passed.group(1)) >= 9, tests.stdout[-2000:]
