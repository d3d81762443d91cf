"""Real-browser tests: `qlop gui` in a subprocess, driven in headless Debian chromium.

1. Open /new, load the quickstart from the example picker, make it small (three tickers, eight years)
   and add the example third-party plugin's feature step (its own parameter form), launch it, watch the
   progress bar advance to `completed`, open the run and find the metrics table and the equity plot.
2. Launch a pasted config, reload the page mid-run and open a second tab: both show the whole log.
3. Launch a 2 x 2 sweep from the Sweeps page (pasted base, two axes), watch its grid fill in until the
   sweep completes, and open a variant's run page.

Screenshots go to `test-artifacts/` at the repository root. The relay token must never reach a page.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from qlop.cli.gui import free_port, is_up
from qlop.gui.launcher import QLOP_ARGV

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CONNECTED = '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
WAIT_MS = 60_000
#: The test-only plugin whose feature step holds a run until the test releases it (qlop_gui_gate.py).
GATE_PLUGIN = Path(__file__).parent / "gate_plugin"
RUN_TIMEOUT = 240.0


@dataclass
class Gui:
    base: str
    runs_dir: Path
    token: str
    process: subprocess.Popen
    children: list[int]


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


@pytest.fixture(scope="module")
def gui(tmp_path_factory: pytest.TempPathFactory, example_plugin_site: Path) -> Iterator[Gui]:
    """`qlop gui` on a free port, with its own relay, seeing the pip-installed example plugin."""
    root = tmp_path_factory.mktemp("gui")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QLOP_")}
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(example_plugin_site), str(GATE_PLUGIN), os.environ.get("PYTHONPATH")])
    )
    env["QLOP_CACHE_DIR"] = str(root / "cache")
    port = free_port()
    log = open(root / "gui.log", "wb")
    process = subprocess.Popen(
        [*QLOP_ARGV, "-p", "qlop_gui_gate", "gui", "--port", str(port), "--runs-dir", str(root / "runs")],
        env=env,
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while not is_up(f"{base}/_stcore/health"):
        assert process.poll() is None, (root / "gui.log").read_text()
        assert time.monotonic() < deadline, "qlop gui did not come up"
        time.sleep(0.3)
    children = _children(process.pid)
    relay = [c for c in children if b"ws\0serve" in Path(f"/proc/{c}/cmdline").read_bytes()]
    assert len(relay) == 1, "qlop gui should start exactly one relay"
    token = _environ(relay[0])["QLOP_WS_TOKEN"]
    assert len(token) >= 32
    ARTIFACTS.mkdir(exist_ok=True)
    yield Gui(base, root / "runs", token, process, children)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    time.sleep(0.5)
    alive = [
        c
        for c in children
        if Path(f"/proc/{c}").exists() and "zombie" not in Path(f"/proc/{c}/status").read_text().lower()
    ]
    assert not alive, f"children of qlop gui still running after SIGTERM: {alive}"
    log.close()


@pytest.fixture
def page(browser, gui: Gui):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    yield pg
    context.close()


def open_app(pg, url: str) -> None:  # type: ignore[no-untyped-def]
    pg.goto(url)
    pg.wait_for_selector(CONNECTED, timeout=WAIT_MS)


def snap(pg, name: str) -> None:  # type: ignore[no-untyped-def]
    """A screenshot of the whole page (Streamlit scrolls inside its main block, so grow the viewport)."""
    height = pg.evaluate(
        '() => Math.max(...[...document.querySelectorAll(\'[data-testid="stMain"], '
        '[data-testid="stAppViewContainer"]\')].map(e => e.scrollHeight), 1000)'
    )
    size = pg.viewport_size
    pg.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 12_000)})
    pg.wait_for_timeout(500)  # let plotly re-layout to the new size
    pg.screenshot(path=str(ARTIFACTS / name), full_page=True)
    pg.set_viewport_size(size)


def fill(pg, label: str, value: str) -> None:  # type: ignore[no-untyped-def]
    box = pg.get_by_role("textbox", name=label, exact=True)
    box.fill(value)
    box.press("Enter")


def choose(pg, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    """Pick ``option`` in a select box (typed to filter: long option lists are virtualised)."""
    box = pg.get_by_role("combobox", name=label, exact=True)
    for attempt in range(3):  # a rerun landing mid-interaction closes the dropdown: try again
        box.click()
        box.fill(option)
        item = pg.get_by_role("option", name=option, exact=True)
        try:
            item.wait_for(timeout=10_000)
            item.click(timeout=10_000)
            break
        except Exception:
            if attempt == 2:
                raise
            pg.keyboard.press("Escape")
    pg.wait_for_function(
        "([label, option]) => [...document.querySelectorAll('input[role=combobox]')]"
        ".some(e => e.getAttribute('aria-label') === label && e.value === option)",
        arg=[label, option],
    )


def status_text(pg) -> str:  # type: ignore[no-untyped-def]
    box = pg.locator('[data-testid="stMarkdown"]', has_text="Status:")
    return box.first.inner_text() if box.count() else ""


def watch_run(pg) -> tuple[list[float], str]:  # type: ignore[no-untyped-def]
    """Sample the overall progress bar until the final status; returns (values seen, final status)."""
    seen: list[float] = []
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        bars = pg.locator('[data-testid="stProgress"] [role="progressbar"]')
        if bars.count():
            value = bars.first.get_attribute("aria-valuenow")
            if value is not None:
                seen.append(float(value))
        text = status_text(pg)
        if "completed" in text.split("Status:")[-1] or "failed" in text:
            wait_log_complete(pg)  # the final rerun has drawn everything above the log too
            value = pg.locator('[data-testid="stProgress"] [role="progressbar"]').first.get_attribute("aria-valuenow")
            seen.append(float(value))
            return seen, status_text(pg)
        pg.wait_for_timeout(250)
    raise AssertionError(f"run did not finish in {RUN_TIMEOUT:.0f} s; last status {status_text(pg)!r}")


def assert_no_token(pg, gui: Gui) -> None:  # type: ignore[no-untyped-def]
    assert gui.token not in pg.content()
    assert gui.token not in pg.inner_text("body")
    assert gui.token not in pg.url


def log_text(pg) -> str:  # type: ignore[no-untyped-def]
    return pg.locator('[data-testid="stCode"]').first.inner_text()


def wait_log_complete(pg) -> str:  # type: ignore[no-untyped-def]
    """The log once its final line is drawn (the status line can arrive a delta before the log block)."""
    pg.wait_for_function(
        "() => { const c = document.querySelector('[data-testid=\"stCode\"]');"
        " return c && /STATUS +run (completed|failed)/.test(c.innerText); }",
        timeout=WAIT_MS,
    )
    return log_text(pg)


def expected_log(run_dir: Path) -> list[str]:
    from qlop.gui.live import log_line
    from qlop.live.protocol import read_events

    return [line for line in (log_line(e) for e in read_events(run_dir / "events.jsonl")) if line]


def wait_value(pg, label: str, value: str) -> None:  # type: ignore[no-untyped-def]
    """Wait until the input labelled ``label`` holds ``value``."""
    pg.wait_for_function(
        "([label, value]) => [...document.querySelectorAll('input')].some("
        "e => e.getAttribute('aria-label') === label && e.value === value)",
        arg=[label, value],
    )


def load_example(pg, name: str) -> None:  # type: ignore[no-untyped-def]
    choose(pg, "Start from an example", name)
    pg.get_by_role("button", name="Load example").click()
    wait_value(pg, "Run name", name)


#: Headline metric labels and values drawn narrower than their text (ellipsised).
CUT_METRICS_JS = """() => [...document.querySelectorAll(
    '[data-testid="stMetricValue"], [data-testid="stMetricValue"] *, [data-testid="stMetricLabel"] *')]
    .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)"""


def test_quickstart_from_the_example_picker_with_a_third_party_step_completes(page, gui: Gui):
    open_app(page, f"{gui.base}/new")  # every page answers its own URL
    page.get_by_text("Config valid").wait_for()
    assert not page.get_by_text("Page not found").count()
    wait_value(page, "Run name", "quickstart")  # the form starts as the quickstart
    load_example(page, "quickstart-lstm")
    load_example(page, "quickstart")  # the picker starts the form over from the chosen file
    # a smaller universe keeps the test quick; everything else stays the quickstart's
    fill(page, "Tickers", "AAPL, MSFT, JPM")
    fill(page, "Start Date", "2006-01-01")
    fill(page, "End Date", "2013-12-31")
    # the example plugin's feature step is a choice, with its own parameter form
    page.get_by_text("Features: steps and their parameters").click()
    page.get_by_role("button", name="Add feature step").click()
    choose(page, "Step 12", "range_position")
    step = page.locator(".st-key-step-box-12")  # the 12th step's box
    window = step.get_by_role("spinbutton", name="Window", exact=True)
    assert window.input_value() == "20"
    window.fill("30")
    window.press("Enter")
    page.get_by_text("Config valid (data, features, label, model, backtest, export)").wait_for()
    snap(page, "gui-new-run.png")
    page.get_by_role("button", name="Launch run").click()
    page.wait_for_url("**/live?task=*")
    seen, final = watch_run(page)
    page.get_by_text("Open the results").wait_for()
    snap(page, "gui-live-completed.png")
    assert "completed" in final, log_text(page)
    assert seen[-1] == 100
    assert any(0 < v < 100 for v in seen), f"the progress bar never showed an intermediate value: {seen}"
    assert seen == sorted(seen), "the overall progress went backwards"
    assert "run completed" in wait_log_complete(page)
    assert_no_token(page, gui)
    # the finished run's answer and headline figures in place, none of them cut off
    body = " ".join(page.inner_text("body").split())
    assert all(part in body for part in ("Opportunities: the 2.50x long", "Prediction: xgboost", "Strategy:"))
    assert page.locator('[data-testid="stMetricValue"]').count() >= 5
    assert not page.evaluate(CUT_METRICS_JS), "a headline figure is cut off"

    page.get_by_text("Open the results").click()
    page.wait_for_url("**/runs?run=*")
    page.get_by_text("Metrics", exact=True).wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    page.get_by_role("heading", name="Equity against the benchmark, and drawdown").wait_for()
    assert page.locator(".js-plotly-plot").count() >= 4
    snap(page, "gui-run-results.png")
    run_name = page.url.split("run=")[-1]
    import json

    config = json.loads((gui.runs_dir / run_name / "config.json").read_text())
    assert {"step_type": "range_position", "step_params": {"window": 30}} in config["features"]["steps"]
    assert config["name"] == "quickstart" and config["data"]["tickers"] == ["AAPL", "MSFT", "JPM"]
    assert config["label"]["label_params"]["leverage"] == config["backtest"]["leverage"] == 2.5
    assert json.loads((gui.runs_dir / run_name / "manifest.json").read_text())["status"] == "completed"
    assert_no_token(page, gui)

    open_app(page, f"{gui.base}/plugins")
    page.get_by_text("Components").wait_for()
    snap(page, "gui-plugins.png")
    assert_no_token(page, gui)


def pasted_config(release_file: Path) -> str:
    """A run that holds in its features stage until ``release_file`` exists (see qlop_gui_gate.py)."""
    return f"""
