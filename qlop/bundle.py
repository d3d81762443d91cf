"""Scoring with an exported bundle (``DIR/export``): onnxruntime and QLOP's feature pipeline only.

A bundle is ``model.onnx`` plus ``bundle.json`` (ordered feature columns, the feature pipeline config,
the ONNX output to read, the model's ``lookback``, hashes). Scoring raw OHLCV recomputes the features
exactly as training did, builds each ticker's windows for a sequence model, and runs the ONNX graph;
nothing here imports XGBoost, scikit-learn or PyTorch, so a deployment needs none of them.

A bundle is signed: :func:`write_bundle` records the sha256 of every file ``bundle.json`` names and then
the digest of ``bundle.json``'s own content (``bundle_sha256``). :func:`load_bundle` checks both, and
checks the feature count and the window length against the ONNX graph's input signature, so an edited
bundle (feature columns dropped or reordered, a swapped model) is refused in one line naming the file
instead of crashing inside onnxruntime or scoring with features in the wrong order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qlop.errors import ArtifactError, DataError
from qlop.layout import RunLayout

if TYPE_CHECKING:
    import pandas as pd

BUNDLE_FORMAT = "qlop.bundle.v1"
#: The key of ``bundle.json`` holding the digest of the rest of its content.
SIGNATURE_KEY = "bundle_sha256"
#: ONNX metadata (``metadata_props``) recording the feature columns, in order, the graph was exported for.
ONNX_FEATURES_KEY = "qlop.feature_columns"


def onnx_session(model_bytes: bytes) -> Any:
    """A single-threaded CPU onnxruntime session (deterministic, and polite on shared machines)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model_bytes, sess_options=options, providers=["CPUExecutionProvider"])


def output_spec(session: Any, task: str) -> dict[str, Any]:
    """Which ONNX output holds the prediction: class-1 probability, or the regression value."""
    names = [o.name for o in session.get_outputs()]
    if task == "classification":
        for name in ("probabilities", "output_probability"):
            if name in names:
                return {"name": name, "column": 1}
        raise ArtifactError(f"ONNX graph has no probability output (outputs: {', '.join(names)})")
    return {"name": names[0], "column": 0}


