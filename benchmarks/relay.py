"""Relay benchmark: delivery and latency for 1 publisher -> N subscribers, and streaming overhead.

    python benchmarks/relay.py                 # 1 publisher, 10 subscribers, 1,000 events/s for 10 s
    python benchmarks/relay.py --seconds 5 --subscribers 10 --rate 1000 --runs 3

Part 1 starts a real relay (``qlop ws serve``), 10 subscribers in a separate process (asyncio clients)
and publishes through QLOP's own publisher (:class:`qlop.live.handler.RelayPublisher`, the path a run
uses) at a fixed rate. Latency is publish call -> subscriber receive, on the shared CLOCK_MONOTONIC.
Goals: 100% delivered, p99 < 10 ms.

Part 2 runs the same small pipeline with ``qlop run`` with and without ``--stream-to-ws`` pointed at a
port where no relay listens, alternating, and reports the median wall and CPU time. Goal: < 2% overhead.
It also reports the per-event cost of the publisher sink with the relay down.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Run the installed CLI with this interpreter (``-m qlop.cli.main`` would make a second copy of the
#: module as ``__main__``, with its own classes).
QLOP_MAIN = "from qlop.cli.main import main; main()"

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "live"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

TOKEN = "bench-token-0123456789"

SUBSCRIBER_PROGRAM = r"""
import asyncio, json, sys, time
from websockets.asyncio.client import connect

from qlop.live.protocol import MAX_EVENT_BYTES, auth_headers, is_final, subscribe_url

url, token, task, n, expected = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])

async def one(i, ready):
    lat, seqs = [], []
    async with connect(subscribe_url(url, task, 0), additional_headers=auth_headers(token),
                       proxy=None, compression=None, max_size=MAX_EVENT_BYTES) as ws:
        ready.append(i)
        try:
            async for msg in ws:
                now = time.monotonic_ns()
                ev = json.loads(msg)
                t = ev["payload"].get("t_ns")
                if t is not None:
                    lat.append((now - t) / 1e6)
                seqs.append(ev["seq"])
                if is_final(ev):
                    break
        except Exception as exc:
            print(f"subscriber {i}: {type(exc).__name__}: {exc}", file=sys.stderr)
    return lat, seqs

async def main():
    ready = []
    tasks = [asyncio.create_task(one(i, ready)) for i in range(n)]
    while len(ready) < n:
        await asyncio.sleep(0.01)
    print("READY", flush=True)
    results = await asyncio.wait_for(asyncio.gather(*tasks), timeout=600)
    out = []
    for lat, seqs in results:
        out.append({"latencies_ms": lat, "unique": len(set(seqs)), "received": len(seqs),
                    "in_order": seqs == sorted(seqs)})
    print(json.dumps(out), flush=True)

