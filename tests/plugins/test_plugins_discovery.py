"""Discovery in-process: order, selection before import, isolation, strict mode, provenance records.

Entry points are faked with the test kit (``qlop_fake_entry_points``), so nothing is installed here;
the subprocess tests in ``test_plugins_cli_e2e.py`` do the same with real installs.
"""

from __future__ import annotations

import types

import pytest

from qlop import hookimpl
from qlop.errors import PluginError
from qlop.plugins.discovery import BUILTIN_PLUGINS, Selection
from qlop.plugins.manager import PluginManager
from qlop.plugins.specs import ComponentSpec


class Dummy:
    """A component class for specs (never called by these tests)."""

    def __init__(self, name, params):
        self.name, self.params = name, params


def plugin(**hooks) -> types.SimpleNamespace:
    """A plugin object whose hook functions are given as keyword arguments."""
    ns = types.SimpleNamespace()
    for name, fn in hooks.items():
        setattr(ns, name, hookimpl(fn))
    return ns


def model_plugin(*names: str) -> types.SimpleNamespace:
    return plugin(qlop_register_model=lambda: [ComponentSpec(n, Dummy) for n in names])


def test_bundled_plugins_are_ordinary_named_plugins():
    pm = PluginManager(Selection(autoload=False), warn=None).load()
    assert list(pm.records)[: len(BUILTIN_PLUGINS)] == list(BUILTIN_PLUGINS)
    for name in BUILTIN_PLUGINS:
        rec = pm.records[name]
        assert (rec.source, rec.status, rec.distribution) == ("builtin", "active", "qlop")
        assert rec.path and rec.path.endswith("__init__.py")


def test_discovery_order_is_documented_order(qlop_fake_entry_points, tmp_path, monkeypatch):
    (tmp_path / "zz_local.py").write_text("")
    (tmp_path / "aa_local.py").write_text("")
    mod = types.ModuleType("qlop_test_cli_module")
    monkeypatch.setitem(__import__("sys").modules, "qlop_test_cli_module", mod)
    qlop_fake_entry_points.add("zeta", model_plugin("z", "shared"), distribution="a-dist")
    qlop_fake_entry_points.add("alpha", model_plugin("a", "shared"), distribution="b-dist")
    qlop_fake_entry_points.add("beta", model_plugin("b", "shared"), distribution="a-dist")
    pm = qlop_fake_entry_points.manager(plugins_dir=str(tmp_path), modules=["qlop_test_cli_module"])
    names = list(pm.records)
    expected_third_party = ["beta", "zeta", "alpha", "aa_local", "zz_local", "qlop_test_cli_module"]
    assert names == [*BUILTIN_PLUGINS, *expected_third_party]  # entry points sorted by (distribution, name)
    assert [pm.records[n].source for n in expected_third_party] == [
        "entry-point",
        "entry-point",
        "entry-point",
        "plugins-dir",
        "plugins-dir",
        "cli",
    ]
    # registries collect in discovery order, so providers are always named in that order
    assert pm.registry("model").conflicts()["shared"] == ["beta", "zeta", "alpha"]


@pytest.mark.parametrize(
    "selection, env_name",
    [
        ({"disabled": {"victim"}}, "QLOP_DISABLE_PLUGINS"),
        ({"disabled": {"victim-dist"}}, "QLOP_DISABLE_PLUGINS"),
        ({"only": {"other"}}, "QLOP_LOAD_PLUGINS"),
        ({"autoload": False}, "QLOP_DISABLE_PLUGIN_AUTOLOAD"),
        ({"no_plugins": True}, "--no-plugins"),
    ],
)
def test_selection_blocks_before_import(qlop_fake_entry_points, selection, env_name):
    qlop_fake_entry_points.add_broken("victim", distribution="victim-dist")
    qlop_fake_entry_points.add("other", model_plugin("other_model"))
    pm = qlop_fake_entry_points.manager(**selection)
    assert "victim" not in qlop_fake_entry_points.loaded  # its load() never ran: nothing imported
    assert pm.records["victim"].status == "disabled"
    assert env_name in pm.records["victim"].error
    assert pm.pm.is_blocked("victim")


def test_broken_entry_point_is_isolated(qlop_fake_entry_points):
    warnings = []
    qlop_fake_entry_points.add_broken("a_broken", RuntimeError("boom\nsecond line"))
    qlop_fake_entry_points.add("b_fine", model_plugin("fine_model"))
    from qlop.plugins.discovery import Selection as Sel

    pm = PluginManager(Sel(autoload=True), warn=warnings.append).load()
    assert pm.records["a_broken"].status == "failed"
    assert pm.records["a_broken"].error == "RuntimeError: boom"  # one line
    assert warnings == ["plugin 'a_broken' failed: RuntimeError: boom"]
    assert pm.records["b_fine"].status == "active"
    assert "fine_model" in pm.registry("model")


