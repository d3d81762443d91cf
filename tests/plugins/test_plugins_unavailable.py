"""Unknown-name errors say when the name belongs to a plugin that is installed but not loaded
(disabled, ``--no-plugins``, failed), from what that plugin provided when it last loaded; a blocked
plugin is still never imported to find out."""

from __future__ import annotations

import json
import types

import pytest

from qlop import hookimpl
from qlop.plugins.specs import ComponentSpec

CONFIG = """
[data]
tickers = ["AAPL"]
start_date = 2010-01-01
end_date = 2011-12-31
[features]
steps = [{ step_type = "returns" }]
[label]
label_type = "leverage_opportunity"
[model]
model_type = "MODEL"
"""


@pytest.fixture
def config(tmp_path):
    def make(model: str):
        path = tmp_path / f"{model}.toml"
        path.write_text(CONFIG.replace("MODEL", model))
        return str(path)

    return make


def _error(result) -> str:
    assert result.exit_code == 2, result.output
    return result.stderr.strip().splitlines()[-1]


def test_a_disabled_bundled_plugin_is_named_as_the_provider(qlop_cli, config):
    assert qlop_cli.invoke(["config", "validate", config("xgboost")]).exit_code == 0  # xgboost seen once
    disabled = {"QLOP_DISABLE_PLUGINS": "qlop_contrib.models"}
    error = _error(qlop_cli.invoke(["config", "validate", config("xgboost")], env=disabled))
    assert (
        "model.model_type: unknown model 'xgboost': plugin 'qlop_contrib.models' 0.1.0 provided it when "
        "last loaded and is not loaded now: disabled by QLOP_DISABLE_PLUGINS. Available:"
    ) in error
    assert "Did you mean" not in error
    # a name that plugin never provided gets the plain error
    error = _error(qlop_cli.invoke(["config", "validate", config("no_such_model")], env=disabled))
    assert "unknown model 'no_such_model'. Available:" in error and "qlop_contrib.models" not in error


def test_without_a_record_the_not_loaded_plugins_are_named_as_not_searched(qlop_cli, config):
    disabled = {"QLOP_DISABLE_PLUGINS": "qlop_contrib.models"}
    error = _error(qlop_cli.invoke(["config", "validate", config("xgboost")], env=disabled))
    assert error.endswith("Not searched, because not loaded: 'qlop_contrib.models' (disabled by QLOP_DISABLE_PLUGINS).")


def test_a_third_party_plugin_off_by_no_plugins_is_never_imported_to_say_so(qlop_fake_entry_points, qlop_cli, config):
    plugin = types.SimpleNamespace(
        qlop_register_model=hookimpl(lambda: ComponentSpec("extra_model", types.SimpleNamespace, "An extra model"))
    )
    qlop_fake_entry_points.add("extra", plugin, distribution="qlop-extra", version="1.4")
    assert qlop_cli.invoke(["config", "validate", config("extra_model")]).exit_code == 0
    assert qlop_fake_entry_points.loaded == ["extra"]
    error = _error(qlop_cli.invoke(["--no-plugins", "config", "validate", config("extra_model")]))
    assert (
        "unknown model 'extra_model': plugin 'extra' 1.4 provided it when last loaded and is not loaded "
        "now: third-party plugins are off (--no-plugins)"
    ) in error
    error = _error(
        qlop_cli.invoke(["config", "validate", config("extra_model")], env={"QLOP_DISABLE_PLUGINS": "qlop-extra"})
    )
    assert (
        "plugin 'extra' 1.4 provided it when last loaded and is not loaded now: disabled by "
        "QLOP_DISABLE_PLUGINS" in error
    )
    assert qlop_fake_entry_points.loaded == ["extra"]  # blocked runs never imported it


def test_a_plugin_that_now_fails_to_import_is_named_too(qlop_fake_entry_points, qlop_cli, config, monkeypatch):
    plugin = types.SimpleNamespace(
        qlop_register_model=hookimpl(lambda: ComponentSpec("flaky_model", types.SimpleNamespace, "A model"))
    )
    qlop_fake_entry_points.add("flaky", plugin)
    assert qlop_cli.invoke(["config", "validate", config("flaky_model")]).exit_code == 0
    monkeypatch.setattr(qlop_fake_entry_points, "_infos", [])
    qlop_fake_entry_points.add_broken("flaky", ImportError("No module named 'numpy_old'"))
    error = _error(qlop_cli.invoke(["config", "validate", config("flaky_model")]))
    assert (
        "unknown model 'flaky_model': plugin 'flaky' 0.0.1 provided it when last loaded and failed to load "
        "this time: ImportError: No module named 'numpy_old'"
    ) in error


def test_the_index_records_what_active_plugins_provide(qlop_cli, config, tmp_path, monkeypatch):
    from qlop.paths import cache_dir

    assert qlop_cli.invoke(["config", "validate", config("xgboost")]).exit_code == 0
    index = json.loads((cache_dir() / "plugin-components.json").read_text())
    models = index["plugins"]["qlop_contrib.models"]
    assert models["distribution"] == "qlop" and models["version"] == "0.1.0"
    assert {"xgboost", "logistic_regression", "random_forest", "baseline"} <= set(models["provides"]["model"])
    assert index["plugins"]["qlop_contrib.features"]["provides"]["model"] == []  # provides none: known too


def test_managers_built_by_the_test_kit_keep_no_index(qlop_plugin_manager):
    from qlop.errors import UnknownComponentError
    from qlop.paths import cache_dir

    with pytest.raises(UnknownComponentError, match=r"^unknown model 'nope'\. Available: "):
        qlop_plugin_manager.registry("model").get("nope")
    assert not (cache_dir() / "plugin-components.json").exists()
