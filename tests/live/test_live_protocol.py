"""The protocol module's own rules: URLs the clients build are the routes the relay reads, where the URL
and token come from, the backoff policy, and that the relay and the ``ws`` commands stay light."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from qlop.live.protocol import (
    DEFAULT_WS_URL,
    Backoff,
    Route,
    configured_relay_url,
    decode,
    encode,
    healthz_url,
    make_event,
    parse_route,
    publish_url,
    relay_token,
    relay_url,
    request_token,
    subscribe_url,
)


@pytest.mark.parametrize("task_id", ["run-1", "a.b_c", "x" * 128])
def test_the_urls_clients_build_are_the_routes_the_relay_reads(task_id):
    def path(url: str) -> str:
        return "/" + url.split("://", 1)[1].split("/", 1)[1]

    assert parse_route(path(publish_url("ws://h:1/", task_id))) == Route("publish", task_id, 0)
    assert parse_route(path(subscribe_url("ws://h:1", task_id, 42))) == Route("subscribe", task_id, 42)
    assert healthz_url("ws://h:1") == "http://h:1/healthz" and healthz_url("wss://h") == "https://h/healthz"
    assert parse_route("/healthz") == Route("healthz")


def test_bad_paths_are_refused_with_the_status_clients_treat_as_refused():
    assert parse_route("/publish/a%2Fb")[0] == 404
    assert parse_route("/nope/publish/t")[0] == 404
    assert parse_route("/subscribe/t?since=x")[0] == 400
    assert parse_route("/subscribe/t?since=-1")[0] == 400


def test_the_token_travels_as_a_bearer_header_or_a_query_parameter():
    assert request_token("/publish/t", {"Authorization": "Bearer abc"}) == "abc"
    assert request_token("/publish/t?token=q", {}) == "q"
    assert request_token("/publish/t", {}) == ""


def test_relay_url_and_token_come_from_option_then_environment_then_default():
    env = {"QLOP_WS_URL": "ws://10.0.0.1:9", "QLOP_WS_TOKEN": "tok"}
    assert relay_url("ws://opt:1", env) == "ws://opt:1"
    assert relay_url(None, env) == "ws://10.0.0.1:9"
    assert relay_url(None, {}) == DEFAULT_WS_URL == "ws://127.0.0.1:8765"
    assert configured_relay_url(None, {}) is None
    assert relay_token(env) == "tok" and relay_token({"QLOP_WS_TOKEN": ""}) is None


def test_backoff_doubles_to_its_cap_with_jitter_and_resets():
    backoff = Backoff(first=0.05, cap=2.0)
    nominal = [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    for expected in nominal:
        assert expected / 2 <= backoff.next() <= expected
    backoff.reset()
    assert backoff.next() <= 0.05


def test_fields_beyond_the_envelope_are_kept_by_encode_and_decode():
    event = make_event("t", 1, "progress", {"stage": "train", "later_field": [1, 2]}) | {"variant": "v7"}
    assert decode(encode(event)) == event
    big = event | {"payload": {**event["payload"], "message": "m" * 100_000}}
    cut = decode(encode(big))
    assert cut["variant"] == "v7" and cut["payload"]["later_field"] == [1, 2] and cut["payload"]["truncated"]


def test_the_relay_and_the_ws_commands_import_no_pandas_or_numpy():
    code = (
        "import json, sys\n"
        "import qlop.live.server, qlop.live.client, qlop.live.handler, qlop.live.protocol\n"
        "from qlop.cli.main import cli\n"
        "for args in (['ws', '--help'], ['ws', 'serve', '--help'], ['ws', 'tail', '--help']):\n"
        "    try:\n        cli.main(args, prog_name='qlop')\n    except SystemExit:\n        pass\n"
        "print(json.dumps(sorted(m for m in ('pandas', 'numpy', 'pyarrow', 'streamlit', 'websockets')"
        " if m in sys.modules)), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []
    assert "ws://127.0.0.1:8765" in proc.stdout  # the default, as the help shows it
