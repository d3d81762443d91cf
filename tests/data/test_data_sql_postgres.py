"""The ``sql`` source and ``qlop data to-sql`` against a real PostgreSQL server (psycopg 3).

The server is started by the ``postgres_server`` fixture (conftest.py) with password authentication,
so these tests also show the password travels only through the environment.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from qlop.cli.main import cli
from qlop.config import DataConfig
from qlop.errors import DataError
from qlop.stages.data import load_panel
from qlop.testing import DataSourceContract
from qlop_contrib.datasources.sql_source import SqlSource

pytestmark = pytest.mark.postgres

TICKERS = ["AAPL", "MSFT", "KO"]
INJECTIONS = ["AAPL' OR '1'='1", "x'); DROP TABLE ohlcv; --", "KO' UNION SELECT * FROM ohlcv --"]


def sample(tickers: list[str] = TICKERS, start: str = "2014-01-01", end: str = "2016-12-31") -> pd.DataFrame:
    return load_panel(DataConfig(data_source_type="sample", tickers=tickers, start_date=start, end_date=end))


@pytest.fixture(scope="module")
def pg(postgres_server: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The server, seeded through the CLI with the sample's AAPL, MSFT and KO (2014-2016) in ``ohlcv``."""
    panel_file = tmp_path_factory.mktemp("pg") / "data.parquet"
    sample().to_parquet(panel_file)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QLOP_SQL_PASSWORD", postgres_server["password"])
        result = CliRunner().invoke(
            cli,
            ["data", "to-sql", str(panel_file), postgres_server["url"], "--table", "ohlcv", "--if-exists", "replace"],
        )
    assert result.exit_code == 0, result.output
    assert "postgresql+psycopg://qlop@127.0.0.1:" in result.output
    return postgres_server


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch, postgres_server: dict[str, str]) -> None:
    monkeypatch.setenv("QLOP_SQL_PASSWORD", postgres_server["password"])


class TestPostgresTableContract(DataSourceContract):
    component_name = "sql"

    @pytest.fixture(autouse=True)
    def _database(self, pg: dict[str, str]) -> None:
        self.params = {"url": pg["url"]}


def load(
    tickers: list[str] | None = None, start: str | None = None, end: str | None = None, **params: Any
) -> pd.DataFrame:
    return load_panel(
        DataConfig(
            data_source_type="sql", data_source_params=params, tickers=tickers or [], start_date=start, end_date=end
        )
    )


def test_postgres_round_trip_equals_the_sample_exactly(pg: dict[str, str]) -> None:
    pd.testing.assert_frame_equal(load(TICKERS, "2014-01-01", "2016-12-31", url=pg["url"]), sample())
    query = (
        "SELECT ticker, date, open, high, low, close, adj_close, volume FROM ohlcv "
        "WHERE ticker IN :tickers AND date BETWEEN :start AND :end"
    )
    pd.testing.assert_frame_equal(
        load(["MSFT", "KO"], "2015-01-01", "2015-03-31", url=pg["url"], query=query),
        sample(["KO", "MSFT"], "2015-01-01", "2015-03-31"),
    )


@pytest.mark.parametrize("evil", INJECTIONS)
def test_an_injection_attempt_is_inert_on_postgres(pg: dict[str, str], evil: str) -> None:
    for params in ({"url": pg["url"]}, {"url": pg["url"], "query": "SELECT * FROM ohlcv WHERE ticker IN :tickers"}):
        with pytest.raises(DataError, match=f"ticker {re.escape(evil)}: no rows"):
            SqlSource("sql", params).load_data(["KO", evil], None, None, "1d")
    assert len(load(url=pg["url"])) == len(sample())


def test_a_wrong_or_missing_password_is_one_line_without_the_password(
    pg: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QLOP_SQL_PASSWORD", "not-the-password")
    with pytest.raises(DataError) as info:
        load(["KO"], url=pg["url"])
    message = str(info.value)
    assert message.startswith(f"sql table 'ohlcv' at {pg['url']}: connection failed")
    assert "password authentication failed" in message and "not-the-password" not in message
    assert "\n" not in message
    monkeypatch.delenv("QLOP_SQL_PASSWORD")
    with pytest.raises(DataError, match="no password supplied|password authentication failed"):
        load(["KO"], url=pg["url"])


def test_a_password_from_another_variable(pg: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QLOP_SQL_PASSWORD")
    monkeypatch.setenv("MY_DB_SECRET", pg["password"])
    assert len(load(["KO"], "2016-01-01", "2016-01-31", url=pg["url"], password_env="MY_DB_SECRET")) == 19
