"""The ``native`` exporter: the model files in the library's own format, with ``meta.json``.

The hashes recorded at training time are checked before copying, and the copy is checked again.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict

from qlop.api import ArtifactError, BaseExportFormatPlugin


class NativeParams(BaseModel):
    """The native exporter has no parameters."""

    model_config = ConfigDict(extra="forbid")


class NativeExporter(BaseExportFormatPlugin):
    """Copy ``DIR/model`` (native files + meta.json) into the export directory."""

    params_model = NativeParams

    def export(self, artifact: Any, output_path: str) -> dict[str, Any]:
        from qlop.api import sha256_file, write_bytes

        meta = artifact.meta
        copied = []
        for name, path in artifact.model_files().items():  # hashes checked before anything is copied
            write_bytes(os.path.join(output_path, name), path.read_bytes())
            copied.append(name)
        for name, digest in meta["files"].items():
            if sha256_file(os.path.join(output_path, name)) != digest:
                raise ArtifactError(f"{output_path}/{name}: copy does not match its recorded sha256")
        return {"files": {n: n for n in copied}, "model_type": meta["model_type"], "sha256": meta.get("sha256")}
