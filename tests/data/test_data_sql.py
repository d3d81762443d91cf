"""The ``sql`` source and ``qlop data to-sql`` on SQLite: round trip, mapping, queries, injection, errors.

The same checks against a real PostgreSQL server are in test_data_sql_postgres.py.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from qlop.cli.main import cli
from qlop.config import DataConfig
from qlop.errors import ConfigError, DataError
from qlop.sql import write_panel
from qlop.stages.data import load_panel
from qlop.testing import DataSourceContract
from qlop_contrib.datasources.sql_source import SqlSource

TICKERS = ["AAPL", "MSFT", "KO"]
START, END = "2014-01-01", "2016-12-31"
INJECTIONS = ["AAPL' OR '1'='1", "x'); DROP TABLE ohlcv; --", 'AAPL" OR 1=1 --', "KO' UNION SELECT * FROM ohlcv --"]


def sample(tickers: list[str] = TICKERS, start: str | None = START, end: str | None = END) -> pd.DataFrame:
    return load_panel(DataConfig(data_source_type="sample", tickers=tickers, start_date=start, end_date=end))


def load(
    tickers: list[str] | None = None, start: str | None = None, end: str | None = None, **params: Any
) -> pd.DataFrame:
    return load_panel(
        DataConfig(
            data_source_type="sql", data_source_params=params, tickers=tickers or [], start_date=start, end_date=end
        )
    )


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file holding the sample's AAPL, MSFT and KO for 2014-2016 in table ``ohlcv``."""
    path = tmp_path_factory.mktemp("sql") / "prices.sqlite"
    url = f"sqlite:///{path}"
    write_panel(sample(), url, "ohlcv")
    return url


def row_count(url: str, table: str = "ohlcv") -> int:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


class TestSqliteTableContract(DataSourceContract):
    component_name = "sql"

    @pytest.fixture(autouse=True)
    def _database(self, sample_db: str) -> None:
        self.params = {"url": sample_db}


class TestSqliteQueryContract(DataSourceContract):
    component_name = "sql"

    @pytest.fixture(autouse=True)
    def _database(self, sample_db: str) -> None:
        self.params = {
            "url": sample_db,
            "query": "SELECT * FROM ohlcv WHERE ticker IN :tickers "
            "AND date BETWEEN :start AND :end ORDER BY ticker, date",
        }


def test_table_round_trip_equals_the_source_panel_exactly(sample_db: str) -> None:
    pd.testing.assert_frame_equal(load(TICKERS, START, END, url=sample_db), sample())
    pd.testing.assert_frame_equal(
        load(["KO"], "2015-03-02", "2015-03-31", url=sample_db), sample(["KO"], "2015-03-02", "2015-03-31")
    )


def test_no_tickers_loads_every_ticker_of_the_table(sample_db: str) -> None:
    assert sorted(load(url=sample_db).index.unique("ticker")) == sorted(TICKERS)


def test_query_mode_binds_tickers_start_and_end(sample_db: str) -> None:
    query = (
        "SELECT ticker, date, open, high, low, close, adj_close, volume FROM ohlcv "
        "WHERE ticker IN :tickers AND date >= :start AND date <= :end"
    )
    got = load(["MSFT", "KO"], "2015-01-01", "2015-02-27", url=sample_db, query=query)
    pd.testing.assert_frame_equal(got, sample(["KO", "MSFT"], "2015-01-01", "2015-02-27"))


def test_column_mapping_text_dates_and_missing_adj_close(tmp_path: Path) -> None:
    """A table of another layout: other names, dates as text in another format, no adjusted close."""
    db = tmp_path / "other.sqlite"
    panel = sample(["AAPL"], "2015-06-01", "2015-06-30")
    rows = [
        ("AAPL", d.strftime("%d/%m/%Y"), *r)
        for (_, d), r in zip(panel.index, panel[["open", "high", "low", "close", "volume"]].itertuples(index=False))
    ]
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE bars (sym TEXT, day TEXT, o REAL, h REAL, l REAL, px_last REAL, qty REAL)")
        conn.executemany("INSERT INTO bars VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    got = load(
        ["AAPL"],
        "2015-06-10",
        "2015-06-19",
        url=f"sqlite:///{db}",
        table="bars",
        ticker_column="sym",
        columns={"day": "date", "o": "open", "h": "high", "l": "low", "px_last": "close", "qty": "volume"},
        date_format="%d/%m/%Y",
    )
    pd.testing.assert_frame_equal(got, sample(["AAPL"], "2015-06-10", "2015-06-19"))


