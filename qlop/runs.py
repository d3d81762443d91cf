"""Run directories: the resolved config, the manifest, and the per-stage content-hash cache.

A stage's cache key hashes the config sections it depends on, the content of its upstream artefacts,
the code of the plugins providing its components (version, or a hash of an editable or local plugin's
files) and QLOP's version. A stage is reused when a
run directory's manifest records it completed under the same key and its outputs still hash to what
was recorded: in place (rerun into the same directory) or hard-linked from another run under the
same runs folder (a new run with an unchanged prefix of the pipeline). Artefacts are only ever
replaced atomically (:mod:`qlop.atomic`), so hard links between runs are safe to share.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import platform
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlop.atomic import atomic_dir, atomic_path, sha256_file, sha256_json, write_json
from qlop.layout import RunLayout, iter_run_dirs
from qlop.layout import new_run_dir as _new_layout_dir

MANIFEST_FORMAT = 1

#: Stages in run order.
STAGES = ("data", "features", "train", "backtest", "export")
#: Config entries each stage's output depends on (its own section and everything upstream).
STAGE_CONFIG: dict[str, tuple[str, ...]] = {
    "data": ("data",),
    "features": ("data", "features", "label"),
    "train": ("data", "features", "label", "model", "seed"),
    "backtest": ("data", "features", "label", "model", "backtest", "seed"),
    "export": ("data", "features", "label", "model", "export", "seed"),
}
#: Upstream stages whose artefacts a stage reads.
STAGE_INPUTS: dict[str, tuple[str, ...]] = {
    "data": (),
    "features": ("data",),
    "train": ("data", "features"),
    "backtest": ("data", "features", "train"),
    "export": ("data", "features", "train"),
}
#: Libraries whose versions go into every manifest (read from metadata, nothing imported).
LIBRARIES = (
    "pandas",
    "numpy",
    "pyarrow",
    "pydantic",
    "pluggy",
    "click",
    "xgboost",
    "scikit-learn",
    "onnx",
    "onnxmltools",
    "skl2onnx",
    "onnxruntime",
    "ta-lib",
    "yfinance",
    "websockets",
    "rich",
)


class RunInterrupted(BaseException):
    """Raised in the main thread on SIGTERM (SIGINT raises ``KeyboardInterrupt``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def stage_enabled(config: Any, stage: str) -> bool:
    """Data always runs; every other stage runs only when its config section is present."""
    if stage == "data":
        return True
    if stage == "features":
        return config.features is not None or config.label is not None
    return getattr(config, {"train": "model"}.get(stage, stage)) is not None


def config_hash(config: Any) -> str:
    """Hash of everything that shapes results (not the name, runs folder or plugins folder)."""
    dumped = config.model_dump(mode="json")
    for key in ("name", "runs_dir", "plugins_dir"):
        dumped.pop(key, None)
    return sha256_json(dumped)


def new_run_dir(runs_dir: str | Path, config: Any, now: dt.datetime | None = None) -> Path:
    """A new run directory for ``qlop run``: its id is tagged with the config hash (see :mod:`qlop.layout`)."""
    return _new_layout_dir(runs_dir, config_hash(config), now)


@functools.cache
def _library_versions() -> tuple[tuple[str, str | None], ...]:
    from importlib import metadata

    versions: list[tuple[str, str | None]] = []
    for name in LIBRARIES:
        try:
            versions.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            versions.append((name, None))
    return tuple(versions)


def library_versions() -> dict[str, str | None]:
    """Versions of :data:`LIBRARIES` (read from metadata once per process: a run's libraries cannot
    change under it, and a sweep worker writes many manifests)."""
    return dict(_library_versions())


def environment() -> dict[str, Any]:
    from qlop import __version__

    return {
        "qlop_version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "libraries": library_versions(),
    }


# -- hashing ---------------------------------------------------------------------------------


def hash_path(path: str | Path) -> str:
    """sha256 of a file, or of a directory's sorted (relative path, file sha256) list."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return sha256_json([[p.relative_to(path).as_posix(), sha256_file(p)] for p in files])
    return sha256_file(path)


def stage_plugins(config: Any, stage: str, manager: Any) -> dict[str, str | None]:
    """Plugins that provide the components a stage uses, each mapped to what identifies its code
    (:func:`qlop.plugins.fingerprint.code_id`: the version of a wheel, a hash of the files of an
    editable or local plugin): part of the stage's cache key."""
    from qlop.plugins.fingerprint import code_id

    wanted: list[tuple[str, str]] = []
    if stage == "data":
        wanted.append(("data_source", config.data.data_source_type))
    elif stage == "features":
        if config.features:
            wanted += [("feature_step", s.step_type) for s in config.features.steps]
        if config.label:
            wanted.append(("label", config.label.label_type))
    elif stage == "train" and config.model:
        wanted.append(("model", config.model.model_type))
    elif stage == "backtest" and config.backtest:
        wanted.append(("strategy", config.backtest.strategy_type))
        if config.backtest.benchmark is not None:
            wanted.append(("data_source", config.backtest.benchmark.data_source_type))
    elif stage == "export" and config.export:
        wanted.append(("exporter", config.export.format_name))
        if config.model:
            wanted.append(("model", config.model.model_type))
    found: dict[str, str | None] = {}
    for kind, name in wanted:
        try:
            record = manager.provider(kind, name)
        except Exception:  # noqa: BLE001 - an unknown component fails later, in the stage itself
            continue
        if record.name not in found:  # ten feature steps of one plugin: its code is hashed once
            found[record.name] = code_id(record)
    return dict(sorted(found.items()))


def data_source_token(config: Any, manager: Any) -> str | None:
    """The data source's own ``cache_token()`` (e.g. the state of local files), so the data stage
    reruns when its source changes; ``None`` when the source has none or cannot say."""
    return _source_token(manager, config.data.data_source_type, config.data.data_source_params)


def benchmark_token(config: Any, manager: Any) -> str | None:
    """The benchmark source's ``cache_token()``, so the backtest reruns when the benchmark's data changes."""
    bench = config.backtest.benchmark if config.backtest is not None else None
    return None if bench is None else _source_token(manager, bench.data_source_type, bench.data_source_params)


def rate_series_tokens(config: Any, stage: str, manager: Any) -> dict[str, str]:
    """The ``cache_token()`` of each rate series a stage reads (``[backtest]`` rates in the backtest, the
    label's financing rate in the features stage), keyed ``rate:<field>``: a stage reruns when the
    data of one of its rate series changes, not only when the config does."""
    refs: dict[str, Any] = {}
    if stage == "backtest" and config.backtest is not None:
        from qlop.config import rate_series_of

        refs = {f"backtest.{k}": v.model_dump() for k, v in rate_series_of(config.backtest).items()}
    elif stage == "features" and config.label is not None:
        params = config.label.label_params or {}
        refs = {
            f"label.label_params.{k}": params[k]
            for k in ("financing_rate", "risk_free", "cash_rate")
            if isinstance(params.get(k), dict) and "data_source_type" in params[k]
        }
    tokens: dict[str, str] = {}
    for term, ref in refs.items():
        token = _source_token(manager, ref.get("data_source_type", "csv"), ref.get("data_source_params") or {})
        if token is not None:
            tokens[f"rate:{term}"] = token
    return tokens


def _source_token(manager: Any, source_type: str, params: Any) -> str | None:
    try:
        source = manager.create("data_source", source_type, params, "data_source_params")
        token = source.cache_token()
        return None if token is None else str(token)
    except Exception:  # noqa: BLE001 - the data stage itself reports a broken source
        return None


@functools.cache
def code_fingerprint() -> str:
    """sha256 of QLOP's own Python sources: ``qlop`` and its bundled plugins' packages, the GUI excluded.

    The version number alone does not change when the code does (an editable install, a local fix), so
    without this a stage would stay "cached" with the old code's results. Hashing ~130 files costs a few
    milliseconds once per process.
    """
    import qlop

    roots = {"qlop": Path(qlop.__file__).resolve().parent, **bundled_package_roots()}
    return source_tree_hash(roots)


def bundled_package_roots() -> dict[str, Path]:
    """Folder of each package that holds bundled plugins (:data:`qlop.plugins.discovery.BUILTIN_PLUGINS`),
    located by name without importing it; a package that cannot be found (not installed, blocked) is
    left out."""
    import importlib.util

    from qlop.plugins.discovery import BUILTIN_PLUGINS

    roots: dict[str, Path] = {}
    for top in sorted({name.partition(".")[0] for name in BUILTIN_PLUGINS}):
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            spec = None
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        if locations:
            roots[top] = Path(locations[0]).resolve()
    return roots


def source_tree_hash(roots: Mapping[str, Path], exclude: tuple[str, ...] = ("gui",)) -> str:
    """sha256 over every ``*.py`` below each root (by relative path and content), top-level folders in
    ``exclude`` left out."""
    entries = []
    for name, root in sorted(roots.items()):
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root)
            if rel.parts[0] not in exclude:
                entries.append([f"{name}/{rel.as_posix()}", sha256_file(path)])
    return sha256_json(entries)


