"""The relay cuts a subscriber that never reads within its grace period, instead of queueing its close
frame behind megabytes of unsent events (the class: "its close waits behind megabytes of unsent data")."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import threading
import time

from qlop.live.protocol import encode, make_event
from qlop.live.server import Relay, serve_relay

TOKEN = "hardening-token-0123456789"


class RelayThread:
    """An in-process relay on its own event loop, so a test can read its counters."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._stop: asyncio.Future | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._stop = self.loop.create_future()

        def ready(host: str, port: int) -> None:
            self.port = port
            self._ready.set()

        self.loop.run_until_complete(serve_relay(self.relay, "127.0.0.1", 0, ready=ready, stop=self._stop))

    def __enter__(self) -> "RelayThread":
        self.thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(lambda: self._stop.done() or self._stop.set_result(None))
        self.thread.join(10)


def _event(task: str, seq: int, padding: str = "") -> str:
    return encode(make_event(task, seq, "log", {"message": padding or f"event {seq}"}))


def _raw_subscriber(port: int, task: str) -> socket.socket:
    """A WebSocket subscriber that completes the handshake and then never reads a byte."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /subscribe/{task}?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _wait_for(condition, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)
    return time.monotonic()


def test_a_subscriber_that_never_reads_is_cut_after_the_grace_period():
    from websockets.sync.client import connect

    grace = 0.5
    relay = Relay(TOKEN, queue_size=20, slow_grace=grace)
    with RelayThread(relay) as server:
        stuck = _raw_subscriber(server.port, "bulk")
        received: list[int] = []

        def fast() -> None:
            with connect(f"ws://127.0.0.1:{server.port}/subscribe/bulk?token={TOKEN}", proxy=None, max_size=None) as ws:
                for message in ws:
                    received.append(json.loads(message)["seq"])

        reader = threading.Thread(target=fast, daemon=True)
        reader.start()
        _wait_for(lambda: len(relay.tasks.get("bulk").subscribers if "bulk" in relay.tasks else ()) == 2, 10)
        padding = "x" * 60_000
        with connect(f"ws://127.0.0.1:{server.port}/publish/bulk?token={TOKEN}", proxy=None) as pub:
            pub.recv(timeout=5)  # hello
            drops = []
            for seq in range(1, 200):  # about 12 MB: far more than the socket buffers hold
                pub.send(_event("bulk", seq, padding))
                if relay.dropped_subscribers and not drops:
                    drops.append(time.monotonic())
            pub.send(encode(make_event("bulk", 200, "status", {"status": "completed"})))
            dropped_at = drops[0] if drops else _wait_for(lambda: relay.dropped_subscribers == 1, 30)
            cut_at = _wait_for(lambda: relay.cut_subscribers == 1, 10)
        # the stuck one is gone within the grace period (plus scheduling), not after a close handshake
        assert cut_at - dropped_at < grace + 1.0, cut_at - dropped_at
        assert relay.dropped_subscribers == 1
        # its socket was aborted: reading what the kernel still holds ends in a reset or EOF, quickly,
        # and far short of the megabytes published
        got, started = 0, time.monotonic()
        stuck.settimeout(5)
        try:
            while chunk := stuck.recv(1 << 16):
                got += len(chunk)
        except (ConnectionResetError, socket.timeout):
            pass
        assert time.monotonic() - started < 5 and got < 8_000_000
        stuck.close()
        reader.join(30)
        assert not reader.is_alive()  # the final event closed it
        assert received == list(range(1, 201))  # the reading subscriber was never held back
