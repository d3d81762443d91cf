"""The sweep's results table and report: one row per variant, and a page whose controls work in a browser."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from qlop.scale.report import results_frame, sweep_report


def _summary() -> dict:
    variants = []
    n = 0
    for lev in (1.5, 2.0, 3.0):
        for entry in (0.52, 0.55):
            n += 1
            failed = lev == 3.0 and entry == 0.55
            sharpe = None if failed else round(lev * 0.3 - entry, 4)
            variants.append(
                {
                    "id": f"v{n:03d}",
                    "values": {"label.lev": lev, "entry": entry, "universe": ["A", "B"]},
                    "status": "failed" if failed else "completed",
                    "error": "data: ticker NOPE" if failed else None,
                    "run_dir": "" if failed else f"/x/runs/v{n:03d}-abc",
                    "deflated_sharpe": None if failed else 0.5,
                    "metrics": {}
                    if failed
                    else {
                        "sharpe": sharpe,
                        "cagr": 0.01 * n,
                        "max_drawdown": -0.1,
                        "total_return": 0.2,
                        "n_trades": 10 * n,
                        "auc": 0.51,
                        "log_loss": 0.69,
                        "base_rate": 0.48,
                    },
                }
            )
    return {
        "name": "demo",
        "mode": "grid",
        "status": "some_failed",
        "seconds": 12.0,
        "n_variants": len(variants),
        "axes": [
            {"path": "label.lev", "values": [1.5, 2.0, 3.0]},
            {"path": "entry", "values": [0.52, 0.55]},
            {"path": "universe", "values": [["A", "B"]]},
        ],
        "counts": {"completed": 5, "failed": 1},
        "statistics": {
            "n_trials": 5,
            "sharpe_variance": 1e-4,
            "sr0": 0.01,
            "sr0_annualized": 0.16,
            "best": {"variant": "v005", "sharpe": 0.38, "deflated_sharpe": 0.5},
        },
        "trials_ledger": {"name": "demo", "n_tried": 17},
        "variants": variants,
    }


def test_results_frame_has_one_typed_column_per_axis_and_the_metrics() -> None:
    frame = results_frame(_summary())
    assert list(frame.columns[:5]) == ["variant", "status", "label.lev", "entry", "universe"]
    assert frame["label.lev"].dtype.kind == "f" and frame["universe"].tolist() == ['["A","B"]'] * 6
    assert frame["n_trades"].dtype.name == "Int64" and frame["n_trades"].isna().sum() == 1
    failed = frame[frame["status"] == "failed"].iloc[0]
    assert math.isnan(failed["sharpe"]) and math.isnan(failed["deflated_sharpe"])


def test_report_is_self_contained_and_says_best_of_n_tried() -> None:
    html = sweep_report(_summary(), results_frame(_summary()))
    assert (
        "best of 17 tried" in html and "<script src=" not in html and "https://" not in html.split("<body>")[1][:2000]
    )
    assert "data: ticker NOPE" in html and "runs/v001-abc/backtest/report.html" in html


@pytest.mark.browser
def test_report_table_sorts_and_heatmap_follows_the_chosen_metric_and_axes(tmp_path: Path, browser) -> None:
    page_path = tmp_path / "report.html"
    page_path.write_text(sweep_report(_summary(), results_frame(_summary())), encoding="utf-8")
    page = browser.new_page()
    try:
        page.goto(page_path.as_uri())
        page.wait_for_selector("#heatmap .main-svg")
        first_col = "table.res tbody tr td:first-child"
        sharpe_header = page.locator("table.res th", has_text="Sharpe").first
        sharpe_header.click()
        ascending = page.locator(first_col).all_inner_texts()
        sharpe_header.click()
        descending = page.locator(first_col).all_inner_texts()
        assert ascending[:5] == ["v002", "v001", "v004", "v003", "v005"] and ascending[-1] == "v006"  # no value last
        assert descending[0] == "v005"
        heat = page.evaluate("() => { const d = document.getElementById('heatmap').data[0]; return [d.x, d.y, d.z]; }")
        assert heat[0] == ["1.5", "2", "3"] and heat[1] == ["0.52", "0.55"]
        assert heat[2][0][0] == pytest.approx(1.5 * 0.3 - 0.52) and heat[2][1][2] is None  # the failed variant
        page.select_option("#hm-metric", "n_trades")
        page.select_option("#hm-y", "(none)")
        heat = page.evaluate("() => { const d = document.getElementById('heatmap').data[0]; return [d.y, d.z]; }")
        assert heat[0] == [""] and heat[1][0] == [15, 35, 50]  # mean trades over entries per leverage
        assert page.evaluate("() => document.getElementById('sharpe-dist').data[0].x.length") == 5
    finally:
        page.close()