def cache_key(config: Any, stage: str, inputs: Mapping[str, str], plugins: Mapping[str, str | None]) -> str:
    from qlop import __version__

    return sha256_json(
        {
            "stage": stage,
            "config": config.stage_dict(*STAGE_CONFIG[stage]),
            "inputs": dict(sorted(inputs.items())),
            "plugins": dict(plugins),
            "qlop": __version__,
            "code": code_fingerprint(),
        }
    )


# -- manifests -------------------------------------------------------------------------------

#: The key of ``manifest.json`` holding the digest of the rest of its content.
MANIFEST_SIGNATURE = "manifest_sha256"


@dataclass
class ManifestRead:
    """A run manifest as read: its content with every malformed part left out (``data``; None when the
    file cannot be read as a JSON object) and what is wrong with it (``problem``; None when intact)."""

    path: Path
    data: dict[str, Any] | None
    problem: str | None = None

    @property
    def trusted(self) -> bool:
        """Intact: safe to reuse cached stages from and to resume."""
        return self.data is not None and self.problem is None


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _clean_manifest(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``data`` with the parts QLOP reads made well-typed (malformed ones dropped), and what was dropped."""
    dropped: list[str] = []
    clean = dict(data)
    for key in (
        "status",
        "error",
        "name",
        "started_utc",
        "finished_utc",
        "created_utc",
        "config_hash",
        "qlop_version",
        "python",
        "run_id",
        "task_id",
    ):
        if key in clean and clean[key] is not None and not isinstance(clean[key], str):
            dropped.append(key)
            clean.pop(key)
    for key in ("seconds", "attempts"):
        if (
            key in clean
            and clean[key] is not None
            and (isinstance(clean[key], bool) or not isinstance(clean[key], (int, float)))
        ):
            dropped.append(key)
            clean.pop(key)
    for key in ("libraries", "inputs", "outputs", "timings"):
        if key in clean and not isinstance(clean[key], dict):
            dropped.append(key)
            clean.pop(key)
    if "plugins" in clean:
        plugins = clean["plugins"] if isinstance(clean["plugins"], list) else []
        kept = [p for p in plugins if isinstance(p, dict) and isinstance(p.get("name"), str)]
        if not isinstance(clean["plugins"], list) or len(kept) != len(plugins):
            dropped.append("plugins")
        clean["plugins"] = kept
    if "stages" in clean:
        stages = {}
        for stage, record in _table(clean["stages"]).items():
            if not isinstance(record, dict):
                dropped.append(f"stages.{stage}")
                continue
            record = dict(record)
            outputs = record.get("outputs")
            if outputs is not None:
                good = {
                    n: o
                    for n, o in _table(outputs).items()
                    if isinstance(o, dict) and isinstance(o.get("path"), str) and isinstance(o.get("sha256"), str)
                }
                if not isinstance(outputs, dict) or len(good) != len(outputs):
                    dropped.append(f"stages.{stage}.outputs")
                    record["status"] = "damaged"  # its recorded outputs cannot be trusted
                record["outputs"] = good
            for key in ("status", "error", "key", "cached_from"):
                if record.get(key) is not None and not isinstance(record[key], str):
                    dropped.append(f"stages.{stage}.{key}")
                    record.pop(key)
            stages[str(stage)] = record
        if not isinstance(clean["stages"], dict):
            dropped.append("stages")
        clean["stages"] = stages
    return clean, dropped


def load_manifest(run_dir: str | Path) -> ManifestRead:
    """Read ``manifest.json`` without trusting it: a missing or unreadable file, invalid JSON, a
    signature that no longer matches (edited after QLOP wrote it) and malformed parts are reported in
    ``problem`` (one line), never raised; ``data`` keeps what can still be read safely."""
    path = RunLayout(run_dir).manifest
    if not path.is_file():
        return ManifestRead(path, None, "not found: not a run directory")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        from qlop.errors import file_error

        return ManifestRead(path, None, str(file_error(exc, path, "read")).split(": ", 1)[-1])
    except ValueError as exc:
        return ManifestRead(path, None, f"damaged: not valid JSON ({str(exc).splitlines()[0]})")
    if not isinstance(data, dict):
        return ManifestRead(path, None, "damaged: not a JSON object")
    problems = []
    signature = data.get(MANIFEST_SIGNATURE)
    if signature is not None and signature != sha256_json({k: v for k, v in data.items() if k != MANIFEST_SIGNATURE}):
        problems.append(f"edited after QLOP wrote it (its content no longer matches its {MANIFEST_SIGNATURE})")
    clean, dropped = _clean_manifest(data)
    if dropped:
        problems.append(
            "malformed " + ", ".join(dropped[:4]) + (f" and {len(dropped) - 4} more" if len(dropped) > 4 else "")
        )
    return ManifestRead(path, clean, "damaged: " + "; ".join(problems) if problems else None)


def read_manifest(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's manifest when it is intact (None when missing, unreadable, edited or malformed): what the
    cache and a resumed run may trust."""
    read = load_manifest(run_dir)
    return read.data if read.trusted else None


def write_manifest(run_dir: str | Path, manifest: Mapping[str, Any]) -> None:
    """Write the manifest atomically, signed with the digest of its content (:data:`MANIFEST_SIGNATURE`)."""
    data = json.loads(json.dumps({k: v for k, v in manifest.items() if k != MANIFEST_SIGNATURE}, default=str))
    data[MANIFEST_SIGNATURE] = sha256_json(data)
    write_json(RunLayout(run_dir).manifest, data)


def relative_outputs(run_dir: Path, outputs: Mapping[str, str | Path]) -> dict[str, dict[str, str]]:
    """Artefact name -> {path relative to the run dir, sha256}."""
    recorded: dict[str, dict[str, str]] = {}
    root = run_dir.resolve()
    for name, path in outputs.items():
        p = Path(path)
        full = p if p.is_absolute() else (run_dir / p if not p.exists() else p)
        full = full.resolve()
        try:
            rel = full.relative_to(root).as_posix()
        except ValueError:
            rel = str(full)
        recorded[name] = {"path": rel, "sha256": hash_path(full)}
    return recorded


def outputs_valid(run_dir: Path, outputs: Mapping[str, Mapping[str, str]]) -> bool:
    """Every recorded artefact exists and still has the recorded content."""
    try:
        return all(hash_path(run_dir / o["path"]) == o["sha256"] for o in outputs.values())
    except (OSError, KeyError, TypeError):
        return False


def _manifest_mtime(run_dir: Path) -> float:
    try:
        return RunLayout(run_dir).manifest.stat().st_mtime
    except OSError:
        return 0.0


def find_cached(
    stage: str,
    key: str,
    run_dir: Path,
    search: list[Path],
    own_manifest: Mapping[str, Any] | None = None,
    sources: Sequence[Path] = (),
) -> tuple[Path, dict[str, Any]] | None:
    """``(source run dir, recorded stage)`` of a valid completed stage under ``key``; own dir first,
    then the run dirs in ``sources`` (a sweep names the exact directories its stages ran in), then
    every run dir under the ``search`` folders.

    ``own_manifest`` is the run dir's manifest as it was before this attempt started rewriting it.
    """
    own = run_dir.resolve()
    others = [
        d for root in search for d in sorted(iter_run_dirs(root), key=_manifest_mtime, reverse=True)
    ]  # newest first
    candidates = (
        [run_dir] + [Path(d) for d in sources if Path(d).resolve() != own] + [d for d in others if d.resolve() != own]
    )
    for candidate in candidates:
        manifest = own_manifest if candidate == run_dir else read_manifest(candidate)
        if not manifest:
            continue
        record = (manifest.get("stages") or {}).get(stage) or {}
        if record.get("key") != key or record.get("status") not in ("completed", "cached"):
            continue
        outputs = record.get("outputs") or {}
        if (
            outputs
            and all(not Path(o["path"]).is_absolute() for o in outputs.values())
            and outputs_valid(candidate, outputs)
        ):
            return candidate, record
    return None


def _link_tree(src: Path, dst: Path) -> None:
    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=link)


