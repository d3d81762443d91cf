"""Reading a run's artefacts: strict readers for stages (one-line errors naming the file and the command
that makes it) and tolerant ones for views that show whatever a run has (listings, the GUI, the answer).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qlop.errors import ArtifactError

if TYPE_CHECKING:
    import pandas as pd


def read_frame(path: str | Path, producer: str) -> "pd.DataFrame":
    """A Parquet artefact a stage needs; ArtifactError saying to run ``producer`` when it is missing."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path} not found: run `{producer}` first (or `qlop run`)")
    try:
        return pd.read_parquet(path)
    except Exception as exc:
        raise ArtifactError(f"{path}: cannot read Parquet ({str(exc).splitlines()[0]})") from None


def read_json(path: str | Path) -> Any:
    """A JSON artefact, or None when it is missing or unreadable (for views that show what exists)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
