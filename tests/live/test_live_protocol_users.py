"""The same scenarios through the protocol's three users, against a real relay process on 127.0.0.1.

The users: the run's publisher (:class:`qlop.live.handler.RelayPublisher`), ``qlop ws tail`` (a real
CLI subprocess) and the GUI's subscriber thread (:class:`qlop.gui.subscriber.Subscriber`). The
scenarios: a refused connection, oversized events, and a relay killed and restarted mid-task.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from relayproc import QLOP_MAIN, TEST_TOKEN, RelayProcess

from qlop.gui.subscriber import Subscriber
from qlop.live.events import EventRecorder
from qlop.live.handler import RelayPublisher
from qlop.live.protocol import MAX_EVENT_BYTES, TOKEN_ENV, encode, make_event


class Tail:
    """``qlop ws tail`` as a user runs it; its stdout lines are collected as they come."""

    def __init__(self, url: str, task_id: str, token: str, *, wait: float = 60.0) -> None:
        env = {**os.environ, TOKEN_ENV: token}
        for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
            env.pop(proxy, None)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", QLOP_MAIN, "ws", "tail", task_id, "--ws-url", url, "--wait", str(wait)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.lines)]

    def finish(self, timeout: float = 60.0) -> tuple[int | None, str]:
        """Exit code (None if it had to be killed after ``timeout`` s) and stderr."""
        try:
            code: int | None = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            code = None
        self._reader.join(10)
        stderr = self.proc.stderr.read() if self.proc.stderr else ""
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()
        return code, stderr


def wait_for(predicate, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def send(publisher: RelayPublisher, event: dict[str, Any], text: str | None = None) -> None:
    publisher.publish(event, text if text is not None else encode(event))


# -- a refused connection: each user stops at once and says why (the same statuses for all) -------


@pytest.mark.parametrize("case", ["wrong token", "unknown route"])
def test_a_refusing_relay_stops_every_user_at_once(relay, case):
    base, token, status = {
        "wrong token": (relay.url, "wrong-token", 401),
        "unknown route": (relay.url + "/not-a-relay-path", TEST_TOKEN, 404),
    }[case]
    tail = Tail(base, "refused", token)
    warnings: list[str] = []
    publisher = RelayPublisher(base, "refused", token, warn=warnings.append)
    recorder = EventRecorder("refused", None, sinks=[publisher])
    gui = Subscriber(base, "refused", token).start()
    for i in range(20):
        recorder.emit("log", {"message": f"m{i}"})
    recorder.status("completed")

    assert publisher.close(timeout=2.0) is False  # nothing acknowledged, and no endless retrying
    assert publisher.refused == f"HTTP {status}"
    assert len(warnings) == 1 and f"HTTP {status}" in warnings[0]

    code, stderr = tail.finish()
    assert code == 2, stderr  # refused (2), not "unreachable after --wait" (1)
    assert f"HTTP {status}" in stderr and "Traceback" not in stderr and tail.lines == []

    gui.join(10)
    assert not gui.alive  # not retried
    assert gui.error == f"the relay refused the subscription (HTTP {status})"
    assert gui.snapshot().events == [] and not gui.finished


# -- oversized events: one limit, and every user gets every event --------------------------------


def test_oversized_events_reach_every_user_cut_to_the_one_limit(relay):
    task = "big"
    tail = Tail(relay.url, task, TEST_TOKEN)
    gui = Subscriber(relay.url, task, TEST_TOKEN).start()
    publisher = RelayPublisher(relay.url, task, TEST_TOKEN)
    wait_for(lambda: gui.connected, "the GUI subscriber to connect")

    huge = make_event(task, 1, "log", {"level": "INFO", "message": "x" * 200_000})
    # Just under the limit, with an optional field beyond the envelope and in the payload: unchanged.
    near = make_event(task, 2, "log", {"level": "INFO", "message": "", "fold_extra": 3}) | {"variant": "lr=0.1"}
    near["payload"]["message"] = "n" * (MAX_EVENT_BYTES - len(encode(near).encode()) - 16)
    raw = make_event(task, 3, "log", {"level": "INFO", "message": "é" * 150_000})
    final = make_event(task, 4, "status", {"status": "completed"})
    send(publisher, huge)
    send(publisher, near)
    send(publisher, raw, json.dumps(raw))  # a text over the limit handed straight to the publisher
    send(publisher, final)
    assert publisher.close(timeout=10.0) is True  # the relay took every message (no 1009 close loop)

    code, stderr = tail.finish()
    assert code == 0, stderr
    wait_for(lambda: gui.finished, "the GUI subscriber to finish")
    for user, events in (("ws tail", tail.events), ("gui", gui.snapshot().events)):
        assert [e["seq"] for e in events] == [1, 2, 3, 4], user
        assert events[1] == near, user
        for event, start in ((events[0], "xxx"), (events[2], "ééé")):
            assert event["payload"]["truncated"] is True, user
            assert event["payload"]["message"].startswith(start), user
            assert len(encode(event).encode()) <= MAX_EVENT_BYTES, user
    assert max(len(line.rstrip("\n").encode()) for line in tail.lines) <= MAX_EVENT_BYTES


# -- a relay killed and restarted mid-task: nothing lost, nothing doubled ------------------------


def test_a_relay_restart_mid_task_loses_nothing_for_any_user():
    task = "restart"
    first = RelayProcess(TEST_TOKEN).start()
    second: RelayProcess | None = None
    publisher = RelayPublisher(first.url, task, TEST_TOKEN)
    tail = Tail(first.url, task, TEST_TOKEN)
    gui = Subscriber(first.url, task, TEST_TOKEN).start()
    events = [
        make_event(task, seq, "progress", {"stage": "train", "step": seq, "total": 150}) for seq in range(1, 150)
    ] + [make_event(task, 150, "status", {"status": "completed"})]
    try:
        for event in events[:50]:
            send(publisher, event)
        wait_for(lambda: len(gui.snapshot().events) == 50 and len(tail.lines) == 50, "the first 50 events")
        first.kill()  # SIGKILL: the relay's replay buffer is gone
        for event in events[50:100]:
            send(publisher, event)  # the run goes on while the relay is down
        wait_for(lambda: not gui.connected, "the GUI subscriber to notice")
        second = RelayProcess(TEST_TOKEN, port=first.port).start()
        for event in events[100:]:
            send(publisher, event)
        assert publisher.close(timeout=20.0) is True  # the new relay acknowledged everything, resent
        code, stderr = tail.finish()
        wait_for(lambda: gui.finished, "the GUI subscriber to finish")
    finally:
        publisher.close(0.1)
        gui.stop()
        if tail.proc.poll() is None:
            tail.finish(0)
        first.stop()
        if second is not None:
            second.stop()
    assert code == 0, stderr
    assert publisher.connects >= 2 and publisher.acked == 150
    assert tail.events == events  # each event once, in order, unchanged
    assert gui.snapshot().events == events
    gui.join(5)
    assert not gui.alive  # it stopped by itself at the final status
