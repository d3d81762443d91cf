"""The backtest stage: strategy signals -> leveraged multi-asset engine -> metrics and report.

Inputs: the panel (``DIR/data.parquet``, else loaded from ``[data]``) and, for strategies that need
them, ``DIR/predictions.parquet``. Outputs, written together into ``DIR/backtest/`` (atomically: a
failed run leaves the previous directory, or none): ``equity.parquet``, ``trades.parquet``,
``metrics.json`` and ``report.html``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qlop.errors import ArtifactError, ConfigError
from qlop.formatting import counted
from qlop.layout import RunLayout
from qlop.progress import stage_progress
from qlop.stages.components import component_errors, create

if TYPE_CHECKING:
    import pandas as pd

    from qlop.backtest.candidates import ExitRules
    from qlop.config import PipelineConfig

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------- inputs
def read_inputs(config: "PipelineConfig", run_dir: Path, needs_predictions: bool) -> tuple[Any, Any]:
    """The panel and (when needed) the predictions, with one-line errors naming the file."""
    import pandas as pd

    from qlop.stages.data import load_panel, read_panel

    layout = RunLayout(run_dir)
    panel = read_panel(layout.data) if layout.data.is_file() else load_panel(config.data)
    predictions = None
    if needs_predictions:
        path = layout.predictions
        if not path.is_file():
            raise ArtifactError(
                f"{path} not found: run `qlop train` first (or `qlop run`); strategy "
                f"{config.backtest.strategy_type!r} trades model predictions"
            )
        try:
            predictions = pd.read_parquet(path)
        except Exception as exc:
            raise ArtifactError(f"{path}: cannot read Parquet ({str(exc).splitlines()[0]})") from None
        if not {"prob", "pred"} & set(predictions.columns):
            raise ArtifactError(f"{path}: no 'prob' or 'pred' column")
        if prediction_scheme(run_dir) == "purged_kfold":
            raise ConfigError(
                f"model.validation.scheme: {path} holds purged_kfold predictions, made by models "
                'trained on later data; a backtest needs scheme = "walk_forward"'
            )
    return panel, predictions


def prediction_scheme(run_dir: Path) -> str | None:
    """The validation scheme that made the run's predictions (from ``train_metrics.json``), if known."""
    from qlop.artifacts import read_json

    metrics = read_json(RunLayout(run_dir).train_metrics)
    return metrics.get("scheme") if isinstance(metrics, dict) else None


def exit_rules(config: "PipelineConfig", strategy: Any) -> "ExitRules":
    """The strategy's barriers, completed from the label's trade rules when it asks for them.

    The label gives take-profit, stop-loss, horizon and ``exit_at_session_end``; leverage, margin and costs are always the
    backtest's. When those differ from the label's, a warning says the trades are not exactly the
    labelled ones.
    """
    from qlop.backtest.candidates import ExitRules

    with component_errors("backtest", "strategy", config.backtest.strategy_type):
        spec = strategy.barriers()
    if spec is None:
        return ExitRules(exit_on_signal=True)
    tp, sl, horizon = spec.get("take_profit"), spec.get("stop_loss"), spec.get("horizon")
    session_end = spec.get("exit_at_session_end")
    if spec.get("from_label"):
        if config.label is None:
            raise ConfigError(
                "backtest.strategy_params.barriers: 'label' needs a [label] section "
                "(or use barriers='custom' with take_profit/stop_loss/horizon)"
            )
        label = create("label", config.label.label_type, config.label.label_params, "label.label_params")
        with component_errors("backtest", "label", config.label.label_type):
            rules = label.trade_rules()
        if rules is None:
            raise ConfigError(
                f"backtest.strategy_params.barriers: label {config.label.label_type!r} defines "
                "no trade rules; use barriers='custom'"
            )
        tp = tp if tp is not None else rules.take_profit
        sl = sl if sl is not None else rules.stop_loss
        horizon = horizon if horizon is not None else rules.horizon
        session_end = session_end if session_end is not None else rules.exit_at_session_end
        _warn_if_label_differs(config, rules)
    return ExitRules(
        take_profit=tp,
        stop_loss=sl,
        horizon=horizon,
        exit_on_signal=bool(spec.get("exit_on_signal", True)),
        exit_at_session_end=bool(session_end),
    )


def _warn_if_label_differs(config: "PipelineConfig", rules: Any) -> None:
    from qlop.sim.terms import trade_term_differences

    diffs = [f"{name} {a} vs {b}" for name, a, b in trade_term_differences(rules, config.backtest)]
    if diffs:
        log.warning(
            "backtest trades use the label's barriers but not its %s (label vs backtest): a label of 1 "
            "is not exactly a winning backtest trade",
            ", ".join(diffs),
        )


