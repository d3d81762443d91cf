"""Pasted configs: the same verdict and message as `qlop config validate`, parsed as data only."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from qlop.errors import ConfigError
from qlop.gui.configs import format_of, validate_text

VALID = """
name = "t"
[data]
data_source_type = "sample"
tickers = ["AAPL", "MSFT"]
start_date = "2010-01-01"
end_date = "2012-12-31"
[label]
label_type = "leverage_opportunity"
label_params = {horizon = 5}
"""

BAD = [
    (
        '[data]\ndata_source_type = "sampel"\n',
        "data.data_source_type: unknown data source 'sampel'. Did you mean 'sample'?",
    ),
    ('[data]\nstart_date = "2012-01-01"\nend_date = "2010-01-01"\n', "start_date 2012-01-01 is after end_date"),
    ("[label]\nlabel_params = {horizon = 0}\n", "label.label_params.horizon: must be between 1 and 5000 bars (got 0)"),
    ("[label]\nlabel_params = {horizn = 5}\n", "label.label_params.horizn: unknown field"),
    ("bogus = 1\n", "bogus: unknown field"),
]


def cli_error(tmp_path: Path, text: str, suffix: str = ".toml") -> str:
    from qlop.cli.main import cli

    path = tmp_path / f"config{suffix}"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["config", "validate", str(path)])
    assert result.exit_code == 2, result.output
    line = result.output.strip().splitlines()[-1]
    prefix = f"Error: {path}: "
    assert line.startswith(prefix)
    return line[len(prefix) :]


def test_valid_config_passes():
    config = validate_text(VALID, "toml")
    assert config.data.tickers == ["AAPL", "MSFT"]
    assert config.label.label_params == {"horizon": 5}


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_errors_match_qlop_config_validate(tmp_path: Path, text: str, expected: str):
    with pytest.raises(ConfigError) as info:
        validate_text(text, "toml", "<pasted config>")
    message = str(info.value)
    assert message.startswith("<pasted config>: ")
    assert expected in message
    assert message.removeprefix("<pasted config>: ") == cli_error(tmp_path, text)


def test_yaml_and_json_are_accepted(tmp_path: Path):
    yaml_text = "data:\n  tickers: [AAPL]\n  start_date: 2010-01-01\n"
    assert validate_text(yaml_text, "yaml").data.tickers == ["AAPL"]
    assert validate_text('{"data": {"tickers": ["KO"]}}', "json").data.tickers == ["KO"]
    message = str(pytest.raises(ConfigError, validate_text, '{"data": ', "json").value)
    assert message.startswith("<pasted config>: cannot parse JSON")


def test_yaml_tags_are_never_executed(tmp_path: Path):
    marker = tmp_path / "pwned"
    text = f"data: !!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(ConfigError, match="cannot parse YAML"):
        validate_text(text, "yaml")
    assert not marker.exists()


def test_plugins_dir_is_refused_from_the_gui(tmp_path: Path):
    marker = tmp_path / "imported"
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    with pytest.raises(ConfigError, match="plugins_dir: not accepted from the GUI"):
        validate_text(f'plugins_dir = "{plugins}"\n', "toml")
    assert not marker.exists()


def test_format_from_file_name():
    assert [format_of(n) for n in ("a.toml", "b.YML", "c.yaml", "d.json", None)] == [
        "toml",
        "yaml",
        "yaml",
        "json",
        "toml",
    ]
