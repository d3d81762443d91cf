"""QLOP's test kit for plugin authors: fixtures (pytest11 plugin ``qlop``) and contract test classes.

``from qlop.testing import FeatureStepContract`` and inherit it in a ``Test*`` class; the fixtures
(``qlop_plugin_manager``, ``qlop_register``, ``qlop_fake_entry_points``, ``qlop_cli``,
``qlop_hook_recorder``, ``qlop_ohlcv_panel``, ``qlop_make_panel``, ``qlop_sample_panel``) are available
in every pytest run once QLOP is installed. Names are resolved lazily so importing this package stays
cheap (pytest imports the fixture module at start-up).
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "ComponentContract": "qlop.testing.contracts",
    "DataSourceContract": "qlop.testing.contracts",
    "FeatureStepContract": "qlop.testing.contracts",
    "LabelContract": "qlop.testing.contracts",
    "ModelContract": "qlop.testing.contracts",
    "StrategyContract": "qlop.testing.contracts",
    "ExporterContract": "qlop.testing.contracts",
    "assert_same_values": "qlop.testing.contracts",
    "make_ohlcv_panel": "qlop.testing.data",
    "make_intraday_panel": "qlop.testing.data",
    "load_sample_panel": "qlop.testing.data",
    "perturb_after": "qlop.testing.data",
    "rescale_panel": "qlop.testing.data",
    "FakeEntryPoints": "qlop.testing.plugin",
    "HookRecorder": "qlop.testing.plugin",
    "QlopCli": "qlop.testing.plugin",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'qlop.testing' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
