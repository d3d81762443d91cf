"""Target-weight books: positions resized to a fraction of equity, volatility targeting, and the
account's margin mode (isolated or cross).

A strategy that returns a signed ``weight`` per (ticker, date) and no ``signal`` asks for a target
notional of ``weight x equity`` from the next open of that ticker; a NaN weight (or a missing row)
holds what is there. A signal strategy comes here too when ``sizing = "vol_target"`` or
``margin_mode = "cross"`` (:func:`raw_targets` turns its signals into targets). The bar loop is one
compiled kernel (:mod:`qlop.backtest.rebalance_kernel`); the rules are in ``docs/backtest.md``
("Target weights, volatility targeting and margin modes").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from qlop.backtest.costs import CostModel
from qlop.backtest.rebalance_kernel import (
    FILL_KINDS,
    N_STATS,
    rebalance_books,
    rolling_vol,
    signal_targets,
    vol_targets,
)
from qlop.backtest.sizing import BUST
from qlop.sim.panel import PanelArrays
from qlop.sim.rates import RateCurve

#: Trading bars per year that annualise a realised volatility (daily bars).
VOL_PERIODS = 252.0


@dataclass
class PortfolioArrays:
    """What the bar loop computed: per slot (one date of one book) the marks, the fills, per-book totals."""

    slot_off: np.ndarray  # per book its first slot (len n_books + 1)
    slot_day: np.ndarray
    slot_book: np.ndarray
    equity: np.ndarray
    cash: np.ndarray
    gross: np.ndarray
    net: np.ndarray
    n_positions: np.ndarray
    fill_row: np.ndarray  # panel row of the fill's ticker (its last bar for a fill at a close without one)
    fill_slot: np.ndarray
    fill_kind: np.ndarray  # index into FILL_KINDS
    fill: np.ndarray  # (n, 6): quantity, price, fees, pnl, weight before, weight after
    stats: np.ndarray  # (n_books, N_STATS): interest, financing, borrow fee, calls, liquidations, bust slot, deficit


def raw_targets(
    arr: PanelArrays,
    signal: np.ndarray | None,
    weight: np.ndarray,
    settings: Any,
) -> np.ndarray:
    """Per row the target weight before the book's caps (NaN: hold).

    ``signal`` None: ``weight`` is the strategy's target (signed, NaN = hold). With signals: under
    ``sizing = "fixed"`` a target is set where the signal changes, ``signal x weight x position_size x
    leverage`` (the notional the signal engine would open, then held); under ``"vol_target"`` every row
    is a target, ``signal x weight``. ``"vol_target"`` then multiplies by ``target_vol`` / the ticker's
    realised volatility to that close (0 until it has ``vol_lookback`` returns) and caps each target at
    ``max_leverage``.
    """
    if settings.sizing == "vol_target":
        return vol_targets(
            arr.close,
            arr.seg_end,
            signal,
            weight,
            settings.vol_lookback,
            VOL_PERIODS,
            settings.target_vol,
            settings.max_leverage,
        )
    if signal is None:
        return np.asarray(weight, dtype=np.float64)
    return signal_targets(signal, weight, arr.seg_start, settings.position_size * settings.leverage, False)


def _cells(arr: PanelArrays, code: np.ndarray, book_of_code: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per book its calendar (the union of its tickers' dates) and, per (date, ticker), the panel row
    of that bar or -1: ``cell_row``, ``cell_off``, ``slot_off``, ``n_tick``, ``slot_day``, ``slot_book``."""
    n = len(arr)
    n_codes = book_of_code.shape[0]
    n_books = int(book_of_code.max()) + 1 if n_codes else 0
    n_tick = np.bincount(book_of_code, minlength=n_books).astype(np.int64)
    if (
        n_codes and np.array_equal(book_of_code, np.arange(n_codes)) and (n < 2 or bool(np.all(code[1:] >= code[:-1])))
    ):  # one ticker per book in row order: slots are rows, cells are rows
        off = np.searchsorted(code, np.arange(n_books + 1), side="left").astype(np.int64)
        return (
            np.arange(n, dtype=np.int64),
            off,
            off,
            n_tick,
            np.asarray(arr.day, dtype=np.int64),
            np.asarray(code, dtype=np.int64),
        )
    cells, slot_days, sizes, cell_sizes = [], [], [], []
    for b in range(n_books):
        codes_b = np.flatnonzero(book_of_code == b)
        in_b = np.isin(code, codes_b)
        cal = np.unique(arr.day[in_b])
        table = np.full((cal.size, codes_b.size), -1, dtype=np.int64)
        for j, cb in enumerate(codes_b):
            r = np.flatnonzero(code == cb)
            table[np.searchsorted(cal, arr.day[r]), j] = r
        cells.append(table.ravel())
        slot_days.append(cal)
        sizes.append(cal.size)
        cell_sizes.append(table.size)
    slot_off = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    cell_off = np.concatenate(([0], np.cumsum(cell_sizes))).astype(np.int64)
    return (
        np.concatenate(cells).astype(np.int64) if cells else np.zeros(0, np.int64),
        cell_off,
        slot_off,
        n_tick,
        np.concatenate(slot_days).astype(np.int64) if slot_days else np.zeros(0, np.int64),
        np.repeat(np.arange(n_books, dtype=np.int64), sizes),
    )