def import_outputs(src_dir: Path, dst_dir: Path, outputs: Mapping[str, Mapping[str, str]]) -> None:
    """Hard-link (or copy) a cached stage's artefacts into ``dst_dir``, each one atomically."""
    for out in outputs.values():
        src, dst = src_dir / out["path"], dst_dir / out["path"]
        if src.is_dir():
            with atomic_dir(dst) as tmp:
                tmp.rmdir()
                _link_tree(src, tmp)
        else:
            with atomic_path(dst) as tmp:
                tmp.unlink()
                try:
                    os.link(src, tmp)
                except OSError:
                    shutil.copy2(src, tmp)


def remove_outputs(run_dir: Path, outputs: Mapping[str, Mapping[str, str]], keep: set[str] = frozenset()) -> None:
    """Delete recorded artefacts that no longer match the config (never anything outside the run dir)."""
    root = run_dir.resolve()
    for out in outputs.values():
        rel = out.get("path", "")
        if not rel or rel in keep or Path(rel).is_absolute():
            continue
        target = (run_dir / rel).resolve()
        if root not in target.parents:
            continue
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        elif target.exists():
            target.unlink()


def leftover_temp_files(run_dir: str | Path) -> list[Path]:
    """Temporary files or directories an atomic write would leave if killed hard (``.<name>.*.tmp``)."""
    return sorted(p for p in Path(run_dir).rglob(".*") if ".tmp" in p.name or p.name.endswith(".old"))


