"""The bundled plugins load through the same hooks as third-party ones."""

from qlop.plugins.manager import PluginManager
from qlop.plugins.discovery import Selection, BUILTIN_PLUGINS


def test_bundled_plugins_are_ordinary_named_plugins():
    pm = PluginManager(Selection(autoload=False)).load()
    for name in BUILTIN_PLUGINS:
        assert pm.records[name].source == "builtin"
        assert pm.records[name].status == "active"
