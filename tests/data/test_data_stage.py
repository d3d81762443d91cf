"""load_panel / read_panel / run: validation of any source's output, the cache, progress, summaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from qlop.config import DataConfig, PipelineConfig
from qlop.errors import DataError, StageError
from qlop.interfaces import BaseDataSourcePlugin
from qlop.plugins.markers import hookimpl
from qlop.plugins.specs import ComponentSpec
from qlop.progress import add_listener, remove_listener
from qlop.stages import data as stage
from qlop_contrib.datasources.sample import SampleSource

CFG = DataConfig(data_source_type="sample", tickers=["AAPL", "KO"], start_date="2010-01-01", end_date="2010-03-31")


@pytest.fixture
def count_loads(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []
    original = SampleSource.load_data

    def counting(self: SampleSource, tickers: list[str], *args: Any) -> pd.DataFrame:
        calls.append(list(tickers))
        return original(self, tickers, *args)

    monkeypatch.setattr(SampleSource, "load_data", counting)
    return calls


def test_cache_hit_refresh_and_key(count_loads: list[list[str]]) -> None:
    first = stage.load_panel(CFG)
    again = stage.load_panel(CFG.model_copy(update={"tickers": ["KO", "AAPL"]}))  # order does not matter
    assert len(count_loads) == 1
    pd.testing.assert_frame_equal(first, again)
    stage.load_panel(CFG, refresh=True)
    assert len(count_loads) == 2
    stage.load_panel(CFG.model_copy(update={"end_date": pd.Timestamp("2010-04-30").date()}))
    stage.load_panel(CFG.model_copy(update={"data_source_params": {"collection": "wiki_unadjusted"}}))
    assert len(count_loads) == 4
    # defaults spelled out hash like defaults left out: validated params are hashed
    stage.load_panel(CFG.model_copy(update={"data_source_params": {"collection": "primary"}}))
    assert len(count_loads) == 4


def test_cache_lives_under_qlop_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QLOP_CACHE_DIR", str(tmp_path / "c"))
    stage.load_panel(CFG)
    entries = list((tmp_path / "c" / "data").glob("*.parquet"))
    assert len(entries) == 1 and len(entries[0].stem) == 64


def test_damaged_cache_entry_is_rebuilt(
    count_loads: list[list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QLOP_CACHE_DIR", str(tmp_path))
    good = stage.load_panel(CFG)
    entry = next((tmp_path / "data").glob("*.parquet"))
    entry.write_bytes(b"broken")
    pd.testing.assert_frame_equal(stage.load_panel(CFG), good)
    assert len(count_loads) == 2
    pd.testing.assert_frame_equal(stage.read_panel(entry), good)  # and rewritten


def test_unwritable_cache_does_not_fail_the_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("QLOP_CACHE_DIR", str(blocker))  # cache_dir()/data cannot be created
    assert len(stage.load_panel(CFG)) > 100


def test_progress_per_ticker() -> None:
    updates: list[Any] = []
    add_listener(updates.append)
    try:
        stage.load_panel(CFG)
        stage.load_panel(CFG)  # from the cache: still a complete stage
    finally:
        remove_listener(updates.append)
    kinds = [(u.kind, u.stage, u.step, u.total, u.message) for u in updates]
    assert kinds[:4] == [
        ("start", "data", 0, 2, None),
        ("advance", "data", 1, 2, "AAPL"),
        ("advance", "data", 2, 2, "KO"),
        ("end", "data", 2, 2, None),
    ]
    assert kinds[4:] == [("start", "data", 0, 2, None), ("advance", "data", 2, 2, "cache"), ("end", "data", 2, 2, None)]
    assert all(u.unit == "ticker" for u in updates)


class BadSource(BaseDataSourcePlugin):
    """A third-party source returning an inconsistent bar, or crashing."""

    def load_data(self, tickers: list[str], start_date: Any, end_date: Any, interval: str) -> pd.DataFrame:
        if tickers == ["CRASH"]:
            raise ZeroDivisionError("oops")
        return pd.DataFrame(
            {
                "ticker": ["Z", "Z"],
                "date": ["2020-01-02", "2020-01-03"],
                "open": [1.0, 1.0],
                "high": [1.2, 0.9],
                "low": [0.9, 0.8],
                "close": [1.1, 0.95],
                "adj_close": [1.1, 0.95],
                "volume": [1.0, 2.0],
            }
        )


class BadPlugin:
    @hookimpl
    def qlop_register_data_source(self) -> ComponentSpec:
        return ComponentSpec("bad", BadSource, "test source")


def test_any_sources_output_is_validated_and_crashes_name_the_plugin(qlop_register: Any) -> None:
    qlop_register(BadPlugin(), name="badplugin")
    with pytest.raises(DataError, match=r"data source 'bad': ticker Z, date 2020-01-03, column high"):
        stage.load_panel(DataConfig(data_source_type="bad", tickers=["Z"]))
    with pytest.raises(StageError, match=r"data: data source 'bad' \(plugin 'badplugin'.*ZeroDivisionError: oops"):
        stage.load_panel(DataConfig(data_source_type="bad", tickers=["CRASH"]))


def test_run_writes_data_parquet(tmp_path: Path) -> None:
    out = stage.run(PipelineConfig(data=CFG), tmp_path / "run")
    assert out == {"data": str(tmp_path / "run" / "data.parquet")}
    pd.testing.assert_frame_equal(stage.read_panel(out["data"]), stage.load_panel(CFG))
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["data.parquet"]


def test_read_panel_rejects_a_non_canonical_file(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(path)
    with pytest.raises(DataError, match=f"{path}: missing required column"):
        stage.read_panel(path)


def test_summary_counts_missing_sessions_against_the_union_calendar() -> None:
    dates = pd.bdate_range("2020-01-01", periods=10)
    rows = [("A", d) for d in dates] + [("B", d) for d in dates[2:] if d != dates[5]]
    index = pd.MultiIndex.from_tuples(rows, names=["ticker", "date"])
    panel = pd.DataFrame({c: 1.0 for c in ("open", "high", "low", "close", "adj_close")}, index=index)
    panel["volume"] = np.where(np.arange(len(panel)) == 0, np.nan, 5.0)
    summary = stage.summarize_panel(panel)
    by = {r["ticker"]: r for r in summary["per_ticker"]}
    assert by["A"]["missing_sessions"] == 0 and by["A"]["missing_volume"] == 1
    # B starts later (not missing), then lacks one session inside its span
    assert by["B"]["missing_sessions"] == 1 and by["B"]["missing_dates"] == [str(dates[5].date())]
    assert summary["sessions"] == 10 and summary["rows"] == 17
    assert summary["gaps"] == [
        {"after": str(dates[4].date()), "before": str(dates[6].date()), "weekdays_skipped": 1, "tickers": ["B"]}
    ]
