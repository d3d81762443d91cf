"""Publication-to-screen latency of the live panel, and the GUI server's CPU per open tab.

Starts a real relay (``qlop ws serve``) and the Streamlit app, opens the Live run page of a task in
1..N headless Chromium tabs, then publishes a realistic event stream for that task (progress events and
log lines, like a run) straight to the relay. A MutationObserver in each tab records when each log
line's text first appears in the page; latency = screen time - publication time (same machine clock).
The Streamlit process's CPU time (``/proc``) over the streaming window gives its CPU per open tab.

    python benchmarks/gui_latency.py [--tabs 1,3] [--events 60] [--rate 4]

Goal: p90 < 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qlop.cli.gui import free_port, is_up, stop, streamlit_command  # noqa: E402
from qlop.gui.launcher import QLOP_ARGV  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
OBSERVER = """() => {
  window.__seen = {};
  const check = () => {
    const now = Date.now();
    const text = document.body.textContent;
    const re = /bench-line-(\\d+)-end/g;
    let m;
    while ((m = re.exec(text)) !== null) { if (!(m[1] in window.__seen)) window.__seen[m[1]] = now; }
  };
  new MutationObserver(check).observe(document.body, {subtree: true, childList: true, characterData: true});
  check();
}"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def publish(ws_url: str, token: str, task_id: str, n_lines: int, rate: float) -> dict[int, float]:
    """Publish a run-like stream; returns {line number: publication wall time}."""
    from websockets.sync.client import connect

    from qlop.live.protocol import auth_headers, make_event, publish_url

    published: dict[int, float] = {}
    seq = 0
    with connect(publish_url(ws_url, task_id), additional_headers=auth_headers(token), proxy=None) as ws:

        def send(type_: str, payload: dict) -> None:
            nonlocal seq
            seq += 1
            ws.send(json.dumps(make_event(task_id, seq, type_, payload)))

        send("status", {"status": "started"})
        for i in range(n_lines):
            for _ in range(4):  # progress events between log lines, like a training stage
                send("progress", {"stage": "train", "step": i, "total": n_lines, "unit": "fold"})
            published[i] = time.time()
            send("log", {"level": "INFO", "message": f"bench-line-{i}-end"})
            time.sleep(1.0 / rate)
        send("status", {"status": "completed"})
    return published


def measure(base: str, ws_url: str, token: str, app_pid: int, tabs: int, n_lines: int, rate: float) -> dict:
    from playwright.sync_api import sync_playwright

    task_id = f"bench-{secrets.token_hex(4)}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pages = []
        for _ in range(tabs):
            page = browser.new_page()
            page.goto(f"{base}/live?task={task_id}")
            page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]', timeout=60_000)
            page.get_by_text("(no log yet)").wait_for(timeout=60_000)
            page.evaluate(OBSERVER)
            pages.append(page)
        time.sleep(2.0)
        cpu0, wall0 = cpu_seconds(app_pid), time.monotonic()
        published = publish(ws_url, token, task_id, n_lines, rate)
        cpu1, wall1 = cpu_seconds(app_pid), time.monotonic()
        for page in pages:
            page.get_by_text(f"bench-line-{n_lines - 1}-end").first.wait_for(timeout=30_000)
        latencies = []
        for page in pages:
            seen = page.evaluate("() => window.__seen")
            latencies += [seen[str(i)] / 1000.0 - t for i, t in published.items() if str(i) in seen]
        time.sleep(3.0)  # the final status stops polling: measure the idle cost afterwards
        idle0, iw0 = cpu_seconds(app_pid), time.monotonic()
        time.sleep(5.0)
        idle1, iw1 = cpu_seconds(app_pid), time.monotonic()
        browser.close()
    return {
        "tabs": tabs,
        "n": len(latencies),
        "p50": percentile(latencies, 0.5),
        "p90": percentile(latencies, 0.9),
        "max": max(latencies),
        "cpu_streaming": (cpu1 - cpu0) / (wall1 - wall0),
        "cpu_after_final": (idle1 - idle0) / (iw1 - iw0),
        "mean": statistics.mean(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tabs", default="1,3", help="comma-separated tab counts to measure")
    parser.add_argument("--events", type=int, default=60, help="log lines per measurement")
    parser.add_argument("--rate", type=float, default=4.0, help="log lines per second")
    args = parser.parse_args()

    token = secrets.token_urlsafe(24)
    env = {**os.environ, "QLOP_WS_TOKEN": token}
    relay_port, app_port = free_port(), free_port()
    ws_url = f"ws://127.0.0.1:{relay_port}"
    relay = subprocess.Popen(
        [*QLOP_ARGV, "ws", "serve", "--port", str(relay_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    app_env = {**env, "QLOP_GUI_WS_URL": ws_url, "QLOP_GUI_RUNS_DIR": "/tmp/qlop-gui-bench-runs"}
    app = subprocess.Popen(
        streamlit_command("127.0.0.1", app_port),
        env=app_env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for url in (f"http://127.0.0.1:{relay_port}/healthz", f"http://127.0.0.1:{app_port}/_stcore/health"):
            deadline = time.monotonic() + 60
            while not is_up(url):
                if time.monotonic() > deadline:
                    raise SystemExit(f"{url} did not come up")
                time.sleep(0.2)
        base = f"http://127.0.0.1:{app_port}"
        print(
            f"GUI live-panel latency: {args.events} log lines at {args.rate:g}/s (+4 progress events each), "
            f"poll every {0.5:g} s"
        )
        print(
            f"{'tabs':>4} {'n':>5} {'p50 s':>7} {'p90 s':>7} {'max s':>7} {'CPU streaming':>14} "
            f"{'CPU/tab':>8} {'CPU after final':>16}"
        )
        for tabs in (int(t) for t in args.tabs.split(",")):
            r = measure(base, ws_url, token, app.pid, tabs, args.events, args.rate)
            print(
                f"{r['tabs']:>4} {r['n']:>5} {r['p50']:>7.2f} {r['p90']:>7.2f} {r['max']:>7.2f} "
                f"{r['cpu_streaming']:>13.0%} {r['cpu_streaming'] / tabs:>8.0%} {r['cpu_after_final']:>16.1%}"
            )
        print("goal: p90 < 1.5 s (CPU = share of one core used by the Streamlit server)")
    finally:
        stop(app)
        stop(relay)


if __name__ == "__main__":
    main()