def run_portfolio_arrays(
    arr: PanelArrays, code: np.ndarray, target: np.ndarray, settings: Any, book_of_code: np.ndarray
) -> PortfolioArrays:
    """The bar loop over every book (``target``: per row, from :func:`raw_targets`)."""
    cell_row, cell_off, slot_off, n_tick, slot_day, slot_book = _cells(arr, code, book_of_code)
    n_slots = int(slot_off[-1]) if slot_off.size else 0
    terms = settings.terms
    # the books' calendars hold every date of the panel, and the cost model reads only their span
    span_ends = np.array([slot_day.min(), slot_day.max()], dtype=np.int64) if n_slots else slot_day
    costs = CostModel.over(terms, span_ends)
    if n_slots:
        day0, day1 = int(span_ends[0]), int(span_ends[1])
        span = np.arange(day0, day1 + 1, dtype=np.int64)
        growth = np.ascontiguousarray(costs.cash_growth(span), dtype=np.float64)
        curve = costs.financing or RateCurve.over(terms.financing_rate, span, "financing_rate")
        fin_acc = np.ascontiguousarray(curve.rate_days(span), dtype=np.float64)
    else:
        day0, growth, fin_acc = 0, np.ones(1), np.zeros(1)
    ret = np.empty(0)  # read only by the book's volatility scaling
    if settings.portfolio_target_vol > 0 and len(arr):
        _, ret = rolling_vol(arr.close, arr.seg_end, 2, VOL_PERIODS)
    target = np.ascontiguousarray(target, dtype=np.float64)
    out = [np.empty(n_slots) for _ in range(4)]
    npos = np.empty(n_slots, dtype=np.int64)
    stats = np.zeros((n_slots and slot_off.size - 1, N_STATS))
    capacity = max(64, 2 * int(np.count_nonzero(~np.isnan(target))) + 2)
    while True:
        f = np.empty((capacity, 6))
        fi = np.empty((capacity, 3), dtype=np.int64)
        n_f = rebalance_books(
            np.ascontiguousarray(arr.open, dtype=np.float64),
            np.ascontiguousarray(arr.close, dtype=np.float64),
            ret,
            target,
            cell_row,
            cell_off,
            slot_off,
            n_tick,
            slot_day,
            growth,
            fin_acc,
            day0,
            costs.earns_interest,
            float(terms.days_per_year),
            float(terms.borrow_fee),
            float(settings.initial_capital),
            float(terms.leverage),
            float(terms.maintenance_margin),
            float(terms.commission_bps) / 1e4,
            float(terms.min_commission),
            float(terms.slippage_bps) / 1e4,
            float(terms.stop_slippage_bps) / 1e4,
            float(terms.liquidation_fee),
            float(settings.rebalance_band),
            float(settings.min_trade_value),
            settings.margin_mode == "cross",
            float(min(settings.max_gross_leverage, terms.leverage)),
            float(settings.portfolio_target_vol),
            int(settings.vol_lookback),
            VOL_PERIODS,
            BUST,
            *out,
            npos,
            f,
            fi,
            stats,
        )
        if n_f >= 0:
            break
        capacity *= 4  # every fill is a position opened, resized or closed: rarely more than the bound
    # drop the unused tail in place (the allocator shrinks the block; a copy would fault in fresh pages)
    f.resize((n_f, 6), refcheck=False)
    fi.resize((n_f, 3), refcheck=False)
    return PortfolioArrays(slot_off, slot_day, slot_book, *out, npos, fi[:, 0], fi[:, 1], fi[:, 2], f, stats)


# ----------------------------------------------------------------------------------- frame level
@dataclass
class PortfolioResult:
    """``equity`` as the signal engine's; ``trades``: one row per fill; ``positions``: one row per
    (date, ticker) with a position after the close; ``summary``: the book's totals for metrics.json."""

    equity: Any
    trades: Any
    positions: Any
    summary: dict[str, Any]
    arrays: PortfolioArrays


