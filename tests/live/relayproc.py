"""A real ``qlop ws serve`` subprocess for tests and benchmarks (port 0, or a fixed port to restart on)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

#: Run the installed CLI with this interpreter (``-m qlop.cli.main`` would make a second copy of the
#: module as ``__main__``, with its own classes).
QLOP_MAIN = "from qlop.cli.main import main; main()"

#: The token test relays are started with.
TEST_TOKEN = "test-token-0123456789"


class RelayProcess:
    """Start ``qlop ws serve`` and read the port it bound from its first line of output."""

    def __init__(
        self, token: str, port: int = 0, extra: list[str] | None = None, cwd: str | Path | None = None
    ) -> None:
        self.token, self.requested_port, self.extra, self.cwd = token, port, list(extra or []), cwd
        self.proc: subprocess.Popen[str] | None = None
        self.port = port

    def start(self, timeout: float = 20.0) -> "RelayProcess":
        env = {**os.environ, "QLOP_WS_TOKEN": self.token}
        env.pop("http_proxy", None)
        env.pop("https_proxy", None)
        cmd = [sys.executable, "-c", QLOP_MAIN, "ws", "serve", "--port", str(self.requested_port), *self.extra]
        deadline = time.monotonic() + timeout
        while True:
            self.proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=self.cwd
            )
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            match = re.search(r"listening on ws://[^:]+:(\d+)", line)
            if match:
                self.port = int(match.group(1))
                return self
            self.proc.wait(5)
            if time.monotonic() > deadline:  # e.g. the port of a killed relay not yet free
                raise RuntimeError(
                    f"relay did not start: {line!r} {self.proc.stderr.read() if self.proc.stderr else ''}"
                )
            time.sleep(0.2)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def terminate(self, timeout: float = 10.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr) if self.proc else ():
            if stream:
                stream.close()