def benchmark_returns(close: "pd.Series | None", dates: "pd.DatetimeIndex") -> Any:
    """Daily close-to-close benchmark returns on the backtest's dates.

    A date the benchmark has no bar for, between two it has, counts as no change and the next return
    spans the gap (SPY's file lacks 2011-02-17: that day and the next used to be dropped, so the
    benchmark's return compounded to less than its last close over its first); before its first bar
    and after its last the return is NaN (outside its coverage nothing is compared)."""
    import numpy as np

    if close is None:
        return None
    aligned = close.reindex(dates).ffill(limit_area="inside")
    prev = aligned.shift(1)
    return (aligned / prev - 1.0).to_numpy(dtype=np.float64)


# ------------------------------------------------------------------------------------------ run
def compute(config: "PipelineConfig", run_dir: Path) -> dict[str, Any]:
    """Everything the stage writes, in memory: signals, engine result, metrics, benchmark."""
    from qlop.adapters import strategy_inputs
    from qlop.backtest.engine import EngineSettings, run_engine
    from qlop.benchmark import benchmark_for_window
    from qlop.metrics import bar_periods_per_year, performance_metrics

    bt = config.backtest
    if bt is None:
        raise ConfigError("backtest: a [backtest] section is required")
    strategy = create("strategy", bt.strategy_type, bt.strategy_params, "backtest.strategy_params")
    with stage_progress("backtest", total=4, unit="step") as progress:
        # the backtest covers the out-of-sample period: from the first predicted date on
        panel, predictions = strategy_inputs(*read_inputs(config, run_dir, strategy.needs_predictions))
        # the benchmark must cover the window (or the config accepts the overlap) before anything trades
        window = panel.index.get_level_values(1)
        bench = benchmark_for_window(config, window.min(), window.max()) if len(window) else None
        with component_errors("backtest", "strategy", bt.strategy_type):
            signals = strategy.generate_signals(panel, predictions)
        progress.advance(message="signals")
        exits = exit_rules(config, strategy)
        with _rate_field_errors():
            result = run_engine(panel, signals, EngineSettings.from_config(bt), exits)
        progress.advance(message=counted(len(result.trades), "trade"))
        dates = result.equity.index
        bench_close = bench.close if bench is not None else None
        bench_ret = benchmark_returns(bench_close, dates)
        with _rate_field_errors():
            rf = risk_free_returns(bt, dates)
        periods, periods_source = bar_periods_per_year(panel, bt.periods_per_year)
        metrics = performance_metrics(
            result.equity["equity"].to_numpy(),
            bt.initial_capital,
            dates=utc_values(dates),
            gross_exposure=result.equity["gross_exposure"].to_numpy(),
            trades=result.trades,
            benchmark_returns=bench_ret,
            n_trials=bt.n_trials,
            periods_per_year=periods,
            periods_per_year_source=periods_source,
            risk_free_returns=rf,
        )
        with component_errors("backtest", "strategy", bt.strategy_type):
            thresholds = {str(k): float(v) for k, v in (strategy.probability_thresholds() or {}).items()}
        about = bench.metrics() if bench is not None else {"benchmark": None}
        if result.summary is not None:  # a target-weight book: carry and forced closes are the account's
            # (annual_turnover is half the traded notional a year over mean equity, as for round trips)
            metrics.update(result.summary)
        metrics = {
            "strategy": bt.strategy_type,
            **about,
            "n_candidates": result.n_candidates,
            **metrics,
            **assumptions(bt, exits),
        }
        if thresholds:
            metrics["probability_thresholds"] = thresholds
        if len(result.trades) == 0:
            metrics["no_trade_reason"] = no_trade_reason(
                strategy.needs_predictions, predictions, thresholds, signals, result.n_candidates
            )
        progress.advance(message="metrics")
        equity = result.equity.copy()
        equity["risk_free_return"] = rf  # what the book's Sharpe is in excess of, period by period
        if bench_close is not None:
            equity["benchmark"] = _rebased(bench_close, dates, bt.initial_capital)
        progress.advance(message="report")
    return {
        "equity": equity,
        "trades": result.trades,
        "positions": result.positions,
        "metrics": metrics,
        "exits": exits,
    }


def no_trade_reason(
    needs_predictions: bool,
    predictions: "pd.DataFrame | None",
    thresholds: dict[str, float],
    signals: Any,
    n_candidates: int,
) -> str:
    """Why a backtest entered no trade, in one clause the answer prints ("no trade was entered: ...").

    A zero-trade run is a valid result (a strict threshold, a quiet model), so it completes; saying why
    keeps the answer honest instead of showing a flat equity curve and blank ratios.
    """
    import numpy as np

    from qlop.formatting import count

    if needs_predictions:
        column = "prob" if predictions is not None and "prob" in predictions.columns else "pred"
        scores = (
            predictions[column].to_numpy(dtype=np.float64, na_value=np.nan)
            if predictions is not None and column in predictions.columns
            else np.array([])
        )
        scores = scores[np.isfinite(scores)]
        if scores.size == 0:
            return "no trade was entered: the model made no out-of-sample prediction"
        entry, short = thresholds.get("entry"), thresholds.get("short_entry")
        if entry is not None:
            text = (
                f"no trade was entered: the highest predicted probability was {scores.max():.2f}, "
                f"below the entry {entry:g}"
            )
            if short is not None:
                text += f", and the lowest was {scores.min():.2f}, above the short entry {short:g}"
            if scores.max() < entry and (short is None or scores.min() > short):
                return text
    entries = 0
    if signals is not None and "signal" in signals.columns:
        entries = int((signals["signal"].to_numpy() != 0).sum())
    if entries == 0:
        return "no trade was entered: the strategy gave no entry signal"
    if n_candidates:
        return (
            f"no trade was entered: the strategy's {count(n_candidates)} candidate trades could not be "
            "sized (position size, cash, max_positions or the gross-leverage cap)"
        )
    return (
        f"no trade was entered: the strategy signalled on {count(entries)} rows, none of which could "
        "enter (no next bar to enter at)"
    )


