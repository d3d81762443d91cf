"""QLOP's plugin system: hookspecs, spec records, discovery and typed registries (pluggy underneath)."""

from qlop.plugins.specs import KINDS, PLUGIN_API_VERSION, CommandSpec, ComponentSpec

__all__ = ["KINDS", "CommandSpec", "ComponentSpec", "PLUGIN_API_VERSION"]
