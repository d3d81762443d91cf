"""The relay as a real process: auth before the handshake, limits, replay, de-duplication, restarts."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading

import pytest
from relayproc import TEST_TOKEN as TOKEN  # noqa: E402
from relayproc import RelayProcess  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from qlop.live.client import RelayRefused, subscribe
from qlop.live.handler import RelayPublisher
from qlop.live.protocol import CLOSE_TOO_SLOW, encode, make_event
from qlop.live.server import Relay, Subscriber

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _connect(url, path, headers=AUTH, **kw):
    return connect(url + path, additional_headers=headers, proxy=None, open_timeout=5, legacy=True, **kw)


def _event(task, seq, type_="log", **payload):
    return encode(make_event(task, seq, type_, payload or {"message": f"e{seq}"}))


def _final(task, seq):
    return encode(make_event(task, seq, "status", {"status": "completed"}))


def _http_get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read()


def test_healthz_answers_200_without_a_token(relay):
    assert _http_get(relay.port, "/healthz") == (200, b"ok\n")


@pytest.mark.parametrize(
    "path,headers",
    [
        ("/publish/t1", {"Authorization": "Bearer wrong"}),
        ("/subscribe/t1", {"Authorization": "Bearer wrong"}),
        ("/subscribe/t1?token=wrong", {}),
        ("/publish/t1", {}),
    ],
)
def test_a_wrong_or_missing_token_gets_401_before_the_handshake(relay, path, headers):
    with pytest.raises(InvalidStatus) as info:
        _connect(relay.url, path, headers=headers)
    assert info.value.response.status_code == 401


def test_token_in_the_query_string_is_accepted(relay):
    with connect(f"{relay.url}/subscribe/t1?since=0&token={TOKEN}", proxy=None, open_timeout=5):
        pass


def test_unknown_routes_and_bad_task_ids_are_404(relay):
    for path in ("/nope", "/publish/a%2Fb", "/subscribe"):
        with pytest.raises(InvalidStatus) as info:
            _connect(relay.url, path)
        assert info.value.response.status_code == 404


def test_a_1_mib_message_is_refused(relay):
    with _connect(relay.url, "/publish/big") as ws:
        json.loads(ws.recv(timeout=5))  # hello
        ws.send("x" * (1 << 20))
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
    assert info.value.rcvd.code == 1009  # message too big
    with _connect(relay.url, "/publish/big") as ws:  # and nothing of it was stored
        assert json.loads(ws.recv(timeout=5)) == {"kind": "hello", "last_seq": 0}


def test_replay_after_since_exactly_once_in_order_with_duplicates_dropped(relay):
    with _connect(relay.url, "/publish/job") as pub:
        assert json.loads(pub.recv(timeout=5)) == {"kind": "hello", "last_seq": 0}
        for seq in [1, 2, 3, 2, 3, 4, 5]:  # a resend after a reconnect repeats seqs
            pub.send(_event("job", seq))
        acked = 0
        while acked < 5:
            acked = json.loads(pub.recv(timeout=5))["seq"]
        # a late subscriber starting after seq 2 gets 3..5, then live ones, and stops at the final status
        got = []
        done = threading.Event()

        def consume():
            for event in subscribe(relay.url, "job", TOKEN, since=2):
                got.append(event["seq"])
            done.set()

        thread = threading.Thread(target=consume, daemon=True)
        thread.start()
        for seq in [6, 7]:
            pub.send(_event("job", seq))
        pub.send(_final("job", 8))
        assert done.wait(10)
    assert got == [3, 4, 5, 6, 7, 8]
    # a publisher reconnecting learns what the relay holds
    with _connect(relay.url, "/publish/job") as pub:
        assert json.loads(pub.recv(timeout=5)) == {"kind": "hello", "last_seq": 8}


def test_an_event_of_another_task_is_refused(relay):
    with _connect(relay.url, "/publish/mine") as pub:
        pub.recv(timeout=5)
        pub.send(_event("theirs", 1))
        with pytest.raises(ConnectionClosed) as info:
            pub.recv(timeout=5)
    assert info.value.rcvd.code == 1007


def test_a_wrong_token_makes_tail_exit_non_zero(relay):
    with pytest.raises(RelayRefused, match="401"):
        list(subscribe(relay.url, "t", "wrong"))


def test_publisher_resends_what_a_restarted_relay_lost(tmp_path):
    """Kill -9 the relay mid-task, restart it on the same port: a subscriber resuming with since gets all."""
    first = RelayProcess(TOKEN).start()
    port = first.port
    publisher = RelayPublisher(first.url, "restart", TOKEN)
    got: list[int] = []
    try:
        for seq in range(1, 201):
            publisher.publish(make_event("restart", seq, "log", {"message": f"m{seq}"}), _event("restart", seq))
        for event in subscribe(first.url, "restart", TOKEN, stop_at_final=False):
            got.append(event["seq"])
            if event["seq"] == 120:
                break
        first.kill()
        for seq in range(201, 400):
            publisher.publish(make_event("restart", seq, "log", {}), _event("restart", seq))
        second = RelayProcess(TOKEN, port=port).start()
        try:
            publisher.publish(make_event("restart", 400, "status", {"status": "completed"}), _final("restart", 400))
            for event in subscribe(second.url, "restart", TOKEN, since=got[-1], wait=20):
                got.append(event["seq"])
            assert publisher.close(5.0) is True
        finally:
            second.stop()
    finally:
        first.stop()
        publisher.close(0.1)
    assert got == list(range(1, 401))


def test_sigterm_stops_the_relay_cleanly():
    proc = RelayProcess(TOKEN).start()
    try:
        ws = _connect(proc.url, "/subscribe/t")
        assert proc.terminate() == 0
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001  # going away
    finally:
        proc.stop()


# -- the hub in-process: slow subscribers and the TTL ------------------------------------------


class _StuckWs:
    """A viewer whose socket never drains."""

    def __init__(self):
        self.closed_with = None
        self.sent = []

    async def send(self, text):
        await asyncio.Event().wait()

    async def close(self, code=1000, reason=""):
        self.closed_with = code


class _FastWs(_StuckWs):
    async def send(self, text):
        self.sent.append(json.loads(text)["seq"])


def test_a_slow_subscriber_is_dropped_without_stalling_the_others():
    async def scenario():
        relay = Relay("t", queue_size=5)
        task = relay.task("job")
        stuck, fast = _StuckWs(), _FastWs()
        subs = [Subscriber(stuck, asyncio.Queue(maxsize=5), 0), Subscriber(fast, asyncio.Queue(maxsize=5), 0)]
        task.subscribers.update(subs)
        writers = [asyncio.create_task(relay._write(s, [])) for s in subs]
        for seq in range(1, 51):
            text = _event("job", seq)
            task.add(seq, text, False)
            relay._fan_out(task, (seq, text, False))
            await asyncio.sleep(0)  # the fast writer drains; the stuck one cannot
        await asyncio.sleep(0.05)
        for w in writers:
            w.cancel()
        return relay, subs, stuck, fast

    relay, subs, stuck, fast = asyncio.run(scenario())
    assert subs[0].dropped and stuck.closed_with == CLOSE_TOO_SLOW
    assert fast.sent == list(range(1, 51))
    assert relay.dropped_subscribers == 1


def test_finished_tasks_are_forgotten_after_the_ttl():
    relay = Relay("t", ttl=10.0, idle_ttl=100.0)
    done, running = relay.task("done"), relay.task("running")
    done.add(1, _final("done", 1), True)
    running.add(1, _event("running", 1), False)
    now = done.finished_at
    assert relay.sweep(now + 5) == []
    assert relay.sweep(now + 11) == ["done"]
    assert "running" in relay.tasks
    assert relay.sweep(now + 101) == ["running"]


def test_the_replay_buffer_is_bounded():
    relay = Relay("t", replay_events=10)
    task = relay.task("job")
    for seq in range(1, 26):
        task.add(seq, _event("job", seq), False)
    assert [s for s, _, _ in task.after(0)] == list(range(16, 26))
    assert task.last_seq == 25


def test_subscribing_after_the_end_of_a_finished_task_returns_at_once(relay):
    with _connect(relay.url, "/publish/over") as pub:
        pub.recv(timeout=5)
        pub.send(_event("over", 1))
        pub.send(_final("over", 2))
        while json.loads(pub.recv(timeout=5))["seq"] < 2:
            pass
    assert [e["seq"] for e in subscribe(relay.url, "over", TOKEN, since=2)] == []
    assert [e["seq"] for e in subscribe(relay.url, "over", TOKEN, since=1)] == [2]


def test_a_real_slow_subscriber_is_closed_with_4008_and_resumes_with_since():
    proc = RelayProcess(TOKEN, extra=["--queue-size", "20"]).start()
    try:
        slow = _connect(proc.url, "/subscribe/bulk", max_queue=4)  # never reads until the end
        fast_got: list[int] = []
        done = threading.Event()

        def fast():
            fast_got.extend(e["seq"] for e in subscribe(proc.url, "bulk", TOKEN))
            done.set()

        threading.Thread(target=fast, daemon=True).start()
        padding = "x" * 60_000
        with _connect(proc.url, "/publish/bulk") as pub:
            pub.recv(timeout=5)
            for seq in range(1, 400):
                pub.send(_event("bulk", seq, message=padding))
            pub.send(_final("bulk", 400))
            while json.loads(pub.recv(timeout=10))["seq"] < 400:  # read the acks (or close would stall)
                pass
            assert done.wait(60)
        assert fast_got == list(range(1, 401))  # the slow one never held the fast one back
        got = []
        with pytest.raises(ConnectionClosed) as info:
            while True:
                got.append(json.loads(slow.recv(timeout=10))["seq"])
        # A client too busy to read its close frame within the relay's close timeout (2 s) is cut off
        # instead; when the frame does arrive it carries 4008 and a since hint.
        if info.value.rcvd is not None:
            assert info.value.rcvd.code == CLOSE_TOO_SLOW
            hinted = int(info.value.rcvd.reason.rsplit("since=", 1)[1])  # what the relay knows it handed over
            assert hinted <= got[-1]
        assert got == list(range(1, len(got) + 1)) and len(got) < 400
        got += [e["seq"] for e in subscribe(proc.url, "bulk", TOKEN, since=got[-1])]
        assert got == list(range(1, 401))
    finally:
        proc.stop()