def risk_free_returns(bt: Any, dates: "pd.DatetimeIndex") -> Any:
    """The risk-free return of each period of the equity curve (the first is 0): the rate of each
    calendar day in between, compounded daily under the day count (what idle cash earns at that rate)."""
    from qlop.calendar import day_numbers
    from qlop.sim.rates import RateCurve

    days = day_numbers(utc_values(dates))  # intraday: the UTC day of each bar (cash compounds per day)
    return RateCurve.over(bt.risk_free, days, "risk_free").period_returns(days, bt.days_per_year)


def utc_values(dates: "pd.DatetimeIndex") -> Any:
    """The dates as datetime64 values: bar times of an intraday (tz-aware) index in UTC."""
    import pandas as pd

    idx = pd.DatetimeIndex(dates)
    return (idx.tz_convert("UTC").tz_localize(None) if idx.tz is not None else idx).to_numpy()


def assumptions(bt: Any, exits: "ExitRules | None" = None) -> dict[str, Any]:
    """The conventions the numbers rest on, as metrics.json and the report state them: the rates and
    their day count, stop slippage, and the exits the engine actually used (the strategy's barriers,
    completed from the label's when it asks for them)."""
    from qlop.sim.terms import describe_rate

    out: dict[str, Any] = {
        "day_count": bt.day_count,
        "risk_free": describe_rate(bt.risk_free),
        "cash_rate": describe_rate(bt.effective_cash_rate),
        "financing_rate": describe_rate(bt.financing_rate),
        "stop_slippage_bps": bt.stop_slippage_bps,
        "margin_mode": bt.margin_mode,
        "sizing": bt.sizing,
    }
    if exits is not None:
        out["exits"] = {
            "take_profit": exits.take_profit,
            "stop_loss": exits.stop_loss,
            "horizon": exits.horizon,
            "exit_on_signal": exits.exit_on_signal,
            "exit_at_session_end": exits.exit_at_session_end,
        }
    return out


@contextmanager
def _rate_field_errors() -> Iterator[None]:
    """Rate errors name the field as the config spells it (``backtest.risk_free: ...``)."""
    try:
        yield
    except ConfigError as exc:
        if str(exc).split(":", 1)[0] in ("financing_rate", "risk_free", "cash_rate"):
            raise ConfigError(f"backtest.{exc}") from None
        raise


def _rebased(close: "pd.Series", dates: "pd.DatetimeIndex", capital: float) -> Any:
    """The benchmark rebased to the capital on the backtest's dates: a missing bar between two bars is
    the last close (a holiday), but before its first bar and after its last there is no line (a
    partial benchmark is never drawn flat)."""
    aligned = close.reindex(dates).ffill(limit_area="inside")
    first = aligned.dropna()
    if first.empty:
        return aligned * float("nan")
    return aligned / first.iloc[0] * capital


def run(config: "PipelineConfig", run_dir: str | Path) -> dict[str, str]:
    """Stage entry point: compute, then write ``DIR/backtest/`` as one atomic directory."""
    from qlop.atomic import atomic_dir, write_json, write_parquet, write_text
    from qlop.report import backtest_report
    from qlop.report_data import load_run

    layout = RunLayout(run_dir)
    out = compute(config, layout.root)
    # the report explains the whole run: it also reads the labels, folds and predictions beside it
    report_input = load_run(
        layout.root,
        config=config.model_dump(mode="json"),
        metrics=out["metrics"],
        equity=out["equity"],
        trades=out["trades"],
    )
    report = backtest_report(report_input, title=f"{config.name}: {config.backtest.strategy_type}")
    files = {
        "equity": RunLayout.EQUITY,
        "trades": RunLayout.TRADES,
        "metrics": RunLayout.BACKTEST_METRICS,
        "report": RunLayout.REPORT,
    }
    with atomic_dir(layout.backtest_dir) as tmp:
        write_parquet(out["equity"], tmp / files["equity"])
        write_parquet(out["trades"], tmp / files["trades"])
        write_json(tmp / files["metrics"], out["metrics"])
        write_text(tmp / files["report"], report)
        if out["positions"] is not None:  # target-weight books: the positions through time
            write_parquet(out["positions"], tmp / RunLayout.POSITIONS)
            files["positions"] = RunLayout.POSITIONS
    return {name: str(layout.backtest_dir / file) for name, file in files.items()}
