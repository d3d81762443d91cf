"""``qlop gui``: the Streamlit app plus, unless one is given, its own relay; both stop together.

The relay gets a fresh random token through the environment (never the command line, never the
page). The Streamlit server runs headless, bound to loopback by default, with usage statistics off
and no file watcher. Ctrl-C or SIGTERM stops both children (and the runs the GUI launched).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import click

from qlop.cli.main import CliState
from qlop.errors import QlopError
from qlop.gui.launcher import QLOP_ARGV
from qlop.layout import DEFAULT_RUNS_DIR
from qlop.live.protocol import TOKEN_ENV, configured_relay_url, healthz_url

APP_PATH = Path(__file__).resolve().parent.parent / "gui" / "app.py"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def is_up(url: str, timeout: float = 1.0) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    try:
        with opener.open(url, timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_up(url: str, process: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise QlopError(f"{what} exited with code {process.returncode} while starting")
        if is_up(url):
            return
        time.sleep(0.2)
    raise QlopError(f"{what} did not answer on {url} within {timeout:.0f} s")


def stop(process: subprocess.Popen | None, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def global_run_args(state: CliState) -> list[str]:
    """Plugin-selection options to repeat on every ``qlop run`` the GUI launches."""
    args: list[str] = []
    if state.no_plugins:
        args.append("--no-plugins")
    for module in state.modules:
        args += ["-p", module]
    if state.plugins_dir:
        args += ["--plugins-dir", str(Path(state.plugins_dir).resolve())]
    return args


def streamlit_command(host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_PATH),
        "--server.headless",
        "true",
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--global.developmentMode",
        "false",
        "--server.runOnSave",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]


@click.command("gui")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address the GUI binds to (loopback by default; anything else exposes it).",
)
@click.option(
    "--port", default=8501, show_default=True, type=click.IntRange(0, 65535), help="GUI port (0: a free one)."
)
@click.option(
    "--ws-url",
    "gui_ws_url",
    default=None,
    metavar="URL",
    help="Use the relay running at URL (token from QLOP_WS_TOKEN) instead of starting one.",
)
@click.option(
    "--runs-dir",
    default=DEFAULT_RUNS_DIR,
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder of run directories (listed on the Runs page; new runs go here).",
)
@click.pass_context
def gui_cmd(ctx: click.Context, host: str, port: int, gui_ws_url: str | None, runs_dir: str) -> None:
    """Start the Streamlit GUI (and its relay): configure, launch and watch runs, explore results."""
    state = ctx.find_object(CliState) or CliState()
    ws_url = configured_relay_url(gui_ws_url or state.ws_url)
    env = dict(os.environ)
    relay: subprocess.Popen | None = None
    app: subprocess.Popen | None = None
    port = port or free_port(host)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            f"Warning: --host {host} exposes the GUI, which can launch runs, beyond this machine; "
            "put it behind an authenticating proxy.",
            err=True,
        )
    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        if ws_url and is_up(healthz_url(ws_url)):
            click.echo(f"Using the relay at {ws_url}")
        else:
            if ws_url:
                click.echo(f"No relay answers at {ws_url}; starting one.", err=True)
            relay_port = free_port("127.0.0.1")
            ws_url = f"ws://127.0.0.1:{relay_port}"
            env[TOKEN_ENV] = secrets.token_urlsafe(32)
            relay = subprocess.Popen(
                [*QLOP_ARGV, "ws", "serve", "--host", "127.0.0.1", "--port", str(relay_port)],
                env=env,
                stdin=subprocess.DEVNULL,
            )
            wait_up(healthz_url(ws_url), relay, 30, "the relay")
        env.update(
            {
                "QLOP_GUI_WS_URL": ws_url,
                "QLOP_GUI_RUNS_DIR": str(Path(runs_dir).resolve()),
                "QLOP_GUI_RUN_ARGS": json.dumps(global_run_args(state)),
            }
        )
        if state.plugins_dir:
            env["QLOP_PLUGINS_DIR"] = str(Path(state.plugins_dir).resolve())
        if state.no_plugins:
            env["QLOP_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        if state.modules:
            env["QLOP_GUI_PLUGIN_MODULES"] = ",".join(state.modules)
        app = subprocess.Popen(streamlit_command(host, port), env=env, stdin=subprocess.DEVNULL)
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        wait_up(f"http://{shown_host}:{port}/_stcore/health", app, 60, "the Streamlit server")
        click.echo(f"QLOP GUI: http://{shown_host}:{port}  (relay {ws_url}; Ctrl-C to stop)")
        while True:
            for process, what in ((app, "the Streamlit server"), (relay, "the relay")):
                if process is not None and process.poll() is not None:
                    raise QlopError(f"{what} exited with code {process.returncode}")
            time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("Stopping the GUI...", err=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop(app)
        stop(relay)
