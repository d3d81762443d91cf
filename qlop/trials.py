"""The trials ledger: how many distinct configurations of one experiment were ever backtested.

The best of many backtests looks good by luck alone; the deflated Sharpe ratio corrects for that only
if it knows how many were tried, and researchers forget the one-off iterations. So every backtested
config is recorded, by ``qlop run`` and by every variant of ``qlop sweep``, in one ledger per
experiment ``name`` in the config's runs folder: ``<runs_dir>/trials/<name>.json``. A trial is a
distinct hash of what shapes the backtest (data, features, label, model, backtest, seed), so rerunning
the same config is not a new trial and an export-only change is not either.

The ledger is rewritten atomically under a lock file (concurrent runs of one experiment both count).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from qlop.atomic import sha256_json, write_json

LEDGER_DIR = "trials"
LEDGER_FORMAT = 1


def trial_hash(config: Any) -> str:
    """Hash of the sections that shape a backtest's result (not the name, runs folder or export)."""
    from qlop.runs import STAGE_CONFIG

    return sha256_json(config.stage_dict(*STAGE_CONFIG["backtest"]))


def ledger_path(runs_dir: str | Path, name: str) -> Path:
    """``<runs_dir>/trials/<name>.json`` (a name that is not file-safe gets a safe form plus a hash)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "unnamed"
    if safe != name:
        safe = f"{safe[:80]}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}"
    return Path(runs_dir) / LEDGER_DIR / f"{safe}.json"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a+b") as fh:
        try:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        except (ImportError, OSError):  # no flock (Windows, some network filesystems): best effort
            pass
        yield


def read_ledger(runs_dir: str | Path, name: str) -> dict[str, Any]:
    import json

    path = ledger_path(runs_dir, name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("trials"), dict):
        data = {"format": LEDGER_FORMAT, "name": name, "trials": {}}
    return data


def count_trials(runs_dir: str | Path, name: str) -> int:
    """Distinct backtested configs of ``name`` recorded so far."""
    return len(read_ledger(runs_dir, name)["trials"])


def record_trials(runs_dir: str | Path, name: str, trials: Iterable[Mapping[str, Any]]) -> int:
    """Add trials (each ``{"config_hash", "run_dir", "source", "sharpe"?}``) and return the count.

    A hash already in the ledger keeps its first sighting and counts its runs; it is not a new trial.
    """
    from qlop.runs import utc_now

    path = ledger_path(runs_dir, name)
    with _locked(path):
        data = read_ledger(runs_dir, name)
        now = utc_now()
        for trial in trials:
            entry = data["trials"].setdefault(trial["config_hash"], {"first_utc": now, "runs": 0})
            entry["runs"] = int(entry.get("runs") or 0) + 1
            entry["last_utc"] = now
            entry["last_run_dir"] = str(trial.get("run_dir") or "")
            entry["source"] = trial.get("source", "run")
            if trial.get("sharpe") is not None:
                entry["sharpe"] = trial["sharpe"]
        write_json(path, data)
        return len(data["trials"])


def record_run(config: Any, run_dir: str | Path, source: str = "run") -> int | None:
    """Record a finished run that backtested; return the experiment's trial count (None: no backtest)."""
    import json

    if config.backtest is None:
        return None
    sharpe = None
    from qlop.layout import RunLayout

    metrics_path = RunLayout(run_dir).backtest_metrics
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sharpe = json.loads(metrics_path.read_text(encoding="utf-8")).get("sharpe")
    return record_trials(
        config.runs_dir,
        config.name,
        [{"config_hash": trial_hash(config), "run_dir": str(run_dir), "source": source, "sharpe": sharpe}],
    )
