"""End to end through the real CLI in subprocesses, with really installed plugin packages.

Installed (see conftest): the example plugin and four fixture plugins - ``broken`` (raises at import),
``typo`` (misspelled hook), ``clash`` (a model named like the example's) and ``badsig`` (a hookimpl
with an argument the hook does not have).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "qlop-example-plugin" / "example.toml"

pytestmark = pytest.mark.timeout(300)


def _records(proc) -> dict[str, dict]:
    assert proc.returncode == 0, proc.stderr
    return {r["name"]: r for r in json.loads(proc.stdout)}


def test_installed_plugin_is_listed_with_provenance(qlop_proc):
    proc = qlop_proc("plugins", "list", "--json")
    rec = _records(proc)["example"]
    assert rec["distribution"] == "qlop-example-plugin"
    assert rec["version"] == "0.1.0"
    assert rec["source"] == "entry-point"
    assert rec["status"] == "active"
    assert rec["module"] == "qlop_example_plugin"
    assert rec["path"].endswith("qlop_example_plugin/__init__.py")
    assert rec["provides"] == {
        "command": ["example-info"],
        "feature_step": ["range_position"],
        "label": ["forward_return_sign"],
        "model": ["numpy_logistic"],
        "strategy": ["probability_band"],
    }
    assert "qlop_register_model" in rec["hooks"]


def test_broken_typo_and_bad_signature_are_isolated(qlop_proc):
    proc = qlop_proc("plugins", "list", "--all", "--json")
    records = _records(proc)
    assert records["broken"]["status"] == "failed"
    assert records["broken"]["error"] == (
        "ModuleNotFoundError: No module named 'qlop_broken_plugin_missing_dependency'"
    )
    assert records["typo"]["status"] == "incompatible"
    assert "unknown hook qlop_register_modle" in records["typo"]["error"]
    assert records["badsig"]["status"] == "incompatible"
    assert "qlop_before_stage(stage, run_dir, config, when)" in records["badsig"]["error"]
    assert "'when'" in records["badsig"]["error"]
    # one line on stderr per broken plugin, and no traceback
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("qlop: plugin")]
    assert len(warnings) == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    # every other plugin works
    assert records["example"]["status"] == "active"
    assert records["clash"]["provides"]["strategy"] == ["always_long"]
    assert all(r["status"] == "active" for n, r in records.items() if n.startswith("qlop_contrib."))


def test_other_commands_still_work_with_a_broken_plugin(qlop_proc, tmp_path):
    proc = qlop_proc("config", "validate", str(EXAMPLE_CONFIG), env={"QLOP_DISABLE_PLUGINS": "clash"})
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout
    assert "plugin 'broken' failed" in proc.stderr
    schema = qlop_proc("config", "schema")
    assert schema.returncode == 0 and json.loads(schema.stdout)["title"] == "PipelineConfig"
    assert qlop_proc("plugins", "show", "example").returncode == 0


def test_table_output_shows_failures_only_with_all(qlop_proc):
    plain = qlop_proc("plugins", "list")
    assert plain.returncode == 0
    assert "example" in plain.stdout and "broken" not in plain.stdout
    full = qlop_proc("plugins", "list", "--all")
    assert "broken" in full.stdout and "failed" in full.stdout
    by_kind = qlop_proc("plugins", "list", "--kind", "label", "--json")
    names = {r["name"] for r in json.loads(by_kind.stdout)}
    assert "example" in names and "clash" not in names


def test_disabled_plugin_is_never_imported(qlop_proc):
    proc = qlop_proc("plugins", "list", "--all", "--json", env={"QLOP_DISABLE_PLUGINS": "broken,typo"})
    records = _records(proc)
    assert records["broken"]["status"] == "disabled"
    assert records["broken"]["error"] == "disabled by QLOP_DISABLE_PLUGINS"
    assert "qlop_broken_plugin" not in qlop_proc.imported()
    assert "qlop_typo_plugin" not in qlop_proc.imported()
    assert "qlop_clash_plugin" in qlop_proc.imported()  # the control: others are imported
    assert "plugin 'broken'" not in proc.stderr


def test_disable_by_distribution_name_and_sys_modules(qlop_proc):
    code = (
        "import sys, json\n"
        "from qlop.plugins.manager import get_plugin_manager\n"
        "pm = get_plugin_manager(); pm.load_all_registries()\n"
        "print(json.dumps({'modules': sorted(m for m in sys.modules if m.startswith('qlop_example')),\n"
        "                  'status': pm.records['example'].status}))\n"
    )
    proc = qlop_proc.python(code, env={"QLOP_DISABLE_PLUGINS": "qlop-example-plugin"})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out == {"modules": [], "status": "disabled"}
    enabled = json.loads(qlop_proc.python(code).stdout)
    assert "qlop_example_plugin" in enabled["modules"] and enabled["status"] == "active"


def test_load_plugins_allowlist(qlop_proc):
    records = _records(qlop_proc("plugins", "list", "--all", "--json", env={"QLOP_LOAD_PLUGINS": "example"}))
    assert records["example"]["status"] == "active"
    for name in ("broken", "typo", "clash", "badsig"):
        assert records[name]["status"] == "disabled"
        assert records[name]["error"] == "not listed in QLOP_LOAD_PLUGINS"
    assert records["qlop_contrib.models"]["status"] == "active"  # bundled plugins are not third-party
    assert qlop_proc.imported() == set()


def test_disable_autoload(qlop_proc):
    records = _records(qlop_proc("plugins", "list", "--all", "--json", env={"QLOP_DISABLE_PLUGIN_AUTOLOAD": "1"}))
    for name in ("example", "broken", "typo", "clash", "badsig"):
        assert records[name]["status"] == "disabled"
        assert "autoload" in records[name]["error"]
    assert qlop_proc.imported() == set()
    # autoload off + named in QLOP_LOAD_PLUGINS: only that one loads
    records = _records(
        qlop_proc(
            "plugins",
            "list",
            "--all",
            "--json",
            env={"QLOP_DISABLE_PLUGIN_AUTOLOAD": "1", "QLOP_LOAD_PLUGINS": "clash"},
        )
    )
    assert records["clash"]["status"] == "active" and records["example"]["status"] == "disabled"


def test_no_plugins_flag(qlop_proc):
    records = _records(qlop_proc("--no-plugins", "plugins", "list", "--all", "--json"))
    assert records["example"]["status"] == "disabled"
    assert records["example"]["error"] == "third-party plugins are off (--no-plugins)"
    assert records["qlop_contrib.models"]["status"] == "active"
    assert qlop_proc.imported() == set()


def test_bundled_plugin_can_be_disabled(qlop_proc):
    records = _records(
        qlop_proc("plugins", "list", "--all", "--json", env={"QLOP_DISABLE_PLUGINS": "qlop_contrib.models"})
    )
    assert records["qlop_contrib.models"]["status"] == "disabled"
    assert "model" not in records["qlop_contrib.models"]["provides"]


def test_p_module_and_plugins_dir(qlop_proc, tmp_path):
    plugins_dir = tmp_path / "local_plugins"
    plugins_dir.mkdir()
    (plugins_dir / "my_local.py").write_text(
        "from qlop import hookimpl\n"
        "from qlop.plugins.specs import ComponentSpec\n"
        "from qlop_example_plugin.strategies import ProbabilityBand\n"
        "@hookimpl\n"
        "def qlop_register_strategy():\n"
        "    return ComponentSpec(name='local_band', factory=ProbabilityBand, summary='local copy')\n"
    )
    (plugins_dir / "_private.py").write_text("raise RuntimeError('private files are not plugins')\n")
    env = {"QLOP_DISABLE_PLUGIN_AUTOLOAD": "1"}
    records = _records(
        qlop_proc("-p", "qlop_example_plugin", "--plugins-dir", str(plugins_dir), "plugins", "list", "--json", env=env)
    )
    assert records["qlop_example_plugin"]["source"] == "cli"
    assert records["qlop_example_plugin"]["status"] == "active"
    assert records["my_local"]["source"] == "plugins-dir"
    assert records["my_local"]["provides"] == {"strategy": ["local_band"]}
    assert "_private" not in records
    # the directory is only read when asked for: not by default
    assert "my_local" not in _records(qlop_proc("plugins", "list", "--all", "--json", env=env))
    assert "broken" not in _records(qlop_proc("plugins", "list", "--json"))  # without --all: active ones only
    # QLOP_PLUGINS_DIR is the same as --plugins-dir
    via_env = _records(
        qlop_proc("plugins", "list", "--all", "--json", env={**env, "QLOP_PLUGINS_DIR": str(plugins_dir)})
    )
    assert via_env["my_local"]["status"] == "active"


def test_missing_plugins_dir_is_a_one_line_error(qlop_proc, tmp_path):
    proc = qlop_proc("--plugins-dir", str(tmp_path / "nope"), "plugins", "list")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("Error: plugins directory")
    assert "Traceback" not in proc.stderr


def test_strict_mode_reraises(qlop_proc):
    proc = qlop_proc("plugins", "list", env={"QLOP_STRICT_PLUGINS": "1"})
    assert proc.returncode == 2
    assert "Error: plugin 'badsig' incompatible" in proc.stderr  # the first one in discovery order
    assert "Traceback" not in proc.stderr
    ok = qlop_proc("plugins", "list", env={"QLOP_STRICT_PLUGINS": "1", "QLOP_LOAD_PLUGINS": "example"})
    assert ok.returncode == 0, ok.stderr


def test_clash_fails_only_when_asked_for(qlop_proc, tmp_path):
    config = tmp_path / "clash.toml"
    config.write_text(EXAMPLE_CONFIG.read_text())
    proc = qlop_proc("config", "validate", str(config))
    assert proc.returncode == 2
    error = proc.stderr.strip().splitlines()[-1]
    assert (
        error.startswith("Error: ")
        and "model.model_type: model 'numpy_logistic' is provided by several plugins" in error
    )
    assert "clash (0.0.3)" in error and "example (0.1.0)" in error
    # the clashing plugin's other component, and configs not naming the clash, are fine
    other = tmp_path / "other.toml"
    other.write_text(
        EXAMPLE_CONFIG.read_text()
        .replace('"numpy_logistic"', '"logistic_regression"')
        .replace("model_params = { l2 = 1.0, max_iter = 50 }", "")
        .replace('"probability_band"', '"always_long"')
        .replace("strategy_params = { upper = 0.55, lower = 0.45, allow_short = true }", "")
    )
    assert qlop_proc("config", "validate", str(other)).returncode == 0
    # doctor reports it, naming both providers, and exits non-zero
    doctor = qlop_proc("plugins", "doctor")
    assert doctor.returncode == 1
    assert "model 'numpy_logistic' is provided by several plugins: clash, example" in doctor.stdout


def test_unknown_name_gives_did_you_mean(qlop_proc, tmp_path):
    config = tmp_path / "typo.toml"
    config.write_text(EXAMPLE_CONFIG.read_text().replace('"range_position"', '"range_postion"', 1))
    proc = qlop_proc("config", "validate", str(config), env={"QLOP_DISABLE_PLUGINS": "clash"})
    assert proc.returncode == 2
    error = proc.stderr.strip().splitlines()[-1]
    assert "features.steps.0.step_type: unknown feature step 'range_postion'. Did you mean 'range_position'?" in error


def test_example_model_validates_from_config(qlop_proc, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text(EXAMPLE_CONFIG.read_text().replace("l2 = 1.0", "l2 = -1.0").replace("window = 60", "window = 1"))
    proc = qlop_proc("config", "validate", str(config), env={"QLOP_DISABLE_PLUGINS": "clash"})
    assert proc.returncode == 2
    error = proc.stderr.strip().splitlines()[-1]
    assert "features.steps.1.step_params.window: must be between 2 and 500 bars (got 1)" in error
    assert "model.model_params.l2: must be between 0 and 1000000 (got -1.0)" in error
    assert "Traceback" not in proc.stderr
    verbose = qlop_proc("-v", "config", "validate", str(config), env={"QLOP_DISABLE_PLUGINS": "clash"})
    assert verbose.returncode != 0 and "Traceback" in verbose.stderr


def test_plugin_command_listed_in_help_and_runs(qlop_proc):
    before = qlop_proc("--help")
    assert "example-info" not in before.stdout  # nothing discovered yet in this fresh cache
    run = qlop_proc("example-info", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["version"] == "0.1.0"
    after = qlop_proc("--help")
    assert "Plugin commands" in after.stdout and "example-info" in after.stdout
    assert "What the example plugin provides" in after.stdout
    unknown = qlop_proc("no-such-command")
    assert unknown.returncode == 2 and "No such command" in unknown.stderr


def test_plugin_command_respects_global_options(qlop_proc):
    proc = qlop_proc("--no-plugins", "example-info")
    assert proc.returncode == 2 and "No such command 'example-info'" in proc.stderr
    proc = qlop_proc("--no-plugins", "-p", "qlop_example_plugin", "example-info")
    assert proc.returncode == 0, proc.stderr


def _help_plugin_commands(proc) -> list[str] | None:
    """Plugin command names ``--help`` lists; None when it says they are not indexed yet."""
    assert proc.returncode == 0, proc.stderr
    _, found, section = proc.stdout.partition("Plugin commands:\n")
    if not found:
        return []
    if "Not indexed yet" in section:
        return None
    return [line.split()[0] for line in section.splitlines() if line.startswith("  ") and line.strip()]


def test_help_lists_only_commands_that_run_under_the_same_options(qlop_proc):
    assert qlop_proc("plugins", "list").returncode == 0  # a full discovery with the default options
    assert _help_plugin_commands(qlop_proc("--help")) == ["example-info"]
    # --no-plugins: example-info would not run, so it is not listed, whatever the default run indexed
    assert _help_plugin_commands(qlop_proc("--no-plugins", "--help")) == []
    assert _help_plugin_commands(qlop_proc("--help", "--no-plugins")) == []  # option order does not matter
    # a plugin disabled by name: not listed before, nor after, a discovery with it disabled
    disabled = {"QLOP_DISABLE_PLUGINS": "example"}
    assert _help_plugin_commands(qlop_proc("--help", env=disabled)) is None
    assert qlop_proc("plugins", "list", env=disabled).returncode == 0
    assert _help_plugin_commands(qlop_proc("--help", env=disabled)) == []
    assert qlop_proc("--no-plugins", "plugins", "list").returncode == 0
    # discoveries under other options never rewrite what the default options list
    assert _help_plugin_commands(qlop_proc("--help")) == ["example-info"]
    # the listed command runs, the unlisted one does not
    assert qlop_proc("example-info").returncode == 0
    assert qlop_proc("example-info", env=disabled).returncode == 2
    assert qlop_proc("--no-plugins", "-p", "qlop_example_plugin", "plugins", "list").returncode == 0
    assert _help_plugin_commands(qlop_proc("--no-plugins", "-p", "qlop_example_plugin", "--help")) == ["example-info"]
    for marker in qlop_proc.markers.iterdir():
        marker.unlink()
    assert _help_plugin_commands(qlop_proc("--help")) == ["example-info"]
    assert qlop_proc.imported() == set()  # help lists them from the index: no plugin is imported


GREETER = {
    "pyproject.toml": """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"
