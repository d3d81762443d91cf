"""Repo-level pytest configuration for QLOP's own suite.

Every test gets a private cache folder and a fresh process-wide plugin manager, so no test depends on
another's plugins or cached data.
"""

from __future__ import annotations

import os

import pytest

# OpenMP threads (XGBoost, scikit-learn) spin while idle by default; on the shared 2-core machine that
# made XGBoost fits 10-20x slower. OpenMP reads this once when first loaded, so set it before any test
# module imports scikit-learn or XGBoost (see docs/models.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(autouse=True)
def _isolated_qlop_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    from qlop.plugins import manager

    monkeypatch.setenv("QLOP_CACHE_DIR", str(tmp_path_factory.mktemp("qlop-cache")))
    for var in (
        "QLOP_DISABLE_PLUGINS",
        "QLOP_LOAD_PLUGINS",
        "QLOP_DISABLE_PLUGIN_AUTOLOAD",
        "QLOP_STRICT_PLUGINS",
        "QLOP_PLUGINS_DIR",
        "QLOP_WS_TOKEN",
        "QLOP_WS_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    manager.reset()
    yield
    manager.reset()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium driven by playwright (for tests marked ``browser``).

    Module-scoped on purpose: playwright's sync API keeps an event loop running in the main thread
    while it is open, which would break ``asyncio.run`` in every test collected after it.

    Skips with a reason when chromium is absent, except under ``QLOP_STRICT_BROWSER=1`` (CI), where a
    missing browser is a failure: the browser tests must run there.
    """
    import os

    if not os.path.exists(CHROMIUM):
        reason = f"{CHROMIUM} is not installed (apt-get install chromium); browser tests need it"
        if os.environ.get("QLOP_STRICT_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


# -- PostgreSQL ------------------------------------------------------------------------------------

PG_PASSWORD = "qlop-test-secret-7Qx"


def _pg_bindir() -> "str | None":
    """The newest Debian PostgreSQL server binaries (/usr/lib/postgresql/<major>/bin)."""
    import glob

    found = [d for d in glob.glob("/usr/lib/postgresql/*/bin") if os.path.exists(os.path.join(d, "initdb"))]
    return max(found, key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else 0) if found else None


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server on 127.0.0.1 with password (SCRAM) authentication, for tests
    marked ``postgres``. Yields ``{"url": ..., "password": ...}``; the URL names database ``qlop``,
    user ``qlop`` and no password.

    The server runs from Debian's ``postgresql`` binaries in a temporary directory; as root (which
    PostgreSQL refuses to run as) it runs as the ``postgres`` user. Skips when the binaries are absent,
    except under ``QLOP_STRICT_POSTGRES=1`` (CI), where that is a failure.
    """
    import shutil
    import socket
    import subprocess
    import tempfile

    bindir = _pg_bindir()
    if bindir is None:
        reason = "PostgreSQL server binaries not found (apt-get install postgresql); postgres tests need them"
        if os.environ.get("QLOP_STRICT_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    root = tempfile.mkdtemp(prefix="qlop-pg-")
    as_user: list[str] = []
    if os.geteuid() == 0:
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    pwfile = os.path.join(root, "pw")
    with open(pwfile, "w") as fh:
        fh.write(PG_PASSWORD + "\n")
    if as_user:
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
    data, log = os.path.join(root, "data"), os.path.join(root, "server.log")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def run(*cmd: str) -> None:
        done = subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=180)
        if done.returncode:
            tail = open(log).read()[-2000:] if os.path.exists(log) else ""
            raise RuntimeError(f"{cmd[0]} failed ({done.returncode}): {done.stdout}{done.stderr}{tail}")

    run(
        f"{bindir}/initdb",
        "-D",
        data,
        "-U",
        "qlop",
        f"--pwfile={pwfile}",
        "--auth-host=scram-sha-256",
        "--auth-local=trust",
        "-E",
        "UTF8",
        "--no-locale",
    )
    run(
        f"{bindir}/pg_ctl",
        "-D",
        data,
        "-l",
        log,
        "-w",
        "-t",
        "120",
        "-o",
        f"-h 127.0.0.1 -p {port} -k {root} -F",
        "start",
    )
    try:
        run(f"{bindir}/createdb", "-h", root, "-p", str(port), "-U", "qlop", "qlop")
        yield {"url": f"postgresql://qlop@127.0.0.1:{port}/qlop", "password": PG_PASSWORD}
    finally:
        subprocess.run(
            [*as_user, f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"], capture_output=True, timeout=120
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def java_runtime() -> str:
    """The java executable (for the pmml exporter's tests). Skips without one, except under
    ``QLOP_STRICT_JAVA=1`` (CI), where that is a failure: scripts/test.sh installs Debian's
    default-jre-headless."""
    import shutil

    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        reason = "no Java runtime (apt-get install default-jre-headless); the pmml exporter needs one"
        if os.environ.get("QLOP_STRICT_JAVA") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return java


@pytest.fixture(autouse=True)
def _keep_main_module():
    """Restore ``__main__`` after each test: Streamlit's AppTest runs a page as ``__main__`` from a temporary
    script, and a Dask worker started later by spawn would re-run that script and fail to start."""
    import sys

    main = sys.modules.get("__main__")
    attrs = {k: getattr(main, k) for k in ("__file__", "__spec__") if hasattr(main, k)}
    yield
    sys.modules["__main__"] = main
    for key in ("__file__", "__spec__"):
        if key in attrs:
            setattr(main, key, attrs[key])
        elif hasattr(main, key):
            delattr(main, key)
