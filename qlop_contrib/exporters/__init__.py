"""Bundled exporters plugin: ``onnx`` (portable bundle with a parity check), ``pmml`` (PMML 4.4 with a parity
check), ``native`` and ``predictions``.

Registration imports nothing heavy: factories are ``"module:Class"`` strings resolved on first use.
"""

from __future__ import annotations

from qlop.api import ComponentSpec, RunLayout, hookimpl

_PKG = "qlop_contrib.exporters"


@hookimpl
def qlop_register_exporter() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            "onnx",
            f"{_PKG}.onnx_exporter:OnnxExporter",
            f"ONNX model + {RunLayout.BUNDLE}, checked against the native model (onnxruntime parity)",
            params_model=f"{_PKG}.onnx_exporter:OnnxParams",
        ),
        ComponentSpec(
            "pmml",
            f"{_PKG}.pmml_exporter:PmmlExporter",
            "PMML 4.4 document (sklearn2pmml), checked against the native model (pypmml parity; needs Java)",
            params_model=f"{_PKG}.pmml_exporter:PmmlParams",
        ),
        ComponentSpec(
            "native",
            f"{_PKG}.native_exporter:NativeExporter",
            f"Copy of the native model files with {RunLayout.MODEL_META} (hashes verified)",
            params_model=f"{_PKG}.native_exporter:NativeParams",
        ),
        ComponentSpec(
            "predictions",
            f"{_PKG}.predictions_exporter:PredictionsExporter",
            "Out-of-sample (or final-model) predictions as CSV or Parquet",
            params_model=f"{_PKG}.predictions_exporter:PredictionsParams",
        ),
    ]
