"""Fixtures of the hardening tests: tiny configs, the ``qlop`` CLI in a subprocess, small mounts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hardening_helpers import is_root, qlop_env, tmpfs  # noqa: E402

QLOP_MAIN = "from qlop.cli.main import main; main()"


@pytest.fixture
def run_qlop(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_qlop("run", "-c", cfg, ...)``: the real CLI in a subprocess with a private cache."""
    cache = tmp_path / "qlop-cache"

    def run(*args: str, cwd: Path | None = None, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", QLOP_MAIN, *map(str, args)],
            capture_output=True,
            text=True,
            cwd=cwd or tmp_path,
            timeout=timeout,
            env=qlop_env(QLOP_CACHE_DIR=str(cache), **env),
        )

    return run


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody can write into: a read-only tmpfs as root (permission bits do not stop root),
    a directory without write permission otherwise."""
    target = tmp_path / "readonly"
    if is_root():
        if shutil.which("mount") is None:
            pytest.skip("mount is not available")
        with tmpfs(target, "1m", read_only=True):
            yield target
        return
    target.mkdir()
    target.chmod(0o555)
    try:
        yield target
    finally:
        target.chmod(0o755)
