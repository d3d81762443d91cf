"""The sweep file: variants from a grid or a seeded random draw, dotted paths, validation before running."""

from __future__ import annotations

from pathlib import Path

import pytest
from scale_helpers import write_base, write_sweep

from qlop.errors import ConfigError
from qlop.scale.sweepfile import (
    SweepValidationError,
    get_path,
    grid_points,
    load_sweep,
    read_sweep_spec,
    set_path,
)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return write_base(tmp_path / "base.toml", tmp_path / "runs")


def test_grid_is_every_combination_with_each_value_at_its_path(tmp_path: Path, base: Path) -> None:
    path = write_sweep(
        tmp_path / "s.toml",
        "base.toml",
        [("label.label_params.leverage", "[1.5, 2.0, 3.0]"), ("backtest.strategy_params.entry", "[0.52, 0.55]")],
    )
    sweep = load_sweep(path)
    assert [v.id for v in sweep.variants] == ["v001", "v002", "v003", "v004", "v005", "v006"]
    seen = {
        (v.config.label.label_params["leverage"], v.config.backtest.strategy_params["entry"]) for v in sweep.variants
    }
    assert seen == {(a, b) for a in (1.5, 2.0, 3.0) for b in (0.52, 0.55)}
    assert len({v.config_hash for v in sweep.variants}) == 6
    # everything else is the base's
    assert all(v.config.data.tickers == ["AAPL", "MSFT", "KO"] and v.config.name == "sweeptest" for v in sweep.variants)
    assert sweep.name == "s"


def test_random_mode_draws_distinct_points_reproducibly_by_seed(tmp_path: Path, base: Path) -> None:
    axes = [("backtest.strategy_params.entry", "[0.51, 0.52, 0.53, 0.54, 0.55]"), ("seed", "[1, 2, 3, 4]")]
    a = load_sweep(write_sweep(tmp_path / "a.toml", "base.toml", axes, 'mode = "random"\nsamples = 7\nseed = 3'))
    b = load_sweep(write_sweep(tmp_path / "b.toml", "base.toml", axes, 'mode = "random"\nsamples = 7\nseed = 3'))
    c = load_sweep(write_sweep(tmp_path / "c.toml", "base.toml", axes, 'mode = "random"\nsamples = 7\nseed = 4'))
    points = [tuple(v.values.values()) for v in a.variants]
    assert len(points) == len(set(points)) == 7
    assert points == [tuple(v.values.values()) for v in b.variants]
    assert points != [tuple(v.values.values()) for v in c.variants]
    with pytest.raises(ConfigError, match="samples = 21 exceeds the 20 points"):
        load_sweep(write_sweep(tmp_path / "d.toml", "base.toml", axes, 'mode = "random"\nsamples = 21'))


def test_inline_base_and_list_indices(tmp_path: Path, base: Path) -> None:
    import tomllib

    inline = tomllib.loads(base.read_text())
    path = tmp_path / "inline.json"
    import json

    path.write_text(
        json.dumps(
            {
                "base": json.loads(json.dumps(inline, default=str)),
                "axes": [{"path": "features.steps.1.step_params.timeperiod", "values": [7, 21]}],
            }
        )
    )
    sweep = load_sweep(path)
    assert [v.config.features.steps[1].step_params["timeperiod"] for v in sweep.variants] == [7, 21]
    assert sweep.variants[0].config.features.steps[0].step_type == "returns"


def test_every_bad_variant_is_one_line_naming_its_axis_and_value_and_nothing_runs(tmp_path: Path, base: Path) -> None:
    path = write_sweep(
        tmp_path / "s.toml",
        "base.toml",
        [("label.label_params.leverage", "[2.0, 50.0]"), ("backtest.strategy_params.entry", "[0.55, 1.5]")],
    )
    with pytest.raises(SweepValidationError) as info:
        load_sweep(path)
    lines = info.value.lines
    assert len(lines) == 3  # (50, 0.55), (2, 1.5), (50, 1.5); (2.0, 0.55) is fine
    assert lines[0].startswith("v002 (backtest.strategy_params.entry = 1.5): backtest.strategy_params.entry:")
    assert lines[1].startswith("v003 (label.label_params.leverage = 50.0): label.label_params")
    assert "label.label_params.leverage = 50.0" in lines[2] and "backtest.strategy_params.entry = 1.5" in lines[2]
    assert "3 of 4 variant(s) invalid" in str(info.value)


