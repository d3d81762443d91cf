"""Meta-tests: every hookspec is documented with its exact signature and exercised by a test; the CLI
root stays light (no heavy library, no plugin imported by ``qlop --help``)."""

from __future__ import annotations

import ast
import inspect
import json
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from qlop import hookimpl
from qlop.errors import StageError
from qlop.plugins import hookspecs
from qlop.plugins.specs import KINDS, CommandSpec, ComponentSpec

REPO = Path(__file__).resolve().parents[2]
HOOKS_DOC = REPO / "docs" / "plugins" / "hooks.md"
HOOKSPECS = sorted(n for n, f in vars(hookspecs).items() if n.startswith("qlop_") and callable(f))

#: Which test exercises each hookspec (checked below: every hookspec is covered, every test exists).
HOOK_TESTS = {
    **{hook: "test_registration_hook_feeds_its_registry" for hook in KINDS.values()},
    "qlop_register_commands": "test_plugin_command_via_lazy_group",
    "qlop_before_stage": "test_observer_hooks_through_the_pipeline",
    "qlop_after_stage": "test_observer_hooks_through_the_pipeline",
    "qlop_on_stage_error": "test_observer_hooks_through_the_pipeline",
}


def _formatted(fn) -> str:
    sig = inspect.signature(fn)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"{fn.__name__}({params}) -> {sig.return_annotation}"


def _documented() -> dict[str, str]:
    text = HOOKS_DOC.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    found = {}
    for block in blocks:
        for line in block.splitlines():
            m = re.match(r"def (qlop_\w+\(.*\) -> .+)$", line.strip())
            if m:
                found[m.group(1).split("(")[0]] = m.group(1)
    return found


def test_hookspecs_are_the_documented_set():
    assert HOOKSPECS == sorted([*KINDS.values(), "qlop_before_stage", "qlop_after_stage", "qlop_on_stage_error"])


@pytest.mark.parametrize("hook", HOOKSPECS)
def test_every_hookspec_is_documented_with_its_exact_signature(hook):
    documented = _documented()
    assert hook in documented, f"{hook} missing from {HOOKS_DOC}"
    assert documented[hook] == _formatted(getattr(hookspecs, hook))
    assert f"### {hook}\n" in HOOKS_DOC.read_text()


@pytest.mark.parametrize("hook", HOOKSPECS)
def test_every_hookspec_has_a_docstring_with_an_example(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert "Example::" in doc and "@qlop.hookimpl" in doc and f"def {hook}(" in doc


def test_every_hookspec_is_exercised_by_a_test():
    assert set(HOOK_TESTS) == set(HOOKSPECS)
    defined = {n.name for n in ast.walk(ast.parse(Path(__file__).read_text())) if isinstance(n, ast.FunctionDef)}
    missing = {hook: t for hook, t in HOOK_TESTS.items() if t not in defined}
    assert missing == {}


def _capabilities() -> dict[str, str]:
    """``Class.member`` -> kind for every public member a base class of qlop.interfaces declares itself
    (methods, properties, class attributes, annotated instance attributes), abstract methods excluded."""
    from qlop import interfaces

    found = {}
    for cls in vars(interfaces).values():
        if not (inspect.isclass(cls) and issubclass(cls, interfaces.BasePlugin)):
            continue
        inherited = {m for base in cls.__mro__[1:] for m in [*vars(base), *vars(base).get("__annotations__", {})]}
        own = [*vars(cls), *vars(cls).get("__annotations__", {})]
        for member in own:
            if member.startswith("_") or member in inherited or member in cls.__abstractmethods__:
                continue
            value = vars(cls).get(member)
            kind = "method" if inspect.isfunction(value) else "property" if isinstance(value, property) else "attribute"
            found[f"{cls.__name__}.{member}"] = kind
    return found


def _capability_table() -> set[str]:
    text = HOOKS_DOC.read_text()
    section = text.split("## Component capabilities\n", 1)[1].split("\n## ", 1)[0]
    return {m.group(1) for m in re.finditer(r"^\| `(Base\w+\.\w+)(?:\([^`]*\))?` \|", section, flags=re.M)}


def test_every_base_class_capability_is_documented():
    """A capability a stage relies on is useless to plugin authors unless the hook reference lists it."""
    declared = _capabilities()
    assert {
        "BaseModelPlugin.final_params",
        "BaseFeatureStepPlugin.transform_arrays",
        "BaseDataSourcePlugin.cache_token",
        "BaseLabelPlugin.trade_rules",
    } <= set(declared)
    documented = _capability_table()
    assert sorted(set(declared) - documented) == [], f"declared on a base class but not in {HOOKS_DOC.name}"
    assert sorted(documented - set(declared)) == [], f"listed in {HOOKS_DOC.name} but not declared"


def test_every_base_class_capability_says_why():
    """Methods and properties have docstrings; attributes a ``#:`` comment right above them."""
    from qlop import interfaces

    source = Path(interfaces.__file__).read_text().splitlines()
    classes = {n.name: n for n in ast.parse("\n".join(source)).body if isinstance(n, ast.ClassDef)}
    undocumented = []
    for qualname, kind in _capabilities().items():
        cls_name, member = qualname.split(".")
        if kind != "attribute":
            value = vars(getattr(interfaces, cls_name))[member]
            doc = (value.fget if isinstance(value, property) else value).__doc__
            if not (doc or "").strip():
                undocumented.append(qualname)
            continue
        line = next(
            n.lineno
            for n in classes[cls_name].body
            if isinstance(n, (ast.Assign, ast.AnnAssign))
            and member
            in [t.id for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)]
        )
        if not source[line - 2].strip().startswith("#:"):
            undocumented.append(qualname)
    assert undocumented == []