# -- the run lister (``qlop runs list/show`` and the GUI's Runs page) ----------------------------


@dataclass
class RunSummary:
    """What a listing shows about one run directory, read from its manifest and backtest metrics."""

    run_dir: Path
    name: str | None
    status: str
    started_utc: str | None
    finished_utc: str | None
    seconds: float | None
    #: stage -> status, in run order
    stages: dict[str, str | None]
    #: ``backtest/metrics.json`` (empty when the run has no backtest)
    metrics: dict[str, Any]
    error: str | None
    manifest: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @property
    def started(self) -> float:
        """When the run started, in seconds since the epoch (the manifest's time when not recorded)."""
        for value in (self.started_utc, self.manifest.get("created_utc"), self.finished_utc):
            if isinstance(value, str):
                try:
                    stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                except ValueError:
                    continue
                return (stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)).timestamp()
        return _manifest_mtime(self.run_dir)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "run_id": self.run_id,
            "name": self.name,
            "status": self.status,
            "started_utc": self.started_utc,
            "finished_utc": self.finished_utc,
            "seconds": self.seconds,
            "stages": self.stages,
            "metrics": self.metrics,
            "error": self.error,
        }


def _read_json_dict(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run_summary(run_dir: str | Path) -> RunSummary:
    """What ``qlop runs list`` and the GUI show of a run; a damaged manifest gives status ``damaged`` and
    the problem as the error, with whatever could still be read."""
    layout = RunLayout(run_dir)
    read = load_manifest(layout.root)
    manifest = read.data or {}
    stages = manifest.get("stages") or {}
    name = manifest.get("name") or _read_json_dict(layout.config).get("name")
    damaged = read.problem is not None and layout.manifest.is_file()
    return RunSummary(
        run_dir=layout.root,
        name=name,
        status="damaged" if damaged else str(manifest.get("status", "unknown")),
        started_utc=manifest.get("started_utc"),
        finished_utc=manifest.get("finished_utc"),
        seconds=manifest.get("seconds"),
        stages={s: r.get("status") for s, r in stages.items()},
        metrics=_read_json_dict(layout.backtest_metrics),
        error=f"{RunLayout.MANIFEST}: {read.problem}" if damaged else manifest.get("error"),
        manifest=manifest,
    )


def list_runs(runs_dir: str | Path) -> list[RunSummary]:
    """Every run directory under ``runs_dir`` (one with a manifest), newest first."""
    found = [run_summary(d) for d in iter_run_dirs(runs_dir)]
    return sorted(found, key=lambda r: (r.started, r.run_id), reverse=True)
