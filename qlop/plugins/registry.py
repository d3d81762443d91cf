"""Typed per-kind registries of components, built lazily from the registration hooks."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from qlop.errors import ComponentConflictError, ConfigError, UnknownComponentError
from qlop.plugins.specs import CommandSpec, ComponentSpec

S = TypeVar("S", ComponentSpec, CommandSpec)


@dataclass(frozen=True)
class Entry(Generic[S]):
    """A spec and the plugin that provided it."""

    spec: S
    plugin: str
    version: str | None


class Registry(Generic[S]):
    """All components of one kind. Duplicate names are kept and fail only when asked for."""

    def __init__(
        self,
        kind: str,
        entries: Iterable[Entry[S]],
        explain: Callable[[str], tuple[str | None, str | None]] | None = None,
    ) -> None:
        """``explain(name)`` -> ``(cause, note)`` for an unknown name: why it may be missing (a plugin
        that provided it is not loaded now), or a note appended to the error."""
        self.kind = kind
        self._explain = explain
        self._by_name: dict[str, list[Entry[S]]] = {}
        for entry in entries:
            self._by_name.setdefault(entry.spec.name, []).append(entry)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __len__(self) -> int:
        return len(self._by_name)

    def conflicts(self) -> dict[str, list[str]]:
        """Names offered by more than one plugin, with every provider."""
        return {n: [e.plugin for e in es] for n, es in sorted(self._by_name.items()) if len(es) > 1}

    def entry(self, name: str) -> Entry[S]:
        """The single entry for ``name``; a clear error for an unknown or clashing name."""
        entries = self._by_name.get(name)
        label = self.kind.replace("_", " ")
        if not entries:
            available = ", ".join(self.names()) or "none"
            cause, note = self._explain(name) if self._explain else (None, None)
            if cause:
                raise UnknownComponentError(f"unknown {label} {name!r}: {cause}. Available: {available}")
            close = difflib.get_close_matches(name, self.names(), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            tail = f". {note}" if note else ""
            raise UnknownComponentError(f"unknown {label} {name!r}.{hint} Available: {available}{tail}")
        if len(entries) > 1:
            providers = ", ".join(f"{e.plugin} ({e.version or 'unknown version'})" for e in entries)
            raise ComponentConflictError(
                f"{label} {name!r} is provided by several plugins: {providers}; "
                f"disable all but one with QLOP_DISABLE_PLUGINS"
            )
        return entries[0]

    def get(self, name: str) -> S:
        return self.entry(name).spec

    def entries(self) -> list[Entry[S]]:
        return [e for name in self.names() for e in self._by_name[name]]


def validate_params(
    spec: ComponentSpec, params: dict[str, Any] | BaseModel | None, field_path: str
) -> BaseModel | dict[str, Any]:
    """Validate ``params`` with the component's params model; errors name the full field path."""
    model = spec.load_params_model()
    if params is None:
        params = {}
    if model is None:
        return dict(params) if not isinstance(params, BaseModel) else params
    if isinstance(params, model):
        return params
    if isinstance(params, BaseModel):
        params = params.model_dump()
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        problems = validation_problems(exc, prefix=field_path)
        raise ConfigError("; ".join(problems), problems) from None


def _shown(value: Any) -> str:
    """A rejected value as the config author wrote it: ``true``, ``inf``, ``nan``, ``5000.0``, ``'x'``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """The problems of :func:`validation_problems` joined by '; ' (one line for the CLI)."""
    return "; ".join(validation_problems(exc, prefix))


def validation_problems(exc: ValidationError, prefix: str = "") -> list[str]:
    """One entry per problem: ``field.path: message``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        path = ".".join(p for p in (prefix, loc) if p)
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "unknown field"
        elif err.get("type") == "value_error" and msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]  # pydantic's prefix for a validator's own message
        elif isinstance(err.get("input"), (bool, int, float, str)) and err.get("type") != "missing":
            msg = f"{msg} (got {_shown(err['input'])})"
        parts.append(f"{path}: {msg}" if path else msg)
    return parts


def make_component(
    registry: Registry[ComponentSpec],
    name: str,
    params: dict[str, Any] | BaseModel | None,
    field_path: str,
    construct: Callable[[type, str, Any], Any] | None = None,
) -> Any:
    """Look up ``name``, validate its params and construct the component as ``cls(name, params)``."""
    spec = registry.get(name)
    validated = validate_params(spec, params, field_path)
    cls = spec.load()
    return construct(cls, name, validated) if construct else cls(name, validated)
