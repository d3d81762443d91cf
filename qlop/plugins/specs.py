"""Spec records: what a plugin hands to QLOP when it registers a component.

A spec is a small frozen record. Its ``factory`` may be the class itself or a ``"pkg.mod:Class"`` string
resolved on first use, so that registering a component never imports heavy libraries (xgboost, onnx,
...). ``params_model`` follows the same rule.
"""

from __future__ import annotations

import pkgutil
from dataclasses import dataclass, field
from typing import Any

#: The plugin API version this QLOP implements. A spec's ``api`` range must include it.
PLUGIN_API_VERSION = 1

#: Component kinds, in pipeline order, mapped to the registration hook that provides them.
KINDS: dict[str, str] = {
    "data_source": "qlop_register_data_source",
    "feature_step": "qlop_register_feature_step",
    "label": "qlop_register_label",
    "model": "qlop_register_model",
    "strategy": "qlop_register_strategy",
    "exporter": "qlop_register_exporter",
    "command": "qlop_register_commands",
}


def resolve_target(target: Any) -> Any:
    """Return ``target`` itself, or import it when it is a ``"pkg.mod:attr"`` string
    (:func:`pkgutil.resolve_name`; the colon is required, so a typo cannot silently name a module)."""
    if not isinstance(target, str):
        return target
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected 'package.module:attribute', got {target!r}")
    try:
        return pkgutil.resolve_name(target)
    except ValueError:  # pkgutil's own message ("invalid format") does not say what is expected
        raise ValueError(f"expected 'package.module:attribute', got {target!r}") from None


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"component name must be a non-empty identifier-like string, got {name!r}")


@dataclass(frozen=True)
class ComponentSpec:
    """One component (a data source, feature step, label, model, strategy or exporter).

    ``api`` is the inclusive range of plugin-API versions the component was written for.
    """

    name: str
    factory: Any
    summary: str = ""
    params_model: Any = None
    api: tuple[int, int] = (1, 1)
    _resolved: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.factory is None:
            raise ValueError(f"component {self.name!r} has no factory")
        lo, hi = self.api
        if not (isinstance(lo, int) and isinstance(hi, int) and lo <= hi):
            raise ValueError(f"component {self.name!r} has an invalid api range {self.api!r}")

    @property
    def api_compatible(self) -> bool:
        lo, hi = self.api
        return lo <= PLUGIN_API_VERSION <= hi

    def load(self) -> type:
        """The component class, imported on first use."""
        if "factory" not in self._resolved:
            self._resolved["factory"] = resolve_target(self.factory)
        return self._resolved["factory"]

    def load_params_model(self) -> Any:
        """The pydantic params model: the spec's own, else the class's ``params_model`` attribute."""
        if "params" not in self._resolved:
            model = resolve_target(self.params_model) if self.params_model is not None else None
            if model is None:
                model = getattr(self.load(), "params_model", None)
            self._resolved["params"] = model
        return self._resolved["params"]


@dataclass(frozen=True)
class CommandSpec:
    """A CLI command contributed by a plugin; ``target`` is a click command or ``"pkg.mod:attr"``."""

    name: str
    target: Any
    summary: str = ""
    api: tuple[int, int] = (1, 1)
    _resolved: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_name(self.name)

    @property
    def api_compatible(self) -> bool:
        lo, hi = self.api
        return lo <= PLUGIN_API_VERSION <= hi

    def load(self) -> Any:
        if "target" not in self._resolved:
            self._resolved["target"] = resolve_target(self.target)
        return self._resolved["target"]
