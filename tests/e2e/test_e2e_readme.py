"""The README's examples are what a new user copies first: they must keep working."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from qlop.cli.main import BUILTIN_COMMANDS, cli

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_config_example_validates(tmp_path: Path):
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## The config.*?```toml\n(.*?)```", text, re.S)
    assert block, "README lost its config example"
    config = tmp_path / "readme.toml"
    config.write_text(block.group(1), encoding="utf-8")
    result = CliRunner().invoke(cli, ["config", "validate", str(config)])
    assert result.exit_code == 0, result.output
    assert "valid (data, features, label, model, backtest, export)" in result.output


def test_readme_tour_names_only_commands_that_exist():
    text = README.read_text(encoding="utf-8")
    tour = re.search(r"## A tour of the CLI.*?```bash\n(.*?)```", text, re.S).group(1)
    used = {m.group(1) for m in re.finditer(r"^qlop (?:--\S+ \S+ )?([a-z]+)", tour, re.M)}
    assert used and used <= set(BUILTIN_COMMANDS), used - set(BUILTIN_COMMANDS)


def _quick_start() -> str:
    text = README.read_text(encoding="utf-8")
    section = re.search(r"## Quick start.*?(?=\n## )", text, re.S).group(0)
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def test_quick_start_makes_a_venv_and_installs_the_core_only():
    block = _quick_start()
    assert "python3-venv" in block and re.search(r"python3 -m venv \.venv && \. \.venv/bin/activate", block)
    assert re.search(r"^pip install -e \.(\s|$)", block, re.M) and "[dev]" not in block
    assert block.index("python3 -m venv") < block.index("pip install") < block.index("qlop demo")


#: The dev extras (pyproject's [project.optional-dependencies] dev) by import name.
DEV_ONLY = ("pytest", "_pytest", "pytest_timeout", "hypothesis", "empyrical", "playwright")

BLOCKER = f"""
import importlib.abc, sys

class _DevOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {DEV_ONLY!r}:
            raise ImportError(f"{{name}} is a dev extra: the core install must not need it")
        return None

sys.meta_path.insert(0, _DevOnly())
"""


@pytest.mark.slow
def test_a_whole_run_needs_none_of_the_dev_extras(tmp_path: Path):
    """`pip install -e .` is enough for the demo: a full pipeline runs with every dev extra unimportable."""
    import os

    from e2e_helpers import qlop, qlop_env, write_config

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER, encoding="utf-8")
    env = qlop_env(PYTHONPATH=os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p))
    blocked = subprocess.run([sys.executable, "-c", "import hypothesis"], env=env, capture_output=True, text=True)
    assert "is a dev extra" in blocked.stderr  # the blocker is in effect
    done = qlop(
        "run", "-c", str(write_config(tmp_path / "small.toml")), "--run-dir", str(tmp_path / "r"), cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "The answer" in done.stdout and (tmp_path / "r" / "backtest" / "report.html").is_file()
