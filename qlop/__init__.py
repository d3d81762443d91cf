"""QLOP: the Quantitative Leverage Opportunity Predictor.

Import cost matters here: ``qlop --help`` imports this package, so it must not pull in pandas, numpy or
any plugin. ``hookimpl`` is the marker plugin authors decorate their hook functions with.
"""

__version__ = "0.1.0"

from qlop.plugins.markers import hookimpl  # noqa: E402  (cheap: pluggy only)

__all__ = ["__version__", "hookimpl"]
