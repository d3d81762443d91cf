"""An empty date window names both of its bounds as the user gave them (an open end is "the end")."""

from __future__ import annotations

import datetime as dt

import pytest

from qlop.config import DataConfig
from qlop.errors import DataError
from qlop.stages.data import load_panel


@pytest.mark.parametrize(
    "start, end, expected",
    [
        (dt.date(2030, 1, 1), None, "no rows between 2030-01-01 and the end"),
        (None, dt.date(1990, 1, 1), "no rows between the start and 1990-01-01"),
    ],
)
def test_an_empty_window_names_its_open_end(start, end, expected):
    with pytest.raises(DataError, match=f"^sample: ticker AAPL: {expected}$"):
        load_panel(DataConfig(data_source_type="sample", tickers=["AAPL"], start_date=start, end_date=end))
