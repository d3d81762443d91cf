"""The quickstart from PostgreSQL: seeded with ``qlop data to-sql``, read by the ``sql`` source, the same
predictions as from the embedded sample; the database password is nowhere in the run directory."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from e2e_helpers import qlop, qlop_env

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.toml"


def quickstart(path: Path, data: dict | None = None) -> Path:
    """examples/quickstart.toml as JSON, with its ``[data]`` source replaced by ``data`` when given."""
    config = tomllib.loads(QUICKSTART.read_text(encoding="utf-8"))
    if data:
        config["data"].update(data)
    path.write_text(json.dumps(config, default=str), encoding="utf-8")
    return path


def test_quickstart_from_postgres_gives_the_sample_predictions(tmp_path: Path, postgres_server: dict) -> None:
    url, secret = postgres_server["url"], postgres_server["password"]
    env = qlop_env(QLOP_SQL_PASSWORD=secret)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()

    first = qlop(
        "run", "-c", str(quickstart(tmp_path / "a" / "sample.json")), "--run-dir", "run", cwd=tmp_path / "a", env=env
    )
    assert first.returncode == 0, first.stderr
    seeded = qlop(
        "data",
        "to-sql",
        str(tmp_path / "a" / "run" / "data.parquet"),
        url,
        "--table",
        "quickstart",
        "--if-exists",
        "replace",
        cwd=tmp_path,
        env=env,
    )
    assert seeded.returncode == 0, seeded.stderr
    assert "Wrote 44,914 rows (12 tickers, 2003-01-02 .. 2017-11-10) to table 'quickstart'" in seeded.stdout

    sql_config = quickstart(
        tmp_path / "b" / "sql.json",
        {"data_source_type": "sql", "data_source_params": {"url": url, "table": "quickstart"}},
    )
    second = qlop("run", "-c", str(sql_config), "--run-dir", "run", cwd=tmp_path / "b", env=env)
    assert second.returncode == 0, second.stderr

    a, b = tmp_path / "a" / "run", tmp_path / "b" / "run"
    manifest = json.loads((b / "manifest.json").read_text())
    assert manifest["stages"]["data"]["status"] == "completed"
    assert json.loads((b / "config.json").read_text())["data"]["data_source_type"] == "sql"
    pd.testing.assert_frame_equal(pd.read_parquet(b / "data.parquet"), pd.read_parquet(a / "data.parquet"))
    predictions = pd.read_parquet(b / "predictions.parquet")
    assert len(predictions) > 20_000
    pd.testing.assert_frame_equal(predictions, pd.read_parquet(a / "predictions.parquet"))
    for file in b.rglob("*"):
        if file.is_file():
            assert secret.encode() not in file.read_bytes(), f"the database password is in {file}"
