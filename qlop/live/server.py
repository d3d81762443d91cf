"""The live-event relay: one publisher per task in, any number of subscribers out.

Routes: ``/publish/<task_id>``, ``/subscribe/<task_id>?since=<seq>`` and ``/healthz``. The token (header
``Authorization: Bearer <token>`` or query ``?token=``) is compared in constant time in
``process_request``, so a wrong one gets HTTP 401 before the WebSocket handshake completes.

Per task the relay keeps a bounded replay buffer ordered by ``seq`` and drops events whose ``seq`` it
already holds, so a publisher may resend freely after a reconnect, and a subscriber joining late or
resuming with ``since`` receives every later event exactly once, in order. Each subscriber has a bounded
queue drained in batches by its own writer; a subscriber that falls behind by a full queue is closed
with code 4008 (it can resume with ``since``) and never stalls the publisher or other subscribers. A
subscriber that does not read at all has megabytes queued in front of that close frame, so after a short
grace period (``slow_grace``, 1 s) in which its backlog has not drained, its connection is cut (a TCP
abort) instead of waiting for the close handshake behind the backlog.
Finished tasks are forgotten after a TTL. SIGTERM/SIGINT close every connection and stop cleanly.
Routes, token parsing, the size limit, close codes and control messages are :mod:`qlop.live.protocol`'s.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import logging
import secrets
import signal
import socket
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from qlop.live.protocol import (
    CLOSE_BAD_EVENT,
    CLOSE_TASK_FINISHED,
    CLOSE_TOO_SLOW,
    DEFAULT_HOST,
    DEFAULT_PORT,
    HEALTHZ,
    MAX_EVENT_BYTES,
    PUBLISH,
    TASK_FINISHED,
    Route,
    ack_message,
    decode,
    hello_message,
    is_final,
    parse_route,
    relay_token,
    request_token,
)

log = logging.getLogger("qlop.live.relay")


def token_from_env(env: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """``(token, generated)``: ``QLOP_WS_TOKEN`` or a fresh random one."""
    token = relay_token(env)
    if token:
        return token, False
    return secrets.token_urlsafe(24), True


def hard_abort(transport: Any) -> None:
    """Cut a connection now: a reset (``SO_LINGER`` 0) discards what the kernel still holds for the peer,
    where a plain close would keep sending it to a peer that does not read."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


@dataclass(eq=False)
class Subscriber:
    ws: Any
    queue: asyncio.Queue
    last_sent: int
    dropped: bool = False
    task_id: str | None = None
    closing: asyncio.Future | None = None  # the close (or cut) of a dropped subscriber


@dataclass
class Task:
    task_id: str
    max_events: int
    max_bytes: int
    events: collections.deque = field(default_factory=collections.deque)  # (seq, text, final)
    bytes: int = 0
    last_seq: int = 0
    finished_at: float | None = None
    last_activity: float = field(default_factory=time.monotonic)
    subscribers: set = field(default_factory=set)
    publishers: int = 0

    def add(self, seq: int, text: str, final: bool) -> None:
        self.events.append((seq, text, final))
        self.bytes += len(text)
        while self.events and (len(self.events) > self.max_events or self.bytes > self.max_bytes):
            self.bytes -= len(self.events.popleft()[1])
        self.last_seq = seq
        self.last_activity = time.monotonic()
        self.finished_at = time.monotonic() if final else None

    def after(self, since: int) -> list[tuple[int, str, bool]]:
        if not self.events or self.events[-1][0] <= since:
            return []
        return [item for item in self.events if item[0] > since]


