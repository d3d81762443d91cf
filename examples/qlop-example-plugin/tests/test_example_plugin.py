"""The plugin as QLOP sees it: registered, listed, and its command runs (the test kit's fixtures)."""

import json

import qlop_example_plugin


def test_registers_every_component(qlop_register, qlop_plugin_manager):
    record = qlop_register(qlop_example_plugin, name="example")
    qlop_plugin_manager.load_all_registries()
    assert record.status == "active"
    assert record.provides == {
        "command": ["example-info"],
        "feature_step": ["range_position"],
        "label": ["forward_return_sign"],
        "model": ["numpy_logistic"],
        "strategy": ["probability_band"],
    }


def test_invalid_params_name_the_field(qlop_register, qlop_plugin_manager):
    import pytest

    from qlop.api import ConfigError

    qlop_register(qlop_example_plugin, name="example")
    with pytest.raises(ConfigError, match=r"model\.model_params\.l2: must be between 0 and 1000000 \(got -1\)"):
        qlop_plugin_manager.create("model", "numpy_logistic", {"l2": -1}, "model.model_params")


def test_command_through_the_cli(qlop_cli):
    result = qlop_cli.invoke(
        ["-p", "qlop_example_plugin", "example-info", "--json"], env={"QLOP_DISABLE_PLUGINS": "example"}
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["provides"]["model"] == ["numpy_logistic"]
