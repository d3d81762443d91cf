"""GUI server settings, read from the environment that ``qlop gui`` sets for the Streamlit process.

The relay token is read here, on the server, and only ever used by server-side code (the subscriber
threads and the launched runs' environment); no page element ever receives it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from qlop.layout import DEFAULT_RUNS_DIR
from qlop.live.protocol import relay_token, relay_url


@dataclass(frozen=True)
class GuiSettings:
    runs_dir: Path
    ws_url: str
    token: str | None = field(repr=False, default=None)
    run_args: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> "GuiSettings":
        try:
            run_args = tuple(str(a) for a in json.loads(os.environ.get("QLOP_GUI_RUN_ARGS") or "[]"))
        except ValueError:
            run_args = ()
        return cls(
            runs_dir=Path(os.environ.get("QLOP_GUI_RUNS_DIR") or DEFAULT_RUNS_DIR).resolve(),
            ws_url=relay_url(os.environ.get("QLOP_GUI_WS_URL")),
            token=relay_token(),
            run_args=run_args,
        )


def settings() -> GuiSettings:
    return GuiSettings.from_env()
