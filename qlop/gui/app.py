"""QLOP's Streamlit app: New run, Live run, Runs, Sweeps and Plugins pages.

Start it with ``qlop gui`` (which also starts the relay and passes its URL and token through the
environment); ``streamlit run qlop/gui/app.py`` works too against a relay started by hand.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

PAGE_TITLES = {"new": "New run", "live": "Live run", "runs": "Runs", "sweeps": "Sweeps", "plugins": "Plugins"}
PAGE_ICONS = {
    "new": ":material/rocket_launch:",
    "live": ":material/monitoring:",
    "runs": ":material/folder_open:",
    "sweeps": ":material/grid_view:",
    "plugins": ":material/extension:",
}


def _render(name: str) -> Any:
    def run_page() -> None:
        import importlib

        importlib.import_module(f"qlop.gui.views.{name}_page").render()

    run_page.__name__ = f"page_{name}"
    return run_page


def page(name: str) -> Any:
    """The ``st.Page`` called ``name`` (``new``, ``live``, ``runs``, ``sweeps`` or ``plugins``)."""
    return st.Page(_render(name), title=PAGE_TITLES[name], icon=PAGE_ICONS[name], url_path=name)


@st.cache_resource(show_spinner=False)
def configure_plugins() -> None:
    """Once per server: the plugin set ``qlop gui`` was started with (``-p`` modules included)."""
    import os

    from qlop.plugins import manager
    from qlop.plugins.discovery import Selection

    modules = [m for m in (os.environ.get("QLOP_GUI_PLUGIN_MODULES") or "").split(",") if m]
    if modules:
        manager.configure(Selection.from_env(modules=modules))


def _home() -> None:
    st.switch_page(page("new"), query_params=dict(st.query_params))


def home_page() -> Any:
    """The app's root URL: a hidden page that opens New run at its own URL (``/new``).

    Streamlit serves its default page at ``/`` only, so a visible default page would answer its own
    URL with "Page not found"; with this one every visible page is reachable by its URL.
    """
    return st.Page(_home, title="QLOP", url_path="home", default=True, visibility="hidden")


def main() -> None:
    configure_plugins()
    st.set_page_config(page_title="QLOP", page_icon=":material/trending_up:", layout="wide")
    navigation = st.navigation([home_page(), *(page(name) for name in PAGE_TITLES)])
    navigation.run()


if __name__ == "__main__":
    main()