def fills_frame(out: PortfolioArrays, names: np.ndarray, code: np.ndarray) -> Any:
    """One row per fill (resize at an open, liquidation, margin call, bust close), in time order.

    The columns the metrics and the report read from a trade list are there with a fill's meaning:
    ``entry_date`` = ``exit_date`` = the fill's date, ``entry_notional`` = the traded notional,
    ``exit_reason`` = ``liquidation`` for every forced close (``reason`` says which kind)."""
    import pandas as pd

    f = out.fill
    day = out.slot_day[out.fill_slot].astype("datetime64[D]")
    date = pd.to_datetime(day).astype("datetime64[ns]")
    qty = f[:, 0]
    notional = np.abs(qty) * f[:, 1]
    reason = np.asarray(FILL_KINDS, dtype=object)[out.fill_kind].astype(str)
    pnl = f[:, 3]
    frame = pd.DataFrame(
        {
            "ticker": names[code[out.fill_row]].astype(str),
            "date": date,
            "side": np.where(qty > 0, "buy", "sell"),
            "reason": reason,
            "quantity": qty,
            "price": f[:, 1],
            "notional": notional,
            "weight_before": f[:, 4],
            "weight_after": f[:, 5],
            "fees": f[:, 2],
            "pnl": pnl,
            "return": np.divide(pnl, notional, out=np.zeros_like(pnl), where=notional > 0),
            "financing": np.zeros(qty.size),
            "entry_date": date,
            "exit_date": date,
            "entry_price": f[:, 1],
            "exit_price": f[:, 1],
            "entry_notional": notional,
            "exit_notional": np.zeros(qty.size),
            "exit_reason": np.where(out.fill_kind == 0, "rebalance", "liquidation"),
        }
    )
    return frame


def positions_frame(trades: Any, panel: Any, equity: Any, one_book: bool, book_of: dict[str, str]) -> Any:
    """Per (date, ticker) the position after the close: ``quantity``, ``close``, ``notional`` (signed)
    and ``weight`` = notional / the book's equity; only rows holding a position."""
    import pandas as pd

    if trades.empty:
        return pd.DataFrame(
            {"ticker": pd.Series(dtype=str), "date": pd.Series(dtype="datetime64[ns]")}
            | {c: pd.Series(dtype=float) for c in ("quantity", "close", "notional", "weight")}
        )
    flows = trades.groupby(["ticker", "date"], sort=True)["quantity"].sum()
    close = panel["close"]
    rows = []
    for ticker, part in flows.groupby(level=0, sort=False):
        qty = part.droplevel(0).cumsum()
        c = close.loc[ticker]
        held = qty.reindex(qty.index.union(c.index)).ffill().fillna(0.0).reindex(c.index)
        held = held.where(held.abs() > 1e-12 * held.abs().max(), 0.0)
        frame = pd.DataFrame({"ticker": ticker, "date": c.index, "quantity": held.to_numpy(), "close": c.to_numpy()})
        rows.append(frame[frame["quantity"] != 0])
    pos = pd.concat(rows, ignore_index=True)
    pos["notional"] = pos["quantity"] * pos["close"]
    if one_book:
        eq = equity["equity"].reindex(pos["date"]).to_numpy()
    else:
        keys = pd.MultiIndex.from_arrays([[book_of[t] for t in pos["ticker"]], pos["date"]])
        eq = equity["equity"].reindex(keys).to_numpy()
    pos["weight"] = np.divide(pos["notional"].to_numpy(), eq, out=np.zeros(len(pos)), where=eq > 0)
    return pos.sort_values(["date", "ticker"], kind="mergesort").reset_index(drop=True)


def summary(out: PortfolioArrays, settings: Any, names_of_books: np.ndarray) -> dict[str, Any]:
    """The book's totals for metrics.json (summed over books): mode, carry, forced closes, bust."""
    st = out.stats
    bust = st[:, 5] >= 0
    first_bust = None
    if bust.any():
        slot = int(st[bust, 5].min())
        first_bust = str(np.datetime64(int(out.slot_day[slot]), "D"))
    return {
        "engine": "target_weights",
        "margin_mode": settings.margin_mode,
        "sizing": settings.sizing,
        "interest_earned": float(st[:, 0].sum()),
        "financing_paid": float(st[:, 1].sum() + st[:, 2].sum()),
        "borrow_fees_paid": float(st[:, 2].sum()),
        "margin_calls": int(st[:, 3].sum()),
        "isolated_liquidations": int(st[:, 4].sum()),
        "bust": bool(bust.any()),
        "bust_date": first_bust,
        "bust_deficit": float(st[:, 6].sum()),
        "n_fills": int(out.fill.shape[0]),
        "traded_notional": float(np.sum(np.abs(out.fill[:, 0]) * out.fill[:, 1])),
    }