def test_strict_mode_reraises(qlop_fake_entry_points):
    qlop_fake_entry_points.add_broken("a_broken")
    with pytest.raises(PluginError, match="plugin 'a_broken' failed: ImportError"):
        qlop_fake_entry_points.manager(strict=True)


def test_strict_from_environment(monkeypatch):
    monkeypatch.setenv("QLOP_STRICT_PLUGINS", "1")
    assert Selection.from_env().strict
    monkeypatch.setenv("QLOP_STRICT_PLUGINS", "0")
    assert not Selection.from_env().strict


def test_selection_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("QLOP_DISABLE_PLUGINS", " a, b ,")
    monkeypatch.setenv("QLOP_LOAD_PLUGINS", "c")
    monkeypatch.setenv("QLOP_DISABLE_PLUGIN_AUTOLOAD", "true")
    monkeypatch.setenv("QLOP_PLUGINS_DIR", str(tmp_path))
    sel = Selection.from_env(no_plugins=True, modules=["m"])
    assert (sel.disabled, sel.only, sel.autoload, sel.plugins_dir, sel.no_plugins, sel.modules) == (
        {"a", "b"},
        {"c"},
        False,
        str(tmp_path),
        True,
        ["m"],
    )


def test_misspelled_hook_is_incompatible(qlop_fake_entry_points):
    typo = plugin(qlop_register_modle=lambda: None)
    qlop_fake_entry_points.add("typo", typo)
    pm = qlop_fake_entry_points.manager()
    rec = pm.records["typo"]
    assert rec.status == "incompatible"
    assert rec.error == "unknown hook qlop_register_modle (not a QLOP hook; check the spelling)"
    assert pm.pm.get_plugin("typo") is None  # unregistered


def test_bad_signature_is_incompatible_and_fully_unregistered(qlop_fake_entry_points):
    calls = []

    def after(stage, run_dir, outputs, seconds):
        calls.append(stage)

    def before(stage, run_dir, config, when):
        calls.append(stage)

    bad = plugin(qlop_after_stage=after, qlop_before_stage=before)
    qlop_fake_entry_points.add("badsig", bad)
    pm = qlop_fake_entry_points.manager()
    rec = pm.records["badsig"]
    assert rec.status == "incompatible"
    assert rec.error.startswith("bad hook implementation: qlop_before_stage (before(stage, run_dir, config, when)): ")
    assert "'when'" in rec.error
    pm.hook.qlop_after_stage(stage="data", run_dir="r", outputs={}, seconds=0.1)
    assert calls == []  # the valid hookimpl registered before the bad one was removed too


@pytest.mark.parametrize(
    "result, message",
    [
        ("not a spec", "expected ComponentSpec or an iterable of them, got str"),
        ([ComponentSpec("ok", Dummy), 3], "expected ComponentSpec, got int"),
        (42, "expected ComponentSpec or an iterable of them, got int"),
    ],
)
def test_invalid_specs_fail_only_that_plugin(qlop_fake_entry_points, result, message):
    qlop_fake_entry_points.add("bad_specs", plugin(qlop_register_model=lambda: result))
    qlop_fake_entry_points.add("good", model_plugin("good_model"))
    pm = qlop_fake_entry_points.manager()
    assert pm.registry("model").names().count("good_model") == 1
    assert "ok" not in pm.registry("model")
    rec = pm.records["bad_specs"]
    assert rec.status == "failed" and message in rec.error and "qlop_register_model" in rec.error


def test_raising_registration_hook_is_isolated(qlop_fake_entry_points):
    def explode():
        raise ValueError("cannot register")

    qlop_fake_entry_points.add(
        "explodes", plugin(qlop_register_model=explode, qlop_register_strategy=lambda: ComponentSpec("s1", Dummy))
    )
    qlop_fake_entry_points.add("good", model_plugin("good_model"))
    pm = qlop_fake_entry_points.manager()
    assert "good_model" in pm.registry("model")
    assert pm.records["explodes"].status == "failed"
    assert pm.records["explodes"].error == "qlop_register_model: ValueError: cannot register"
    assert "s1" not in pm.registry("strategy")  # a failed plugin contributes nothing more


def test_plugin_failing_in_a_later_registry_leaves_the_earlier_ones(qlop_fake_entry_points):
    def explode():
        raise ValueError("cannot register")

    qlop_fake_entry_points.add(
        "late", plugin(qlop_register_strategy=lambda: ComponentSpec("s1", Dummy), qlop_register_model=explode)
    )
    pm = qlop_fake_entry_points.manager()
    assert "s1" in pm.registry("strategy")  # built first, while the plugin still looked fine
    pm.registry("model")  # building this registry calls the failing hook
    assert pm.records["late"].status == "failed" and pm.records["late"].provides == {}
    assert "s1" not in pm.registry("strategy")