name = "reload-test"
[data]
tickers = ["AAPL", "MSFT", "JPM", "KO", "XOM", "IBM"]
start_date = "2002-01-01"
end_date = "2016-12-31"
[features]
steps = [
  {{step_type = "returns"}}, {{step_type = "rsi"}}, {{step_type = "atr"}},
  {{step_type = "hold_until_released", step_params = {{release_file = "{release_file}"}}}},
]
[label]
label_type = "leverage_opportunity"
[model]
model_type = "xgboost"
[model.validation]
train_years = 3
test_months = 4
[backtest]
strategy_type = "probability_threshold"
benchmark = false
[export]
format_name = "onnx"
"""


def log_scroll(pg) -> dict:  # type: ignore[no-untyped-def]
    """The log panel's scroll position: top, visible height, whole height (pixels)."""
    return pg.evaluate(
        "() => { const p = document.querySelector('.st-key-log_panel');"
        " return {top: p.scrollTop, height: p.clientHeight, total: p.scrollHeight}; }"
    )


def wait_log_at_newest_line(pg) -> None:  # type: ignore[no-untyped-def]
    """Wait until the log panel overflows and shows its newest line (scrolled to the bottom)."""
    pg.wait_for_function(
        "() => { const p = document.querySelector('.st-key-log_panel');"
        " return p && p.scrollHeight > p.clientHeight + 40"
        " && p.scrollHeight - p.scrollTop - p.clientHeight <= 4; }",
        timeout=RUN_TIMEOUT * 1000,
    )