asyncio.run(main())
"""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_delivery(rate: int, seconds: float, subscribers: int) -> dict:
    from relayproc import RelayProcess

    from qlop.live.events import EventRecorder
    from qlop.live.handler import RelayPublisher

    relay = RelayProcess(TOKEN).start()
    n_events = int(rate * seconds)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    subs = subprocess.Popen(
        [sys.executable, "-c", SUBSCRIBER_PROGRAM, relay.url, TOKEN, "bench", str(subscribers), str(n_events + 1)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert subs.stdout is not None
        if subs.stdout.readline().strip() != "READY":
            raise RuntimeError(subs.stderr.read() if subs.stderr else "subscribers failed")
        publisher = RelayPublisher(relay.url, "bench", TOKEN)
        recorder = EventRecorder("bench", None, sinks=[publisher])
        start = time.monotonic()
        for i in range(n_events):
            target = start + i / rate
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            recorder.emit(
                "progress",
                {"stage": "bench", "step": i + 1, "total": n_events, "unit": "event", "t_ns": time.monotonic_ns()},
            )
        publish_seconds = time.monotonic() - start
        recorder.emit("status", {"status": "completed"})
        all_acked = publisher.close(10.0)
        out, err = subs.communicate(timeout=120)
        relay_cpu = _cpu_seconds(relay.proc.pid)
    finally:
        if subs.poll() is None:
            subs.kill()
        relay.stop()
    results = json.loads(out.strip().splitlines()[-1])
    latencies = [x for r in results for x in r["latencies_ms"]]
    delivered = sum(r["unique"] for r in results)
    expected = (n_events + 1) * subscribers
    return {
        "events": n_events,
        "subscribers": subscribers,
        "achieved_rate": n_events / publish_seconds,
        "delivered_share": delivered / expected,
        "duplicates": sum(r["received"] - r["unique"] for r in results),
        "in_order": all(r["in_order"] for r in results),
        "all_acked": all_acked,
        "p50_ms": _pct(latencies, 0.50),
        "p90_ms": _pct(latencies, 0.90),
        "p99_ms": _pct(latencies, 0.99),
        "max_ms": max(latencies),
        "relay_cpu_s": relay_cpu,
        "seconds": publish_seconds,
    }


def _timed_run(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", QLOP_MAIN, *args], cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def bench_overhead(runs: int) -> dict:
    from e2e_helpers import write_config

    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["QLOP_WS_TOKEN"] = TOKEN
    dead = f"ws://127.0.0.1:{_closed_port()}"
    plain: list[tuple[float, float]] = []
    streamed: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = write_config(root / "c.toml")
        env["QLOP_CACHE_DIR"] = str(root / "cache")
        _timed_run(["run", "-c", str(config), "--run-dir", str(root / "warm" / "r")], root, env)  # warm caches
        for i in range(runs):
            plain.append(
                _timed_run(["run", "-c", str(config), "--force", "--run-dir", str(root / f"p{i}" / "r")], root, env)
            )
            streamed.append(
                _timed_run(
                    [
                        "--stream-to-ws",
                        f"bench-{i}",
                        "--ws-url",
                        dead,
                        "run",
                        "-c",
                        str(config),
                        "--force",
                        "--run-dir",
                        str(root / f"s{i}" / "r"),
                    ],
                    root,
                    env,
                )
            )
        n_events = sum(1 for _ in open(root / "s0" / "r" / "events.jsonl", encoding="utf-8"))
        # The fixed cost (start-up, exit) on a run that does almost nothing: every stage cached.
        cached_plain, cached_streamed = [], []
        for i in range(3 * runs):
            cached_plain.append(
                _timed_run(["run", "-c", str(config), "--run-dir", str(root / "warm" / "r")], root, env)
            )
            cached_streamed.append(
                _timed_run(
                    [
                        "--stream-to-ws",
                        f"cached-{i}",
                        "--ws-url",
                        dead,
                        "run",
                        "-c",
                        str(config),
                        "--run-dir",
                        str(root / "warm" / "r"),
                    ],
                    root,
                    env,
                )
            )
    med = statistics.median
    out = {"runs": runs, "events_per_run": n_events}
    for label, a, b in (("full", plain, streamed), ("cached", cached_plain, cached_streamed)):
        wall_p, wall_s = med(w for w, _ in a), med(w for w, _ in b)
        cpu_p, cpu_s = med(c for _, c in a), med(c for _, c in b)
        out[label] = {
            "n": len(a),
            "wall_plain_s": wall_p,
            "wall_streamed_s": wall_s,
            "wall_overhead": wall_s / wall_p - 1,
            "cpu_plain_s": cpu_p,
            "cpu_streamed_s": cpu_s,
            "cpu_overhead": cpu_s / cpu_p - 1,
        }
    return out


def bench_sink_cost(n: int = 50_000) -> dict:
    """Per-event cost of emit() with and without a publisher to a dead relay (no file)."""
    from qlop.live.events import EventRecorder
    from qlop.live.handler import RelayPublisher

    def emit_all(recorder: EventRecorder) -> float:
        t0 = time.perf_counter()
        for i in range(n):
            recorder.emit("progress", {"stage": "x", "step": i, "total": n})
        return (time.perf_counter() - t0) / n * 1e6

    bare = emit_all(EventRecorder("bare", None))
    publisher = RelayPublisher(f"ws://127.0.0.1:{_closed_port()}", "sink", TOKEN, warn=lambda m: None)
    with_sink = emit_all(EventRecorder("sink", None, sinks=[publisher]))
    t0 = time.perf_counter()
    publisher.close(2.0)
    close_s = time.perf_counter() - t0
    # The publisher thread's own CPU while a run goes on for 5 s with the relay down (reconnect attempts).
    cpu0 = time.process_time()
    idle = RelayPublisher(f"ws://127.0.0.1:{_closed_port()}", "idle", TOKEN, warn=lambda m: None)
    time.sleep(5.0)
    idle.close(2.0)
    idle_cpu = time.process_time() - cpu0
    return {
        "events": n,
        "emit_us": bare,
        "emit_with_publisher_us": with_sink,
        "close_s": close_s,
        "idle_cpu_share": idle_cpu / 5.0,
        "idle_attempts": idle.connects,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=1000, help="events per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="publishing time")
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3, help="pipeline runs per variant for the overhead")
    parser.add_argument("--skip-overhead", action="store_true")
    args = parser.parse_args()

    print(
        f"relay: 1 publisher -> {args.subscribers} subscribers, {args.rate} events/s for {args.seconds:g} s "
        f"on loopback (os.cpu_count()={os.cpu_count()}, load {os.getloadavg()[0]:.1f})"
    )
    d = bench_delivery(args.rate, args.seconds, args.subscribers)
    print(
        f"  published {d['events']} events at {d['achieved_rate']:.0f}/s; delivered {d['delivered_share']:.4%} "
        f"(goal 100%), duplicates {d['duplicates']}, in order: {d['in_order']}, final acked: {d['all_acked']}"
    )
    print(
        f"  latency publish->subscriber: p50 {d['p50_ms']:.2f} ms, p90 {d['p90_ms']:.2f} ms, "
        f"p99 {d['p99_ms']:.2f} ms (goal < 10 ms), max {d['max_ms']:.2f} ms"
    )
    print(
        f"  relay process CPU: {d['relay_cpu_s']:.2f} s for {d['seconds']:.1f} s of publishing "
        f"({d['relay_cpu_s'] / d['seconds']:.0%} of one core, startup included)"
    )
    s = bench_sink_cost()
    print(
        f"publisher sink with the relay down: emit {s['emit_us']:.1f} us/event bare, "
        f"{s['emit_with_publisher_us']:.1f} us/event with the publisher; close() returned in {s['close_s']:.3f} s;"
    )
    print(
        f"  publisher thread CPU with the relay down: {s['idle_cpu_share']:.2%} of the run's time "
        f"({s['idle_attempts']} connection attempts in 5 s)"
    )
    if not args.skip_overhead:
        o = bench_overhead(args.runs)
        print(f"streaming overhead with the relay down (median; {o['events_per_run']} events per full run; goal < 2%):")
        for label, what in (("full", "full small pipeline, --force"), ("cached", "every stage cached")):
            r = o[label]
            print(
                f"  {what} ({r['n']} runs each): wall {r['wall_plain_s']:.2f} s -> {r['wall_streamed_s']:.2f} s "
                f"({r['wall_overhead']:+.2%}), CPU {r['cpu_plain_s']:.2f} s -> {r['cpu_streamed_s']:.2f} s "
                f"({r['cpu_overhead']:+.2%})"
            )


if __name__ == "__main__":
    main()
