"""What the New run page decides, without Streamlit: where the form starts, which problems belong to
which field, the linked leverage and the ticker check.

- The form starts from a shipped example (:mod:`qlop.examples`; the quickstart unless the user loads
  another), so its defaults are the quickstart's.
- Validation is the CLI's (:func:`qlop.gui.configs.config_problems`); each problem names a field path,
  and :func:`anchor_for` finds the widget it is shown under.
- The label's leverage and the backtest's are one value unless the user unlinks them.
- Tickers are checked against the chosen data source before a launch: the source's own
  :meth:`~qlop.interfaces.BaseDataSourcePlugin.unknown_tickers` when it can tell cheaply, else by
  loading each ticker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: The params of the chosen label and strategy that the page shows up front (when the chosen plugin
#: has them): the trade's side, leverage and barriers, and the strategy's entry threshold.
ESSENTIAL_LABEL_PARAMS = ("side", "leverage", "take_profit", "stop_loss", "horizon")
ESSENTIAL_STRATEGY_PARAMS = ("entry",)

#: The two leverages the page links by default: the labelled trade's and the backtest's.
LABEL_LEVERAGE = "label.label_params.leverage"
BACKTEST_LEVERAGE = "backtest.leverage"

#: A start when no example config is found (QLOP installed without its source tree): the quickstart's
#: essentials.
FALLBACK_START: dict[str, Any] = {
    "name": "quickstart",
    "seed": 42,
    "data": {
        "data_source_type": "sample",
        "start_date": "2003-01-01",
        "end_date": "2017-11-10",
        "tickers": ["AAPL", "MSFT", "AMZN", "INTC", "CSCO", "JPM", "XOM", "JNJ", "PG", "KO", "WMT", "GE"],
    },
    "features": {
        "steps": [
            {"step_type": "returns", "step_params": {"windows": [1, 5, 20]}},
            {"step_type": "rsi", "step_params": {"timeperiod": 14}},
        ]
    },
    "label": {
        "label_type": "leverage_opportunity",
        "label_params": {"side": "long", "leverage": 2.5, "horizon": 10, "take_profit": 0.05, "stop_loss": 0.03},
    },
    "model": {"model_type": "xgboost"},
    "backtest": {
        "strategy_type": "probability_threshold",
        "leverage": 2.5,
        "max_gross_leverage": 2.5,
        "strategy_params": {"entry": 0.55, "barriers": "label"},
    },
    "export": {"format_name": "onnx"},
}

#: Section names as the page titles them.
SECTION_TITLES = {
    "data": "Data",
    "features": "Features",
    "label": "Label",
    "model": "Model",
    "backtest": "Backtest",
    "export": "Export",
}

_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[\w]+)*$")


@dataclass(frozen=True)
class Problem:
    """One thing to fix: the config field it concerns (dotted path, ``""`` for the whole config) and
    what is wrong, in the validator's words."""

    path: str
    message: str

    @classmethod
    def parse(cls, text: str) -> "Problem":
        """``data.start_date: must be ...`` -> Problem("data.start_date", "must be ...")."""
        head, sep, rest = text.partition(": ")
        if sep and _PATH.match(head):
            return cls(head, rest)
        return cls("", text)


def starting_config(example: str | None = None) -> dict[str, Any]:
    """The config data the form starts from: the named example (default the quickstart)."""
    import copy

    from qlop.examples import QUICKSTART, example_configs

    wanted = example or QUICKSTART
    for candidate in example_configs():
        if candidate.name == wanted:
            data = candidate.data()
            data.pop("runs_dir", None)  # the GUI's runs folder decides where runs go
            data.pop("plugins_dir", None)  # refused from the browser (see qlop.gui.configs)
            return data
    return copy.deepcopy(FALLBACK_START)


def field_title(name: str) -> str:
    """``take_profit`` -> ``Take profit``."""
    return name.replace("_", " ").strip().capitalize()


def human_path(path: str) -> str:
    """A field path as a person reads it: ``label.label_params.take_profit`` -> ``Label › Take profit``."""
    if not path:
        return "Config"
    parts = path.split(".")
    words: list[str] = []
    for i, part in enumerate(parts):
        if i == 0 and part in SECTION_TITLES:
            words.append(SECTION_TITLES[part])
        elif part.endswith("_params") or part == "steps":
            continue  # a plugin's parameters and the step list: the field names speak for themselves
        elif part.isdigit() and i > 0 and parts[i - 1] == "steps":
            words.append(f"Step {int(part) + 1}")
        else:
            words.append(field_title(part))
    return " › ".join(words)