def launch_pasted(pg, gui: Gui, text: str) -> None:  # type: ignore[no-untyped-def]
    open_app(pg, gui.base)
    pg.get_by_text("Paste or upload a file").click()
    area = pg.get_by_role("textbox", name="Paste a config (TOML, JSON or YAML)")
    area.fill(text)
    area.press("Control+Enter")
    pg.get_by_text("Config valid").wait_for()
    pg.get_by_role("button", name="Launch run").click()
    pg.wait_for_url("**/live?task=*")


def test_reload_and_second_tab_mid_run_see_the_whole_log(page, gui: Gui, browser, tmp_path: Path):
    release = tmp_path / "release"
    launch_pasted(page, gui, pasted_config(release))
    url = page.url
    page.get_by_text("STATUS   data started").wait_for()
    # paused, the log stays where it is while new lines wait; ticked again, it catches up
    page.get_by_text("Follow the newest line", exact=True).click()
    page.get_by_text("newer lines are waiting").wait_for()
    frozen = log_text(page)
    page.evaluate("() => { document.querySelector('.st-key-log_panel').scrollTop = 0; }")
    page.wait_for_timeout(2 * 1000)
    assert log_text(page) == frozen and log_scroll(page)["top"] == 0, "a paused log moved"
    snap(page, "gui-live-log-paused.png")
    page.get_by_text("Follow the newest line", exact=True).click()
    page.wait_for_function(
        "(n) => document.querySelector('.st-key-log_panel').innerText.split('\\n').length > n",
        arg=len(frozen.splitlines()),
    )
    before_reload = status_text(page)
    page.reload()
    page.wait_for_selector(CONNECTED, timeout=WAIT_MS)
    page.get_by_text("STATUS   run started").wait_for()
    second = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    second.set_default_timeout(WAIT_MS)
    open_app(second, url)
    second.get_by_text("STATUS   run started").wait_for()
    snap(page, "gui-live-after-reload.png")
    for tab in (page, second):  # both tabs see the run still running: the reload really was mid-run
        tab.locator('[data-testid="stMarkdown"]', has_text="Status: running").first.wait_for()
    release.touch()  # the run was held in its features stage until now: let it finish
    _, final = watch_run(page)
    _, final_second = watch_run(second)
    assert "completed" in final and "completed" in final_second, log_text(page)
    assert "running" in before_reload, f"the reload was not mid-run: {before_reload!r}"
    run_dir = Path(page.get_by_text("run directory").first.inner_text().split("run directory")[-1].strip())
    expected = expected_log(run_dir)
    assert expected[-1].endswith("run completed" + expected[-1].split("run completed")[-1])
    for tab in (page, second):
        shown = wait_log_complete(tab).splitlines()
        assert shown == expected, "the log on screen differs from events.jsonl"
        wait_log_at_newest_line(tab)  # the panel followed the log down to its last line
        assert_no_token(tab, gui)
    snap(second, "gui-live-second-tab.png")
    second.context.close()