def test_stages_call_capabilities_directly():
    """No stage looks a component's capability up by name: they are declared on the base classes."""
    stages = REPO / "qlop" / "stages"
    probes = [
        f"{path.name}:{n}: {line.strip()}"
        for path in sorted(stages.glob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\b(getattr|hasattr)\(", line)
    ]
    assert probes == []


class _Dummy:
    def __init__(self, name, params):
        self.name, self.params = name, params


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "command"])
def test_registration_hook_feeds_its_registry(kind, qlop_register, qlop_plugin_manager):
    hook = KINDS[kind]
    plugin = types.SimpleNamespace(**{hook: hookimpl(lambda: [ComponentSpec(f"meta_{kind}", _Dummy, "s")])})
    record = qlop_register(plugin, name=f"meta-{kind}")
    registry = qlop_plugin_manager.registry(kind)
    assert registry.get(f"meta_{kind}").summary == "s"
    assert registry.entry(f"meta_{kind}").plugin == f"meta-{kind}"
    assert record.hooks == [hook] and record.provides == {kind: [f"meta_{kind}"]}


def test_plugin_command_via_lazy_group(qlop_fake_entry_points, qlop_cli):
    import click

    @click.command("hello-meta")
    @click.argument("who")
    def hello(who):
        """Say hello."""
        click.echo(f"hello {who}")

    plugin = types.SimpleNamespace(
        qlop_register_commands=hookimpl(lambda: CommandSpec("hello-meta", hello, summary="Say hello from a plugin"))
    )
    qlop_fake_entry_points.add("greeter", plugin)
    help_before = qlop_cli.invoke(["--help"])
    assert "hello-meta" not in help_before.stdout
    result = qlop_cli.invoke(["hello-meta", "world"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "hello world\n"
    help_after = qlop_cli.invoke(["--help"])
    assert re.search(r"Plugin commands:\n\s+hello-meta\s+Say hello from a plugin", help_after.stdout)


def test_plugin_command_that_fails_to_load_is_a_one_line_error(qlop_fake_entry_points, qlop_cli):
    plugin = types.SimpleNamespace(
        qlop_register_commands=hookimpl(
            lambda: [CommandSpec("broken-cmd", "qlop_no_such_module:cmd"), CommandSpec("not-click", "json:dumps")]
        )
    )
    qlop_fake_entry_points.add("cmds", plugin)
    result = qlop_cli.invoke(["broken-cmd"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: command 'broken-cmd' of plugin 'cmds' failed to load: No module named 'qlop_no_such_module'"
    )
    result = qlop_cli.invoke(["not-click"])
    assert result.exit_code == 2 and result.stderr.strip() == "Error: command 'not-click' is not a click command"


def test_builtin_command_names_cannot_be_taken_by_plugins(qlop_fake_entry_points, qlop_cli):
    import click

    plugin = types.SimpleNamespace(
        qlop_register_commands=hookimpl(
            lambda: CommandSpec("config", click.command("config")(lambda: click.echo("hijacked")))
        )
    )
    qlop_fake_entry_points.add("hijack", plugin)
    result = qlop_cli.invoke(["config", "schema"])
    assert result.exit_code == 0 and "hijacked" not in result.stdout


def test_observer_hooks_through_the_pipeline(qlop_register, qlop_plugin_manager, qlop_hook_recorder, tmp_path):
    from qlop.config import PipelineConfig
    from qlop.stages.pipeline import run_pipeline

    seen = []

    class Observer:
        @hookimpl
        def qlop_before_stage(self, stage, run_dir, config):
            seen.append(("before", stage, config["seed"]))
            with pytest.raises(TypeError):
                config["seed"] = 1  # read-only

        @hookimpl
        def qlop_after_stage(self, stage, run_dir, outputs, seconds):
            seen.append(("after", stage, sorted(outputs), seconds >= 0))

        @hookimpl
        def qlop_on_stage_error(self, stage, run_dir, error):
            seen.append(("error", stage, str(error)))

    qlop_register(Observer(), name="observer")
    recorder = qlop_hook_recorder(qlop_plugin_manager)

    def data_runner(config, run_dir):
        path = Path(run_dir) / "data.txt"
        path.write_text("panel")
        return {"data": str(path)}

    def features_runner(config, run_dir):
        raise StageError("features: feature step 'x' (plugin 'p' 1.0) failed: ValueError: bad")

    config = PipelineConfig.model_validate({"seed": 9, "features": {"steps": []}})
    with pytest.raises(StageError):
        run_pipeline(
            config,
            tmp_path / "run",
            manager=qlop_plugin_manager,
            runners={"data": data_runner, "features": features_runner},
        )
    assert seen == [
        ("before", "data", 9),
        ("after", "data", ["data"], True),
        ("before", "features", 9),
        ("error", "features", "features: feature step 'x' (plugin 'p' 1.0) failed: ValueError: bad"),
    ]
    assert recorder.names() == ["qlop_before_stage", "qlop_after_stage", "qlop_before_stage", "qlop_on_stage_error"]
    assert recorder.calls_of("qlop_after_stage")[0]["run_dir"] == str(tmp_path / "run")


HEAVY = (
    "pandas",
    "numpy",
    "pyarrow",
    "xgboost",
    "sklearn",
    "onnx",
    "onnxruntime",
    "streamlit",
    "talib",
    "yfinance",
    "plotly",
    "qlop_contrib",
    "qlop_example_plugin",
    "rich",
    "pydantic",
)


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["plugins", "--help"], ["config", "--help"]])
def test_cli_root_imports_nothing_heavy(args, tmp_path):
    code = (
        "import sys, json\n"
        "from qlop.cli.main import cli\n"
        f"try:\n    cli.main({args!r}, prog_name='qlop')\n"
        "except SystemExit:\n    pass\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr)\n"
    )
    env = {"QLOP_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []
    assert proc.stdout.strip()


def test_version_and_help(qlop_cli):
    from qlop import __version__

    assert qlop_cli.invoke(["--version"]).stdout.strip() == f"qlop, version {__version__}"
    text = qlop_cli.invoke(["--help"]).stdout
    for option in ("--no-plugins", "-p MODULE", "--plugins-dir DIRECTORY", "-v, --verbose"):
        assert option in text
    for name in ("plugins", "config", "run"):
        assert re.search(rf"^\s+{name}\s", text, flags=re.M)


def test_plugins_show_and_doctor_clean(qlop_cli):
    shown = qlop_cli.invoke(["plugins", "show", "qlop_contrib.datasources", "--json"])
    assert shown.exit_code == 0
    data = json.loads(shown.stdout)
    assert data["source"] == "builtin"
    assert ("data_source", "sample") in {(c["kind"], c["name"]) for c in data["components"]}
    by_component = json.loads(qlop_cli.invoke(["plugins", "show", "sample", "--json"]).stdout)
    assert by_component["name"] == "qlop_contrib.datasources"
    assert [(c["kind"], c["name"]) for c in by_component["components"]] == [("data_source", "sample")]
    unknown = qlop_cli.invoke(["plugins", "show", "qlop_contrib.dataources"])
    assert unknown.exit_code == 2
    assert "Did you mean 'qlop_contrib.datasources'?" in unknown.stderr


def test_doctor_exit_codes(qlop_fake_entry_points, qlop_cli):
    clean = qlop_cli.invoke(["plugins", "doctor"])
    assert clean.exit_code == 0, clean.output
    assert clean.stdout.startswith("No problems: 6 plugin(s) active")
    qlop_fake_entry_points.add("typo", types.SimpleNamespace(qlop_register_modle=hookimpl(lambda: None)))
    found = qlop_cli.invoke(["plugins", "doctor"])
    assert found.exit_code == 1
    assert found.stdout.splitlines() == [
        "problem: plugin 'typo' (entry-point) is incompatible: unknown hook qlop_register_modle "
        "(not a QLOP hook; check the spelling)",
        "1 problem(s); 6 plugin(s) active.",
    ]


def test_misspelled_command_gets_did_you_mean(qlop_cli):
    result = qlop_cli.invoke(["plugns", "list"])
    assert result.exit_code == 2
    assert "Error: No such command 'plugns'. Did you mean 'plugins'?" in result.stderr


def test_any_command_that_loads_plugins_refreshes_the_help_index(qlop_fake_entry_points, qlop_cli, tmp_path):
    import click

    plugin = types.SimpleNamespace(
        qlop_register_commands=hookimpl(
            lambda: CommandSpec("indexed-cmd", click.command("indexed-cmd")(lambda: None), summary="Indexed")
        )
    )
    qlop_fake_entry_points.add("indexer", plugin)
    assert "indexed-cmd" not in qlop_cli.invoke(["--help"]).stdout
    config = tmp_path / "c.toml"
    config.write_text("seed = 1\n")
    assert qlop_cli.invoke(["config", "validate", str(config)]).exit_code == 0
    assert re.search(r"indexed-cmd\s+Indexed", qlop_cli.invoke(["--help"]).stdout)
