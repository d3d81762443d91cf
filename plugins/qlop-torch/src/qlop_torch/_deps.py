"""Is PyTorch usable? Answered without importing it.

Plugin discovery imports this package for every ``qlop`` command, so the check must stay cheap: torch's
own import takes about a second and ``qlop predict --bundle`` must never load it. What can be seen from
the file system is checked: the package is there, its installed version is one this plugin supports,
and its compiled core (``torch/_C*.so``) is present. A torch that passes these and still fails to import
is reported when a model first uses it, naming the model.
"""

from __future__ import annotations

import importlib.util
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

#: the PyTorch releases this plugin is built and tested against (pyproject.toml says the same)
SUPPORTED = ((2, 13), (2, 14))
INSTALL = "pip install torch==2.13.0"
REINSTALL = "pip install --force-reinstall torch==2.13.0"


def _release(text: str) -> tuple[int, ...]:
    """``"2.13.0+cpu"`` -> ``(2, 13, 0)``."""
    parts = []
    for piece in text.split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def torch_problem() -> str | None:
    """One line saying what is wrong with the installed PyTorch and how to fix it, or None."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return f"PyTorch is not installed; install its CPU build: {INSTALL}"
    where = Path(next(iter(spec.submodule_search_locations)))
    try:
        installed = version("torch")
    except PackageNotFoundError:
        return f"PyTorch at {where} has no package metadata (a broken install); reinstall it: {REINSTALL}"
    lo, hi = SUPPORTED
    if not lo <= _release(installed)[:2] < hi:
        return f"PyTorch {installed} is installed, qlop-torch needs torch>={lo[0]}.{lo[1]},<{hi[0]}.{hi[1]}: {INSTALL}"
    if not any(where.glob("_C.*so")) and not any(where.glob("_C.*pyd")):
        return f"PyTorch at {where} is broken (its compiled core torch._C is missing); reinstall it: {REINSTALL}"
    return None
