"""``qlop ws serve`` (the live-event relay) and ``qlop ws tail`` (a terminal subscriber)."""

from __future__ import annotations

import sys

import click

from qlop.live.protocol import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_WS_URL, TOKEN_ENV


@click.group("ws")
def cli() -> None:
    """The live-event relay: serve it, or tail a task's events."""


@cli.command("serve")
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Interface to listen on (loopback by default; anything else exposes the relay).",
)
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port (0: any free port, printed at start).",
)
@click.option(
    "--ttl",
    default=3600.0,
    show_default=True,
    type=click.FloatRange(min=0.01),
    help="Seconds a finished task's events stay available for replay.",
)
@click.option(
    "--queue-size",
    default=10_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Events a subscriber may lag behind before it is dropped (it can resume with since).",
)
@click.option(
    "--replay-events",
    default=100_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Events kept per task for late or reconnecting subscribers.",
)
@click.option(
    "--ping-interval",
    default=20.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between keep-alive pings.",
)
@click.option(
    "--slow-grace",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.01, max=600),
    help="Seconds a dropped subscriber's backlog may take to drain before its connection is cut.",
)
def serve_cmd(
    host: str, port: int, ttl: float, queue_size: int, replay_events: int, ping_interval: float, slow_grace: float
) -> None:
    """Run the relay until SIGTERM or Ctrl-C. The token is QLOP_WS_TOKEN (generated and printed if unset).

    Publishers connect to /publish/TASK_ID, viewers to /subscribe/TASK_ID?since=SEQ, both with
    'Authorization: Bearer TOKEN' (or ?token=TOKEN); GET /healthz answers 200.
    """
    import asyncio

    from qlop.live.server import Relay, serve_relay, token_from_env

    token, generated = token_from_env()
    relay = Relay(token, queue_size=queue_size, replay_events=replay_events, ttl=ttl, slow_grace=slow_grace)

    def ready(bound_host: str, bound_port: int) -> None:
        if generated:
            click.echo(f"{TOKEN_ENV}={token}")
        click.echo(f"qlop relay listening on ws://{bound_host}:{bound_port}")
        sys.stdout.flush()

    try:
        asyncio.run(
            serve_relay(relay, host, port, ready=ready, ping_interval=ping_interval, ping_timeout=ping_interval)
        )
    except OSError as exc:
        from qlop.errors import QlopError

        raise QlopError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    click.echo("qlop relay stopped", err=True)


@cli.command("tail")
@click.argument("task_id")
@click.option(
    "--ws-url",
    "ws_url",
    default=None,
    metavar="URL",
    help=f"Relay URL (default: the global --ws-url, QLOP_WS_URL or {DEFAULT_WS_URL}).",
)
@click.option(
    "--since",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Print only events with seq greater than this.",
)
@click.option(
    "--wait",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to keep retrying while the relay is unreachable before giving up.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["pretty", "json"]),
    default=None,
    help="pretty: stage bars, overall percentage, ETA and log lines (default on a terminal); "
    "json: the raw events, one per line (default when piped).",
)
@click.pass_context
def tail_cmd(ctx: click.Context, task_id: str, ws_url: str | None, since: int, wait: float, fmt: str | None) -> None:
    """Follow TASK_ID's events until the run's final status (exit 0).

    On a terminal it draws the run's progress (the same percentage, ETAs and counters as the GUI) with
    the log lines above it; piped, or with --format json, it prints each event as one JSON line.
    Reconnects with since=<last seq printed> if the relay restarts. Exits 2 if the relay refuses the
    token or the task id, 1 if it stays unreachable for --wait seconds.
    """
    from qlop.cli.run import cli_state
    from qlop.live.client import event_line, subscribe
    from qlop.live.protocol import TASK_ID_RULE, relay_token, relay_url, valid_task_id

    if not valid_task_id(task_id):
        raise click.BadParameter(TASK_ID_RULE, param_hint="TASK_ID")
    url = relay_url(ws_url or cli_state(ctx).ws_url)
    if not url.startswith(("ws://", "wss://")):  # else it would only show up as "unreachable"
        raise click.BadParameter(f"{url!r}: a relay URL starts with ws:// or wss://", param_hint="--ws-url")
    events = subscribe(url, task_id, relay_token(), since, wait=wait)
    if fmt is None:
        fmt = "pretty" if sys.stdout.isatty() else "json"
    try:  # a refused or unreachable relay is a QlopError: one line, exit 2 or 1
        if fmt == "pretty":
            from qlop.live.tail import tail_pretty

            tail_pretty(events, task_id)
            return
        for event in events:
            sys.stdout.write(event_line(event) + "\n")
            sys.stdout.flush()
    except BrokenPipeError:
        ctx.exit(0)