def anchor_for(path: str, anchors: Iterable[str]) -> str | None:
    """The most specific anchor (a field path with a place on the page) that ``path`` falls under."""
    best: str | None = None
    for anchor in anchors:
        if path == anchor or (anchor and path.startswith(anchor + ".")) or anchor == "":
            if best is None or len(anchor) > len(best):
                best = anchor
    return best


def plain(message: str, names: Iterable[str]) -> str:
    """A validator's message with the snake_case field ``names`` it mentions in words
    (``start_date 2015-01-01 is after end_date`` -> ``start date 2015-01-01 is after end date``)."""
    for name in sorted({n for n in names if "_" in n}, key=len, reverse=True):
        message = re.sub(rf"\b{re.escape(name)}\b", name.replace("_", " "), message)
    return message


def relative_message(problem: Problem, anchor: str, names: Iterable[str] = ()) -> str:
    """The problem as shown under its anchor: the message alone, or the sub-field first; field
    names in words."""
    message = plain(problem.message, [*names, *problem.path.split(".")])
    if problem.path == anchor or not problem.path:
        return message[:1].upper() + message[1:]
    if not anchor:
        return f"{human_path(problem.path)}: {message}"
    rest = [p for p in problem.path[len(anchor) + 1 :].split(".") if not p.endswith("_params")]
    return f"{' › '.join(field_title(p) for p in rest)}: {message}"


def config_problems(data: dict[str, Any]) -> tuple[Any, list[Problem]]:
    """(validated config or None, the problems) for the form's config data."""
    from qlop.errors import ConfigError
    from qlop.gui.configs import validate_data

    try:
        return validate_data(data, ""), []
    except ConfigError as exc:
        return None, [Problem.parse(p.removeprefix(": ")) for p in exc.problems]


# -- tickers ---------------------------------------------------------------------------------------


def _source(name: str, params: dict[str, Any]) -> Any:
    from qlop.plugins.manager import get_plugin_manager

    return get_plugin_manager().create("data_source", name, params, "data.data_source_params")


def listed_ticker_problems(source: str, params: dict[str, Any], tickers: list[str]) -> dict[str, str] | None:
    """The tickers the source says it lacks, with its reasons; None when it cannot tell cheaply (or
    cannot be built: the config problems say why)."""
    from qlop.errors import QlopError

    if not tickers:
        return {}
    try:
        return _source(source, params).unknown_tickers(list(tickers))
    except QlopError:
        return None


def probed_ticker_problems(
    source: str,
    params: dict[str, Any],
    tickers: list[str],
    start: Any,
    end: Any,
    interval: str = "1d",
    session: str | None = None,
) -> dict[str, str]:
    """Load each ticker over the run's dates: the ones the source cannot deliver, with its message.
    Intraday bars are asked for in ``session``, as the data stage would."""
    from qlop.errors import QlopError
    from qlop.sessions import ALWAYS_OPEN, BarSpec, is_intraday, session_timezone
    from qlop.stages.data import bars_context

    component = _source(source, params)
    problems: dict[str, str] = {}
    bars = BarSpec(interval)
    if is_intraday(interval):
        try:
            bars = BarSpec(interval, session or ALWAYS_OPEN, session_timezone(session or ALWAYS_OPEN))
        except QlopError:  # an unknown session is the config's problem, reported on its field
            return problems
    for ticker in tickers:
        try:
            with bars_context(bars):
                panel = component.load_data([ticker], start, end, interval)
        except QlopError as exc:
            problems[ticker] = str(exc)
        except Exception as exc:  # noqa: BLE001 - a source's own failure, reported in its words
            problems[ticker] = f"{type(exc).__name__}: {exc}"
        else:
            if panel is None or not len(panel):
                problems[ticker] = (
                    f"{source} returned no rows between {start or 'the first'} and {end or 'the last'} date"
                )
    return problems


def ticker_problem(problems: dict[str, str], source: str) -> Problem | None:
    """One problem on ``data.tickers`` naming every ticker the source lacks, each with its reason."""
    if not problems:
        return None
    text = ", ".join(f"{t} ({why})" for t, why in problems.items())
    return Problem("data.tickers", f"not available from {source}: {text}")


def config_text(data: dict[str, Any]) -> str:
    """A stable text of config data (cache keys of the checks above)."""
    import json

    return json.dumps(data, sort_keys=True, default=str)
