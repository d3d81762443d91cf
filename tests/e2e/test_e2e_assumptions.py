"""The answer states what it assumes: `qlop demo` prints an "Assumptions:" block under the three-part
answer, read from the run's resolved config and metrics.json, and report.html shows the same rows. A
variant of the quickstart with another leverage and day count prints other assumptions (nothing in the
block is written in ahead of the run)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from e2e_helpers import qlop

pytestmark = pytest.mark.slow


def printed_assumptions(stdout: str) -> dict[str, str]:
    """The CLI block as ``{item: text}``: a row starts two spaces in, wrapped lines indent further."""
    block = stdout.split("\nAssumptions:\n", 1)[1].split("\n\n", 1)[0]
    rows: dict[str, str] = {}
    item = ""
    for line in block.splitlines():
        start = re.match(r"^  (\S+)\s{2,}(\S.*)$", line)
        if start:
            item = start.group(1)
            rows[item] = start.group(2).strip()
        else:
            rows[item] += " " + line.strip()
    return rows


def report_assumptions(report: str) -> dict[str, str]:
    table = re.search(r"<p class='assume'>Assumptions:</p><table class='t assume'>(.*?)</table>", report, re.S)
    assert table, "report.html has no Assumptions block"
    return {
        html.unescape(k): html.unescape(v)
        for k, v in re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td></tr>", table.group(1))
    }


def pct(x: float) -> str:
    """A configured rate as the shortest percent, written out independently of qlop.formatting."""
    return f"{x * 100:g}%"


def run_dir_of(stdout: str, cwd: Path) -> Path:
    return cwd / re.search(r"^completed in \S+: (\S+)", stdout, re.M).group(1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """The demo, then the quickstart with leverage 2 and act_365 in its backtest (same runs folder, so
    the labels and the model come from the cache and the ledger counts two trials)."""
    from qlop.examples import quickstart_path

    root = tmp_path_factory.mktemp("assumptions")
    demo = qlop("demo", cwd=root, timeout=600)
    assert demo.returncode == 0, demo.stderr
    text = quickstart_path().read_text(encoding="utf-8")
    backtest = text.index("[backtest]\n")
    variant = text[:backtest] + text[backtest:].replace('day_count = "act_360"', 'day_count = "act_365"', 1)
    variant = variant.replace("\nleverage = 2.5\nposition_size", "\nleverage = 2.0\nposition_size", 1)
    assert variant.count('day_count = "act_365"') == 1 and "\nleverage = 2.0\n" in variant
    (root / "variant.toml").write_text(variant, encoding="utf-8")
    other = qlop("run", "-c", "variant.toml", cwd=root, timeout=600)
    assert other.returncode == 0, other.stderr
    out = {}
    for name, done in (("demo", demo), ("variant", other)):
        run_dir = run_dir_of(done.stdout, root)
        out[name] = {
            "stdout": done.stdout,
            "printed": printed_assumptions(done.stdout),
            "report": report_assumptions((run_dir / "backtest" / "report.html").read_text(encoding="utf-8")),
            "config": json.loads((run_dir / "config.json").read_text(encoding="utf-8")),
            "metrics": json.loads((run_dir / "backtest" / "metrics.json").read_text(encoding="utf-8")),
        }
    return out


def test_the_demo_prints_its_assumptions_from_its_config_and_metrics(runs):
    demo = runs["demo"]
    rows, bt, m = demo["printed"], demo["config"]["backtest"], demo["metrics"]
    label = demo["config"]["label"]["label_params"]
    assert list(rows) == [
        "Leverage",
        "Exits",
        "Costs",
        "Margin",
        "Financing",
        "Rates",
        "Annualisation",
        "Benchmark",
        "Trials",
    ]  # no "Label" row: the label's terms are the backtest's
    assert rows["Leverage"] == f"{bt['leverage']:.2f}x per position, at most {bt['max_gross_leverage']:.2f}x gross"
    # the exits the engine used (metrics.json) are the label's barriers, as the strategy asks
    exits = m["exits"]
    assert (exits["take_profit"], exits["stop_loss"], exits["horizon"]) == (
        label["take_profit"],
        label["stop_loss"],
        label["horizon"],
    )
    assert rows["Exits"] == (
        f"take-profit {pct(exits['take_profit'])}, stop-loss {pct(exits['stop_loss'])}, "
        f"horizon {exits['horizon']} bars (the label's barriers)"
    )
    assert rows["Costs"].startswith(
        f"commission {bt['commission_bps']:g} bp + slippage {bt['slippage_bps']:g} bps per leg, "
        f"{m['stop_slippage_bps']:g} bps more on stop and liquidation fills"
    )
    assert f"falls to {pct(bt['maintenance_margin'])} of its value" in rows["Margin"]
    assert rows["Margin"].startswith("isolated")
    assert bt["day_count"] == m["day_count"] == "act_360"
    assert rows["Financing"] == (
        f"{pct(m['financing_rate'])} a year (constant) on the borrowed part of a long; day count act_360 "
        "(calendar days / 360, every rate)"
    )
    assert m["financing_rate"] == bt["financing_rate"]
    assert bt["risk_free"] == m["risk_free"] == m["cash_rate"] and bt["cash_rate"] is None
    assert rows["Rates"] == (
        f"risk-free {pct(m['risk_free'])} a year (constant), in Sharpe, Sortino and alpha; idle cash earns "
        "the risk-free rate (cash_rate unset)"
    )
    assert bt["periods_per_year"] is None and m["periods_per_year_source"] == "inferred"
    assert rows["Annualisation"] == (
        f"{m['periods_per_year']:g} periods per year (inferred: median bars per calendar year); "
        f"CAGR over {m['years']:.2f} calendar years"
    )
    cov = m["benchmark_coverage"]
    assert m["benchmark"] == bt["benchmark"]["ticker"] == "SPY" and cov["complete"]
    assert rows["Benchmark"] == (
        f"SPY from the {bt['benchmark']['data_source_type']} source, total return (as the source states); its data "
        f"({cov['first']} to {cov['last']}) covers the whole backtest"
    )
    assert m["n_trials"] == bt["n_trials"] == 1
    assert rows["Trials"] == "the deflated Sharpe counts 1 trial (backtest.n_trials)"


def test_report_html_shows_the_same_assumptions_as_the_cli(runs):
    assert runs["demo"]["report"] == runs["demo"]["printed"]


def test_another_leverage_and_day_count_change_the_assumptions(runs):
    demo, variant = runs["demo"], runs["variant"]
    rows, m = variant["printed"], variant["metrics"]
    assert variant["config"]["backtest"]["leverage"] == 2.0 and m["day_count"] == "act_365"
    assert rows["Leverage"].startswith("2.00x per position") and demo["printed"]["Leverage"].startswith("2.50x")
    assert "day count act_365 (calendar days / 365, every rate)" in rows["Financing"]
    # the day count is used, not only stated: the same trades' financing differs
    assert m["financing_paid"] != demo["metrics"]["financing_paid"]
    # the labels were scored at 2.5x and act_360: said once, in its own row
    assert rows["Label"] == (
        "scored its trades with leverage 2.5, day_count act_360: a label of 1 is not exactly a winning backtest trade"
    )
    # the second distinct config of "quickstart": the CLI (after recording it) warns that the deflated
    # Sharpe counts fewer trials than the ledger holds; report.html, written before, states n_trials only
    assert rows["Trials"] == (
        "the deflated Sharpe counts 1 trial (backtest.n_trials); the trials ledger holds 2 distinct configs "
        "named 'quickstart': set backtest.n_trials = 2 to deflate for all of them"
    )
    assert variant["report"] == {**rows, "Trials": "the deflated Sharpe counts 1 trial (backtest.n_trials)"}


def test_docs_show_the_block_the_demo_prints(runs):
    """docs/runs.md quotes the demo's block verbatim: it must stay what the demo prints."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "runs.md").read_text(encoding="utf-8")
    quoted = re.search(r"```\n(Assumptions:\n.*?)```", docs, re.S).group(1)
    stdout = runs["demo"]["stdout"]
    printed = "Assumptions:\n" + stdout.split("\nAssumptions:\n", 1)[1].split("\n\n", 1)[0] + "\n"
    assert quoted == printed
