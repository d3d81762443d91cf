"""Configs: TOML, JSON and YAML; every error reported field by field with its path, exit 2, no traceback."""

from __future__ import annotations

import json
import sys
import types

import pytest
from pydantic import BaseModel, ConfigDict, Field

from qlop import hookimpl
from qlop.config import PipelineConfig, config_json_schema, load_config
from qlop.errors import ConfigError
from qlop.interfaces import BaseLabelPlugin, BaseModelPlugin
from qlop.plugins.specs import ComponentSpec

PLUGIN = "qlop_cfgtest_plugin"


class ToyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_depth: int = Field(3, gt=0, le=20, description="Tree depth")


class ToyModel(BaseModelPlugin):
    params_model = ToyParams

    def train(self, X_train, y_train, X_val=None, y_val=None):
        return {}

    def predict(self, X):
        return None

    def save_model(self, artifact, path):
        return []

    def load_model(self, path):
        return {}


class HorizonParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    horizon: int = Field(10, ge=1)


class ToyLabel(BaseLabelPlugin):
    params_model = HorizonParams

    def make_labels(self, data):
        return data


class WeeksParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weeks: int = Field(1, ge=1)


class WeeksLabel(ToyLabel):
    """Its horizon is not a ``horizon`` param: only the label's own ``horizon`` property knows it."""

    params_model = WeeksParams

    @property
    def horizon(self) -> int:
        return 5 * self.label_params.weeks


@pytest.fixture
def cfg_plugin(monkeypatch):
    """A plugin module loadable with ``-p qlop_cfgtest_plugin`` (components: toy_model, toy_label, weeks_label)."""
    module = types.ModuleType(PLUGIN)
    module.qlop_register_model = hookimpl(lambda: ComponentSpec("toy_model", ToyModel))
    module.qlop_register_label = hookimpl(
        lambda: [ComponentSpec("toy_label", ToyLabel), ComponentSpec("weeks_label", WeeksLabel)]
    )
    monkeypatch.setitem(sys.modules, PLUGIN, module)
    return module


TOML = """
name = "t"
seed = 3

[data]
data_source_type = "sample"
tickers = ["AAPL", "MSFT"]
start_date = "2012-01-01"
end_date = "2014-12-31"

[label]
label_type = "toy_label"
label_params = { horizon = 5 }

[model]
model_type = "toy_model"
model_params = { max_depth = 4 }

[model.validation]
embargo_days = 5
"""


def as_data() -> dict:
    import tomllib

    return tomllib.loads(TOML)


def write(tmp_path, name: str, data: dict | str) -> str:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data)
    elif name.endswith(".json"):
        path.write_text(json.dumps(data))
    else:
        import yaml

        path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.mark.parametrize("name", ["c.toml", "c.json", "c.yaml", "c.yml"])
def test_valid_config_in_every_format(qlop_cli, cfg_plugin, tmp_path, name):
    path = write(tmp_path, name, TOML if name.endswith(".toml") else as_data())
    result = qlop_cli.invoke(["-p", PLUGIN, "config", "validate", path])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{path}: valid (data, label, model)"
    assert (
        load_config(path, validate=False).model_dump()
        == load_config(write(tmp_path, "ref.toml", TOML), validate=False).model_dump()
    )


def error_of(qlop_cli, path: str, *extra: str) -> str:
    result = qlop_cli.invoke([*extra, "config", "validate", path])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert lines[-1].startswith("Error: ")
    return lines[-1][len("Error: ") :]


def test_file_not_found(qlop_cli, tmp_path):
    assert error_of(qlop_cli, str(tmp_path / "nope.toml")) == f"{tmp_path / 'nope.toml'}: config file not found"


def test_unknown_format(qlop_cli, tmp_path):
    path = write(tmp_path, "c.ini", "[data]\n")
    assert error_of(qlop_cli, path) == f"{path}: unknown config format 'ini' (use .toml, .json or .yaml)"


@pytest.mark.parametrize(
    "name, text, message",
    [
        (
            "c.toml",
            "[data\n",
            "cannot parse TOML: Expected ']' at the end of a table declaration (at line 1, column 6)",
        ),
        ("c.json", '{"data": }', "cannot parse JSON: Expecting value: line 1 column 10 (char 9)"),
        ("c.yaml", "data: [1, 2\n", "cannot parse YAML: while parsing a flow sequence"),
        ("c.json", "[1, 2]", "the top level must be a table/mapping"),
    ],
)
def test_parse_errors_name_file_and_position(qlop_cli, tmp_path, name, text, message):
    path = write(tmp_path, name, text)
    assert error_of(qlop_cli, path) == f"{path}: {message}"


def test_section_errors_are_reported_field_by_field(qlop_cli, tmp_path):
    data = as_data()
    data["colour"] = "blue"
    data["backtest"] = {"leverage": 500, "commission_bps": -1}
    data["model"]["validation"]["test_months"] = 0
    path = write(tmp_path, "c.json", data)
    message = error_of(qlop_cli, path)
    assert message == (
        f"{path}: model.validation.test_months: must be between 1 and 1200 months (got 0); "
        "backtest.leverage: must be greater than 0 and at most 100 x margin (got 500); "
        "backtest.commission_bps: must be between 0 and 1000 bps (got -1); "
        "colour: unknown field"
    )


