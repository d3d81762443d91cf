"""``sql``: daily bars from a database table or query through SQLAlchemy (SQLite, PostgreSQL, ...).

Two ways to say where the rows are:

- ``table`` (default ``ohlcv``, the layout ``qlop data to-sql`` writes) with an optional column mapping:
  QLOP builds the SELECT itself, with the tickers and dates as bound parameters;
- ``query``: your own SELECT using the bound parameters ``:tickers`` (expanded to one parameter per
  ticker: write ``ticker IN :tickers``), ``:start`` and ``:end`` (dates, inclusive).

Values are always sent to the database as bound parameters, never formatted into the SQL text, so a
ticker name cannot change the statement. The URL holds no password: it comes from the environment
variable named by ``password_env`` (see :mod:`qlop.sql`, shared with ``qlop data to-sql``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pandas as pd

from qlop.api import (
    OHLCV_COLUMNS,
    BaseDataSourcePlugin,
    ConfigError,
    DataError,
    open_sql_engine,
    require_daily,
    sql_display_url,
    sql_error,
    ticker_progress,
)
from qlop_contrib.datasources._tabular import column_map, require_rows, to_panel
from qlop_contrib.datasources.params import SqlParams

#: Intervals a table of daily rows can represent.
SQL_INTERVALS = ("1d", "5d", "1wk", "1mo", "3mo")
#: SQLAlchemy's own rule for spotting ``:name`` bound parameters in a text() statement.
_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")
QUERY_BINDS = ("tickers", "start", "end")
#: What an open end of the date window is bound as in a query.
FIRST_DAY, LAST_DAY = dt.date(1, 1, 1), dt.date(9999, 12, 31)


class SqlSource(BaseDataSourcePlugin):
    """Rows of ``(ticker, date, open, high, low, close[, adj_close], volume)`` from a database."""

    params_model = SqlParams

    def _engine(self) -> Any:
        p = self.params
        return open_sql_engine(p.url, p.password_env, "data.data_source_params.url")

    @property
    def what(self) -> str:
        return "query" if self.params.query else f"table {self.params.table!r}"

    @property
    def where(self) -> str:
        """How messages name the source: the query or table and the database (no password)."""
        return f"sql {self.what} at {sql_display_url(self.params.url)}"

    def load_data(
        self, tickers: list[str] | None, start_date: Any = None, end_date: Any = None, interval: str = "1d"
    ) -> pd.DataFrame:
        import sqlalchemy as sa

        require_daily(interval, "sql", SQL_INTERVALS)
        tickers = list(tickers or [])
        engine = self._engine()
        with ticker_progress(len(tickers) or 1) as progress:
            try:
                with engine.connect() as conn:
                    if self.params.query:
                        raw = self._run_query(conn, tickers, start_date, end_date)
                    else:
                        raw = self._read_table(conn, tickers, start_date, end_date)
            except sa.exc.NoSuchTableError:
                raise DataError(f"{self.where}: no such table") from None
            except sa.exc.SQLAlchemyError as exc:
                raise sql_error(exc, self.where) from None
            finally:
                engine.dispose()
            panel = self._panel(raw, start_date, end_date)
            progress.advance(progress.total or 1, message=f"{len(panel)} rows")
        chosen = tickers or list(panel.index.unique("ticker"))
        if not chosen:
            raise DataError(f"{self.where}: no rows")
        require_rows(panel, chosen, self.where, start_date, end_date)
        return panel

    # -- table mode -----------------------------------------------------------------------------

    def _table(self, conn: Any) -> tuple[Any, dict[str, str]]:
        """The reflected table and its column names by QLOP name (ticker, date, open, ...)."""
        import sqlalchemy as sa

        p = self.params
        table = sa.Table(p.table, sa.MetaData(), autoload_with=conn, schema=p.db_schema)
        cmap = column_map([c.name for c in table.columns], self.where, p.columns, p.ticker_column, need_ticker=True)
        return table, {qlop: db for db, qlop in cmap.items()}

    def _read_table(self, conn: Any, tickers: list[str], start: Any, end: Any) -> pd.DataFrame:
        import sqlalchemy as sa

        table, names = self._table(conn)
        ticker_col, date_col = table.c[names["ticker"]], table.c[names["date"]]
        stmt = sa.select(*(table.c[db].label(qlop) for qlop, db in names.items()))
        if tickers:
            stmt = stmt.where(ticker_col.in_(sa.bindparam("tickers", expanding=True)))
        bounds = self._date_bounds(date_col, start, end)
        if bounds[0] is not None:
            stmt = stmt.where(date_col >= sa.bindparam("start", bounds[0], type_=date_col.type))
        if bounds[1] is not None:
            stmt = stmt.where(date_col < sa.bindparam("stop", bounds[1], type_=date_col.type))
        stmt = stmt.order_by(ticker_col, date_col)
        result = conn.execute(stmt, {"tickers": tickers} if tickers else {})
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

    def _date_bounds(self, column: Any, start: Any, end: Any) -> tuple[Any, Any]:
        """Window bounds in the column's own type (end exclusive, the day after), or None to filter
        in QLOP only (text dates in a non-ISO format cannot be compared in SQL)."""
        import sqlalchemy as sa

        lo = pd.Timestamp(start).normalize() if start is not None else None
        hi = pd.Timestamp(end).normalize() + pd.Timedelta(days=1) if end is not None else None
        kind = column.type
        if isinstance(kind, sa.DateTime):
            return (lo.to_pydatetime() if lo is not None else None, hi.to_pydatetime() if hi is not None else None)
        if isinstance(kind, sa.Date):
            return (lo.date() if lo is not None else None, hi.date() if hi is not None else None)
        if isinstance(kind, sa.String) and self.params.date_format is None:  # ISO text sorts like dates
            return (
                lo.strftime("%Y-%m-%d") if lo is not None else None,
                hi.strftime("%Y-%m-%d") if hi is not None else None,
            )
        return None, None

    # -- query mode -----------------------------------------------------------------------------

    def _run_query(self, conn: Any, tickers: list[str], start: Any, end: Any) -> pd.DataFrame:
        import sqlalchemy as sa

        query = self.params.query or ""
        names = set(_BIND.findall(query))
        unknown = sorted(names - set(QUERY_BINDS))
        if unknown:
            raise ConfigError(
                f"data.data_source_params.query: unknown bound parameter :{unknown[0]} "
                f"(QLOP binds {', '.join(':' + n for n in QUERY_BINDS)})"
            )
        binds: list[Any] = []
        values: dict[str, Any] = {}
        if "tickers" in names:
            if not tickers:
                raise ConfigError("data.tickers: the query filters on :tickers, so list the tickers to load")
            binds.append(sa.bindparam("tickers", expanding=True, type_=sa.String()))
            values["tickers"] = tickers
        if "start" in names:
            binds.append(sa.bindparam("start", type_=sa.Date()))
            values["start"] = pd.Timestamp(start).date() if start is not None else FIRST_DAY
        if "end" in names:
            binds.append(sa.bindparam("end", type_=sa.Date()))
            values["end"] = pd.Timestamp(end).date() if end is not None else LAST_DAY
        result = conn.execute(sa.text(query).bindparams(*binds), values)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        p = self.params
        cmap = column_map(list(frame.columns), self.where, p.columns, p.ticker_column, need_ticker=True)
        frame = frame[list(cmap)].rename(columns=cmap)
        if tickers:  # rows of other tickers (a query without :tickers) are not asked for
            frame = frame[frame["ticker"].astype(str).isin(tickers)]
        return frame

    # -- both -----------------------------------------------------------------------------------

    def _panel(self, raw: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
        frame = raw.copy()
        frame["ticker"] = frame["ticker"].astype(str).str.strip()
        if "adj_close" not in frame.columns:
            frame["adj_close"] = frame["close"]
        for col in OHLCV_COLUMNS:
            try:
                frame[col] = pd.to_numeric(frame[col]).astype("float64")
            except (TypeError, ValueError):
                raise DataError(f"{self.where}: column {col!r} holds values that are not numbers") from None
        return to_panel(
            frame[["ticker", "date", *OHLCV_COLUMNS]],
            self.where,
            date_format=self.params.date_format,
            start=start,
            end=end,
        )

    def cache_token(self) -> str:
        """What the cached panel depends on besides the params.

        A table: its row count, first and last date and the sum of its closes, so added, removed or
        edited rows invalidate the cache. A query: today's date (re-read once a day; ``--refresh``
        forces a read), since its result cannot be summarised without running it.
        """
        import sqlalchemy as sa

        if self.params.query:
            return f"query:{dt.date.today().isoformat()}"
        engine = self._engine()
        try:
            with engine.connect() as conn:
                table, names = self._table(conn)
                date_col, close_col = table.c[names["date"]], table.c[names["close"]]
                row = conn.execute(
                    sa.select(sa.func.count(), sa.func.min(date_col), sa.func.max(date_col), sa.func.sum(close_col))
                ).one()
        except sa.exc.NoSuchTableError:
            raise DataError(f"{self.where}: no such table") from None
        except sa.exc.SQLAlchemyError as exc:
            raise sql_error(exc, self.where) from None
        finally:
            engine.dispose()
        return "table:" + "|".join(str(v) for v in row)
