"""The README's examples are what a new user copies first: they must keep working."""

from __future__ import annotations

import re
from pathlib import Path

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
