"""The shipped example configs (``examples/*.toml`` of a QLOP checkout): one place that finds them.

``qlop demo`` runs the quickstart from here and the GUI's New run page offers every pipeline config
here as a starting point. Sweep files (a ``base`` and ``axes``, see docs/scale.md) live in the same
folder but are not pipeline configs, so :func:`example_configs` leaves them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qlop.errors import ConfigError

QUICKSTART = "quickstart"


def examples_dir() -> Path | None:
    """``examples/`` of the source tree QLOP runs from, else of the current directory, else None."""
    import qlop

    for candidate in (Path(qlop.__file__).resolve().parents[1] / "examples", Path.cwd() / "examples"):
        if (candidate / f"{QUICKSTART}.toml").is_file():
            return candidate
    return None


def quickstart_path() -> Path:
    """``examples/quickstart.toml``; a one-line error when QLOP runs outside a source checkout."""
    folder = examples_dir()
    if folder is None:
        raise ConfigError("examples/quickstart.toml not found: run `qlop demo` from a QLOP source checkout")
    return folder / f"{QUICKSTART}.toml"


@dataclass(frozen=True)
class Example:
    """One example pipeline config: its name (file stem), file and first comment line."""

    name: str
    path: Path
    summary: str

    def data(self) -> dict[str, Any]:
        """The config as plain data (parsed, not validated)."""
        from qlop.config import parse_config_text

        return parse_config_text(self.path.read_text(encoding="utf-8"), "toml", str(self.path))


def _summary(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line.strip():
            break
    return ""


def _is_sweep(text: str) -> bool:
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    return "axes" in data and "base" in data


def example_configs(folder: Path | None = None) -> list[Example]:
    """The pipeline configs among ``examples/*.toml``, the quickstart first, then by name."""
    folder = examples_dir() if folder is None else folder
    if folder is None or not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        if not _is_sweep(text):
            found.append(Example(path.stem, path, _summary(text)))
    return sorted(found, key=lambda e: (e.name != QUICKSTART, e.name))