def onnx_input(values: np.ndarray, index: "pd.Index", lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """The ONNX graph's input for a feature matrix, and the row positions it scores.

    ``lookback == 1``: every row, as a float32 matrix ``[n, n_features]``. A sequence model's graph
    (``lookback = L > 1``) takes windows ``[m, L, n_features]``: one per row with a complete window
    of its ticker (:mod:`qlop.windows`), built here from the feature rows exactly as the model builds
    them, so scoring needs onnxruntime and numpy only.
    """
    values = np.asarray(values, dtype=np.float64)
    if lookback <= 1:
        return values.astype(np.float32), np.arange(values.shape[0])
    from qlop.windows import gather_windows, group_codes, window_rows

    rows = window_rows(values, group_codes(index), lookback)
    return gather_windows(values, rows, lookback), rows


def run_session(session: Any, output: dict[str, Any], X: np.ndarray, input_name: str = "input") -> np.ndarray:
    """Score a float32 matrix; handles both array and ZipMap (list of dicts) probability outputs."""
    if X.shape[0] == 0:
        return np.zeros(0, dtype=np.float64)
    (result,) = session.run([output["name"]], {input_name: np.ascontiguousarray(X, dtype=np.float32)})
    if isinstance(result, list):  # ZipMap: one {class: prob} dict per row
        key = output["column"]
        return np.array([row.get(key, row.get(str(key), np.nan)) for row in result], dtype=np.float64)
    arr = np.asarray(result, dtype=np.float64)
    return arr[:, output["column"]] if arr.ndim == 2 else arr


@dataclass
class Bundle:
    """A loaded bundle: its directory, ``bundle.json`` and the ONNX session."""

    path: Path
    spec: dict[str, Any]
    session: Any

    @property
    def feature_columns(self) -> list[str]:
        return list(self.spec["feature_columns"])

    @property
    def prediction_column(self) -> str:
        return str(self.spec.get("prediction_column", "prob"))

    @property
    def lookback(self) -> int:
        """Rows of history per prediction (1 unless the model is a sequence model)."""
        return int(self.spec.get("lookback") or 1)

    @property
    def dropna(self) -> bool:
        return bool((self.spec.get("features") or {}).get("dropna", True))

    def score_matrix(self, X: np.ndarray) -> np.ndarray:
        return run_session(self.session, self.spec["output"], X, self.spec.get("input_name", "input"))

    def score_features(self, features: "pd.DataFrame", source: str = "features") -> "pd.DataFrame":
        """Predictions for the rows of ``features`` that can be scored (complete rows when ``dropna``)."""
        import pandas as pd

        missing = [c for c in self.feature_columns if c not in features.columns]
        if missing:
            raise DataError(f"{source}: feature column {missing[0]!r} of the bundle is missing")
        X = features[self.feature_columns].to_numpy(dtype=np.float64, na_value=np.nan)
        keep = ~np.isnan(X).any(axis=1) if self.dropna else np.ones(X.shape[0], dtype=bool)
        if X.shape[0] and not keep.any():
            empty = [c for c, ok in zip(self.feature_columns, (~np.isnan(X)).any(axis=0)) if not ok]
            why = (
                (
                    f"feature {empty[0]!r} is NaN on every row (a cross-sectional feature needs several "
                    "tickers; a rolling one needs enough history)"
                )
                if empty
                else "every row has a NaN feature"
            )
            raise DataError(f"{source}: nothing to score: {why}")
        index = features.index[keep]
        inputs, rows = onnx_input(X[keep], index, self.lookback)
        if not rows.size:
            raise DataError(
                f"{source}: nothing to score: no ticker has {self.lookback} consecutive complete "
                "rows (the model's lookback); give it more history"
            )
        pred = self.score_matrix(inputs)
        return pd.DataFrame({self.prediction_column: pred}, index=index[rows])

    def score_panel(self, panel: "pd.DataFrame", source: str = "data") -> "pd.DataFrame":
        """Recompute the bundle's features from an OHLCV panel, then score them."""
        from qlop.config import FeaturesConfig
        from qlop.stages.features import compute_features

        cfg = FeaturesConfig.model_validate(self.spec.get("features") or {})
        features = compute_features(panel, cfg)
        return self.score_features(features, source)


def spec_digest(spec: dict[str, Any]) -> str:
    """The digest of a bundle spec: sha256 of its canonical JSON, the signature itself left out."""
    from qlop.atomic import sha256_json

    return sha256_json({k: v for k, v in spec.items() if k != SIGNATURE_KEY})


def write_bundle(directory: str | Path, spec: dict[str, Any]) -> Path:
    """Write ``bundle.json`` into a bundle directory, signed: the sha256 of the model file it names
    (``model_file``, already written beside it) goes into ``hashes``, then the digest of the whole spec
    into ``bundle_sha256``. Exporters call this instead of writing ``bundle.json`` themselves."""
    from qlop.atomic import sha256_file, write_json

    directory = Path(directory)
    spec = json.loads(json.dumps(spec, default=str))  # exactly what the file will hold
    model_file = str(spec.setdefault("model_file", RunLayout.ONNX_MODEL))
    if model_file.endswith(".onnx"):
        stamp_features(directory / model_file, list(spec.get("feature_columns") or []))
    spec["hashes"] = {**(spec.get("hashes") or {}), model_file: sha256_file(directory / model_file)}
    spec[SIGNATURE_KEY] = spec_digest(spec)
    return write_json(directory / RunLayout.BUNDLE, spec)


def stamp_features(model_path: Path, columns: list[str]) -> None:
    """Record the feature columns, in order, in the ONNX file's metadata: the graph's input is one
    tensor, so this is what lets :func:`check_signature` see a reordered ``feature_columns``."""
    import onnx

    from qlop.atomic import atomic_path

    model = onnx.load(str(model_path))
    kept = [p for p in model.metadata_props if p.key != ONNX_FEATURES_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    entry = model.metadata_props.add()
    entry.key, entry.value = ONNX_FEATURES_KEY, json.dumps(columns)
    with atomic_path(model_path, suffix=".onnx") as tmp:
        onnx.save(model, str(tmp))


def _plain_name(name: Any) -> bool:
    return isinstance(name, str) and bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name


def check_spec(spec: Any, spec_path: Path) -> dict[str, Any]:
    """A signed, well-formed bundle spec, or an :class:`ArtifactError` naming ``bundle.json``."""
    if not isinstance(spec, dict):
        raise ArtifactError(f"{spec_path}: not a QLOP bundle (the top level is not a JSON object)")
    if spec.get("format") != BUNDLE_FORMAT:
        raise ArtifactError(f"{spec_path}: not a QLOP bundle (format {spec.get('format')!r})")
    signature = spec.get(SIGNATURE_KEY)
    if not isinstance(signature, str):
        raise ArtifactError(f"{spec_path}: not signed (no {SIGNATURE_KEY}); re-export the run with `qlop export`")
    if signature != spec_digest(spec):
        raise ArtifactError(
            f"{spec_path}: edited after export (its content no longer matches its {SIGNATURE_KEY}); "
            "re-export the run with `qlop export`"
        )
    columns = spec.get("feature_columns")
    if (
        not isinstance(columns, list)
        or not columns
        or not all(isinstance(c, str) and c for c in columns)
        or len(set(columns)) != len(columns)
    ):
        raise ArtifactError(f"{spec_path}: feature_columns must be a non-empty list of distinct names")
    lookback = spec.get("lookback", 1)
    if isinstance(lookback, bool) or not isinstance(lookback, int) or lookback < 1:
        raise ArtifactError(f"{spec_path}: lookback must be a whole number of bars >= 1 (got {lookback!r})")
    if not _plain_name(spec.get("model_file", RunLayout.ONNX_MODEL)):
        raise ArtifactError(f"{spec_path}: model_file must be a file name inside the bundle")
    output = spec.get("output")
    if (
        not isinstance(output, dict)
        or not isinstance(output.get("name"), str)
        or isinstance(output.get("column"), bool)
        or not isinstance(output.get("column"), int)
    ):
        raise ArtifactError(f"{spec_path}: output must name the ONNX output and its column")
    return spec


def check_signature(session: Any, spec: dict[str, Any], model_path: Path) -> None:
    """The ONNX graph takes what ``bundle.json`` describes: its input name, the number of feature columns
    (and, for a sequence model, the window length), and it has the output the bundle reads."""
    inputs = session.get_inputs()
    name = spec.get("input_name", "input")
    found = next((i for i in inputs if i.name == name), None)
    if found is None:
        raise ArtifactError(
            f"{model_path}: the graph has no input {name!r} (inputs: "
            f"{', '.join(i.name for i in inputs)}); the bundle does not describe this model"
        )
    shape = list(found.shape or [])
    lookback = int(spec.get("lookback", 1))
    rank = 2 if lookback == 1 else 3
    n = len(spec["feature_columns"])
    if len(shape) != rank:
        raise ArtifactError(
            f"{model_path}: the graph's input has {len(shape)} dimensions, the bundle's lookback "
            f"{lookback} needs {rank}; the bundle does not describe this model"
        )
    if isinstance(shape[-1], int) and shape[-1] != n:
        raise ArtifactError(
            f"{model_path}: the graph takes {shape[-1]} features, {RunLayout.BUNDLE} lists {n} "
            "feature_columns; the bundle does not describe this model"
        )
    if rank == 3 and isinstance(shape[1], int) and shape[1] != lookback:
        raise ArtifactError(
            f"{model_path}: the graph takes windows of {shape[1]} rows, {RunLayout.BUNDLE} says lookback {lookback}"
        )
    stamped = session.get_modelmeta().custom_metadata_map.get(ONNX_FEATURES_KEY)
    if stamped is not None:
        try:
            trained = json.loads(stamped)
        except ValueError:
            trained = None
        if trained != spec["feature_columns"]:
            same = isinstance(trained, list) and sorted(map(str, trained)) == sorted(spec["feature_columns"])
            raise ArtifactError(
                f"{model_path}: {RunLayout.BUNDLE} lists the feature columns "
                f"{'in another order than' if same else 'differently from'} the ones the model "
                "was exported for; the bundle does not describe this model"
            )
    outputs = [o.name for o in session.get_outputs()]
    if spec["output"]["name"] not in outputs:
        raise ArtifactError(
            f"{model_path}: the graph has no output {spec['output']['name']!r} (outputs: {', '.join(outputs)})"
        )


def load_bundle(path: str | Path) -> Bundle:
    """Read and check a bundle directory: ``bundle.json``'s signature and shape, the model file's hash,
    and the ONNX graph's input signature against the feature columns (:func:`check_signature`)."""
    from qlop.atomic import sha256_file
    from qlop.errors import file_errors

    path = Path(path)
    spec_path = path / RunLayout.BUNDLE
    if not spec_path.is_file():
        raise ArtifactError(f"{spec_path} not found: export the run with `qlop export` (format onnx)")
    with file_errors(spec_path, "read the bundle"):
        raw = spec_path.read_bytes()
    try:
        spec = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise ArtifactError(f"{spec_path}: not valid JSON ({exc})") from None
    spec = check_spec(spec, spec_path)
    model_path = path / spec.get("model_file", RunLayout.ONNX_MODEL)
    if not model_path.is_file():
        raise ArtifactError(f"{model_path}: ONNX model file missing from the bundle")
    expected = (spec.get("hashes") or {}).get(model_path.name)
    if expected != sha256_file(model_path):
        raise ArtifactError(f"{model_path}: sha256 does not match {RunLayout.BUNDLE}; the model file was modified")
    try:
        session = onnx_session(model_path.read_bytes())
    except Exception as exc:
        raise ArtifactError(f"{model_path}: onnxruntime cannot load it ({str(exc).splitlines()[0]})") from None
    check_signature(session, spec, model_path)
    return Bundle(path, spec, session)


def read_ohlcv(path: str | Path) -> "pd.DataFrame":
    """An OHLCV panel from a file: QLOP's own ``data.parquet``, or CSV/Parquet via the file sources.

    CSV and non-canonical Parquet go through the ``csv`` / ``parquet`` data-source plugins: a long
    file with a ticker column, or a single-ticker file named ``<TICKER>.csv``.
    """
    from qlop.schema import validate_panel
    from qlop.stages.components import create
    from qlop.stages.data import read_panel

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (--data)")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            return read_panel(path)
        except DataError:
            kind = "parquet"
    elif suffix in (".csv", ".txt"):
        kind = "csv"
    else:
        raise DataError(f"{path}: unsupported data file type {suffix!r} (use .parquet or .csv)")
    try:
        source = create("data_source", kind, {"path": str(path)}, "--data")
        panel = source.load_data([], None, None, "1d")
    except DataError as exc:
        if "ticker" not in str(exc).lower():
            raise
        # a single-ticker file without a ticker column: the ticker is the file name
        source = create("data_source", kind, {"path": str(path.parent)}, "--data")
        panel = source.load_data([path.stem], None, None, "1d")
    return validate_panel(panel, str(path))


def score_file(bundle_dir: str | Path, data_path: str | Path) -> "pd.DataFrame":
    """``qlop predict --bundle``: raw OHLCV file -> features -> ONNX predictions."""
    bundle = load_bundle(bundle_dir)
    panel = read_ohlcv(data_path)
    return bundle.score_panel(panel, str(data_path))
