"""Spec records and typed registries: lazy factories, did-you-mean, conflicts only when asked for."""

from __future__ import annotations

import types

import pytest
from pydantic import BaseModel, ConfigDict, Field

from qlop import hookimpl
from qlop.errors import ComponentConflictError, ConfigError, UnknownComponentError
from qlop.interfaces import BaseModelPlugin
from qlop.plugins.registry import Entry, Registry, format_validation_error, make_component, validate_params
from qlop.plugins.specs import CommandSpec, ComponentSpec, resolve_target


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    depth: int = Field(3, gt=0, description="depth")


class Model(BaseModelPlugin):
    params_model = Params

    def train(self, X_train, y_train, X_val=None, y_val=None):
        return None

    def predict(self, X):
        return None

    def save_model(self, artifact, path):
        return []

    def load_model(self, path):
        return None


def registry(*entries: tuple[str, str]) -> Registry:
    return Registry("model", [Entry(ComponentSpec(n, Model), plugin, "1.0") for n, plugin in entries])


def test_unknown_name_lists_available_and_suggests():
    reg = registry(("xgboost", "p"), ("random_forest", "p"))
    with pytest.raises(UnknownComponentError) as err:
        reg.get("xgbost")
    assert str(err.value) == "unknown model 'xgbost'. Did you mean 'xgboost'? Available: random_forest, xgboost"
    with pytest.raises(UnknownComponentError, match=r"^unknown model 'zzz'\. Available: random_forest, xgboost$"):
        reg.get("zzz")


def test_conflict_fails_only_when_asked_for_naming_every_provider():
    reg = Registry(
        "feature_step",
        [
            Entry(ComponentSpec("rsi", Model), "first", "1.0"),
            Entry(ComponentSpec("rsi", Model), "second", None),
            Entry(ComponentSpec("sma", Model), "first", "1.0"),
        ],
    )
    assert reg.get("sma").name == "sma"  # unaffected
    assert reg.conflicts() == {"rsi": ["first", "second"]}
    with pytest.raises(ComponentConflictError) as err:
        reg.get("rsi")
    assert str(err.value) == (
        "feature step 'rsi' is provided by several plugins: first (1.0), "
        "second (unknown version); disable all but one with QLOP_DISABLE_PLUGINS"
    )
    assert reg.names() == ["rsi", "sma"] and len(reg) == 2 and "rsi" in reg


def test_string_factory_is_imported_on_first_use_only(monkeypatch):
    module = types.ModuleType("qlop_test_lazy_factory")
    module.Model = Model
    module.Params = Params
    imported = []

    def fake_resolve(name):
        imported.append(name.partition(":")[0])
        return getattr(module, name.partition(":")[2])

    monkeypatch.setattr("qlop.plugins.specs.pkgutil.resolve_name", fake_resolve)
    spec = ComponentSpec("lazy", "qlop_test_lazy_factory:Model", params_model="qlop_test_lazy_factory:Params")
    reg = Registry("model", [Entry(spec, "p", None)])
    assert imported == []  # registering and looking up import nothing
    assert reg.get("lazy") is spec and imported == []
    assert spec.load() is Model and spec.load_params_model() is Params
    assert imported == ["qlop_test_lazy_factory", "qlop_test_lazy_factory"]
    spec.load()
    assert len(imported) == 2  # resolved once


def test_params_model_defaults_to_the_class_attribute():
    spec = ComponentSpec("m", Model)
    assert spec.load_params_model() is Params


@pytest.mark.parametrize("bad", ["", "has space", None, 3, "semi;colon"])
def test_spec_names_are_checked(bad):
    with pytest.raises(ValueError, match="component name"):
        ComponentSpec(bad, Model)


def test_spec_api_range_is_checked():
    with pytest.raises(ValueError, match="invalid api range"):
        ComponentSpec("m", Model, api=(3, 1))
    assert ComponentSpec("m", Model, api=(1, 4)).api_compatible
    assert not CommandSpec("c", "x:y", api=(2, 2)).api_compatible


def test_resolve_target_errors():
    with pytest.raises(ValueError, match="expected 'package.module:attribute'"):
        resolve_target("no_colon")
    assert resolve_target("qlop.plugins.specs:ComponentSpec.load") is ComponentSpec.load


def test_params_errors_name_the_full_field_path():
    spec = ComponentSpec("m", Model)
    with pytest.raises(ConfigError) as err:
        validate_params(spec, {"depth": 0, "color": "red"}, "model.model_params")
    assert str(err.value) == (
        "model.model_params.depth: Input should be greater than 0 (got 0); model.model_params.color: unknown field"
    )


def test_make_component_constructs_with_validated_params():
    reg = registry(("m", "p"))
    model = make_component(reg, "m", {"depth": 5}, "model.model_params")
    assert isinstance(model, Model) and model.name == "m"
    assert model.model_params.depth == 5 and model.params is model.model_params


def test_format_validation_error_without_prefix():
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as err:
        Params.model_validate({"depth": "x"})
    assert format_validation_error(err.value) == (
        "depth: Input should be a valid integer, unable to parse string as an integer (got 'x')"
    )


def test_manager_create_and_provider(qlop_register, qlop_plugin_manager):
    plugin = types.SimpleNamespace(qlop_register_model=hookimpl(lambda: ComponentSpec("mine", Model)))
    qlop_register(plugin, name="my-plugin", version="2.0")
    model = qlop_plugin_manager.create("model", "mine", {"depth": 2}, "model.model_params")
    assert model.model_params.depth == 2
    assert qlop_plugin_manager.provider("model", "mine").version == "2.0"
    from qlop.stages.components import create

    assert create("model", "mine", None, "model.model_params").model_params.depth == 3  # process-wide manager


def test_unknown_kind(qlop_plugin_manager):
    from qlop.errors import PluginError

    with pytest.raises(PluginError, match="unknown component kind 'modle'"):
        qlop_plugin_manager.registry("modle")


def test_component_errors_name_plugin_and_version(qlop_register, qlop_plugin_manager):
    from qlop.errors import StageError
    from qlop.stages.components import component_errors

    plugin = types.SimpleNamespace(qlop_register_model=hookimpl(lambda: ComponentSpec("mine", Model)))
    qlop_register(plugin, name="my-plugin", version="2.0")
    with pytest.raises(StageError) as err:
        with component_errors("train", "model", "mine"):
            raise ZeroDivisionError("division by zero\nmore")
    assert str(err.value) == "train: model 'mine' (plugin 'my-plugin' 2.0) failed: ZeroDivisionError: division by zero"


def test_factory_strings_resolve_like_imports_and_say_what_is_expected():
    from qlop.layout import RunLayout
    from qlop.plugins.specs import resolve_target

    assert resolve_target("qlop.layout:RunLayout") is RunLayout
    assert resolve_target("qlop.layout:RunLayout.BUNDLE") == RunLayout.BUNDLE  # dotted attributes
    assert resolve_target(RunLayout) is RunLayout
    for bad in ("qlop.layout.RunLayout", "qlop.layout:", ":RunLayout", "not a module:x"):
        with pytest.raises(ValueError, match="expected 'package.module:attribute'"):
            resolve_target(bad)
    with pytest.raises(ModuleNotFoundError, match="qlop.no_such_module"):
        resolve_target("qlop.no_such_module:x")
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        resolve_target("qlop.layout:Nope")
