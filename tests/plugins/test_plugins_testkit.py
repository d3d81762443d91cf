"""The plugin-author test kit: the contracts pass correct components, catch wrong ones, and the
fixtures do what they say (with no autouse side effects)."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from qlop import hookimpl
from qlop.testing import (
    DataSourceContract,
    ExporterContract,
    FeatureStepContract,
    LabelContract,
    ModelContract,
    StrategyContract,
)

CASES = Path(__file__).resolve().parent / "fixtures" / "contracts"


def _load_components():
    spec = importlib.util.spec_from_file_location("qlop_contract_components", CASES / "components.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["qlop_contract_components"] = module
    spec.loader.exec_module(module)
    return module


C = _load_components()


# -- correct components pass every contract (this is also how an author uses them) ------------


class TestMomentumContract(FeatureStepContract):
    component_class = C.Momentum
    params = {"window": 3}


class TestUpLabelContract(LabelContract):
    component_class = C.UpLabel
    params = {"horizon": 4}


class TestCentroidContract(ModelContract):
    component_class = C.Centroid


class TestThresholdContract(StrategyContract):
    component_class = C.Threshold
    params = {"threshold": 0.7}


class TestInMemorySourceContract(DataSourceContract):
    component_class = C.InMemorySource
    tickers = ("AAA", "CCC")
    start_date, end_date = "2015-03-01", "2015-09-30"


class TestJsonExporterContract(ExporterContract):
    component_class = C.JsonExporter

    def make_artifact(self, tmp_path):
        return {"weights": [0.5, 1.5], "bias": 0.1}


class TestSampleSourceByName(DataSourceContract):
    """The bundled ``sample`` source, looked up by name through the registries like a config does."""

    component_name = "sample"
    tickers = ("AAPL", "MSFT")


class TestRegisteredByPluginAttribute(FeatureStepContract):
    """``plugin = module`` registers a plugin for the lookup without installing it."""

    plugin = types.SimpleNamespace(
        __name__="inline_plugin",
        qlop_register_feature_step=hookimpl(
            lambda: __import__("qlop.plugins.specs", fromlist=["ComponentSpec"]).ComponentSpec(
                "inline_momentum", C.Momentum
            )
        ),
    )
    component_name = "inline_momentum"


# -- wrong components are caught, each by the check that names its mistake ---------------------

EXPECTED_FAILURES = {
    "TestCenteredMean::test_causal_truncation": "look-ahead: features up to",
    "TestCenteredMean::test_causal_perturbation": "change when later rows change",
    "TestWholeHistoryZScore::test_causal_truncation": "look-ahead",
    "TestPanelWideChange::test_no_ticker_bleed": "computed alone vs within the panel",
    "TestIntegerFeature::test_float_columns_with_new_names": "column 'up' is int64, not float64",
    "TestPriceGap::test_scale_free": "scale_free: the output changes when each ticker's prices are multiplied",
    "TestFilledTailLabel::test_nan_tail_of_horizon_rows": "cannot know their future",
    "TestPeeksTooFarLabel::test_looks_no_further_than_horizon": "looks further ahead than its horizon",
    "TestPickledCentroid::test_no_pickle_written": "model.bin is a pickle",
    "TestNoisyCentroid::test_deterministic_under_seed": "two trainings with the same params and seed differ",
    "TestLossyCentroid::test_save_load_round_trip": "predictions after save_model/load_model differ",
    "TestTomorrowsProbability::test_causal": "look-ahead: signals up to",
    "TestDoubleSignal::test_signal_column": "signal must be -1, 0 or 1; got [-2.0, 2.0]",
    "TestPositionalProbability::test_predictions_for_a_subset_of_rows": "generate_signals failed with predictions for only part of the rows",
    "TestIgnoresDates::test_honours_requested_dates": "rows before 2015-03-01",
    "TestLittersExporter::test_writes_under_output_path": "files written outside output_path",
}


#: Second symptoms of the same mistakes (the mistake shows in two checks).
ALSO_CAUGHT = {
    "TestWholeHistoryZScore::test_causal_perturbation",  # the full-history mean moves with later rows
    "TestPanelWideChange::test_causal_perturbation",  # a ticker's first row reads the previous ticker's last
    "TestPanelWideChange::test_causal_truncation",
    "TestDoubleSignal::test_predictions_for_a_subset_of_rows",  # the same bad values on the backtest's rows
}


@pytest.fixture(scope="module")
def violation_report(tmp_path_factory) -> dict[str, tuple[str, str]]:
    """Run the contracts over the wrong components in their own pytest session (as an author would)."""
    work = tmp_path_factory.mktemp("violations")
    (work / "components.py").write_text((CASES / "components.py").read_text())
    (work / "test_violations.py").write_text((CASES / "violations.py").read_text())
    report = work / "report.xml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "--rootdir",
            str(work),
            f"--junitxml={report}",
            "test_violations.py",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert report.exists(), proc.stdout + proc.stderr
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        key = f"{case.get('classname').rsplit('.', 1)[-1]}::{case.get('name')}"
        failure = case.find("failure")
        error = case.find("error")
        skipped = case.find("skipped")
        if failure is not None:
            outcomes[key] = ("failed", failure.get("message", ""))
        elif error is not None:
            outcomes[key] = ("error", error.get("message", ""))
        else:
            outcomes[key] = ("skipped" if skipped is not None else "passed", "")
    return outcomes


@pytest.mark.parametrize("test_id", sorted(EXPECTED_FAILURES))
def test_contract_catches_the_mistake(violation_report, test_id):
    outcome, message = violation_report[test_id]
    assert outcome == "failed", (test_id, outcome, message)
    assert EXPECTED_FAILURES[test_id] in message, message


def test_mistakes_are_caught_only_where_they_are(violation_report):
    """Everything not listed above passes: each contract check is specific."""
    unexpected = {
        k: v
        for k, v in violation_report.items()
        if v[0] in ("failed", "error") and k not in EXPECTED_FAILURES and k not in ALSO_CAUGHT
    }
    assert unexpected == {}
    assert all(violation_report[k][0] == "failed" for k in ALSO_CAUGHT)
    assert len(violation_report) > 60


# -- fixtures ----------------------------------------------------------------------------------


def test_plugin_manager_fixture_is_isolated_and_strict(qlop_plugin_manager, qlop_fake_entry_points):
    from qlop.plugins.manager import get_plugin_manager

    assert get_plugin_manager() is qlop_plugin_manager
    assert qlop_plugin_manager.selection.strict and not qlop_plugin_manager.selection.autoload
    assert all(r.source == "builtin" or r.status == "disabled" for r in qlop_plugin_manager.records.values())


def test_fake_entry_points_track_imports(qlop_fake_entry_points):
    qlop_fake_entry_points.add("one", types.SimpleNamespace())
    qlop_fake_entry_points.add("two", "json")
    qlop_fake_entry_points.add_broken("three")
    pm = qlop_fake_entry_points.manager(disabled={"two"})
    assert qlop_fake_entry_points.loaded == ["one", "three"]  # sorted by distribution: fake-one, fake-three
    assert pm.records["three"].error == "ImportError: No module named 'three_dependency'"
    assert pm.records["two"].status == "disabled"


def test_fake_entry_points_reach_the_cli(qlop_fake_entry_points, qlop_cli):
    qlop_fake_entry_points.add_broken("ghost", distribution="ghost-dist", version="6.6")
    result = qlop_cli.invoke("plugins list --all --json")
    assert result.exit_code == 0
    import json

    ghost = {r["name"]: r for r in json.loads(result.stdout)}["ghost"]
    assert (ghost["status"], ghost["version"], ghost["distribution"]) == ("failed", "6.6", "ghost-dist")
    assert "plugin 'ghost' failed" in result.stderr


def test_cli_runner_resets_the_manager(qlop_cli, qlop_plugin_manager):
    from qlop.plugins import manager

    result = qlop_cli.invoke(
        ["plugins", "list", "--all", "--json"], env={"QLOP_DISABLE_PLUGINS": "qlop_contrib.labels"}
    )
    assert result.exit_code == 0
    assert '"status": "disabled"' in result.stdout
    assert manager.configured() is None  # reset after the call; the next invoke starts fresh


def test_hook_recorder_sees_observer_hooks(qlop_register, qlop_plugin_manager, qlop_hook_recorder):
    seen = []
    qlop_register(
        types.SimpleNamespace(qlop_before_stage=hookimpl(lambda stage, run_dir, config: seen.append(stage))),
        name="observer",
    )
    rec = qlop_hook_recorder(qlop_plugin_manager)
    qlop_plugin_manager.hook.qlop_before_stage(stage="data", run_dir="/tmp/r", config={"seed": 1})
    assert rec.names() == ["qlop_before_stage"]
    assert rec.calls_of("qlop_before_stage") == [{"stage": "data", "run_dir": "/tmp/r", "config": {"seed": 1}}]
    assert seen == ["data"]
    rec.close()
    qlop_plugin_manager.hook.qlop_before_stage(stage="features", run_dir="/tmp/r", config={})
    assert rec.names() == ["qlop_before_stage"]  # detached


def test_register_is_undone_after_the_test(qlop_register, qlop_plugin_manager):
    qlop_register(types.SimpleNamespace(), name="temporary")
    assert "temporary" in qlop_plugin_manager.records


def test_panels_are_canonical_and_deterministic(qlop_ohlcv_panel, qlop_make_panel, qlop_sample_panel):
    from qlop.schema import validate_panel
    from qlop.testing.contracts import assert_same_values

    assert_same_values(validate_panel(qlop_ohlcv_panel), qlop_ohlcv_panel, "synthetic panel", 0, 0)
    assert qlop_make_panel(seed=4).equals(qlop_make_panel(seed=4))
    assert not qlop_make_panel(seed=4).equals(qlop_make_panel(seed=5))
    sample = qlop_sample_panel(("AAPL", "JPM"), "2016-01-01", "2016-03-31")
    assert sorted(sample.index.get_level_values("ticker").unique()) == ["AAPL", "JPM"]
    assert sample.index.get_level_values("date").min().strftime("%Y-%m-%d") == "2016-01-04"
    from qlop.errors import DataError

    with pytest.raises(DataError, match="sample: ticker NOPE: not in the embedded dataset"):
        qlop_sample_panel(("NOPE",))


def test_perturb_after_keeps_earlier_rows_bit_identical(qlop_ohlcv_panel):
    import pandas as pd

    from qlop.schema import validate_panel
    from qlop.testing.data import perturb_after

    cutoff = pd.Timestamp("2020-06-01")
    changed = perturb_after(qlop_ohlcv_panel, cutoff)
    early = qlop_ohlcv_panel.index.get_level_values("date") <= cutoff
    assert changed[early].equals(qlop_ohlcv_panel[early])
    assert not np.allclose(changed[~early]["close"], qlop_ohlcv_panel[~early]["close"])
    validate_panel(changed)  # still a valid panel


def test_fixture_module_has_no_autouse_fixtures_and_imports_nothing_heavy():
    import qlop.testing.plugin as kit

    tree = ast.parse(Path(kit.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "autouse":
            pytest.fail("qlop.testing.plugin must not define autouse fixtures")
    code = (
        "import sys, qlop.testing.plugin, qlop.testing\n"
        "print(sorted(m for m in ('pandas', 'numpy', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr


def test_pytest11_plugin_is_registered(pytestconfig):
    plugin = pytestconfig.pluginmanager.get_plugin("qlop")
    assert plugin is not None and plugin.__name__ == "qlop.testing.plugin"


def test_cross_sectional_features_skip_only_the_bleed_check():
    class CrossSectional(FeatureStepContract):  # not collected: the name does not start with Test
        component_class = C.PanelWideChange
        per_ticker = False

    contract = CrossSectional()
    component, panel = contract.make_component(), contract.make_panel()
    features = contract._transform(component, panel)
    with pytest.raises(pytest.skip.Exception):
        contract.test_no_ticker_bleed(component, panel, features)
    with pytest.raises(AssertionError, match="look-ahead"):
        contract.test_causal_truncation(component, panel, features)
