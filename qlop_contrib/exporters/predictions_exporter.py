"""The ``predictions`` exporter: the run's predictions as CSV or Parquet, for other tools."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qlop.api import ArtifactError, BaseExportFormatPlugin, RunLayout


class PredictionsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_format: Literal["csv", "parquet"] = Field("csv", description="Output file format")
    source: Literal["out_of_sample", "final"] = Field(
        "out_of_sample",
        description=f"Walk-forward {RunLayout.PREDICTIONS}, or {RunLayout.FINAL_PREDICTIONS} "
        "(in-sample scores of the final model, from `qlop predict`)",
    )


class PredictionsExporter(BaseExportFormatPlugin):
    """Write ``predictions.csv`` / ``predictions.parquet`` with ticker and date columns."""

    params_model = PredictionsParams

    def export(self, artifact: Any, output_path: str) -> dict[str, Any]:
        import pandas as pd

        from qlop.api import atomic_path, write_parquet

        src = artifact.predictions_path(self.params.source)
        name = src.name
        if not src.exists():
            producer = "qlop train" if self.params.source == "out_of_sample" else "qlop predict"
            raise ArtifactError(f"{src} not found: run `{producer}` first")
        frame = pd.read_parquet(src)
        out_name = f"predictions.{self.params.file_format}"
        target = os.path.join(output_path, out_name)
        if self.params.file_format == "parquet":
            write_parquet(frame, target)
        else:
            flat = frame.reset_index()
            flat["date"] = flat["date"].dt.strftime("%Y-%m-%d")
            with atomic_path(target, suffix=".csv") as tmp:
                flat.to_csv(tmp, index=False, float_format="%.10g")
        return {"files": {"predictions": out_name}, "rows": int(len(frame)), "source": name}