class Relay:
    """The relay's state and handlers (the asyncio server lives in :func:`serve_relay`)."""

    def __init__(
        self,
        token: str,
        *,
        queue_size: int = 10_000,
        replay_events: int = 100_000,
        replay_bytes: int = 64 << 20,
        ttl: float = 3600.0,
        idle_ttl: float = 86_400.0,
        slow_grace: float = 1.0,
    ) -> None:
        self.token = token.encode("utf-8")
        self.queue_size = queue_size
        self.replay_events = replay_events
        self.replay_bytes = replay_bytes
        self.ttl = ttl
        self.idle_ttl = idle_ttl
        self.tasks: dict[str, Task] = {}
        self.slow_grace = slow_grace
        self.dropped_subscribers = 0
        self.cut_subscribers = 0  # dropped ones whose connection was aborted, not closed
        self._background: set[asyncio.Future] = set()

    def task(self, task_id: str) -> Task:
        task = self.tasks.get(task_id)
        if task is None:
            task = self.tasks[task_id] = Task(task_id, self.replay_events, self.replay_bytes)
        return task

    # -- HTTP stage of the handshake ----------------------------------------------------------

    def process_request(self, connection: Any, request: Any) -> Any:
        route = parse_route(request.path)
        if isinstance(route, tuple):
            return connection.respond(*route)
        if route.kind == HEALTHZ:
            return connection.respond(200, "ok\n")
        given = request_token(request.path, request.headers).encode("utf-8")
        if not hmac.compare_digest(given, self.token):
            return connection.respond(401, "missing or wrong token\n")
        return None

    async def handler(self, ws: Any) -> None:
        route = parse_route(ws.request.path)
        assert isinstance(route, Route)
        if route.kind == PUBLISH:
            await self._publish(ws, route.task_id)
        else:
            await self._subscribe(ws, route.task_id, route.since)

    # -- publishers ---------------------------------------------------------------------------

    async def _publish(self, ws: Any, task_id: str) -> None:
        from websockets.exceptions import ConnectionClosed

        task = self.task(task_id)
        task.publishers += 1
        dirty = asyncio.Event()
        acker = asyncio.create_task(self._ack_loop(ws, task, dirty))
        try:
            await ws.send(hello_message(task.last_seq))
            async for message in ws:
                try:
                    event = decode(message)
                    if event["task_id"] != task_id:
                        raise ValueError(f"event of task {event['task_id']!r} sent to {task_id!r}")
                except ValueError as exc:
                    await ws.close(CLOSE_BAD_EVENT, str(exc)[:120])
                    return
                seq = event["seq"]
                if seq > task.last_seq:  # anything else was already delivered: drop the duplicate
                    text = message if isinstance(message, str) else message.decode("utf-8")
                    final = is_final(event)
                    task.add(seq, text, final)
                    self._fan_out(task, (seq, text, final))
                dirty.set()
        except ConnectionClosed:
            pass
        finally:
            task.publishers -= 1
            task.last_activity = time.monotonic()
            acker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await acker

    @staticmethod
    async def _ack_loop(ws: Any, task: Task, dirty: asyncio.Event) -> None:
        """Acknowledge the highest ``seq`` held, at most every 5 ms (cheap for the publisher)."""
        while True:
            await dirty.wait()
            dirty.clear()
            await ws.send(ack_message(task.last_seq))
            await asyncio.sleep(0.005)

    def _fan_out(self, task: Task, item: tuple[int, str, bool]) -> None:
        for sub in list(task.subscribers):
            try:
                sub.queue.put_nowait(item)
            except asyncio.QueueFull:
                self._drop(task, sub)

    def _drop(self, task: Task, sub: Subscriber) -> None:
        """Close a subscriber that cannot keep up; it may resume with ``since``."""
        task.subscribers.discard(sub)
        sub.dropped = True
        self.dropped_subscribers += 1
        log.warning("task %s: dropping a slow subscriber at seq %d", task.task_id, sub.last_sent)
        closing = sub.closing = asyncio.ensure_future(
            self._cut(sub.ws, CLOSE_TOO_SLOW, f"too slow: resume with since={sub.last_sent}")
        )
        self._background.add(closing)  # keep a reference until it is done
        closing.add_done_callback(self._background.discard)

    async def _cut(self, ws: Any, code: int, reason: str) -> None:
        """Close a dropped subscriber within :attr:`slow_grace` seconds, whatever it does.

        The close frame goes out behind everything already buffered for the peer. A peer that reads
        drains that backlog within the grace period and gets the frame (code 4008 and the ``since`` to
        resume from); one that does not is cut off with a TCP abort, dropping the backlog, so a stuck
        viewer never holds megabytes and a connection for longer than the grace period.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.slow_grace
        transport = getattr(ws, "transport", None)
        if transport is not None:
            while transport.get_write_buffer_size() > 0 and loop.time() < deadline:
                await asyncio.sleep(0.02)
            if transport.get_write_buffer_size() > 0:
                self.cut_subscribers += 1
                log.warning(
                    "cut a subscriber that read nothing for %.1f s (%d bytes unsent)",
                    self.slow_grace,
                    transport.get_write_buffer_size(),
                )
                hard_abort(transport)
                return
        if not await self._close(ws, code, reason, timeout=max(0.05, deadline - loop.time())):
            self.cut_subscribers += 1

    @staticmethod
    async def _close(ws: Any, code: int, reason: str, timeout: float = 10.0) -> bool:
        """Close with ``code``; a peer that does not read its close frame in ``timeout`` s is cut off
        (returns False then)."""
        try:
            await asyncio.wait_for(ws.close(code, reason), timeout=timeout)
            return True
        except Exception:  # noqa: BLE001 - a stuck peer: cut the TCP connection
            with contextlib.suppress(Exception):
                hard_abort(ws.transport)
            return False

    # -- subscribers --------------------------------------------------------------------------

    async def _subscribe(self, ws: Any, task_id: str, since: int) -> None:
        task = self.task(task_id)
        # Snapshot and registration happen without an await in between: nothing is missed or doubled.
        backlog = task.after(since)
        sub = Subscriber(ws, asyncio.Queue(maxsize=self.queue_size), since, task_id=task_id)
        task.subscribers.add(sub)
        writer = asyncio.create_task(self._write(sub, backlog))
        closed = asyncio.create_task(ws.wait_closed())
        try:
            await asyncio.wait({writer, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            task.subscribers.discard(sub)
            for t in (writer, closed):
                t.cancel()
            for t in (writer, closed):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t

    async def _write(self, sub: Subscriber, backlog: list[tuple[int, str, bool]]) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            if await self._send_batch(sub, backlog):
                return
            task = self.tasks.get(sub.task_id) if sub.task_id else None
            if task is not None and task.finished_at is not None and sub.last_sent >= task.last_seq:
                await self._close(sub.ws, CLOSE_TASK_FINISHED, TASK_FINISHED)  # nothing more will come
                return
            while not sub.dropped:
                batch = [await sub.queue.get()]
                while not sub.queue.empty():
                    batch.append(sub.queue.get_nowait())
                if await self._send_batch(sub, batch):
                    return
            if sub.closing is not None:  # the handler ends after the 4008 close (or the cut), not before
                await asyncio.shield(sub.closing)
        except ConnectionClosed:
            return

    async def _send_batch(self, sub: Subscriber, batch: list[tuple[int, str, bool]]) -> bool:
        """Send in ``seq`` order, skipping what was sent; True once the task's final event went out."""
        for seq, text, final in batch:
            if seq <= sub.last_sent or sub.dropped:
                continue
            await sub.ws.send(text)
            sub.last_sent = seq
            if final:
                await self._close(sub.ws, CLOSE_TASK_FINISHED, TASK_FINISHED)
                return True
        return False

    # -- housekeeping -------------------------------------------------------------------------

    def sweep(self, now: float | None = None) -> list[str]:
        """Forget finished tasks after ``ttl`` and abandoned ones after ``idle_ttl``."""
        now = time.monotonic() if now is None else now
        gone = []
        for task_id, task in list(self.tasks.items()):
            if task.publishers or task.subscribers:
                continue
            if (
                task.finished_at is not None and now - task.finished_at >= self.ttl
            ) or now - task.last_activity >= self.idle_ttl:
                del self.tasks[task_id]
                gone.append(task_id)
        return gone

    async def sweep_loop(self) -> None:
        period = max(0.05, min(self.ttl / 4, 30.0))
        while True:
            await asyncio.sleep(period)
            self.sweep()


async def serve_relay(
    relay: Relay,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    ready: Callable[[str, int], None] | None = None,
    ping_interval: float = 20.0,
    ping_timeout: float = 20.0,
    stop: asyncio.Future | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (or ``stop`` resolves), then close every connection cleanly."""
    from websockets.asyncio.server import serve

    loop = asyncio.get_running_loop()
    stop = stop if stop is not None else loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    async with serve(
        relay.handler,
        host,
        port,
        process_request=relay.process_request,
        max_size=MAX_EVENT_BYTES,
        compression=None,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        close_timeout=2.0,
    ) as server:
        sockname = next(iter(server.sockets)).getsockname()
        if ready is not None:
            ready(sockname[0], sockname[1])
        sweeper = asyncio.create_task(relay.sweep_loop())
        try:
            await stop
        finally:
            sweeper.cancel()
            server.close(close_connections=True)
            await server.wait_closed()
