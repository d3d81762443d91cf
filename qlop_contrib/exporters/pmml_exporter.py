"""The ``pmml`` exporter: ``model.pmml`` (PMML 4.4) + ``pmml.json``, refused unless an independent evaluator
scores the parity rows like the native model.

Conversion: the model's fitted scikit-learn-API estimator (``BaseModelPlugin.sklearn_estimator()``: a
scikit-learn pipeline or forest, an XGBoost scikit-learn wrapper) goes through sklearn2pmml, whose
bundled JPMML converters run on Java. The document names the model's feature columns as its input
fields and, for a classifier, outputs ``probability(0)`` and ``probability(1)``.

Parity: the PMML is then scored by pypmml (PMML4S, an evaluator written independently of the JPMML
converters) on the parity rows (the last walk-forward test fold: out of sample for ``[export] model =
"last_fold"``, in sample for the final model; ``pmml.json`` says which) and compared with the native
model's predictions; a difference above ``parity_tolerance`` (default 1e-6) fails the export and
nothing is written. The bundled models score float32 features; the evaluator computes in double, so
each ``float`` input field is given the shortest decimal of the float32 value, the same text the
converter wrote the split thresholds in (a value equal to a threshold then compares equal, as it
does in float32), and each ``double`` field the exact value.

scikit-learn records its version in every pickled estimator and the converter refuses versions newer
than it knows. A patch release keeps the estimators' fitted state of its release series, so the
converter is shown the series (``1.9.0`` for 1.9.1); a newer series is refused with the converter's
own message, and the parity check guards the result either way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import pickle
import re
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from qlop.api import ArtifactError, BaseExportFormatPlugin, RunLayout, number

PMML_FILE = "model.pmml"
META_FILE = "pmml.json"
FORMAT = "qlop.pmml.v1"
PMML_VERSION = "4.4"
TARGET = "label"
JAVA_HINT = "install a Java runtime, 11 or newer (Debian: apt-get install default-jre-headless), or set JAVA_HOME"


class PmmlParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parity_tolerance: float = number(
        1e-6,
        gt=0,
        le=1e-2,
        unit="(absolute difference)",
        description="Largest allowed |PMML evaluator - native| on the parity rows",
    )
    max_parity_rows: int = number(
        20_000, ge=1, le=10_000_000, unit="rows", description="Held-out rows compared at most"
    )
    java_home: str | None = Field(
        None,
        description="Java installation to run the converter and the evaluator (default: $JAVA_HOME, else java on PATH)",
    )


class PmmlExporter(BaseExportFormatPlugin):
    """A PMML document of the final model for JVM and other PMML scoring engines."""

    params_model = PmmlParams

    def export(self, artifact: Any, output_path: str) -> dict[str, Any]:
        from qlop.api import sha256_file, versions, write_bytes, write_json

        model, meta = artifact.model, artifact.meta
        name = meta["model_type"]
        columns = [str(c) for c in artifact.feature_columns]
        if int(model.lookback) > 1:
            raise ArtifactError(
                f"model {name!r} reads {model.lookback}-row windows, which PMML cannot express; "
                "use format_name = 'onnx' or 'native'"
            )
        estimator = model.sklearn_estimator()
        if estimator is None:
            raise ArtifactError(
                f"model {name!r} has no scikit-learn estimator to convert (its sklearn_estimator "
                "returns None); use format_name = 'onnx' or 'native'"
            )
        sample = artifact.parity_sample.replace("_", "-")  # in-sample or out-of-sample, for this model
        parity = artifact.parity_rows
        if parity is None or len(parity) == 0:
            raise ArtifactError(
                f"{artifact.run_dir}: no rows for the PMML parity check "
                f"({RunLayout.PREDICTIONS} / {RunLayout.FEATURES} missing or empty)"
            )
        java = self.java()
        with java_environment(java):
            t0 = time.perf_counter()
            document = convert(estimator, columns)
            convert_seconds = time.perf_counter() - t0
            fields = check_document(document, columns, artifact.task)
            parity = parity[columns].iloc[: self.params.max_parity_rows]
            native = np.asarray(model.predict(parity), dtype=np.float64)
            t0 = time.perf_counter()
            scored = evaluate(document, evaluator_input(parity, fields), artifact.task)
            parity_seconds = time.perf_counter() - t0
        diff = float(np.max(np.abs(native - scored))) if native.size else 0.0
        if not np.isfinite(diff) or diff > self.params.parity_tolerance:
            raise ArtifactError(
                f"PMML parity check failed: pypmml differs from the native {name} model by "
                f"{diff:.3g} (> {self.params.parity_tolerance:g}) on {native.size} {sample} rows"
            )

        pmml_path = write_bytes(os.path.join(output_path, PMML_FILE), document)
        dates = parity.index.get_level_values(1)
        record = {
            "format": FORMAT,
            "model_file": PMML_FILE,
            "pmml_version": PMML_VERSION,
            "feature_columns": columns,
            "pmml_inputs": list(fields),
            "unused_features": [c for c in columns if c not in fields],
            "output_field": "probability(1)" if artifact.task == "classification" else f"predicted_{TARGET}",
            "task": artifact.task,
            "prediction_column": artifact.prediction_column,
            "native_model_type": name,
            "native_files": meta.get("files", {}),
            "label": artifact.label,
            "features": artifact.features,
            "threshold": meta.get("threshold"),
            "model": artifact.model_choice,
            "model_fold": meta.get("fold"),
            "training_window": meta.get("training_window"),
            "test_window": meta.get("test_window"),
            "metrics": artifact.model_metrics(),
            "plugins": artifact.plugins,
            "versions": versions(),
            "converter": f"sklearn2pmml {_version('sklearn2pmml')}",
            "evaluator": f"pypmml {_version('pypmml')}",
            "hashes": {PMML_FILE: sha256_file(pmml_path), "native_model": meta.get("sha256")},
            "parity_max_abs_diff": diff,
            "parity_tolerance": self.params.parity_tolerance,
            "parity_rows": int(native.size),
            "parity_sample": artifact.parity_sample,
            "parity_window": [str(dates.min().date()), str(dates.max().date())] if native.size else None,
            "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        write_json(os.path.join(output_path, META_FILE), record)
        return {
            "files": {"model": PMML_FILE, "meta": META_FILE},
            "pmml_version": PMML_VERSION,
            "parity_evaluator": "pypmml",
            "parity_max_abs_diff": diff,
            "parity_rows": int(native.size),
            "pmml_sha256": record["hashes"][PMML_FILE],
            "pmml_bytes": len(document),
            "convert_seconds": round(convert_seconds, 3),
            "parity_seconds": round(parity_seconds, 3),
        }

    def java(self) -> str:
        """The java executable to use, checked to be Java 11 or newer."""
        home = self.params.java_home or os.environ.get("JAVA_HOME")
        java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
        if not java or not os.access(java, os.X_OK):
            where = f"{home}/bin/java" if home else "java on PATH"
            raise ArtifactError(f"the pmml exporter needs Java ({where} not found): {JAVA_HINT}")
        try:
            done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ArtifactError(f"the pmml exporter needs Java ({java} does not run: {exc}): {JAVA_HINT}") from None
        match = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
        major = int(match.group(1)) if match else 0
        major = int(match.group(2) or 0) if major == 1 else major  # "1.8.0" is Java 8
        if done.returncode or major < 11:
            raise ArtifactError(
                f"the pmml exporter needs Java 11 or newer ({java} is {major or 'unknown'}): {JAVA_HINT}"
            )
        return java


@contextlib.contextmanager
def java_environment(java: str) -> Any:
    """JAVA_HOME and PATH pointing at ``java`` while the converter and the evaluator start their JVMs."""
    home = str(Path(java).resolve().parent.parent)
    saved = {k: os.environ.get(k) for k in ("JAVA_HOME", "PATH")}
    os.environ["JAVA_HOME"] = home
    os.environ["PATH"] = str(Path(java).parent) + os.pathsep + (saved["PATH"] or "")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _need(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ArtifactError(f"the pmml exporter needs the {module} package: pip install 'qlop[pmml]'") from None


class _ConverterPickler(pickle.Pickler):
    """Pickles estimators with the release series of their scikit-learn version (see the module doc)."""

    def reducer_override(self, obj: Any) -> Any:
        from sklearn.base import BaseEstimator

        if not isinstance(obj, BaseEstimator):
            return NotImplemented
        reduced = list(obj.__reduce_ex__(4))
        state = reduced[2] if len(reduced) > 2 else None
        if isinstance(state, dict) and isinstance(state.get("_sklearn_version"), str):
            reduced[2] = {**state, "_sklearn_version": release_series(state["_sklearn_version"])}
        return tuple(reduced)


def release_series(version: str) -> str:
    """``1.9.1`` -> ``1.9.0`` (pre-release and local tags dropped)."""
    parts = re.findall(r"\d+", version)
    return f"{parts[0]}.{parts[1] if len(parts) > 1 else 0}.0" if parts else version


def convert(estimator: Any, columns: list[str]) -> bytes:
    """The PMML 4.4 document of ``estimator`` with ``columns`` as its input fields."""
    _need("sklearn2pmml")
    from sklearn2pmml import make_pmml_pipeline, sklearn2pmml

    pipeline = make_pmml_pipeline(estimator, active_fields=columns, target_fields=[TARGET])
    with tempfile.TemporaryDirectory(prefix="qlop-pmml-") as tmp:
        pkl, out = Path(tmp) / "estimator.pkl", Path(tmp) / PMML_FILE
        with open(pkl, "wb") as fh:
            _ConverterPickler(fh, protocol=4).dump(pipeline)
        log = io.StringIO()
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                sklearn2pmml(str(pkl), str(out), escape_func=None, pmml_schema=PMML_VERSION)
        except RuntimeError as exc:
            raise ArtifactError(f"PMML conversion failed: {converter_problem(log.getvalue()) or exc}") from None
        if not out.is_file():
            raise ArtifactError("PMML conversion failed: the converter wrote no document")
        return out.read_bytes()


def converter_problem(output: str) -> str | None:
    """The root-cause exception line of the converter's Java output ('SkLearnException: ...')."""
    found = re.findall(r"^\s*(?:[\w$]+\.)+([\w$]*(?:Exception|Error)): (.+)$", output, flags=re.M)
    return f"{found[-1][0]}: {found[-1][1].strip()}" if found else None


