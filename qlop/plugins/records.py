"""QLOP's own provenance record of each plugin (never pluggy's private attributes)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Status values, in the order ``plugins list`` explains them.
ACTIVE = "active"
FAILED = "failed"  # raised at import, or returned invalid specs
INCOMPATIBLE = "incompatible"  # unknown hook (typo), bad hookimpl signature, unsupported plugin API
DISABLED = "disabled"  # blocked by a selection control before import

# Sources, in discovery order.
SOURCE_BUILTIN = "builtin"
SOURCE_ENTRY_POINT = "entry-point"
SOURCE_PLUGINS_DIR = "plugins-dir"
SOURCE_CLI = "cli"


@dataclass
class PluginRecord:
    """Where a plugin came from, whether it works, and what it provides."""

    name: str
    source: str
    module: str | None = None
    distribution: str | None = None
    version: str | None = None
    path: str | None = None
    status: str = ACTIVE
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    provides: dict[str, list[str]] = field(default_factory=dict)

    def mark(self, status: str, error: str) -> None:
        """Record a problem; the first one wins because later ones are usually its consequences."""
        if self.status == ACTIVE:
            self.status = status
            self.error = error

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["provides"] = {k: sorted(v) for k, v in sorted(self.provides.items())}
        return data