def test_sweep_file_errors_name_the_field(tmp_path: Path, base: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('base = "base.toml"\nmode = "random"\n[[axes]]\npath = "seed"\nvalues = [1]\n')
    with pytest.raises(ConfigError, match="needs samples"):
        read_sweep_spec(bad)
    bad.write_text('base = "base.toml"\n[[axes]]\npath = "seed"\nvalues = []\n')
    with pytest.raises(ConfigError, match=r"axes\.0\.values"):
        read_sweep_spec(bad)
    bad.write_text(
        'base = "base.toml"\n[[axes]]\npath = "label.label_params"\nvalues = [{}]\n'
        '[[axes]]\npath = "label.label_params.leverage"\nvalues = [2.0]\n'
    )
    with pytest.raises(ConfigError, match="overlap"):
        read_sweep_spec(bad)
    bad.write_text('base = "missing.toml"\n[[axes]]\npath = "seed"\nvalues = [1]\n')
    with pytest.raises(ConfigError, match="missing.toml not found"):
        load_sweep(bad)
    bad.write_text('base = "base.toml"\n[[axes]]\npath = "label.label_parms.leverage"\nvalues = [1.5]\n')
    with pytest.raises(SweepValidationError, match=r"v001 \(label.label_parms.leverage = 1.5\): label.label_parms"):
        load_sweep(bad)


def test_dotted_paths() -> None:
    data = {"a": {"b": [{"c": 1}, {"c": 2}]}}
    set_path(data, "a.b.1.c", 5)
    set_path(data, "x.y", "new")
    assert data == {"a": {"b": [{"c": 1}, {"c": 5}]}, "x": {"y": "new"}}
    assert get_path(data, "a.b.1.c") == 5 and get_path(data, "a.b.7.c") is None
    with pytest.raises(ConfigError, match="not an index"):
        set_path(data, "a.b.9.c", 1)
    with pytest.raises(ConfigError, match="not a table"):
        set_path(data, "x.y.z", 1)


def test_grid_points_order() -> None:
    from qlop.scale.sweepfile import SweepSpec

    spec = SweepSpec.model_validate(
        {"base": {}, "axes": [{"path": "a", "values": [1, 2]}, {"path": "b", "values": [1, 2, 3]}]}
    )
    assert grid_points(spec) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]


def test_cli_refuses_bad_variants_with_exit_2_and_writes_nothing(tmp_path: Path, base: Path) -> None:
    from click.testing import CliRunner

    from qlop.cli.main import cli

    path = write_sweep(tmp_path / "s.toml", "base.toml", [("backtest.strategy_params.entry", "[0.55, 1.5, 2.5]")])
    result = CliRunner().invoke(cli, ["sweep", "-c", str(path), "--workers", "1", "--sweep-dir", str(tmp_path / "out")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("Error: ") and "2 of 3 variant(s) invalid" in lines[0]
    assert [line.split(" ")[2] for line in lines[1:]] == ["v002", "v003"]
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()
    result = CliRunner().invoke(cli, ["sweep", "-c", str(path), "--workers", "1", "--scheduler", "tcp://x:1"])
    assert result.exit_code == 2 and "exclusive" in result.output


def test_the_example_sweep_file_validates() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "sweep.toml"
    sweep = load_sweep(example)
    assert len(sweep.variants) == 9 and sweep.axes == ["label.label_params.leverage", "backtest.strategy_params.entry"]
    assert sweep.variants[0].config.name == "quickstart"