@pytest.mark.parametrize("evil", INJECTIONS)
def test_an_injection_attempt_in_a_ticker_name_is_inert(sample_db: str, evil: str) -> None:
    """Ticker names are bound parameters in both modes: the statement never changes, nothing is dropped
    or returned, and the error names the ticker as given."""
    before = row_count(sample_db)
    query = "SELECT * FROM ohlcv WHERE ticker IN :tickers"
    for params in ({"url": sample_db}, {"url": sample_db, "query": query}):
        source = SqlSource("sql", params)
        with pytest.raises(DataError, match=f"ticker {re.escape(evil)}: no rows"):
            source.load_data(["AAPL", evil], None, None, "1d")
    assert row_count(sample_db) == before
    assert sorted(load(url=sample_db).index.unique("ticker")) == sorted(TICKERS)


def test_the_window_is_bound_too(sample_db: str) -> None:
    source = SqlSource("sql", {"url": sample_db})
    with pytest.raises(DataError, match="ticker KO: no rows between 2030-01-01 and 2030-12-31"):
        source.load_data(["KO"], "2030-01-01", "2030-12-31", "1d")


def test_a_password_in_the_url_is_refused_before_connecting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="data.data_source_params.url: the URL holds a password; .*QLOP_SQL_PASSWORD"):
        load(["AAPL"], url="postgresql://qlop:hunter2@127.0.0.1:1/qlop")


def test_a_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "nope.sqlite"
    with pytest.raises(DataError, match=f"SQLite database {db} does not exist"):
        load(["AAPL"], url=f"sqlite:///{db}")
    assert not db.exists()


def test_missing_table_and_missing_column_name_the_table(sample_db: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"sql table 'prices' at sqlite:///.*: no such table"):
        load(["AAPL"], url=sample_db, table="prices")
    db = tmp_path / "thin.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE ohlcv (ticker TEXT, date TEXT, close REAL)")
    with pytest.raises(DataError, match="sql table 'ohlcv' at .*: missing required column 'Open'"):
        load(["AAPL"], url=f"sqlite:///{db}")


def test_query_parameters_are_checked(sample_db: str) -> None:
    with pytest.raises(ConfigError, match=r"unknown bound parameter :ticker \(QLOP binds :tickers, :start, :end\)"):
        load(["AAPL"], url=sample_db, query="SELECT * FROM ohlcv WHERE ticker = :ticker")
    with pytest.raises(ConfigError, match="data.tickers: the query filters on :tickers"):
        load([], url=sample_db, query="SELECT * FROM ohlcv WHERE ticker IN :tickers")
    with pytest.raises(DataError, match="sql query at sqlite:///.*: no such column: nope"):
        load(["AAPL"], url=sample_db, query="SELECT nope FROM ohlcv WHERE ticker IN :tickers")
    # ::casts and times like 10:30 in the SQL are not parameters
    assert (
        load(
            ["KO"],
            "2016-12-01",
            "2016-12-31",
            url=sample_db,
            query="SELECT * FROM ohlcv WHERE ticker IN :tickers AND '10:30' = '10:30'",
        ).shape[0]
        == 21
    )