def test_unsupported_plugin_api_is_incompatible(qlop_fake_entry_points):
    qlop_fake_entry_points.add("future", plugin(qlop_register_model=lambda: ComponentSpec("f", Dummy, api=(2, 3))))
    pm = qlop_fake_entry_points.manager()
    assert "f" not in pm.registry("model")  # specs are checked when the registry is built (lazily)
    assert pm.records["future"].status == "incompatible"
    assert pm.records["future"].error == "model 'f' targets plugin API 2-3; this QLOP implements 1"


def test_duplicate_plugin_name_is_refused(qlop_fake_entry_points, monkeypatch):
    mod = types.ModuleType("dup")
    mod.qlop_register_model = hookimpl(lambda: ComponentSpec("from_module", Dummy))
    monkeypatch.setitem(__import__("sys").modules, "dup", mod)
    qlop_fake_entry_points.add("dup", model_plugin("from_entry_point"))
    warnings = []
    from qlop.plugins.discovery import Selection as Sel

    pm = PluginManager(Sel(autoload=True, modules=["dup"]), warn=warnings.append).load()
    assert pm.records["dup"].source == "entry-point"
    assert "from_module" not in pm.registry("model")
    assert warnings == ["plugin 'dup' failed: a plugin named 'dup' is already registered from entry-point"]


def test_same_module_twice_is_loaded_once(qlop_fake_entry_points, monkeypatch):
    mod = types.ModuleType("twice")
    mod.qlop_register_model = hookimpl(lambda: ComponentSpec("once", Dummy))
    monkeypatch.setitem(__import__("sys").modules, "twice", mod)
    qlop_fake_entry_points.add("twice_ep", mod)
    pm = qlop_fake_entry_points.manager(modules=["twice"])
    assert pm.records["twice_ep"].status == "active"
    assert pm.records["twice"].status == "disabled"
    assert "already loaded as plugin 'twice_ep'" in pm.records["twice"].error
    assert len([e for e in pm.registry("model").entries() if e.spec.name == "once"]) == 1


def test_provenance_record_fields(qlop_fake_entry_points):
    qlop_fake_entry_points.add("prov", model_plugin("m1", "m2"), distribution="prov-dist", version="1.2.3")
    pm = qlop_fake_entry_points.manager()
    pm.load_all_registries()
    data = pm.records["prov"].to_dict()
    assert data["name"] == "prov" and data["distribution"] == "prov-dist" and data["version"] == "1.2.3"
    assert data["source"] == "entry-point" and data["status"] == "active" and data["error"] is None
    assert data["hooks"] == ["qlop_register_model"]
    assert data["provides"] == {"model": ["m1", "m2"]}
    active = {p["name"]: p for p in pm.active_plugins()}
    assert active["prov"] == {"name": "prov", "version": "1.2.3", "source": "entry-point", "distribution": "prov-dist"}


def test_real_entry_points_are_read_sorted_without_import(monkeypatch):
    """``iter_entry_points`` reads metadata only; sorted by (distribution, name), duplicates dropped."""
    from importlib import metadata

    from qlop.plugins import discovery

    class FakeDist:
        def __init__(self, name):
            self.metadata = {"Name": name}
            self.version = "9"

    def ep(name, dist):
        e = metadata.EntryPoint(name, f"{name}_mod", "qlop")
        return e._for(FakeDist(dist)) if hasattr(e, "_for") else e

    eps = [ep("b", "zz"), ep("a", "zz"), ep("c", "aa"), ep("a", "zz")]
    monkeypatch.setattr(discovery.metadata, "entry_points", lambda group: eps if group == "qlop" else [])
    found = discovery.iter_entry_points()
    assert [(e.distribution, e.name) for e in found] == [("aa", "c"), ("zz", "a"), ("zz", "b")]
    assert all(e.version == "9" for e in found)


def test_plugins_dir_isolates_broken_files(tmp_path):
    (tmp_path / "good.py").write_text(
        "from qlop import hookimpl\nfrom qlop.plugins.specs import ComponentSpec\n"
        "@hookimpl\ndef qlop_register_label():\n    return ComponentSpec('dir_label', 'x.y:Z')\n"
    )
    (tmp_path / "bad.py").write_text("raise SystemError('bad file')\n")
    pm = PluginManager(Selection(autoload=False, plugins_dir=str(tmp_path)), warn=None).load()
    assert pm.records["bad"].status == "failed" and pm.records["bad"].error == "SystemError: bad file"
    assert pm.records["good"].path == str(tmp_path / "good.py")
    assert "dir_label" in pm.registry("label")


def test_register_for_one_test_goes_through_the_same_checks(qlop_register, qlop_plugin_manager):
    rec = qlop_register(model_plugin("registered_model"), name="mine")
    assert rec.status == "active" and "registered_model" in qlop_plugin_manager.registry("model")
    with pytest.raises(PluginError, match="unknown hook qlop_register_modle"):
        qlop_register(plugin(qlop_register_modle=lambda: None), name="typo")
