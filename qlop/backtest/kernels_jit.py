"""The compiled bodies of :mod:`qlop.backtest.kernels` (numba, imported on first use only).

Module-level functions, so numba's on-disk cache (``cache=True``) holds them and a process's first
backtest loads machine code instead of compiling (functions defined inside another function were
compiled again in every process).
"""

# mypy: ignore-errors
# ruff: noqa: ANN001, ANN201

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def quiet_windows(
    low: np.ndarray,
    high: np.ndarray,
    open_: np.ndarray,
    e: np.ndarray,
    g: np.ndarray,
    side: np.ndarray,
    adv: np.ndarray,
    tp: np.ndarray,
    check_adv: bool,
    check_tp: bool,
    o_f: np.ndarray,
    by_open: np.ndarray,
) -> np.ndarray:
    """Per trade: every bar ``e .. g`` trades strictly inside its levels (adverse ``adv``,
    take-profit ``tp``), and so does the open of the bar it may leave at (``o_f`` when
    ``by_open``). A bar's range is ``min(low, open) .. max(high, open)``; NaN never counts as
    inside (as numpy's ``minimum``/``maximum`` propagate it)."""
    m = e.shape[0]
    out = np.empty(m, dtype=np.bool_)
    for j in range(m):
        ok = True
        lv, up = adv[j], tp[j]
        if side[j] > 0:
            if by_open[j]:
                if check_adv and not (o_f[j] > lv):
                    ok = False
                if check_tp and not (o_f[j] < up):
                    ok = False
            i = e[j]
            while ok and i <= g[j]:
                if check_adv and not (low[i] > lv and open_[i] > lv):
                    ok = False
                if check_tp and not (high[i] < up and open_[i] < up):
                    ok = False
                i += 1
        else:
            if by_open[j]:
                if check_adv and not (o_f[j] < lv):
                    ok = False
                if check_tp and not (o_f[j] > up):
                    ok = False
            i = e[j]
            while ok and i <= g[j]:
                if check_adv and not (high[i] < lv and open_[i] < lv):
                    ok = False
                if check_tp and not (low[i] > up and open_[i] > up):
                    ok = False
                i += 1
        out[j] = ok
    return out


@njit(cache=True, nogil=True)
def fill_marks(
    row_k: np.ndarray,
    ev_cash: np.ndarray,
    ev_a: np.ndarray,
    ev_b: np.ndarray,
    ev_g: np.ndarray,
    ev_in: np.ndarray,
    close: np.ndarray,
    day: np.ndarray,
    acc: np.ndarray,
    ev_acc: np.ndarray,
    growth: np.ndarray,
    growth_day0: int,
    ev_growth: np.ndarray,
    use_acc: bool,
    interest: bool,
    value: np.ndarray,
    cash: np.ndarray,
    gross: np.ndarray,
    expo: np.ndarray,
    npos: np.ndarray,
) -> None:
    """Each row takes the state of its last event (``row_k`` sorted, ``row_k[0] == 0``):
    ``expo = b * close``, ``value = max(g * clock + a + expo, 0) + cash``, ``gross = |expo|``.
    The clock is the calendar day, or the financing series' accrual index ``acc`` for events with
    ``ev_acc`` (when ``use_acc``); with ``interest`` the event's cash grows as
    ``cash * growth[day - growth_day0] / ev_growth`` (``growth``: one entry per calendar day)."""
    n = close.shape[0]
    nk = row_k.shape[0]
    for k in range(nk):  # the rows from one event to the next share its coefficients
        stop = row_k[k + 1] if k + 1 < nk else n
        ca, a, b, g, held = ev_cash[k], ev_a[k], ev_b[k], ev_g[k], ev_in[k]
        by_acc = use_acc and ev_acc[k]
        g0 = ev_growth[k] if interest else 1.0
        for i in range(row_k[k], stop):
            ex = b * close[i]
            if by_acc:
                v = g * acc[i]
            else:
                v = g * np.float64(day[i])
            v = v + a
            v = v + ex
            if v < 0.0:
                v = 0.0
            c = ca * (growth[day[i] - growth_day0] / g0) if interest else ca
            value[i] = v + c
            cash[i] = c
            expo[i] = ex
            gross[i] = abs(ex)
            npos[i] = held


@njit(inline="always")
def np_min(a: float, b: float) -> float:  # np.minimum: NaN in a propagates
    return a if (a <= b or a != a) else b


@njit(inline="always")
def np_max(a: float, b: float) -> float:  # np.maximum
    return a if (a >= b or a != a) else b


@njit(cache=True, nogil=True)
def size_books(
    ids: np.ndarray,
    books: np.ndarray,
    weight: np.ndarray,
    entry_price: np.ndarray,
    exit_price: np.ndarray,
    net_return: np.ndarray,
    initial_capital: float,
    position_size: float,
    max_gross_leverage: float,
    lev: float,
    dust: float,
    bust: float,
    min_commission: float,
    commission: float,
    interest: bool,
    g_start: np.ndarray,
    g_entry: np.ndarray,
    g_exit: np.ndarray,
    taken: np.ndarray,
    margin_out: np.ndarray,
    te_out: np.ndarray,
    tx_out: np.ndarray,
    pnl_out: np.ndarray,
    cash_entry: np.ndarray,
    cash_exit: np.ndarray,
) -> None:
    """Trade after trade within each one-ticker book (``ids`` sorted by book, then entry): the
    equity at an entry is the book's cash, the initial capital plus the realised P&L of its
    earlier trades, and with ``interest`` the interest that cash earned (``growth`` ratios of the
    days: ``g_start`` per book, ``g_entry`` / ``g_exit`` per candidate); the cash right after each
    entry and exit is written to ``cash_entry`` / ``cash_exit``."""
    equity = initial_capital
    g_cash = 1.0  # growth of the day ``equity`` was valued on
    for j in range(ids.shape[0]):
        if j == 0 or books[j] != books[j - 1]:
            equity = initial_capital
            if interest:
                g_cash = g_start[books[j]]
        i = ids[j]
        e = equity * (g_entry[i] / g_cash) if interest else equity
        wanted = position_size * weight[i] * lev * e
        notional = np_min(np_min(wanted, max_gross_leverage * e), lev * e)
        if not (e > bust * initial_capital and notional > dust * e):
            continue
        margin = notional / lev
        te = 0.0
        tx = 0.0
        if min_commission > 0:
            rel = exit_price[i] / entry_price[i]
            n = margin * lev
            te = np_max(min_commission - commission * n, 0.0)
            tx = np_max(min_commission - commission * n * rel, 0.0)
        pnl = np_max(margin * net_return[i] - te - tx, -margin)
        taken[i] = True
        margin_out[i] = margin
        te_out[i] = te
        tx_out[i] = tx
        pnl_out[i] = pnl
        if interest:
            rest = e - margin
            cash_entry[i] = rest
            equity = rest * (g_exit[i] / g_entry[i]) + (margin + pnl)
            cash_exit[i] = equity
            g_cash = g_exit[i]
        else:
            equity = e + pnl


@njit(cache=True, nogil=True)
def segment_starts(seg_end: np.ndarray) -> np.ndarray:
    """First row of every ticker, hopping from segment to segment (one step per ticker)."""
    n = seg_end.shape[0]
    count = 0
    r = 0
    while r < n:
        count += 1
        r = max(seg_end[r] + 1, r + 1)
    out = np.empty(count, dtype=np.int64)
    r = 0
    for k in range(count):
        out[k] = r
        r = max(seg_end[r] + 1, r + 1)
    return out
