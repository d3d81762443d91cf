"""Plugins page: the ``qlop plugins list --all`` table, with the reason of every failed/disabled plugin."""

from __future__ import annotations

from typing import Any

import streamlit as st


def plugin_rows(manager: Any) -> list[dict[str, Any]]:
    """One row per plugin, the same columns as ``qlop plugins list``."""
    manager.load_all_registries()
    rows = []
    for r in manager.records.values():
        rows.append(
            {
                "name": r.name,
                "version": r.version or "-",
                "source": r.source,
                "status": r.status,
                "reason": r.error or "",
                "provides": "; ".join(f"{k}: {', '.join(sorted(v))}" for k, v in sorted(r.provides.items())) or "-",
            }
        )
    return rows


def component_rows(manager: Any) -> list[dict[str, Any]]:
    from qlop.plugins.specs import KINDS

    rows = []
    for kind in KINDS:
        for entry in manager.registry(kind).entries():
            rows.append({"kind": kind, "name": entry.spec.name, "plugin": entry.plugin, "summary": entry.spec.summary})
    return rows


def render() -> None:
    import pandas as pd

    from qlop.plugins.manager import get_plugin_manager

    manager = get_plugin_manager()
    st.title("Plugins")
    rows = plugin_rows(manager)
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="plugins_table")
    problems = [r for r in rows if r["status"] != "active"]
    for r in problems:
        icon = ":material/block:" if r["status"] == "disabled" else ":material/error:"
        st.warning(f"{r['name']} is {r['status']}: {r['reason']}", icon=icon)
    st.subheader("Components")
    st.dataframe(pd.DataFrame(component_rows(manager)), hide_index=True, key="components_table")
