"""What stands for a plugin's code in a stage's cache key.

A wheel installed from an index or a file cannot change without being reinstalled, and a reinstall
that changes code normally changes the version: its name and version identify its code. An editable
install (PEP 610: ``direct_url.json`` with ``dir_info.editable``), a ``--plugins-dir`` file and a module
loaded with ``-p`` run straight from files the author keeps editing under the same version, so their
package files are hashed; otherwise an edited feature formula would come back "cached" with the old
values.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import sys
from importlib import metadata
from pathlib import Path

from qlop.plugins.records import SOURCE_BUILTIN, SOURCE_ENTRY_POINT, SOURCE_PLUGINS_DIR, PluginRecord

#: Folders and file suffixes left out of a package hash: byte-code caches and tool caches, which
#: change without the source changing.
_SKIP_DIRS = frozenset({"__pycache__"})
_SKIP_SUFFIXES = (".pyc", ".pyo")


def code_id(record: PluginRecord) -> str | None:
    """The cache-key value of a plugin: ``version`` for a wheel install, else ``[version+]sha256:HEX``
    of its package files (None when neither is known)."""
    if (
        record.source in (SOURCE_ENTRY_POINT, SOURCE_BUILTIN)
        and record.distribution
        and not is_editable(record.distribution)
    ):
        return record.version
    digest = source_hash(record)
    if digest is None:
        return record.version
    return f"{record.version}+sha256:{digest}" if record.version else f"sha256:{digest}"


@functools.cache
def is_editable(distribution: str) -> bool:
    """Whether ``distribution`` is installed in editable mode (PEP 610 ``dir_info.editable``).

    A distribution that cannot be found (a test double, a vanished install) counts as not editable:
    its name and version are all there is to go on.
    """
    try:
        text = metadata.distribution(distribution).read_text("direct_url.json")
    except (metadata.PackageNotFoundError, OSError, ValueError):
        return False
    if not text:
        return False
    try:
        info = json.loads(text)
    except ValueError:
        return False
    dir_info = info.get("dir_info") if isinstance(info, dict) else None
    return isinstance(dir_info, dict) and dir_info.get("editable") is True


def source_hash(record: PluginRecord) -> str | None:
    """sha256 over the files a plugin's code comes from, or None when they cannot be found.

    A ``--plugins-dir`` plugin is its one file. Any other plugin is its module's top-level package
    (all files below it, so helpers and data the plugin module imports are covered), found from the
    imported module, which for an editable install is the author's source tree.
    """
    if record.source == SOURCE_PLUGINS_DIR:
        return _hash_roots((record.path,)) if record.path else None
    roots = _package_roots(record.module) if record.module else ()
    if not roots and record.path:
        roots = (record.path,)
    return _hash_roots(tuple(roots)) if roots else None


def _package_roots(module_name: str) -> tuple[str, ...]:
    """Folders (a package, or each portion of a namespace package) or the file of ``module_name``'s
    top-level package, without importing anything that is not imported yet."""
    top = module_name.split(".", 1)[0]
    module = sys.modules.get(top)
    if module is not None:
        paths = list(getattr(module, "__path__", None) or [])
        if paths:
            return tuple(str(Path(p)) for p in paths)
        file = getattr(module, "__file__", None)
        return (file,) if file else ()
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return ()
    if spec is None:
        return ()
    if spec.submodule_search_locations:
        return tuple(str(Path(p)) for p in spec.submodule_search_locations)
    return (spec.origin,) if spec.origin and Path(spec.origin).is_file() else ()


def _hash_roots(roots: tuple[str, ...]) -> str | None:
    """sha256 over (relative path, content) of every file below ``roots`` (files hash themselves).

    Each file's own hash is reused while its size and modification time stay the same, so keying
    every stage of a run costs a directory walk, not a re-read of the package.
    """
    digest = hashlib.sha256()
    found = False
    for index, root in enumerate(sorted(set(roots))):
        path = Path(root)
        try:
            if path.is_file():
                files = [(path.name, path)]
            elif path.is_dir():
                files = sorted(
                    (p.relative_to(path).as_posix(), p)
                    for p in path.rglob("*")
                    if p.is_file() and not _skipped(p.relative_to(path))
                )
            else:
                continue
            for rel, file in files:
                digest.update(f"{index}/{rel}\0".encode())
                digest.update(_file_digest(file))
                found = True
        except OSError:
            return None
    return digest.hexdigest() if found else None


_FILE_DIGESTS: dict[tuple[str, int, int, int], bytes] = {}


def _file_digest(path: Path) -> bytes:
    st = path.stat()
    key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    cached = _FILE_DIGESTS.get(key)
    if cached is None:
        cached = _FILE_DIGESTS[key] = hashlib.sha256(path.read_bytes()).digest()
    return cached


def _skipped(rel: Path) -> bool:
    parts = rel.parts
    return any(p in _SKIP_DIRS or p.startswith(".") for p in parts) or rel.suffix in _SKIP_SUFFIXES
