"""Config handling for the GUI: the same validation as ``qlop config validate``, on data only.

A config pasted or uploaded into the page is parsed with ``tomllib``, ``json`` or ``yaml.safe_load``
(data, never code) and then goes through exactly the checks a run applies: the section models
(:func:`qlop.config.config_from_data`) and every chosen plugin's params model
(:func:`qlop.config.validate_plugins`). One thing is refused on top: ``plugins_dir``, because loading
a plugins directory imports Python files, and a browser user must not be able to make the server run
code. Start ``qlop gui --plugins-dir DIR`` instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qlop.config import PipelineConfig, config_from_data, parse_config_text, validate_plugins
from qlop.errors import ConfigError

FORMATS = ("toml", "json", "yaml")


def format_of(filename: str | None, default: str = "toml") -> str:
    """Config format from a file name's suffix (``.yml`` is YAML)."""
    if not filename or "." not in filename:
        return default
    suffix = filename.rsplit(".", 1)[-1].lower()
    return {"yml": "yaml"}.get(suffix, suffix)


def validate_data(data: dict[str, Any], source: str = "<config>") -> PipelineConfig:
    """Validate config data as ``qlop config validate`` does; raise :class:`ConfigError` naming every
    problem of the first failing layer (sections, then plugin params), each in ``problems``."""
    if data.get("plugins_dir") not in (None, ""):
        problem = (
            "plugins_dir: not accepted from the GUI (it would import Python files); "
            "start `qlop gui --plugins-dir DIR` instead"
        )
        raise ConfigError(f"{source}: {problem}", [problem])
    config = config_from_data(data, source)
    try:
        validate_plugins(config)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}", exc.problems) from None
    return config


def validate_text(text: str, fmt: str, source: str = "<pasted config>") -> PipelineConfig:
    """Parse pasted/uploaded TOML, JSON or YAML text as data and validate it."""
    if fmt not in FORMATS:
        raise ConfigError(f"{source}: unknown config format {fmt!r} (use toml, json or yaml)")
    return validate_data(parse_config_text(text, fmt, source), source)


def config_json(config: PipelineConfig) -> str:
    """The resolved config as the JSON file handed to ``qlop run -c``."""
    return json.dumps(config.model_dump(mode="json"), indent=2)


def write_config(config: PipelineConfig, path: Path) -> Path:
    """Write the config atomically (``qlop run`` reads it from disk)."""
    from qlop.atomic import write_text

    write_text(path, config_json(config))
    return path