def check_document(document: bytes, columns: list[str], task: str) -> dict[str, str]:
    """Check version, input fields and outputs of a PMML document; return input field -> dataType.

    The converter leaves out features no split or coefficient uses (an evaluator ignores extra
    inputs), so the document's inputs are a subset of ``columns``, in their order.
    """
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise ArtifactError(f"PMML conversion produced a document that is not XML ({exc})") from None
    ns = {"p": root.tag.partition("}")[0].lstrip("{")}
    if root.get("version") != PMML_VERSION:
        raise ArtifactError(f"PMML conversion produced version {root.get('version')!r}, not {PMML_VERSION}")
    fields = {f.get("name"): str(f.get("dataType")) for f in root.iterfind("p:DataDictionary/p:DataField", ns)}
    unknown = [f for f in fields if f not in columns and f != TARGET]
    if unknown:
        raise ArtifactError(f"the PMML document has an input field {unknown[0]!r} that is not a feature column")
    if task == "classification":
        outputs = {o.get("name") for o in root.iter(f"{{{ns['p']}}}OutputField")}
        if "probability(1)" not in outputs:
            raise ArtifactError("the PMML document has no probability(1) output")
    return {c: fields[c] for c in columns if c in fields}


def evaluator_input(rows: Any, fields: dict[str, str]) -> Any:
    """The rows as the evaluator should read them (module doc): float fields as the shortest decimal
    of the float32 value the model sees, double fields exactly; NaN stays missing."""
    import pandas as pd

    out = {}
    for column, kind in fields.items():
        x32 = rows[column].to_numpy(dtype=np.float64, na_value=np.nan).astype(np.float32)
        out[column] = x32.astype(str).astype(np.float64) if kind == "float" else x32.astype(np.float64)
    return pd.DataFrame(out)


def evaluate(document: bytes, frame: Any, task: str) -> np.ndarray:
    """Score ``frame`` with pypmml; probability of class 1 or the predicted value, per row."""
    _need("pypmml")
    from pypmml import Model

    try:
        model = Model.fromString(document.decode("utf-8"))
        result = model.predict(frame)
    except Exception as exc:  # py4j / PMML4S raise their own types; the user needs the first line
        raise ArtifactError(f"the PMML evaluator (pypmml) failed: {str(exc).strip().splitlines()[0][:300]}") from None
    finally:
        Model.close()
    wanted = ["probability(1)"] if task == "classification" else [f"predicted_{TARGET}", TARGET]
    column = next((c for c in wanted if c in result.columns), None)
    if column is None:
        raise ArtifactError(f"the PMML evaluator returned no {wanted[0]} (columns: {', '.join(result.columns)})")
    return result[column].to_numpy(dtype=np.float64, na_value=np.nan)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"