SWEEP_BASE = """
name = "gui-sweep"
seed = 7
[data]
data_source_type = "sample"
tickers = ["AAPL", "MSFT"]
start_date = 2008-01-01
end_date = 2012-12-31
[features]
steps = [{ step_type = "returns", step_params = { windows = [1, 5] } }]
[label]
label_type = "leverage_opportunity"
label_params = { leverage = 2.0, horizon = 5 }
[model]
model_type = "xgboost"
model_params = { n_estimators = 10, nthread = 1 }
validation = { train_years = 2.0, test_months = 12, embargo_days = 5 }
[backtest]
strategy_type = "probability_threshold"
strategy_params = { entry = 0.5 }
"""
#: Two backtest-only axes: the four variants share data, features and training (computed once).
SWEEP_AXES = "backtest.strategy_params.entry = [0.5, 0.52]\nbacktest.position_size = [0.1, 0.2]"


def grid_texts(pg) -> list[str]:  # type: ignore[no-untyped-def]
    """The sweep grid's body, row by row: each row's label (the row axis's value), then its cells."""
    return [c.inner_text().strip() for c in pg.locator('[data-testid="stTable"] tbody tr > *').all()]


def test_sweep_launched_from_the_page_fills_its_grid_and_opens_a_variant(page, gui: Gui):
    open_app(page, f"{gui.base}/sweeps")
    page.get_by_text("Paste or upload", exact=True).click()
    area = page.get_by_role("textbox", name="Paste a base config")
    area.fill(SWEEP_BASE)
    area.press("Control+Enter")
    axes = page.get_by_role("textbox", name="Axes: one per line, dotted.config.path = [values]")
    axes.fill(SWEEP_AXES)
    axes.press("Control+Enter")
    fill(page, "Sweep name", "gui-sweep")
    workers = page.get_by_role("spinbutton", name="Local workers", exact=True)
    workers.fill("1")
    workers.press("Enter")
    page.get_by_text("4 variant(s) valid").wait_for()
    snap(page, "gui-sweep-launch.png")
    page.get_by_role("button", name="Launch sweep").click()
    page.wait_for_url("**/sweeps?sweep=gui-sweep")
    page.locator('[data-testid="stTable"]').wait_for()
    seen: list[list[str]] = []
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        cells = grid_texts(page)
        if cells and cells not in seen:
            seen.append(cells)
            if len(seen) == 2:
                snap(page, "gui-sweep-running.png")
        if "completed" in status_text(page).split("Status:")[-1]:
            break
        page.wait_for_timeout(300)
    else:
        raise AssertionError(f"the sweep did not finish; grids seen {seen}")
    page.get_by_text("Open a variant's run").wait_for()
    final = grid_texts(page)
    snap(page, "gui-sweep-completed.png")
    assert len(final) == 6 and final[0] == "0.5" and final[3] == "0.52", final  # row labels: the entry
    sharpe = [c for i, c in enumerate(final) if i % 3]
    assert all(c.replace("-", "").replace(".", "").isdigit() for c in sharpe), final
    assert any(any(c in ("pending", "running...") for c in grid) for grid in seen), (
        f"the grid never showed an unfinished cell: {seen}"
    )
    assert_no_token(page, gui)
    import json

    sweep = json.loads((gui.runs_dir / "sweeps" / "gui-sweep" / "sweep.json").read_text())
    assert sweep["status"] == "completed" and sweep["counts"]["completed"] == 4

    link = page.get_by_text(re.compile(r"^Open v00\d's run page$"))
    variant = link.inner_text().split()[1].removesuffix("'s")
    link.click()
    page.wait_for_url("**/runs?*sweep=gui-sweep*")
    page.get_by_text("Metrics", exact=True).wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    run_dir = next(v["run_dir"] for v in sweep["variants"] if v["id"] == variant)
    page.get_by_role("heading", name=Path(run_dir).name).wait_for()
    snap(page, "gui-sweep-variant-run.png")
    assert_no_token(page, gui)


FAILING = """
name = "fails-in-data"
[data]
tickers = ["AAPL"]
start_date = "1990-01-01"
end_date = "1990-12-31"
[features]
steps = [{step_type = "returns"}]
"""


def test_a_failed_run_shows_its_error_and_stage_and_no_results_link(page, gui: Gui):
    launch_pasted(page, gui, FAILING)
    _, final = watch_run(page)
    assert "failed" in final
    error = page.get_by_test_id("stAlertContentError").filter(has_text="The run failed")
    error.wait_for()
    assert (
        "The run failed in stage data: sample: ticker AAPL: no rows between 1990-01-01 and 1990-12-31"
        in error.inner_text()
    )
    assert not page.get_by_text("Open the results").count()
    assert not page.get_by_text("The answer").count()
    snap(page, "gui-live-failed.png")
    assert_no_token(page, gui)
