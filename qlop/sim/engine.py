"""Vectorised simulation of one leveraged trade per (ticker, entry bar), for all trades at once.

The label (``leverage_opportunity``) and the backtest engine both call :func:`simulate`, so a label of
1 means exactly "the backtest's exit rules would have made this trade pay off". The semantics are
written out in ``docs/simulator.md``; in short, for a trade entered at the open ``E`` of bar ``e``:

* bars ``e .. e+H-1`` are examined (the entry bar counts, from just after its open);
* a bar (other than the entry bar) that OPENS beyond a barrier exits at that open (gap fill);
  beyond the liquidation price it is a liquidation, else beyond the stop a stop, else beyond the
  take-profit a take-profit; then a strategy exit requested for that open (reason ``signal``);
* inside a bar the adverse level is checked before the take-profit (pessimistic): the adverse level
  is the stop or the liquidation price, whichever is nearer to entry (liquidation on a tie), and it
  fills at exactly that level;
* otherwise the trade exits at the close of bar ``e+H-1`` (``horizon``); with
  ``exit_at_session_end`` at the close of the entry session's last bar if that comes first
  (``session``); or at the close of the ticker's last bar if the data ends first (``end``).

Net return is on the margin: ``L * side * (X/E - 1)`` minus commission and slippage on both legs'
notional, the extra stop slippage of a stop or liquidation fill, the liquidation fee, financing
(longs: a constant rate or a series, :mod:`qlop.sim.rates`) or the borrow fee (shorts), floored at -1.
Carry accrues on calendar days held for a daily panel (exit day - entry day) and on the actual time
held for an intraday one (from the entry bar's open to the exit bar's open or close, see
:class:`qlop.sim.panel.BarClock`), as a fraction of the day count's year.

Implementation: trades are split by side and processed in chunks; each chunk gathers the bars
``e+k`` of its trades' windows into ``(trades, bars)`` matrices (a block of at most 64 bars at a time,
so memory stays bounded for long horizons and trades that exit early stop being scanned), finds each
trade's first barrier bar with one ``argmax`` and resolves the reason and price at that bar only.
When a chunk's entries are dense (labels: nearly every row), the comparisons run on sliding-window
views of the panel with one level per row, so nothing is copied. No Python loop over trades or rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from qlop.sim.panel import DAY_SECONDS, BarClock
from qlop.sim.rates import RateCurve
from qlop.sim.rules import TradeRules
from qlop.sim.terms import RateSeries

#: Exit reasons; ``SimResult.reason`` holds indices into this tuple.
REASONS: tuple[str, ...] = ("horizon", "tp", "sl", "liquidation", "signal", "end", "session")
HORIZON, TP, SL, LIQUIDATION, SIGNAL, END, SESSION = range(len(REASONS))

#: Bars gathered per pass over a trade's window, and gathered cells per chunk of trades: together
#: they bound memory (~2 MB per gathered matrix) whatever the horizons, and let trades that exit early
#: in a long window stop being scanned.
_BLOCK = 64
_CELLS = 1 << 18
_NEVER = np.iinfo(np.int64).max // 4


@dataclass(frozen=True)
class SimResult:
    """Per-trade outcome arrays, aligned with the ``entry_idx`` passed to :func:`simulate`.

    ``exit_idx`` is the panel position of the exit bar; the exit happened at its open when
    ``exit_at_open`` (gap fill or ``signal``), otherwise during it (barrier level) or at its close
    (``horizon``/``end``). ``bars_held = exit_idx - entry_idx + 1`` counts the bars from entry bar to
    exit bar, both included. ``fees`` = commission + slippage on both legs + liquidation fee and
    ``financing`` = interest (longs) or borrow fee (shorts), both as fractions of the margin;
    ``net_return = max(leverage * price_return - fees - financing, -1)``.
    """

    entry_idx: np.ndarray
    exit_idx: np.ndarray
    side: np.ndarray
    entry_price: np.ndarray
    exit_price: np.ndarray
    reason: np.ndarray
    exit_at_open: np.ndarray
    price_return: np.ndarray
    fees: np.ndarray
    financing: np.ndarray
    net_return: np.ndarray
    bars_held: np.ndarray

    def __len__(self) -> int:
        return len(self.entry_idx)

    @property
    def reason_names(self) -> np.ndarray:
        """Exit reasons as strings (object array)."""
        return np.asarray(REASONS, dtype=object)[self.reason]

    def to_frame(self) -> Any:
        """All arrays as a DataFrame, with ``reason`` as strings."""
        import pandas as pd

        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["reason"] = self.reason_names
        return pd.DataFrame(data)


def liquidation_price(entry: Any, side: int, leverage: float, maintenance_margin: float) -> Any:
    """Price at which equity (margin + P&L) equals ``maintenance_margin`` x the current notional.

    Long: ``E (L-1) / (L (1-mm))`` (``-inf`` when ``L <= 1``: never liquidated);
    short: ``E (1+L) / (L (1+mm))``.
    """
    entry = np.asarray(entry, dtype=np.float64)
    lev, mm = float(leverage), float(maintenance_margin)
    if side > 0:
        if lev <= 1.0:
            return np.full_like(entry, -np.inf)
        return entry * ((lev - 1.0) / (lev * (1.0 - mm)))
    return entry * ((1.0 + lev) / (lev * (1.0 + mm)))


def barrier_prices(entry: Any, side: int, rules: TradeRules) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Take-profit, stop-loss and liquidation prices for entries at ``entry`` (absent barrier = +-inf)."""
    entry = np.asarray(entry, dtype=np.float64)
    s = 1.0 if side > 0 else -1.0
    inf = np.full_like(entry, np.inf)
    tp = entry * (1.0 + s * rules.take_profit) if rules.take_profit is not None else s * inf
    sl = entry * (1.0 - s * rules.stop_loss) if rules.stop_loss is not None else -s * inf
    liq = liquidation_price(entry, side, rules.leverage, rules.maintenance_margin)
    return tp, sl, liq


