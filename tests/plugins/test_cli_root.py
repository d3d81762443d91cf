"""The root command: bare `qlop` shows the help (exit 0), and shell completion works as documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _qlop(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "qlop.cli.main", *args], capture_output=True, text=True, env=full, timeout=120
    )


def test_bare_qlop_prints_the_help_and_exits_0():
    done = _qlop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: qlop [OPTIONS] COMMAND [ARGS]...") and "demo" in done.stdout


def _complete(words: str, cword: int) -> list[str]:
    done = _qlop(env={"_QLOP_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)})
    assert done.returncode == 0, done.stderr
    return [line.split(",", 1)[1] for line in done.stdout.splitlines()]


def test_bash_completion_completes_commands_subcommands_and_options():
    assert _complete("qlop ru", 1) == ["run", "runs"]
    assert _complete("qlop runs ", 2) == ["list", "show"]
    assert "--run-dir" in _complete("qlop run --", 2)


def test_completion_scripts_are_generated_for_the_documented_shells():
    docs = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    for shell in ("bash", "zsh", "fish"):
        assert f"_QLOP_COMPLETE={shell}_source qlop" in docs
        done = _qlop(env={"_QLOP_COMPLETE": f"{shell}_source"})
        assert done.returncode == 0 and "_QLOP_COMPLETE" in done.stdout, done.stderr
