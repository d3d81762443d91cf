"""A test-only plugin for the browser tests: a feature step that holds a run until the test lets it go.

The GUI's reload test must reload the live page while the run is still running. Timing that on a run's
length is a race a fast machine loses, so the run waits here, logging a line every half second (the
live log keeps moving, as a real run's does), until the test creates ``release_file``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict

from qlop.api import BaseFeatureStepPlugin, ComponentSpec, hookimpl, number

log = logging.getLogger("qlop.tests.gate")


class HoldParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    release_file: str
    timeout_s: float = number(180.0, gt=0, unit="s", description="Give up holding after this long")


class HoldUntilReleased(BaseFeatureStepPlugin):
    """Waits for ``release_file``, then returns the one-bar return (a causal feature, per ticker)."""

    params_model = HoldParams

    def transform(self, data: pd.DataFrame) -> pd.DataFrame:
        release = Path(self.step_params.release_file)
        deadline = time.monotonic() + self.step_params.timeout_s
        held = 0
        while not release.exists() and time.monotonic() < deadline:
            held += 1
            log.info("held by the test (%d)", held)
            time.sleep(0.5)
        ret = data.groupby(level="ticker", sort=False)["close"].pct_change()
        return pd.DataFrame({"gate_ret_1": ret.astype("float64")}, index=data.index)


@hookimpl
def qlop_register_feature_step() -> ComponentSpec:
    return ComponentSpec(
        name="hold_until_released",
        factory="qlop_gui_gate:HoldUntilReleased",
        summary="Test only: hold the run until a file exists",
        params_model="qlop_gui_gate:HoldParams",
    )