def test_the_cache_follows_the_table(tmp_path: Path) -> None:
    """A cached panel is reused while the table is unchanged and re-read once rows are added."""
    url = f"sqlite:///{tmp_path / 'p.sqlite'}"
    write_panel(sample(["KO"], "2016-01-01", "2016-06-30"), url, "ohlcv")
    assert load(["KO"], url=url).index.get_level_values("date").max() == pd.Timestamp("2016-06-30")
    token = SqlSource("sql", {"url": url}).cache_token()
    assert SqlSource("sql", {"url": url}).cache_token() == token
    write_panel(sample(["KO"], "2016-07-01", "2016-07-29"), url, "ohlcv", if_exists="append")
    assert SqlSource("sql", {"url": url}).cache_token() != token
    assert load(["KO"], url=url).index.get_level_values("date").max() == pd.Timestamp("2016-07-29")


# -- qlop data to-sql ---------------------------------------------------------------------------


@pytest.fixture
def panel_file(tmp_path: Path) -> Path:
    path = tmp_path / "run" / "data.parquet"
    path.parent.mkdir()
    sample(["AAPL", "KO"], "2015-01-01", "2015-12-31").to_parquet(path)
    return path


def to_sql(*args: str) -> Any:
    return CliRunner().invoke(cli, ["data", "to-sql", *args])


def test_to_sql_writes_a_table_the_source_reads_back(panel_file: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'out.sqlite'}"
    result = to_sql(str(panel_file), url, "--table", "prices")
    assert result.exit_code == 0, result.output
    assert "Wrote 504 rows (2 tickers, 2015-01-02 .. 2015-12-31) to table 'prices'" in result.output
    assert 'data_source_type = "sql", data_source_params = { url = "' + url + '", table = "prices" }' in result.output
    pd.testing.assert_frame_equal(load(url=url, table="prices"), pd.read_parquet(panel_file))


def test_to_sql_refuses_an_existing_table_then_replaces_or_appends_atomically(panel_file: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'out.sqlite'}"
    assert to_sql(str(panel_file), url, "--table", "prices").exit_code == 0
    again = to_sql(str(panel_file), url, "--table", "prices")
    assert again.exit_code == 2
    assert again.output.strip().splitlines() == [
        f"Error: table 'prices' already exists in {url} (--if-exists replace drops it first, append adds rows)"
    ]
    dup = to_sql(str(panel_file), url, "--table", "prices", "--if-exists", "append")
    assert dup.exit_code == 2 and "rows already there (ticker, date)" in dup.output
    assert len(dup.output.strip().splitlines()) == 1 and "Traceback" not in dup.output
    assert row_count(url, "prices") == 504  # the failed append changed nothing
    assert to_sql(str(panel_file), url, "--table", "prices", "--if-exists", "replace").exit_code == 0
    assert row_count(url, "prices") == 504


def test_a_failed_to_sql_leaves_no_table(panel_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The table is created and filled in one transaction (DDL included, also on SQLite)."""
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'out.sqlite'}"
    real = sa.engine.Connection.execute
    calls = {"n": 0}

    def failing(self: Any, statement: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(statement, sa.sql.dml.Insert):
            calls["n"] += 1
            if calls["n"] == 1:
                raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))
        return real(self, statement, *args, **kwargs)

    monkeypatch.setattr(sa.engine.Connection, "execute", failing)
    result = to_sql(str(panel_file), url, "--table", "prices")
    assert result.exit_code == 2 and "cannot write table 'prices': disk I/O error" in result.output
    monkeypatch.undo()
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == []


def test_to_sql_bad_inputs_are_one_line_errors(panel_file: Path, tmp_path: Path) -> None:
    cases = [
        ((str(tmp_path / "none.parquet"), "sqlite:///x.sqlite", "--table", "t"), "none.parquet: file not found"),
        ((str(panel_file), "not a url", "--table", "t"), "URL: 'not a url' is not a database URL"),
        ((str(panel_file), "postgresql://u:secret@localhost/db", "--table", "t"), "URL: the URL holds a password"),
    ]
    for args, message in cases:
        result = to_sql(*args)
        assert result.exit_code == 2, result.output
        assert message in result.output and "secret" not in result.output
        assert len(result.output.strip().splitlines()) == 1
