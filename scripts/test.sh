#!/usr/bin/env bash
# QLOP's test command: installs everything the suite needs on a fresh Debian machine, then runs it.
#   - the project with its dev extras (pip)
#   - PyTorch's CPU build and the qlop-torch plugin (plugins/qlop-torch), whose tests run with the suite
#   - Debian's chromium for the real-browser GUI tests (apt; playwright's own browser download cannot
#     work offline, so the tests drive /usr/bin/chromium), postgresql and default-jre-headless
#   Quick subset while working (about 5 minutes on 2 cores): bash scripts/test.sh -m "not slow and not browser"
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
#: Seconds to wait for another apt/dpkg run (unattended-upgrades, a second terminal) to finish.
APT_WAIT=${APT_WAIT:-600}

# apt-get install waits for the dpkg lock with DPkg::Lock::Timeout, but `apt-get update` does not wait
# for its own lock on the package lists: retry it while another apt run holds that lock.
apt_update() {
  local waited=0 out
  while ! out=$(apt-get -o DPkg::Lock::Timeout="$APT_WAIT" update -qq 2>&1); do
    if ! grep -q "Could not get lock" <<<"$out" || [ "$waited" -ge "$APT_WAIT" ]; then
      echo "$out" >&2
      return 1
    fi
    [ "$waited" -eq 0 ] && echo "Waiting for another apt run to release the package lists (up to ${APT_WAIT}s)..."
    sleep 5
    waited=$((waited + 5))
  done
}

# pip into this Python; if Debian manages it (PEP 668: "externally-managed-environment"), say how to
# make a virtual environment instead of failing with pip's long message alone.
pip_install() {
  local out
  if ! out=$("$PYTHON" -m pip install -q --disable-pip-version-check "$@" 2>&1); then
    echo "$out" >&2
    if grep -q "externally-managed-environment" <<<"$out"; then
      cat >&2 <<'MSG'

This Python's packages are managed by the system (PEP 668), so pip may not install into it.
Run the tests from a virtual environment instead:
    sudo apt-get install python3-venv        # Debian/Ubuntu: venv is a separate package
    python3 -m venv .venv && . .venv/bin/activate
    bash scripts/test.sh
MSG
    fi
    return 1
  fi
  [ -z "$out" ] || echo "$out"
}

# Debian packages the suite needs: chromium (browser tests), postgresql (the sql source's tests start
# a throwaway server from its binaries), default-jre-headless (the pmml exporter's converter and
# evaluator run on Java). Installed once; waits for another apt/dpkg run instead of failing.
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian packages for the tests: ${need[*]}..."
    export DEBIAN_FRONTEND=noninteractive
    apt_update
    apt-get -o DPkg::Lock::Timeout="$APT_WAIT" install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing ${need[*]} and cannot install them here: the tests that need them will be skipped" >&2
  fi
fi

pip_install -e ".[dev]"
# torch pinned first: the CPU build (about 190 MB, on this machine kind's disk); a bare `torch`
# requirement would pull a multi-GB CUDA build. The plugin's range (>=2.13,<2.14) is then satisfied.
pip_install "torch==2.13.0"
pip_install -e plugins/qlop-torch

# Code-quality gates (configured in pyproject.toml): lint, formatting, and types of the plugin core
# and the public API. A few seconds; a finding stops the run before the suite.
"$PYTHON" -m ruff check --quiet .
"$PYTHON" -m ruff format --check --quiet .
"$PYTHON" -m mypy --no-error-summary

# The suite runs on pytest-xdist workers, one more than the machine's cores, up to 4 (worksteal: a few
# end-to-end tests take a minute while most take milliseconds). A good part of its time is spent
# waiting on subprocesses, browsers and servers (each test starts its own, on free ports), so the
# extra worker keeps the cores busy: on 2 cores 3 workers took 14.6 min, 2 workers 15.6-16.5, one
# process about 19. QLOP_TEST_WORKERS=1 runs in one process; passing -n yourself (or -p no:xdist)
# overrides both.
workers=${QLOP_TEST_WORKERS:-}
if [ -z "$workers" ]; then
  cores=$(nproc 2>/dev/null || echo 1)
  workers=$((cores + 1 < 4 ? cores + 1 : 4))
fi
parallel=()
if [ "$workers" -gt 1 ]; then
  parallel=(-n "$workers" --dist worksteal)
  for arg in "$@"; do
    case "$arg" in -n* | --numprocesses* | --dist* | no:xdist) parallel=() ;; esac
  done
fi
exec "$PYTHON" -m pytest ${parallel[@]+"${parallel[@]}"} "$@"
