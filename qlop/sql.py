"""SQL databases through SQLAlchemy: one place that opens an engine and one that writes a panel table.

Used by the ``sql`` data source (through :mod:`qlop.api`) and by ``qlop data to-sql``, so both read
URLs and passwords the same way:

- a URL never holds a password (it would end up in ``config.json`` and the run manifest); the password
  comes from the environment variable named by ``password_env`` and is added when connecting;
- ``postgresql://`` without a driver means psycopg 3 (SQLAlchemy's own default is psycopg2);
- a SQLite file must exist before it is read (SQLite would silently create an empty one);
- SQLite runs DDL inside the transaction too, so a failed ``to-sql`` leaves no table behind.

SQLAlchemy is imported on first use only.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from qlop.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import URL, Engine

#: The environment variable a database password is read from unless another is named.
DEFAULT_PASSWORD_ENV = "QLOP_SQL_PASSWORD"
#: Column names of a panel table written by :func:`write_panel` (what the ``sql`` source reads by default).
PANEL_COLUMNS = ("ticker", "date", "open", "high", "low", "close", "adj_close", "volume")
IfExists = Literal["fail", "replace", "append"]


def parse_url(url: str, field: str) -> "URL":
    """The SQLAlchemy URL of ``url`` (psycopg 3 for a bare ``postgresql://``); refuses a password in it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"{field}: {url!r} is not a database URL (e.g. sqlite:///prices.sqlite or postgresql://user@host:5432/db)"
        ) from None
    if parsed.password is not None:
        raise ConfigError(
            f"{field}: the URL holds a password; remove it and put the password in the "
            f"environment variable named by password_env (default {DEFAULT_PASSWORD_ENV})"
        )
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def display_url(url: "URL | str") -> str:
    """The URL as shown in messages: never with a password."""
    from sqlalchemy.engine import make_url

    return (
        make_url(url).render_as_string(hide_password=True)
        if isinstance(url, str)
        else url.render_as_string(hide_password=True)
    )


def sqlite_file(url: "URL") -> Path | None:
    """The file of a file-backed SQLite URL (None for other databases and in-memory SQLite)."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def open_engine(
    url: str, password_env: str | None = DEFAULT_PASSWORD_ENV, field: str = "url", must_exist: bool = True
) -> "Engine":
    """An engine for ``url`` with the password from ``$password_env`` (when that variable is set).

    ``must_exist``: a SQLite file that is not there is a :class:`DataError` instead of a new empty
    database. A missing driver (e.g. psycopg) is a one-line :class:`ConfigError` saying what to install.
    """
    import sqlalchemy as sa

    parsed = parse_url(url, field)
    secret = os.environ.get(password_env) if password_env else None
    if secret:
        parsed = parsed.set(password=secret)
    file = sqlite_file(parsed)
    if file is not None and must_exist and not file.is_file():
        raise DataError(f"{field}: SQLite database {file} does not exist")
    try:
        engine = sa.create_engine(parsed)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"{field}: the {parsed.get_backend_name()} driver is not installed "
            f"(No module named {exc.name!r}); for PostgreSQL: pip install 'psycopg[binary]'"
        ) from None
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise ConfigError(f"{field}: {display_url(parsed)}: {str(exc).splitlines()[0]}") from None
    if parsed.get_backend_name() == "sqlite":
        _transactional_sqlite(engine)
    return engine


def _transactional_sqlite(engine: "Engine") -> None:
    """Let SQLAlchemy, not the sqlite3 module, begin transactions, so DDL is inside them as well.

    (The sqlite3 module only opens a transaction before DML; a CREATE TABLE would commit on its own.)
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")


def database_error(exc: BaseException, context: str) -> DataError:
    """A driver or SQL error as one line: ``context`` (say which database and what was being done;
    build it with :func:`display_url`) then the driver's own first words, never the SQL parameters."""
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split()) or type(orig).__name__
    return DataError(f"{context}: {text[:300]}")


def panel_table(name: str, schema: str | None = None) -> Any:
    """The table :func:`write_panel` creates: one row per (ticker, date), prices as double precision."""
    import sqlalchemy as sa

    metadata = sa.MetaData(schema=schema)
    return sa.Table(
        name,
        metadata,
        sa.Column("ticker", sa.String(64), primary_key=True),
        sa.Column("date", sa.Date, primary_key=True),
        *(sa.Column(c, sa.Double, nullable=c == "volume") for c in PANEL_COLUMNS[2:]),
    )


def write_panel(
    panel: "pd.DataFrame",
    url: str,
    table: str,
    password_env: str | None = DEFAULT_PASSWORD_ENV,
    if_exists: IfExists = "fail",
    schema: str | None = None,
    chunk_rows: int = 20_000,
) -> int:
    """Write a canonical panel into ``table`` in one transaction; return the rows written.

    ``if_exists``: ``fail`` (the default) refuses an existing table, ``replace`` drops and recreates it,
    ``append`` adds rows (a (ticker, date) already there is an error). On any error nothing is changed.
    Missing volume is written as NULL.
    """
    import numpy as np
    import sqlalchemy as sa

    engine = open_engine(url, password_env, "URL", must_exist=False)
    target = panel_table(table, schema)
    where = f"table {table!r}" + (f" (schema {schema!r})" if schema else "")
    tickers = panel.index.get_level_values("ticker").astype(str).to_numpy(dtype=object)
    dates = panel.index.get_level_values("date").to_numpy().astype("datetime64[D]").astype(dt.date)
    columns = {c: panel[c].to_numpy(dtype=np.float64) for c in PANEL_COLUMNS[2:]}
    try:
        with engine.begin() as conn:
            exists = sa.inspect(conn).has_table(table, schema=schema)
            if exists and if_exists == "fail":
                raise ConfigError(
                    f"{where} already exists in {display_url(engine.url)} "
                    "(--if-exists replace drops it first, append adds rows)"
                )
            if exists and if_exists == "replace":
                target.drop(conn)
            if not exists or if_exists == "replace":
                target.create(conn)
            for lo in range(0, len(panel), chunk_rows):
                hi = min(lo + chunk_rows, len(panel))
                rows = [
                    {"ticker": tickers[i], "date": dates[i], **{c: _value(v[i]) for c, v in columns.items()}}
                    for i in range(lo, hi)
                ]
                conn.execute(target.insert(), rows)
    except sa.exc.IntegrityError as exc:
        raise database_error(exc, f"{display_url(engine.url)}: {where}: rows already there (ticker, date)") from None
    except sa.exc.SQLAlchemyError as exc:
        raise database_error(exc, f"{display_url(engine.url)}: cannot write {where}") from None
    finally:
        engine.dispose()
    return len(panel)


def _value(x: float) -> float | None:
    return None if x != x else float(x)  # NaN -> NULL
