#!/usr/bin/env bash
# QLOP's test command: installs everything the suite needs on a fresh Debian machine, then runs it.
#   - the project with its dev extras (pip)
#   - Debian's chromium for the real-browser GUI tests (apt; playwright's own browser download cannot
#     work offline, so the tests drive /usr/bin/chromium)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian chromium for the browser tests..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium not found and cannot be installed here: browser tests will be skipped" >&2
  fi
fi

"$PYTHON" -m pip install -q --disable-pip-version-check -e ".[dev]"

exec "$PYTHON" -m pytest "$@"
