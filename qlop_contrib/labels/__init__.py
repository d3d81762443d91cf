"""Bundled label plugins: ``leverage_opportunity`` (classification) and ``forward_return`` (regression).

Registration only names the classes; they are imported when a label is first used.
"""

from __future__ import annotations

from qlop.api import ComponentSpec, hookimpl


@hookimpl
def qlop_register_label() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            name="leverage_opportunity",
            factory="qlop_contrib.labels.leverage:LeverageOpportunityLabel",
            params_model="qlop_contrib.labels.leverage:LeverageOpportunityParams",
            summary="1 where a leveraged trade entered at the next open pays more than a hurdle, after costs",
        ),
        ComponentSpec(
            name="forward_return",
            factory="qlop_contrib.labels.forward:ForwardReturnLabel",
            params_model="qlop_contrib.labels.forward:ForwardReturnParams",
            summary="Forward return over the horizon, from the next open (or today's close) to a later close",
        ),
    ]