def test_cross_field_rules(qlop_cli, tmp_path):
    data = as_data()
    data["data"]["start_date"], data["data"]["end_date"] = "2015-01-01", "2014-01-01"
    data["backtest"] = {"leverage": 5, "maintenance_margin": 0.25}
    message = error_of(qlop_cli, write(tmp_path, "c.json", data))
    assert "data: start_date 2015-01-01 is after end_date 2014-01-01" in message
    assert (
        "backtest.maintenance_margin: leverage 5 x maintenance_margin 0.25 = 1.25 >= 1: "
        "the position would be liquidated at entry"
    ) in message
    assert "Value error" not in message  # pydantic's prefix is dropped: the message is the validator's own


def test_plugin_params_errors_with_paths(qlop_cli, cfg_plugin, tmp_path):
    data = as_data()
    data["model"]["model_params"] = {"max_depth": 0, "min_child": 2}
    data["label"]["label_params"] = {"horizon": "soon"}
    message = error_of(qlop_cli, write(tmp_path, "c.yaml", data), "-p", PLUGIN)
    assert message.endswith(
        "c.yaml: label.label_params.horizon: Input should be a valid integer, unable to parse string as an "
        "integer (got 'soon'); model.model_params.max_depth: Input should be greater than 0 (got 0); "
        "model.model_params.min_child: unknown field"
    )


def test_unknown_component_did_you_mean(qlop_cli, cfg_plugin, tmp_path):
    data = as_data()
    data["model"]["model_type"] = "toy_modle"
    message = error_of(qlop_cli, write(tmp_path, "c.json", data), "-p", PLUGIN)
    assert "model.model_type: unknown model 'toy_modle'. Did you mean 'toy_model'? Available: " in message


def test_embargo_shorter_than_label_horizon(qlop_cli, cfg_plugin, tmp_path):
    data = as_data()
    data["model"]["validation"]["embargo_days"] = 2
    message = error_of(qlop_cli, write(tmp_path, "c.json", data), "-p", PLUGIN)
    assert message.endswith(
        "model.validation.embargo_days: 2 is shorter than the label horizon (5); test labels would leak into training"
    )


def test_embargo_is_checked_against_the_labels_own_horizon(qlop_cli, cfg_plugin, tmp_path):
    """Validation asks the label for its horizon (BaseLabelPlugin.horizon), as the train stage does."""
    data = as_data()
    data["label"] = {"label_type": "weeks_label", "label_params": {"weeks": 2}}
    data["model"]["validation"]["embargo_days"] = 9
    message = error_of(qlop_cli, write(tmp_path, "c.json", data), "-p", PLUGIN)
    assert message.endswith(
        "model.validation.embargo_days: 9 is shorter than the label horizon (10); test labels would leak into training"
    )


def test_verbose_shows_the_traceback(qlop_cli, tmp_path):
    result = qlop_cli.invoke(["-v", "config", "validate", str(tmp_path / "nope.toml")])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)


def test_plugins_dir_from_the_config_is_relative_to_it(qlop_cli, tmp_path):
    plugins = tmp_path / "my_plugins"
    plugins.mkdir()
    (plugins / "cfg_local.py").write_text(
        "from qlop import hookimpl\nfrom qlop.plugins.specs import ComponentSpec\n"
        "from qlop.interfaces import BaseLabelPlugin\n"
        "class L(BaseLabelPlugin):\n    def make_labels(self, data):\n        return data\n"
        "@hookimpl\ndef qlop_register_label():\n    return ComponentSpec('dir_label', L)\n"
    )
    data = as_data()
    del data["model"]
    data["label"] = {"label_type": "dir_label"}
    data["plugins_dir"] = "my_plugins"
    path = write(tmp_path, "c.json", data)
    result = qlop_cli.invoke(["config", "validate", path])
    assert result.exit_code == 0, result.output
    assert load_config(path, validate=False).plugins_dir == str(plugins.resolve())


def test_a_plugins_dir_named_twice_loads_once(qlop_cli, tmp_path):
    """``--plugins-dir X`` and a config whose ``plugins_dir`` is X (validated twice): one plugin, no clash."""
    plugins = tmp_path / "my_plugins"
    plugins.mkdir()
    (plugins / "cfg_twice.py").write_text(
        "from qlop import hookimpl\nfrom qlop.plugins.specs import ComponentSpec\n"
        "from qlop.interfaces import BaseLabelPlugin\n"
        "class L(BaseLabelPlugin):\n    def make_labels(self, data):\n        return data\n"
        "@hookimpl\ndef qlop_register_label():\n    return ComponentSpec('twice_label', L)\n"
    )
    data = as_data()
    del data["model"]
    data["label"] = {"label_type": "twice_label"}
    data["plugins_dir"] = "my_plugins"
    path = write(tmp_path, "c.json", data)
    result = qlop_cli.invoke(["--plugins-dir", str(plugins), "config", "validate", path])
    assert result.exit_code == 0, result.output
    assert "already registered" not in result.output + result.stderr
    from qlop.plugins.manager import get_plugin_manager

    pm = get_plugin_manager()
    load_config(path)  # validating again asks for the folder again
    assert pm.records["cfg_twice"].status == "active"
    assert [r.name for r in pm.records.values() if r.status != "active" and r.name.startswith("cfg_")] == []


def test_schema_command(qlop_cli):
    result = qlop_cli.invoke(["config", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema == config_json_schema()
    assert {"data", "features", "label", "model", "backtest", "export", "seed"} <= set(schema["properties"])
    model = schema["$defs"]["ModelConfig"]["properties"]
    assert model["model_type"]["description"] == "Model plugin name"
    assert schema["$defs"]["BacktestConfig"]["additionalProperties"] is False


def test_defaults_are_a_valid_config():
    config = PipelineConfig()
    assert config.data.data_source_type == "sample" and config.model is None