[project]
name = "qlop-help-greeter"
version = "0.2.0"
[project.entry-points.qlop]
greeter = "qlop_help_greeter"
""",
    "qlop_help_greeter/__init__.py": """
import click
from qlop import hookimpl
from qlop.plugins.specs import CommandSpec


@click.command("greet")
def greet():
    click.echo("hello from greeter")


@hookimpl
def qlop_register_commands():
    return CommandSpec("greet", greet, summary="Say hello")
""",
}


@pytest.mark.slow
def test_help_after_installing_and_uninstalling_a_plugin(qlop_proc, tmp_path):
    """A newly installed plugin changes what exists: help lists no stale set, then the new command
    once a command has discovered the plugins; after uninstalling, the new command is gone again."""
    import subprocess
    import sys

    source = tmp_path / "greeter-src"
    for name, text in GREETER.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    assert qlop_proc("plugins", "list").returncode == 0
    assert _help_plugin_commands(qlop_proc("--help")) == ["example-info"]

    site = tmp_path / "greeter-site"
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
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    import os

    installed = {
        "PYTHONPATH": os.pathsep.join([str(site), qlop_proc.installed.env(cache=qlop_proc.cache)["PYTHONPATH"]])
    }
    assert _help_plugin_commands(qlop_proc("--help", env=installed)) is None  # not indexed since the install
    assert qlop_proc("plugins", "list", env=installed).returncode == 0
    assert _help_plugin_commands(qlop_proc("--help", env=installed)) == ["example-info", "greet"]
    greet = qlop_proc("greet", env=installed)
    assert greet.returncode == 0 and greet.stdout == "hello from greeter\n"

    shutil.rmtree(site)  # uninstalled
    assert _help_plugin_commands(qlop_proc("--help", env=installed)) == ["example-info"]
    assert qlop_proc("greet", env=installed).returncode == 2


@pytest.mark.slow
def test_example_plugin_own_test_suite_passes(qlop_proc, tmp_path):
    """The author's experience: the example's tests use the contracts and the pytest11 fixtures."""
    import subprocess
    import sys

    tests = tmp_path / "example-tests"
    shutil.copytree(Path(EXAMPLE_CONFIG).parent, tests, ignore=shutil.ignore_patterns("__pycache__", "src"))
    env = qlop_proc.installed.env(cache=qlop_proc.cache, QLOP_LOAD_PLUGINS="example")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tests,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    import re

    passed = re.search(r"(\d+) passed", proc.stdout)
    assert passed and int(passed.group(1)) >= 25 and " failed" not in proc.stdout, proc.stdout[-2000:]


@pytest.mark.slow
def test_example_components_run_a_whole_pipeline(qlop_proc, tmp_path):
    """Feature step, label, model and strategy of a third-party package, used by name from a config:
    QLOP's core is unchanged, the model saves as JSON, and the manifest records the plugin."""
    config = tmp_path / "example.toml"
    config.write_text(
        EXAMPLE_CONFIG.read_text()
        .replace('tickers = ["AAPL", "MSFT", "JPM"]', 'tickers = ["AAPL", "MSFT"]')
        .replace('start_date = "2010-01-01"', 'start_date = "2011-01-01"')
        .replace('end_date = "2016-12-31"', 'end_date = "2015-12-31"')
    )
    run_dir = tmp_path / "run"
    proc = qlop_proc("run", "-c", str(config), "--run-dir", str(run_dir), env={"QLOP_DISABLE_PLUGINS": "clash"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    assert {
        "name": "example",
        "version": "0.1.0",
        "source": "entry-point",
        "distribution": "qlop-example-plugin",
    } in manifest["plugins"]
    for stage in ("features", "train"):
        assert manifest["stages"][stage]["plugins"] == {"example": "0.1.0"}, stage
    # the backtest also depends on the benchmark's data source (the bundled sample, by default)
    backtest_plugins = manifest["stages"]["backtest"]["plugins"]
    assert backtest_plugins.pop("example") == "0.1.0"
    assert list(backtest_plugins) == ["qlop_contrib.datasources"]
    saved = json.loads((run_dir / "model" / "numpy_logistic.json").read_text())
    assert saved["features"] == ["range_pos_20", "range_pos_60"]
    import pandas as pd

    preds = pd.read_parquet(run_dir / "predictions.parquet")
    assert len(preds) > 500 and preds["prob"].between(0, 1).all()
    assert (run_dir / "backtest" / "metrics.json").exists()
