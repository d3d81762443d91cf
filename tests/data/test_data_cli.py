"""``qlop data load`` / ``qlop data info`` through the real CLI: bad files exit 2 with one line, write nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from qlop.cli.main import cli

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"
GOOD = [
    "2020-01-02,10.0,11.0,9.5,10.5,10.5,1000",
    "2020-01-03,10.5,11.5,10.0,11.0,11.0,1200",
    "2020-01-06,11.0,11.2,10.1,10.2,10.2,0",
    "2020-01-07,10.2,10.9,10.0,10.8,10.8,900",
]


def run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args))


def write_config(tmp_path: Path, source: str, params: dict[str, str], extra: str = "") -> Path:
    body = ", ".join(f'{k} = "{v}"' for k, v in params.items())
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[data]\ndata_source_type = "{source}"\ndata_source_params = {{ {body} }}\n{extra}')
    return cfg


def csv_folder(tmp_path: Path, lines: list[str], header: str = HEADER, name: str = "XYZ.csv") -> Path:
    folder = tmp_path / "csv"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text("\n".join([header, *lines]) + "\n")
    return folder


def test_load_good_csv_writes_panel_and_summary(tmp_path: Path) -> None:
    folder = csv_folder(tmp_path, GOOD)
    run_dir = tmp_path / "run"
    result = run(
        "data", "load", "-c", str(write_config(tmp_path, "csv", {"path": str(folder)})), "--run-dir", str(run_dir)
    )
    assert result.exit_code == 0, result.output
    panel = pd.read_parquet(run_dir / "data.parquet")
    assert len(panel) == 4 and panel["volume"].isna().sum() == 1  # zero volume is missing volume
    assert "tickers: 1" in result.output and "rows: 4" in result.output
    assert "2020-01-02 .. 2020-01-07" in result.output


BAD_CASES = {
    "duplicated date": (
        GOOD[:2] + ["2020-01-03,10.5,11.5,10.0,11.0,11.0,1200"] + GOOD[2:],
        HEADER,
        "ticker XYZ, date 2020-01-03, column date, row 3: duplicated date",
    ),
    "dates out of order": (
        [GOOD[0], GOOD[2], GOOD[1], GOOD[3]],
        HEADER,
        "ticker XYZ, date 2020-01-03, column date, row 3: dates out of order (comes after 2020-01-06)",
    ),
    "high below max(open, close)": (
        GOOD[:1] + ["2020-01-03,10.5,10.9,10.0,11.0,11.0,1200"] + GOOD[2:],
        HEADER,
        "ticker XYZ, date 2020-01-03, column high, row 2: high 10.9 is below max(open, close) 11",
    ),
    "low above min(open, close)": (
        GOOD[:3] + ["2020-01-07,10.2,10.9,10.3,10.8,10.8,900"],
        HEADER,
        "ticker XYZ, date 2020-01-07, column low, row 4: low 10.3 is above min(open, close) 10.2",
    ),
    "non-positive price": (
        GOOD[:1] + ["2020-01-03,10.5,11.5,10.0,11.0,-11.0,1200"] + GOOD[2:],
        HEADER,
        "ticker XYZ, date 2020-01-03, column adj_close, row 2: non-positive price -11",
    ),
    "zero price": (
        GOOD[:2] + ["2020-01-06,0,11.2,0,10.2,10.2,10"] + GOOD[3:],
        HEADER,
        "ticker XYZ, date 2020-01-06, column open, row 3: non-positive price 0",
    ),
    "missing required column": (
        [",".join(line.split(",")[:4] + line.split(",")[5:]) for line in GOOD],
        "Date,Open,High,Low,Adj Close,Volume",
        "missing required column 'Close' (found: Date, Open, High, Low, Adj Close, Volume)",
    ),
    "unparsable date": (
        GOOD[:1] + ["2020-01-32,10.5,11.5,10.0,11.0,11.0,1200"] + GOOD[2:],
        HEADER,
        "ticker XYZ, column date, row 2: unparsable date '2020-01-32'",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_csv_exits_2_with_one_line_and_writes_nothing(tmp_path: Path, case: str) -> None:
    lines, header, expected = BAD_CASES[case]
    folder = csv_folder(tmp_path, lines, header)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    result = run(
        "data", "load", "-c", str(write_config(tmp_path, "csv", {"path": str(folder)})), "--run-dir", str(run_dir)
    )
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert err.count("\n") == 0, err
    assert err.startswith(f"Error: {folder / 'XYZ.csv'}: "), err
    assert expected in err
    assert "Traceback" not in result.output
    assert list(run_dir.iterdir()) == []  # no data.parquet, no temporary file either


def test_bad_row_in_a_long_file_names_the_ticker(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    rows = (
        ["Ticker," + HEADER]
        + [f"AAA,{line}" for line in GOOD]
        + [f"BBB,{line}" for line in GOOD[:2]]
        + ["BBB,2020-01-06,11.0,10.0,10.1,10.2,10.2,5"]
    )
    path.write_text("\n".join(rows) + "\n")
    result = run(
        "data",
        "load",
        "-c",
        str(write_config(tmp_path, "csv", {"path": str(path)})),
        "--run-dir",
        str(tmp_path / "run"),
    )
    assert result.exit_code == 2
    assert f"{path}: ticker BBB, date 2020-01-06, column high, row 7: high 10 is below" in result.stderr
    assert not (tmp_path / "run" / "data.parquet").exists()


def test_error_replaces_nothing_already_there(tmp_path: Path) -> None:
    """A failed load leaves an existing data.parquet untouched (atomic write, error before it)."""
    good = csv_folder(tmp_path, GOOD)
    run_dir = tmp_path / "run"
    cfg = write_config(tmp_path, "csv", {"path": str(good)})
    assert run("data", "load", "-c", str(cfg), "--run-dir", str(run_dir)).exit_code == 0
    before = (run_dir / "data.parquet").read_bytes()
    (good / "XYZ.csv").write_text(HEADER + "\n" + GOOD[1] + "\n" + GOOD[0] + "\n")
    assert run("data", "load", "-c", str(cfg), "--run-dir", str(run_dir)).exit_code == 2
    assert (run_dir / "data.parquet").read_bytes() == before


def test_sample_all_29_tickers(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[data]\ndata_source_type = "sample"\n')
    result = run("data", "load", "-c", str(cfg), "--run-dir", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    assert "tickers: 29   rows: 127,875   dates: 2000-01-03 .. 2017-11-10" in result.output
    # missing sessions per PROVENANCE.md, against the panel's own union calendar: 25 in total
    assert "missing sessions (vs the panel's calendar): 25" in result.output
    info = run("data", "info", str(tmp_path / "run" / "data.parquet"))
    assert info.exit_code == 0
    lines = [" ".join(line.split()) for line in info.output.splitlines()]
    assert "AAPL 4493 2000-01-03 2017-11-10 2 1 (2002-02-01, 2002-02-04)" in lines
    assert "C 4495 2000-01-03 2017-11-10 0 4" in lines  # C's four zero-volume days
    gaps = lines.index("biggest gaps between sessions (weekdays without a bar):")
    assert lines[gaps + 1].split() == ["after", "before", "weekdays", "tickers"]
    assert lines[gaps + 2].startswith("2001-09-10 2001-09-17 4 AAPL")  # the 9/11 closure


def test_unknown_source_and_bad_params_are_config_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[data]\ndata_source_type = "sampel"\n')
    result = run("data", "load", "-c", str(cfg), "--run-dir", str(tmp_path / "run"))
    assert result.exit_code == 2 and "sample" in result.stderr  # did-you-mean
    cfg.write_text('[data]\ndata_source_type = "csv"\ndata_source_params = { pth = "x" }\n')
    result = run("data", "load", "-c", str(cfg), "--run-dir", str(tmp_path / "run"))
    assert result.exit_code == 2 and "data.data_source_params" in result.stderr


def test_missing_path_is_one_line(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "csv", {"path": str(tmp_path / "nope")})
    result = run("data", "load", "-c", str(cfg), "--run-dir", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {tmp_path / 'nope'}: no such file or folder (data.data_source_params.path)"


def test_info_on_a_non_panel_file(tmp_path: Path) -> None:
    bogus = tmp_path / "x.parquet"
    bogus.write_text("not parquet")
    result = run("data", "info", str(bogus))
    assert result.exit_code == 2 and result.stderr.startswith(f"Error: {bogus}: not a readable Parquet file")
    result = run("data", "info", str(tmp_path / "missing.parquet"))
    assert result.exit_code == 2 and "file not found" in result.stderr


def test_info_json(tmp_path: Path) -> None:
    import json

    folder = csv_folder(tmp_path, GOOD)
    run_dir = tmp_path / "run"
    run("data", "load", "-c", str(write_config(tmp_path, "csv", {"path": str(folder)})), "--run-dir", str(run_dir))
    result = run("data", "info", str(run_dir / "data.parquet"), "--json")
    data = json.loads(result.output)
    assert data["rows"] == 4 and data["missing_volume"] == 1
    # 2020-01-03 (Fri) -> 2020-01-06 (Mon) skips no weekday: no gap reported
    assert data["gaps"] == []


def test_refresh_bypasses_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qlop_contrib.datasources.sample import SampleSource

    calls: list[int] = []
    original = SampleSource.load_data
    monkeypatch.setattr(SampleSource, "load_data", lambda self, *a: calls.append(1) or original(self, *a))
    cfg = tmp_path / "c.toml"
    cfg.write_text('[data]\ndata_source_type = "sample"\ntickers = ["IBM"]\nstart_date = 2012-01-01\n')
    for extra in ([], [], ["--refresh"]):
        result = run("data", "load", "-c", str(cfg), "--run-dir", str(tmp_path / "run"), *extra)
        assert result.exit_code == 0, result.output
    assert len(calls) == 2
