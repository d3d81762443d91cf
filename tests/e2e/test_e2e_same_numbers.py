"""One run, one set of numbers: the CLI answer, `qlop runs list`, report.html and the GUI's run page show
the same figures formatted the same way, and every live view counts the same folds as the answer."""

from __future__ import annotations

import html
import io
import json
import re
from typing import Any

import pytest
from e2e_helpers import qlop, write_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("same-numbers")
    config = write_config(root / "small.toml")
    run_dir = root / "runs" / "one"
    done = qlop("run", "-c", str(config), "--run-dir", str(run_dir), cwd=root)
    assert done.returncode == 0, done.stderr
    listed = qlop("runs", "list", "--runs-dir", str(root / "runs"), cwd=root)
    assert listed.returncode == 0, listed.stderr
    metrics = json.loads((run_dir / "backtest" / "metrics.json").read_text(encoding="utf-8"))
    train = json.loads((run_dir / "train_metrics.json").read_text(encoding="utf-8"))
    # the one style, written out independently of qlop.formatting
    expected = {
        "Total return": f"{metrics['total_return']:+.2%}",
        "CAGR": f"{metrics['cagr']:+.2%}",
        "Sharpe": f"{metrics['sharpe']:.2f}",
        "Max drawdown": f"{metrics['max_drawdown']:.2%}",
        "Trades": f"{metrics['n_trades']:,}",
    }
    return {
        "dir": run_dir,
        "answer": " ".join(done.stdout.split()),
        "stderr": done.stderr,
        "list": listed.stdout,
        "report": (run_dir / "backtest" / "report.html").read_text(encoding="utf-8"),
        "expected": expected,
        "n_folds": train["n_folds"],
        "metrics": metrics,
    }


def test_the_cli_answer_shows_the_figures_in_the_one_style(run):
    e, answer = run["expected"], run["answer"]
    assert f"earned {e['Total return']} (CAGR {e['CAGR']})" in answer
    assert f"Sharpe {e['Sharpe']}, max drawdown {e['Max drawdown']}, {e['Trades']} trades" in answer


def test_runs_list_shows_the_same_figures_and_the_config_name(run):
    header, *rows = run["list"].splitlines()
    row = next(r for r in rows if r.startswith("one "))
    columns = ["Total return", "CAGR", "Sharpe", "Max drawdown", "Trades"]
    assert header.split()[-len(columns) - 2 :] == ["Total", "return", "CAGR", "Sharpe", "Max", "drawdown", "Trades"]
    assert row.split()[-len(columns) :] == [run["expected"][c] for c in columns]
    assert " e2e " in row  # the config's name
    assert not re.search(r"\s-?0\.\d{4,}\b", row)  # no raw fractions


def test_report_html_shows_the_same_figures_and_the_same_answer(run):
    report = run["report"]
    for label, value in run["expected"].items():
        assert f"<td>{label}</td><td class='v'>{html.escape(value)}</td>" in report, label
    answer_html = re.search(r"<ol class='answer'>(.*?)</ol>", report, re.S).group(1)
    items = [html.unescape(i) for i in re.findall(r"<li>(.*?)</li>", answer_html)]
    assert items and all(" ".join(item.split()) in run["answer"] for item in items)


def test_the_gui_run_page_formats_the_same_figures(run, monkeypatch):
    """The Runs page itself (Streamlit's AppTest), opened on the run: its headline, its metrics table and
    every table it shares with report.html read exactly as report.html does."""
    from streamlit.testing.v1 import AppTest

    def runs_page() -> None:
        from qlop.gui.views import runs_page

        runs_page.render()

    monkeypatch.setenv("QLOP_GUI_RUNS_DIR", str(run["dir"].parent))
    at = AppTest.from_function(runs_page, default_timeout=120)
    at.query_params["run"] = run["dir"].name
    at.run()
    assert not at.exception, at.exception
    headline = {m.label: m.value for m in at.metric}
    tables: dict[tuple[str, ...], Any] = {}
    for t in at.table:  # the first table of each header: the model's metrics table comes later
        tables.setdefault(tuple(t.value.columns), t.value)
    metrics = tables[("Metric", "Value", "Meaning")]
    assumptions = tables[("Assumption", "Value")]
    assert "Leverage" in set(assumptions["Assumption"])
    for item, text in assumptions.itertuples(index=False):  # the answer's assumptions, as report.html has them
        assert f"<tr><td>{html.escape(item)}</td><td>{html.escape(text)}</td></tr>" in run["report"], item
    rows = dict(zip(metrics["Metric"], metrics["Value"]))
    for label, value in run["expected"].items():
        assert headline[label] == value and rows[label] == value, label
    report = run["report"]
    for label, value, meaning in metrics.itertuples(index=False):
        cells = f"<td>{html.escape(label)}</td><td class='v'>{html.escape(value)}</td><td class='x'>{html.escape(meaning)}</td>"
        assert cells in report, label
    answer = [html.unescape(i) for i in re.findall(r"<li>(.*?)</li>", report)]
    assert at.markdown[0].value.splitlines() == [f"{i}. {line}" for i, line in enumerate(answer, 1)]


def test_every_view_counts_the_folds_the_answer_counts(run):
    from qlop.gui.live import summarize
    from qlop.live.progress_model import fold_events
    from qlop.live.protocol import read_events
    from qlop.live.tail import tail_pretty
    from qlop.report_data import fold_skill, load_run

    n = run["n_folds"]
    assert f"{n} walk-forward folds" in run["answer"]
    events = read_events(run["dir"] / "events.jsonl")
    train = [e["payload"] for e in events if e["type"] == "progress" and e["payload"]["stage"] == "train"]
    assert {p["total"] for p in train} == {n} and max(p["step"] for p in train) == n
    assert fold_events(events).stages["train"].counter == f"{n}/{n} fold"
    assert summarize(events).stages["train"].counter == f"{n}/{n} fold"
    out = io.StringIO()
    tail_pretty(events, "one", file=out)
    assert f"{n}/{n} fold" in out.getvalue()
    assert len(fold_skill(load_run(run["dir"]).train_metrics)) == n
    assert f"<td>Folds</td><td>{n}</td>" in run["report"]


def test_the_overall_progress_never_goes_back_and_ends_at_100(run):
    from qlop.live.protocol import read_events

    events = read_events(run["dir"] / "events.jsonl")
    fractions = [e["payload"]["run_fraction"] for e in events if e["payload"].get("run_fraction") is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    for e in events:  # the run's ETA covers the current stage's
        p = e["payload"]
        if e["type"] == "progress" and p.get("stage") == p.get("pipeline_stage") and p.get("eta_stage_s") is not None:
            assert p["eta_run_s"] >= p["eta_stage_s"] - 1e-6


def test_each_stage_time_is_printed_once(run):
    for stage in ("data", "features", "train", "backtest", "export"):
        assert len(re.findall(rf"^{stage}\s+done in ", run["stderr"], re.M)) == 1, stage
    assert "(stages: 5 completed)" in run["answer"]
