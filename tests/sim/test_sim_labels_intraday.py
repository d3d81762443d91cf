"""The label contracts on intraday panels: no look-ahead past the horizon across session breaks
(nights, weekends, holidays), no ticker bleed, with and without exits at the session's end."""

from __future__ import annotations

from typing import ClassVar

import pandas as pd
import pytest

pytest.importorskip("qlop.sessions")  # the intraday data layer

from qlop.testing import LabelContract, make_intraday_panel  # noqa: E402


class _Xnys5m:
    interval: ClassVar[str] = "5m"
    session: ClassVar[str] = "XNYS"

    def make_panel(self, seed: int = 0, n_days: int | None = None) -> pd.DataFrame:
        return make_intraday_panel(
            self.panel_tickers, n_bars=n_days or 400, interval=self.interval, session=self.session, seed=seed
        )


class _Crypto1h(_Xnys5m):
    interval, session = "1h", "24/7"


LEVERED = {"horizon": 12, "leverage": 4, "take_profit": 0.004, "stop_loss": 0.003, "maintenance_margin": 0.1}


class TestLeverageOpportunityXnys5m(_Xnys5m, LabelContract):
    component_name = "leverage_opportunity"
    params = LEVERED


class _SessionExit:
    """A trade that closes at its session's end needs only the rest of that session: of a ticker's last
    ``horizon`` bars, those of its last session in the data stay unlabelled (the contract's own check,
    every one of the last ``horizon`` bars, would forbid labelling a session that closed in the data)."""

    def test_nan_tail_of_horizon_rows(self, component, labels) -> None:
        from qlop.sessions import session_ids

        for ticker, rows in labels["label"].groupby(level=0, sort=False):
            tail = rows.iloc[-component.horizon :]
            sid = session_ids(tail.index.get_level_values(1), self.session)
            last = tail[sid == sid[-1]]
            assert last.isna().all(), f"ticker {ticker}: a bar of the last session has label {last.dropna().iloc[0]}"


class TestLeverageOpportunityXnys5mSessionExit(_SessionExit, _Xnys5m, LabelContract):
    component_name = "leverage_opportunity"
    params = {**LEVERED, "exit_at_session_end": True}


class TestLeverageOpportunityCrypto1h(_Crypto1h, LabelContract):
    component_name = "leverage_opportunity"
    params = {**LEVERED, "horizon": 24, "financing_rate": 0.1, "day_count": "act_365"}


class TestLeverageOpportunityCrypto1hShortSessionExit(_SessionExit, _Crypto1h, LabelContract):
    component_name = "leverage_opportunity"
    params = {**LEVERED, "side": "short", "borrow_fee": 0.2, "exit_at_session_end": True}