def _as_index(name: str, values: Any, m: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = np.full(m, arr)
    if arr.shape != (m,):
        raise ValueError(f"simulate: {name} must have one value per trade ({m}), got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"simulate: {name} must be integers")
    return arr.astype(np.int64, copy=False)


def simulate(
    open: Any,
    high: Any,
    low: Any,
    close: Any,
    day: Any,
    seg_end: Any,
    entry_idx: Any,
    rules: TradeRules | Mapping[str, Any],
    *,
    side: Any = None,
    horizon: Any = None,
    exit_open_idx: Any = None,
    financing: RateCurve | None = None,
    clock: BarClock | None = None,
) -> SimResult:
    """Simulate one trade per element of ``entry_idx`` on a concatenated multi-ticker panel.

    :param open, high, low, close: float arrays over the whole panel (tickers concatenated, each in
        date order; prices finite and positive).
    :param day: int64 calendar day numbers of each bar (financing counts calendar days); datetime64
        values are converted to day numbers.
    :param seg_end: for every bar, the position of the last bar of its ticker.
    :param entry_idx: the bar whose OPEN is the entry (signal row + 1), one per trade.
    :param rules: the :class:`TradeRules` (or a mapping validated into one).
    :param side: optional per-trade +1/-1 overriding ``rules.side``.
    :param horizon: optional per-trade horizon (bars, >= 1) overriding ``rules.horizon``.
    :param exit_open_idx: optional per-trade bar position; a trade still open at that bar's open exits
        there (reason ``signal``). Negative = no such exit; otherwise it must be > ``entry_idx``.
    :param financing: the financing rate's curve when ``rules.financing_rate`` is a series and the
        caller already loaded it over these days (otherwise it is loaded here, once per process).
    :param clock: an intraday panel's :class:`~qlop.sim.panel.BarClock` (``PanelArrays.clock``):
        financing on the time held, and the sessions ``rules.exit_at_session_end`` closes at. None =
        a daily panel (every bar its own session).
    """
    if not isinstance(rules, TradeRules):
        rules = TradeRules.model_validate(rules)
    o = np.ascontiguousarray(open, dtype=np.float64)
    n = o.shape[0]
    h = np.ascontiguousarray(high, dtype=np.float64)
    lo = np.ascontiguousarray(low, dtype=np.float64)
    c = np.ascontiguousarray(close, dtype=np.float64)
    d = np.asarray(day)
    if d.dtype.kind == "M":  # dates given instead of day numbers
        d = d.astype("datetime64[D]").astype(np.int64)
    d = np.ascontiguousarray(d, dtype=np.int64)
    se = np.ascontiguousarray(seg_end, dtype=np.int64)
    sess = np.arange(n, dtype=np.int64) if clock is None else np.asarray(clock.session_end, dtype=np.int64)
    checks = [("high", h), ("low", lo), ("close", c), ("day", d), ("seg_end", se), ("session_end", sess)]
    if clock is not None:
        checks.append(("clock.time", np.asarray(clock.time)))
    for name, arr in checks:
        if arr.shape != (n,):
            raise ValueError(f"simulate: {name} has shape {arr.shape}, open has {(n,)}")
    e = np.asarray(entry_idx)
    if e.ndim != 1:
        raise ValueError("simulate: entry_idx must be one-dimensional")
    m = e.shape[0]
    e = _as_index("entry_idx", e, m)
    if m and (e.min() < 0 or e.max() >= n):
        raise ValueError(f"simulate: entry_idx out of range [0, {n})")
    end = se[e]
    if m and np.any((end < e) | (end >= n)):
        raise ValueError("simulate: seg_end must point at or after each entry bar, inside the panel")

    if side is None:
        sgn = np.full(m, rules.side_sign, dtype=np.int8)
        groups: list[tuple[int, Any]] = [(rules.side_sign, slice(0, m))]  # slices: views, no copies
    else:
        sgn = _as_index("side", side, m).astype(np.int8)
        if np.any((sgn != 1) & (sgn != -1)):
            raise ValueError("simulate: side must be +1 or -1")
        groups = [(1, np.flatnonzero(sgn == 1)), (-1, np.flatnonzero(sgn == -1))]
    if horizon is None:
        hor: Any = rules.horizon
    else:
        hor = _as_index("horizon", horizon, m)
        if m and hor.min() < 1:
            raise ValueError("simulate: horizon must be >= 1")
    kx = None
    if exit_open_idx is not None:
        xo = _as_index("exit_open_idx", exit_open_idx, m)
        bad = (xo >= 0) & (xo <= e)
        if np.any(bad):
            j = int(np.flatnonzero(bad)[0])
            raise ValueError(f"simulate: exit_open_idx must be after entry_idx (trade {j}: {xo[j]} <= {e[j]})")
        kx = np.where(xo >= 0, xo - e, _NEVER)

    entry_price = o[e]
    if m and not np.all(entry_price > 0):  # also catches NaN
        j = int(np.flatnonzero(~(entry_price > 0))[0])
        raise ValueError(f"simulate: entry price at bar {e[j]} is {entry_price[j]!r}, not a positive price")
    # The range a bar trades over includes its open (robust to open marginally outside [low, high]).
    lo_eff = np.minimum(lo, o)
    hi_eff = np.maximum(h, o)
    # Last bar each trade can reach: horizon bar, the session's last bar (exit_at_session_end), or
    # the ticker's last bar when data ends first.
    stop = np.minimum(sess[e], end) if rules.exit_at_session_end else end
    if m and np.any(stop < e):
        raise ValueError("simulate: session_end must point at or after each entry bar")
    k_last = np.minimum(np.asarray(hor) - 1, stop - e)
    # Row i of a window view holds bars i .. i+block-1; NaN padding past the panel never touches.
    block = min(int(k_last.max()) + 1 if m else 1, _BLOCK)
    pad = np.full(block - 1, np.nan)
    lo_win = np.lib.stride_tricks.sliding_window_view(np.concatenate([lo_eff, pad]), block)
    hi_win = np.lib.stride_tricks.sliding_window_view(np.concatenate([hi_eff, pad]), block)
    chunk = max(_CELLS // block, 256)

    exit_k = np.empty(m, dtype=np.int64)
    exit_price = np.empty(m, dtype=np.float64)
    reason = np.empty(m, dtype=np.int8)
    at_open = np.empty(m, dtype=bool)
    for s, sel in groups:
        size = sel.stop if isinstance(sel, slice) else sel.size
        for start in range(0, size, chunk):
            part = slice(start, min(start + chunk, size)) if isinstance(sel, slice) else sel[start : start + chunk]
            k, px, why, gap = _resolve(
                o,
                lo_eff,
                hi_eff,
                lo_win,
                hi_win,
                c,
                e[part],
                entry_price[part],
                k_last[part],
                None if kx is None else kx[part],
                hor if horizon is None else hor[part],
                s,
                rules,
                end[part] - e[part],
            )
            exit_k[part], exit_price[part], reason[part], at_open[part] = k, px, why, gap

    if financing is None and m and isinstance(rules.financing_rate, RateSeries):
        financing = RateCurve.over(rules.financing_rate, carry_days(d, clock), "financing_rate")
    return settle(
        e,
        e + exit_k,
        sgn,
        entry_price,
        exit_price,
        reason,
        at_open,
        d,
        rules,
        per_trade_side=side is not None,
        financing=financing,
        clock=clock,
    )


def carry_days(day: np.ndarray, clock: BarClock | None) -> np.ndarray:
    """The calendar days a rate curve must cover for carry on this panel: its bars' days, and for an
    intraday panel the day its last bar closes on."""
    if clock is None or day.size == 0:
        return day
    last_close = int(np.max(clock.ends)) // DAY_SECONDS
    return np.array([int(day.min()), max(int(day.max()), last_close)], dtype=np.int64)


def time_exit_reason(k: np.ndarray, hor: Any, to_end: np.ndarray) -> np.ndarray:
    """Reason of an exit at the close of bar offset ``k`` that no barrier or signal caused: ``horizon``
    at the horizon bar, ``end`` at the ticker's last bar (offset ``to_end``), else ``session``."""
    return np.where(k == np.asarray(hor) - 1, HORIZON, np.where(k >= to_end, END, SESSION)).astype(np.int8)


def settle(
    e: np.ndarray,
    exit_idx: np.ndarray,
    sgn: np.ndarray,
    entry_price: np.ndarray,
    exit_price: np.ndarray,
    reason: np.ndarray,
    at_open: np.ndarray,
    day: np.ndarray,
    rules: TradeRules,
    per_trade_side: bool = True,
    financing: RateCurve | None = None,
    clock: BarClock | None = None,
) -> SimResult:
    """Returns, fees and financing of trades whose exit is known (the last step of :func:`simulate`).

    Also used directly for trades known to touch no level, whose exit needs no scan (the backtest's
    quiet trades): one formula for both. ``day`` is indexed by ``e`` and ``exit_idx``; ``financing``
    is the curve of a financing-rate series (loaded over ``day`` when not given); ``clock`` (intraday)
    makes carry accrue on the time held rather than on calendar days.
    """
    lev = rules.leverage
    rel = exit_price / entry_price
    price_return = rel - 1.0
    fees = (rules.cost_rate * lev) * (1.0 + rel)
    if rules.liquidation_fee:
        fees += np.where(reason == LIQUIDATION, rules.liquidation_fee * lev * rel, 0.0)
    if rules.stop_slippage_bps:  # a stop or liquidation fills worse than its level
        fees += np.where((reason == SL) | (reason == LIQUIDATION), rules.stop_cost_rate * lev * rel, 0.0)
    d0, d1 = day[e], day[exit_idx]
    if clock is None:  # daily: the nights held, exit day - entry day
        days = (d1 - d0).astype(np.float64)
    else:  # intraday: the time held, entry open to exit open (gap, signal) or close
        days = clock.held_days(e, exit_idx, at_open)
    year = rules.days_per_year  # the day count: 360.0 (act_360) or 365.0 (act_365)
    short_rate = rules.borrow_fee * lev / year
    if isinstance(rules.financing_rate, RateSeries):  # the rates of the days held, one by one
        if financing is None:
            financing = RateCurve.over(rules.financing_rate, carry_days(day, clock), "financing_rate")
        if clock is None:
            long_carry: Any = financing.accrued(d0, d1) * (max(lev - 1.0, 0.0) / year)
        else:
            t1 = clock.exit_time(exit_idx, at_open)
            long_carry = financing.accrued_seconds(clock.time[e], t1) * (max(lev - 1.0, 0.0) / year)
    else:
        long_carry = days * (rules.financing_rate * max(lev - 1.0, 0.0) / year)
    if not per_trade_side:
        if rules.side_sign < 0:
            np.negative(price_return, out=price_return)
        financing_cost = long_carry if rules.side_sign > 0 else days * short_rate
    else:
        price_return[sgn < 0] *= -1.0
        financing_cost = np.where(sgn > 0, long_carry, days * short_rate)
    net = lev * price_return
    net -= fees
    net -= financing_cost
    np.maximum(net, -1.0, out=net)
    return SimResult(
        entry_idx=e,
        exit_idx=exit_idx,
        side=sgn,
        entry_price=entry_price,
        exit_price=exit_price,
        reason=reason,
        exit_at_open=at_open,
        price_return=price_return,
        fees=fees,
        financing=financing_cost,
        net_return=net,
        bars_held=exit_idx - e + 1,
    )


def _first_touch(
    kb: np.ndarray,
    lo_win: np.ndarray,
    hi_win: np.ndarray,
    e: np.ndarray,
    k_last: np.ndarray,
    adv: np.ndarray | None,
    tp: np.ndarray | None,
    s: int,
) -> None:
    """Write into ``kb`` each trade's first bar offset (<= k_last) whose range reaches a level.

    Windows are scanned ``block`` bars at a time; only trades not yet touched go on to the next block.
    Bars past a trade's ``k_last`` (another ticker's, or padding) may be read within a block: the
    caller's min with ``k_last`` discards such touches.
    """
    block = lo_win.shape[1]
    worst, best = (lo_win, hi_win) if s > 0 else (hi_win, lo_win)
    m = e.shape[0]
    active = np.arange(m)
    col = 0
    while active.size:
        if col == 0:
            lo_row, hi_row = int(e.min()), int(e.max())
            if hi_row - lo_row < 2 * m:
                # Dense entries (labels: nearly every row): compare on the window views directly, one
                # level per panel row, instead of copying every trade's window. Levels depend only on
                # the entry bar here (one side, one set of rules), so repeated entries agree.
                first, hit = _touch_rows(
                    worst, best, slice(lo_row, hi_row + 1), e - lo_row, adv, tp, s, hi_row - lo_row + 1
                )
            else:
                first, hit = _touch_trades(worst, best, e, adv, tp, s)
        else:
            first, hit = _touch_trades(
                worst,
                best,
                e[active] + col,
                None if adv is None else adv[active],
                None if tp is None else tp[active],
                s,
            )
        kb[active[hit]] = col + first[hit]
        col += block
        active = active[~hit & (k_last[active] >= col)]


def _compare(path: np.ndarray, level: np.ndarray, at_or_below: bool) -> np.ndarray:
    return path <= level[:, None] if at_or_below else path >= level[:, None]


def _first_true(touch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column of each row's first True, and whether the row has one."""
    first = touch.argmax(axis=1)
    return first, touch.ravel()[np.arange(touch.shape[0]) * touch.shape[1] + first]


def _touch_trades(
    worst: np.ndarray, best: np.ndarray, rows: np.ndarray, adv: np.ndarray | None, tp: np.ndarray | None, s: int
) -> tuple[np.ndarray, np.ndarray]:
    """First touch per trade, gathering each trade's block of bars (window rows ``rows``)."""
    touch = None
    if adv is not None:
        touch = _compare(worst[rows], adv, s > 0)
    if tp is not None:
        fav = _compare(best[rows], tp, s < 0)
        touch = fav if touch is None else (touch | fav)
    return _first_true(touch)


def _touch_rows(
    worst: np.ndarray,
    best: np.ndarray,
    span: slice,
    offset: np.ndarray,
    adv: np.ndarray | None,
    tp: np.ndarray | None,
    s: int,
    size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """First touch per trade from per-row levels over a span of window rows (rows without a trade: NaN)."""
    touch = None
    for view, level, below in ((worst, adv, s > 0), (best, tp, s < 0)):
        if level is None:
            continue
        per_row = np.full(size, np.nan)
        per_row[offset] = level
        t = _compare(view[span], per_row, below)
        touch = t if touch is None else (touch | t)
    first, hit = _first_true(touch)
    return first[offset], hit[offset]


def _resolve(
    o: np.ndarray,
    lo_eff: np.ndarray,
    hi_eff: np.ndarray,
    lo_win: np.ndarray,
    hi_win: np.ndarray,
    c: np.ndarray,
    e: np.ndarray,
    entry: np.ndarray,
    k_last: np.ndarray,
    kx: np.ndarray | None,
    hor: Any,
    s: int,
    rules: TradeRules,
    to_end: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exit bar offset, price, reason and at-open flag for one chunk of same-side trades (``to_end``:
    offset of each trade's ticker's last bar)."""
    m = e.shape[0]
    tp, sl, liq = barrier_prices(entry, s, rules)
    # The adverse level is whichever of stop and liquidation the price reaches first.
    liq_first = liq >= sl if s > 0 else liq <= sl
    adv = np.where(liq_first, liq, sl)
    has_adv = bool(np.any(np.isfinite(adv)))
    has_tp = rules.take_profit is not None

    kb = np.full(m, _NEVER, dtype=np.int64)  # first bar offset with a barrier touch
    if has_adv or has_tp:
        _first_touch(kb, lo_win, hi_win, e, k_last, adv if has_adv else None, tp if has_tp else None, s)

    k = np.minimum(kb, k_last) if kx is None else np.minimum(np.minimum(kb, kx), k_last)
    i = e + k
    oo = o[i]
    later = k >= 1
    if s > 0:
        gap_liq = later & (oo <= liq)
        gap_sl = later & (oo <= sl)
        gap_tp = later & (oo >= tp)
    else:
        gap_liq = later & (oo >= liq)
        gap_sl = later & (oo >= sl)
        gap_tp = later & (oo <= tp)
    barrier_bar = kb == k
    signal = np.zeros(m, dtype=bool) if kx is None else (kx == k) & ~(gap_liq | gap_sl | gap_tp)
    # Inside the bar: a touch of the adverse level beats the take-profit (pessimistic).
    bar_lo, bar_hi = lo_eff[i], hi_eff[i]
    intra_adv = barrier_bar & ((bar_lo <= adv) if s > 0 else (bar_hi >= adv)) & ~signal

    reason = time_exit_reason(k, hor, to_end)
    price = c[i].copy()
    # Assign from lowest to highest priority so that later assignments win.
    intra_tp = barrier_bar & ~signal & ~intra_adv
    reason[intra_tp] = TP
    price[intra_tp] = tp[intra_tp]
    reason[intra_adv] = np.where(liq_first[intra_adv], LIQUIDATION, SL)
    price[intra_adv] = adv[intra_adv]
    reason[signal] = SIGNAL
    price[signal] = oo[signal]
    for mask, code in ((gap_tp, TP), (gap_sl, SL), (gap_liq, LIQUIDATION)):
        reason[mask] = code
        price[mask] = oo[mask]
    at_open = signal | gap_tp | gap_sl | gap_liq
    return k, price, reason, at_open
