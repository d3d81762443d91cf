"""Signed artefacts: an edited bundle or run manifest is refused (or reported) in one line naming the file.

The class: only ``model.onnx`` was hash-checked, so dropping or reordering ``feature_columns`` in
``bundle.json`` either crashed inside onnxruntime or silently scored with features in the wrong order,
and ``qlop runs show`` crashed with ``KeyError`` on a manifest missing keys.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hardening_helpers import QLOP_MAIN, one_error_line, qlop_env, small_pipeline

from qlop.bundle import SIGNATURE_KEY, load_bundle, spec_digest
from qlop.errors import ArtifactError
from qlop.layout import RunLayout


@pytest.fixture(scope="module")
def exported_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One complete small run (every stage, ONNX export), shared by the tests here (read-only)."""
    root = tmp_path_factory.mktemp("exported")
    config = root / "c.toml"
    config.write_text(small_pipeline())
    proc = subprocess.run(
        [sys.executable, "-c", QLOP_MAIN, "run", "-c", str(config), "--run-dir", str(root / "run")],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=600,
        env=qlop_env(QLOP_CACHE_DIR=str(root / "cache")),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "run"


@pytest.fixture
def bundle_copy(exported_run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(RunLayout(exported_run).export_dir, target)
    return target


def _edit(bundle: Path, change, resign: bool = False) -> None:
    path = bundle / RunLayout.BUNDLE
    spec = json.loads(path.read_text())
    change(spec)
    if resign:  # a tool that rewrites the signature too: the ONNX graph is still checked
        spec[SIGNATURE_KEY] = spec_digest(spec)
    path.write_text(json.dumps(spec))


def test_a_fresh_export_is_signed_and_loads(bundle_copy):
    spec = json.loads((bundle_copy / RunLayout.BUNDLE).read_text())
    assert spec[SIGNATURE_KEY] == spec_digest(spec)
    assert set(spec["hashes"]) >= {RunLayout.ONNX_MODEL, "native_model"}
    bundle = load_bundle(bundle_copy)
    assert bundle.feature_columns == spec["feature_columns"]


@pytest.mark.parametrize(
    ("change", "resign", "message"),
    [
        (lambda s: s["feature_columns"].pop(), False, "bundle.json: edited after export"),
        (lambda s: s["feature_columns"].reverse(), False, "bundle.json: edited after export"),
        (lambda s: s.update(threshold=0.9), False, "bundle.json: edited after export"),
        (lambda s: s.pop(SIGNATURE_KEY), False, "bundle.json: not signed"),
        (
            lambda s: s["feature_columns"].reverse(),
            True,
            "model.onnx: bundle.json lists the feature columns in another order than the ones the model was exported for",
        ),
        (
            lambda s: s["feature_columns"].pop(),
            True,
            "model.onnx: the graph takes 3 features, bundle.json lists 2 feature_columns",
        ),
        (lambda s: s.update(feature_columns="ret_1"), True, "bundle.json: feature_columns must be a non-empty list"),
        (
            lambda s: s.update(lookback=5),
            True,
            "model.onnx: the graph's input has 2 dimensions, the bundle's lookback 5",
        ),
        (lambda s: s.update(model_file="../../etc/passwd"), True, "bundle.json: model_file must be a file name"),
        (lambda s: s.update(output={"name": "nope", "column": 1}), True, "model.onnx: the graph has no output 'nope'"),
        (lambda s: s.update(input_name="x"), True, "model.onnx: the graph has no input 'x'"),
    ],
)
def test_an_edited_bundle_is_refused_naming_the_file(bundle_copy, change, resign, message):
    _edit(bundle_copy, change, resign)
    with pytest.raises(ArtifactError) as info:
        load_bundle(bundle_copy)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_swapped_or_damaged_model_file_is_refused(bundle_copy):
    onnx_path = bundle_copy / RunLayout.ONNX_MODEL
    onnx_path.write_bytes(onnx_path.read_bytes()[:-10])
    with pytest.raises(ArtifactError, match=r"model.onnx: sha256 does not match bundle.json"):
        load_bundle(bundle_copy)
    (bundle_copy / RunLayout.BUNDLE).write_text("{not json")
    with pytest.raises(ArtifactError, match=r"bundle.json: not valid JSON"):
        load_bundle(bundle_copy)


def test_predict_with_a_tampered_bundle_is_one_line(run_qlop, exported_run, bundle_copy):
    _edit(bundle_copy, lambda s: s["feature_columns"].reverse())
    line = one_error_line(run_qlop("predict", "--bundle", bundle_copy, "--data", RunLayout(exported_run).data))
    assert line == (
        f"Error: {bundle_copy / RunLayout.BUNDLE}: edited after export (its content no longer matches "
        f"its {SIGNATURE_KEY}); re-export the run with `qlop export`"
    )
    fresh = run_qlop(
        "predict",
        "--bundle",
        RunLayout(exported_run).export_dir,
        "--data",
        RunLayout(exported_run).data,
        "--output",
        bundle_copy.parent / "p.parquet",
    )
    assert fresh.returncode == 0, fresh.stderr[-2000:]


# -- the run manifest ------------------------------------------------------------------------


@pytest.fixture
def run_copy(exported_run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "runs" / "20260101-000000-abcdef12"
    shutil.copytree(exported_run, target)
    return target


def _rewrite(run: Path, change) -> None:
    path = RunLayout(run).manifest
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_a_written_manifest_is_signed_and_intact(exported_run):
    from qlop.runs import MANIFEST_SIGNATURE, load_manifest

    read = load_manifest(exported_run)
    assert read.trusted and read.data[MANIFEST_SIGNATURE]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.update(status="completed!"), "damaged: edited after QLOP wrote it"),
        (
            lambda d: d.update(stages=["data"]),
            "damaged: edited after QLOP wrote it (its content no longer matches its manifest_sha256); malformed stages",
        ),
        (
            lambda d: (d.pop("manifest_sha256"), d["stages"]["train"].update(outputs={"model": "model"})),
            "damaged: malformed stages.train.outputs",
        ),
        (
            lambda d: (d.pop("manifest_sha256"), d.update(plugins=["x", 3], seconds="fast")),
            "damaged: malformed seconds, plugins",
        ),
    ],
)
def test_runs_show_and_list_report_a_damaged_manifest(qlop_cli, run_copy, change, problem):
    _rewrite(run_copy, change)
    shown = qlop_cli.invoke(["runs", "show", str(run_copy)])
    assert shown.exit_code == 0 and shown.exception is None, shown.output
    assert f"warning: {RunLayout(run_copy).manifest}: {problem}" in shown.stderr
    assert f"run      {run_copy}" in shown.stdout
    listed = qlop_cli.invoke(["runs", "list", "--runs-dir", str(run_copy.parent), "--json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)
    assert row["status"] == "damaged" and row["error"].startswith(f"manifest.json: {problem}")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{}", None),
        ('{"stages": {"data": {}}}', None),
        ("{not json", "damaged: not valid JSON"),
        ("[1, 2]", "damaged: not a JSON object"),
    ],
)
def test_runs_show_with_a_missing_or_unreadable_manifest(qlop_cli, run_copy, content, problem):
    RunLayout(run_copy).manifest.write_text(content)
    shown = qlop_cli.invoke(["runs", "show", str(run_copy)])
    if problem is None:  # missing keys: shown as unknown, no KeyError
        assert shown.exit_code == 0 and shown.exception is None, shown.output
        assert "status   -\n" in shown.stdout and "None" not in shown.stdout
    else:
        assert shown.exit_code == 2 and isinstance(shown.exception, SystemExit), shown.output
        assert (
            shown.stderr.strip()
            == f"Error: {RunLayout(run_copy).manifest}: {problem}" + shown.stderr.strip().split(problem, 1)[1]
        )
    assert "Traceback" not in shown.output


def test_an_edited_manifest_is_not_trusted_by_the_cache(run_qlop, run_copy, tmp_path):
    config = tmp_path / "again.toml"
    config.write_text(small_pipeline())
    _rewrite(run_copy, lambda d: d.update(name="edited"))
    proc = run_qlop("run", "-c", config, "--run-dir", run_copy)
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads(RunLayout(run_copy).manifest.read_text())
    assert manifest["stages"]["data"]["status"] == "completed"  # recomputed, not reused from the edited record


def test_the_gui_reports_a_damaged_manifest(run_copy, monkeypatch):
    from streamlit.testing.v1 import AppTest

    def runs_page() -> None:
        from qlop.gui.views import runs_page

        runs_page.render()

    _rewrite(run_copy, lambda d: d.update(stages="gone"))
    monkeypatch.setenv("QLOP_GUI_RUNS_DIR", str(run_copy.parent))
    at = AppTest.from_function(runs_page, default_timeout=60)
    at.query_params["run"] = run_copy.name
    at.run()
    assert not at.exception
    assert any("manifest.json damaged: edited after QLOP wrote it" in e.value for e in at.error), [
        e.value for e in at.error
    ]
