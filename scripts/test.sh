#!/usr/bin/env bash
# QLOP's test command: installs everything the suite needs on a fresh Debian machine, then runs it.
#   - the project with its dev extras (pip)
#   - PyTorch's CPU build and the qlop-torch plugin (plugins/qlop-torch), whose tests run with the suite
#   - Debian's chromium for the real-browser GUI tests (apt; playwright's own browser download cannot
#     work offline, so the tests drive /usr/bin/chromium), postgresql and default-jre-headless
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}

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
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing ${need[*]} and cannot install them here: the tests that need them will be skipped" >&2
  fi
fi

"$PYTHON" -m pip install -q --disable-pip-version-check -e ".[dev]"
# torch pinned first: the CPU build (about 190 MB, on this machine kind's disk); a bare `torch`
# requirement would pull a multi-GB CUDA build. The plugin's range (>=2.13,<2.14) is then satisfied.
"$PYTHON" -m pip install -q --disable-pip-version-check "torch==2.13.0"
"$PYTHON" -m pip install -q --disable-pip-version-check -e plugins/qlop-torch

exec "$PYTHON" -m pytest "$@"
