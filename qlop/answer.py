"""The three-part answer a run gives, in plain words: opportunities, prediction, strategy.

``qlop run`` and ``qlop demo`` print it above the metrics table, and report.html and the GUI's run
page open with it, so a researcher reads the result without opening any file: how often the leveraged
trade paid off, whether the model beats the best constant guess out of sample, and what trading the
predictions earned after every cost. Under it, an "Assumptions:" block states what those numbers rest
on (:func:`assumptions_from`), read from the run's resolved config and metrics.json. Every number goes
through :mod:`qlop.formatting`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qlop.artifacts import read_json
from qlop.formatting import (
    BENCHMARK_KINDS,
    annual_rate,
    benchmark_text,
    bps,
    count,
    counted,
    format_metric,
    iso_date,
    leverage,
    money,
    pct,
    plain,
    rate,
)
from qlop.layout import RunLayout

if TYPE_CHECKING:
    import pandas as pd


def opportunities_line(labels: "pd.DataFrame | None", config: dict[str, Any]) -> str | None:
    """Share of labelled days on which the label's trade cleared its hurdle.

    Shown for a label that simulates a trade: its frame has an ``exit_reason`` column beside a 0/1
    ``label`` (the bundled ``leverage_opportunity`` does; so may any plugin's). The trade is described
    by the label's own ``trade_rules()``.
    """
    if labels is None or not {"label", "exit_reason"} <= set(labels.columns):
        return None
    rows = len(labels)
    labels = labels.dropna(subset=["label"])
    if labels.empty:
        label = config.get("label") or {}
        return (
            f"Opportunities: no day could be labelled: the {_trade_text(label)} needs "
            f"{_horizon_text(label)} after each day, and none of the {count(rows)} rows has them (load "
            "more history or shorten the horizon)."
        )
    if not labels["label"].isin((0.0, 1.0)).all():
        return None
    mix = labels["exit_reason"].value_counts(normalize=True)
    shown = ("tp", "sl", "liquidation", "horizon") + (("session",) if "session" in mix.index else ())
    reasons = ", ".join(f"{r} {pct(mix.get(r, 0.0), 0)}" for r in shown)
    return (
        f"Opportunities: the {_trade_text(config.get('label') or {})} paid off on "
        f"{format_metric('base_rate', labels['label'].mean())} of {count(len(labels))} labelled {row_unit(config)} "
        f"(exits: {reasons})."
    )


def label_trade_rules(label: dict[str, Any]) -> Any:
    """The :class:`~qlop.sim.rules.TradeRules` a label's config scores, or None when it cannot say."""
    if not label.get("label_type"):
        return None
    try:
        from qlop.plugins.manager import get_plugin_manager

        component = get_plugin_manager().create(
            "label", label["label_type"], label.get("label_params") or {}, "label.label_params"
        )
        return component.trade_rules()
    except Exception:  # noqa: BLE001 - a description only: the figures stand without it
        return None


def _trade_text(label: dict[str, Any]) -> str:
    """``2.50x long, take-profit 5%, stop 3%, 10 bars`` from the label's trade rules, or a generic name
    when the label cannot say."""
    rules = label_trade_rules(label)
    if rules is None:
        return "labelled trade"
    return (
        f"{leverage(rules.leverage)} {rules.side}, take-profit {rate(rules.take_profit)}, "
        f"stop {rate(rules.stop_loss)}, {rules.horizon} bars"
    )


def _horizon_text(label: dict[str, Any]) -> str:
    rules = label_trade_rules(label)
    return f"{rules.horizon} bars" if rules is not None else "bars"


def _folds(n: Any) -> str:
    return f"{count(n)} walk-forward fold{'' if n == 1 else 's'}"


def row_unit(config: dict[str, Any]) -> str:
    """What a row is called in the answer: ``days`` for daily bars, ``bars`` for intraday ones."""
    interval = str((config.get("data") or {}).get("resample") or (config.get("data") or {}).get("interval") or "1d")
    return "bars" if interval[-1] in "mh" else "days"


def prediction_line(metrics: dict[str, Any] | None, unit: str = "days") -> str | None:
    """Out-of-sample skill against the best constant guess (the base rate)."""
    if not metrics or not isinstance(metrics.get("overall"), dict):
        return None
    overall = metrics["overall"]
    model = metrics.get("model_type", "the model")
    if metrics.get("n_predictions") == 0:
        return f"Prediction: {model} made no out-of-sample prediction ({_folds(metrics.get('n_folds'))})."
    if not overall.get("n"):
        return (
            f"Prediction: {model}, {_folds(metrics.get('n_folds'))}, {count(metrics.get('n_predictions'))} "
            f"out-of-sample predictions, none on a labelled {unit[:-1]}: their skill cannot be measured yet."
        )
    if metrics.get("task") != "regression" and overall.get("auc") is None:
        return (
            f"Prediction: {model}, {_folds(metrics.get('n_folds'))}, {count(overall.get('n'))} out-of-sample "
            f"{unit}: no AUC, because every one of them has the same label (base rate "
            f"{format_metric('base_rate', overall.get('base_rate'))}); log loss "
            f"{format_metric('log_loss', overall.get('log_loss'))}."
        )
    if metrics.get("task") == "regression":
        ic = overall.get("ic")
        return (
            f"Prediction: {model}, {count(overall.get('n', 0))} out-of-sample rows, IC {format_metric('ic', ic)}."
            if ic is not None
            else None
        )
    base = overall.get("base_rate")
    base_ll = None
    if base is not None and 0 < base < 1:
        base_ll = -(base * math.log(base) + (1 - base) * math.log(1 - base))
    versus = f" vs {format_metric('log_loss', base_ll)} for the constant base rate" if base_ll is not None else ""
    return (
        f"Prediction: {model}, {_folds(metrics.get('n_folds'))}, {count(overall.get('n', 0))} "
        f"out-of-sample {unit}: AUC {format_metric('auc', overall['auc'])} (0.5 = no skill), log loss "
        f"{format_metric('log_loss', overall.get('log_loss'))}{versus}."
    )


def strategy_line(m: dict[str, Any] | None) -> str | None:
    """What the strategy earned, net of leverage, margin, financing and costs, against the benchmark."""
    if not m:
        return None

    def f(key: str) -> str:
        return format_metric(key, m.get(key))

    bench = f" vs {f('benchmark_total_return')} for {benchmark_text(m)}" if m.get("benchmark") else ""
    if not m.get("n_trades") and m.get("no_trade_reason"):
        return (
            f"Strategy: {m.get('strategy')} from {f('start')} to {f('end')}: {m['no_trade_reason']}; the "
            f"capital stayed in cash ({f('total_return')}){bench}."
        )
    trades = f"{counted(m.get('n_trades'), 'trade')}, {counted(m.get('liquidations'), 'liquidation')}"
    if m.get("engine") == "target_weights":  # a resized book: fills, and the account's forced closes
        trades = f"{counted(m.get('n_trades'), 'fill')}, {counted(m.get('liquidations'), 'forced close')}"
        if m.get("margin_mode") == "cross":
            trades += f" ({counted(m.get('margin_calls'), 'margin call')})"
        if m.get("bust"):
            trades += f", the account went bust on {m.get('bust_date')}"
    mode = f" [{m['margin_mode']} margin, {m['sizing']} sizing]" if m.get("engine") == "target_weights" else ""
    return (
        f"Strategy: {m.get('strategy')}{mode} from {f('start')} to {f('end')} earned "
        f"{f('total_return')} (CAGR {f('cagr')}){bench}; Sharpe {f('sharpe')}, max drawdown "
        f"{f('max_drawdown')}, {trades}, after "
        f"{f('fees_paid')} fees and {f('financing_paid')} financing."
    )


def answer_from(
    config: dict[str, Any],
    labels: "pd.DataFrame | None",
    train_metrics: dict[str, Any] | None,
    backtest_metrics: dict[str, Any] | None,
) -> list[str]:
    """The parts of the answer these artefacts support (stages that did not run are left out)."""
    lines = [
        opportunities_line(labels, config),
        prediction_line(train_metrics, row_unit(config)),
        strategy_line(backtest_metrics),
    ]
    return [line for line in lines if line]


def answer_lines(run_dir: str | Path) -> list[str]:
    """The answer of the run in ``run_dir``, from its own artefacts."""
    run_dir = Path(run_dir)
    layout = RunLayout(run_dir)
    config = read_json(layout.config) or {}
    labels = None
    if layout.labels.is_file():
        import pandas as pd

        labels = pd.read_parquet(layout.labels)
    return answer_from(config, labels, read_json(layout.train_metrics), read_json(layout.backtest_metrics))


# ------------------------------------------------------------------------------- assumptions

#: The margin mode of a run recorded before ``[backtest] margin_mode`` existed: the engine's per-position
#: isolated margin, then its only mode (a config resolved since always names its mode).
DEFAULT_MARGIN_MODE = "isolated"


def assumptions_from(
    config: dict[str, Any], metrics: dict[str, Any] | None, ledger_trials: int | None = None
) -> list[tuple[str, str]]:
    """``(item, text)`` rows: what the answer's numbers assume, from the run's resolved config and its
    backtest's metrics.json, never from defaults written here.

    With a backtest: its leverage, exits, costs, margin, financing and day count, rates, periods per
    year, benchmark and the trials the deflated Sharpe counts. A run that only labelled states its
    label's trade. ``ledger_trials`` (the experiment's trials ledger, known to the CLI and the GUI after
    the run was recorded; report.html is written before) adds a warning when the ledger holds more
    trials than the deflated Sharpe counted. The one home of the block: the CLI, report.html and the
    GUI render these rows.
    """
    bt = config.get("backtest") or {}
    rules = label_trade_rules(config.get("label") or {})
    if bt and metrics:
        return _backtest_assumptions(config, bt, metrics, rules, ledger_trials)
    if rules is None:
        return []
    terms = rules.model_dump()
    return [
        ("Leverage", f"{leverage(rules.leverage)} {rules.side} (the label's trade)"),
        ("Exits", _exits_text(rules.take_profit, rules.stop_loss, rules.horizon, False, rules.exit_at_session_end)),
        ("Costs", _costs_text(terms)),
        ("Margin", _margin_text(terms, None)),
        ("Financing", _financing_text(terms.get("financing_rate"), terms)),
    ]


def _backtest_assumptions(
    config: dict[str, Any],
    bt: dict[str, Any],
    m: dict[str, Any],
    rules: Any,
    ledger_trials: int | None,
) -> list[tuple[str, str]]:
    rows = [
        (
            "Leverage",
            f"{leverage(bt.get('leverage'))} per position, at most {leverage(bt.get('max_gross_leverage'))} gross",
        )
    ]
    exits = m.get("exits")
    if isinstance(exits, dict):
        tp, sl, horizon = exits.get("take_profit"), exits.get("stop_loss"), exits.get("horizon")
        text = _exits_text(tp, sl, horizon, bool(exits.get("exit_on_signal")), bool(exits.get("exit_at_session_end")))
        if rules is not None and (tp, sl, horizon) == (rules.take_profit, rules.stop_loss, rules.horizon):
            text += " (the label's barriers)"
        rows.append(("Exits", text))
    rows += [
        ("Costs", _costs_text({**bt, "stop_slippage_bps": m.get("stop_slippage_bps", bt.get("stop_slippage_bps"))})),
        ("Margin", _margin_text(bt, bt.get("margin_mode") or DEFAULT_MARGIN_MODE)),
        ("Financing", _financing_text(m.get("financing_rate"), {**bt, "day_count": m.get("day_count")})),
        ("Rates", _rates_text(bt, m)),
    ]
    if m.get("periods_per_year") is not None:
        source = m.get("periods_per_year_source")
        why = {"inferred": "inferred: median bars per calendar year", "config": "set in the config"}.get(
            str(source), str(source or "")
        )
        rows.append(
            (
                "Annualisation",
                f"{plain(m['periods_per_year'])} periods per year"
                + (f" ({why})" if why else "")
                + f"; CAGR over {plain(m.get('years'))} calendar years",
            )
        )
    rows.append(("Benchmark", _benchmark_assumption(bt, m)))
    rows.append(("Trials", _trials_text(config, m, ledger_trials)))
    if rules is not None:
        from qlop.sim.terms import trade_term_differences

        diffs = trade_term_differences(rules, bt)
        if diffs:
            listed = ", ".join(f"{name} {_term_value(a)}" for name, a, _ in diffs)
            rows.append(
                ("Label", f"scored its trades with {listed}: a label of 1 is not exactly a winning backtest trade")
            )
    return rows


def _exits_text(tp: Any, sl: Any, horizon: Any, on_signal: bool, session_end: bool = False) -> str:
    parts = []
    if tp is not None:
        parts.append(f"take-profit {rate(tp)}")
    if sl is not None:
        parts.append(f"stop-loss {rate(sl)}")
    if horizon is not None:
        parts.append(f"horizon {count(horizon)} bars")
    if on_signal:
        parts.append("when the signal ends")
    if session_end:
        parts.append("at the close of the session's last bar")
    return ", ".join(parts) if parts else "none but liquidation and the end of the data"


def _costs_text(p: dict[str, Any]) -> str:
    text = (
        f"commission {bps(p.get('commission_bps'))} + slippage {bps(p.get('slippage_bps'))} per leg, "
        f"{bps(p.get('stop_slippage_bps'))} more on stop and liquidation fills"
    )
    if p.get("min_commission"):
        text += f", at least {money(p['min_commission'])} commission per leg"
    if p.get("liquidation_fee"):
        text += f", liquidation fee {rate(p['liquidation_fee'])} of notional"
    return text


def _margin_text(p: dict[str, Any], mode: str | None) -> str:
    text = (
        f"liquidation when a position's equity falls to {rate(p.get('maintenance_margin'))} of its value (maintenance)"
    )
    if mode == "isolated":
        return f"{mode} (a position loses at most its margin); {text}"
    if mode == "cross":
        text = (
            f"one account backs every position; when its equity falls to {rate(p.get('maintenance_margin'))} "
            "of the gross exposure, the largest unrealised loss is liquidated first"
        )
        return f"{mode}; {text}"
    return f"{mode}; {text}" if mode else text


def _rate_term(value: Any) -> str:
    """A constant rate as ``5% a year (constant)``; a rate series (described as text) as ``series ...``."""
    return f"series {value}" if isinstance(value, str) else f"{annual_rate(value)} (constant)"


def _financing_text(value: Any, p: dict[str, Any]) -> str:
    text = f"{_rate_term(value)} on the borrowed part of a long"
    if p.get("borrow_fee"):
        text += f", borrow fee {rate(p['borrow_fee'])} a year on a short's notional"
    from qlop.sim.terms import DAYS_PER_YEAR

    day_count = p.get("day_count")
    if day_count in DAYS_PER_YEAR:
        text += f"; day count {day_count} (calendar days / {plain(DAYS_PER_YEAR[day_count])}, every rate)"
    return text


def _rates_text(bt: dict[str, Any], m: dict[str, Any]) -> str:
    cash = "the risk-free rate (cash_rate unset)" if bt.get("cash_rate") is None else _rate_term(m.get("cash_rate"))
    return f"risk-free {_rate_term(m.get('risk_free'))}, in Sharpe, Sortino and alpha; idle cash earns {cash}"


def _benchmark_assumption(bt: dict[str, Any], m: dict[str, Any]) -> str:
    if not m.get("benchmark"):
        return "none"
    ref = bt.get("benchmark") if isinstance(bt.get("benchmark"), dict) else {}
    source = ref.get("data_source_type")
    kind = BENCHMARK_KINDS.get(str(m.get("benchmark_kind")), str(m.get("benchmark_kind") or "kind unknown"))
    kind_from = "set in the config" if ref.get("kind") else "as the source states"
    text = f"{m['benchmark']}" + (f" from the {source} source" if source else "") + f", {kind} ({kind_from})"
    cov = m.get("benchmark_coverage") or {}
    if cov:
        span = f"{iso_date(cov.get('first'))} to {iso_date(cov.get('last'))}"
        if cov.get("complete", True):
            text += f"; its data ({span}) covers the whole backtest"
        else:
            text += (
                f"; its data ({span}) covers only {iso_date(cov.get('overlap_start'))} to "
                f"{iso_date(cov.get('overlap_end'))} of the backtest: compared over that overlap"
            )
    return text


def _trials_text(config: dict[str, Any], m: dict[str, Any], ledger_trials: int | None) -> str:
    n = m.get("n_trials")
    if n is None:
        return "not recorded"
    text = f"the deflated Sharpe counts {count(n)} trial{'' if n == 1 else 's'} (backtest.n_trials)"
    if ledger_trials is not None and ledger_trials > n:
        text += (
            f"; the trials ledger holds {count(ledger_trials)} distinct configs named "
            f"{config.get('name')!r}: set backtest.n_trials = {ledger_trials} to deflate for all of them"
        )
    return text


def _term_value(value: Any) -> str:
    if isinstance(value, dict):  # a rate series
        return f"series {value.get('ticker')}.{value.get('column', 'close')}"
    return str(value)


def ledger_trials(run_dir: str | Path, config: dict[str, Any]) -> int | None:
    """Trials the run's experiment ledger holds (``<runs_dir>/trials/<name>.json``), or None without one.

    A relative ``runs_dir`` is the run folder's parent when the ledger is there (the default run
    directory ``<runs_dir>/<id>``), else taken from the current directory, as ``qlop run`` does."""
    from qlop.trials import count_trials, ledger_path

    name, runs_dir = config.get("name"), config.get("runs_dir")
    if not name or not runs_dir:
        return None
    candidates = [Path(runs_dir)] if Path(runs_dir).is_absolute() else [Path(run_dir).parent, Path(runs_dir)]
    for folder in candidates:
        if ledger_path(folder, name).is_file():
            return count_trials(folder, name)
    return None


def assumption_rows(run_dir: str | Path) -> list[tuple[str, str]]:
    """The assumptions of the run in ``run_dir`` (from its config.json and backtest/metrics.json), with
    the trials ledger's count: what ``qlop run`` prints and the GUI can show."""
    layout = RunLayout(Path(run_dir))
    config = read_json(layout.config) or {}
    return assumptions_from(config, read_json(layout.backtest_metrics), ledger_trials(run_dir, config))
