"""The pluggy markers for the ``qlop`` project, kept in a tiny module so importing them is cheap."""

import pluggy

PROJECT_NAME = "qlop"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
