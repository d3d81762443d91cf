"""Compiled per-row loops of the engine (numba), where numpy needs many full-length passes.

Each kernel does the same floating-point operations, in the same order, as the numpy expression it
replaces (no fast-math), so results are bit-for-bit those of the vectorised formulas written out in
``docs/backtest.md``. numba is imported on first use only: ``import qlop.backtest`` stays light.
Compiled code is cached next to this module (``cache=True``), so only the first run on a machine
pays the compilation (about a second per kernel).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np


@cache
def _kernels() -> dict[str, Any]:
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

    return {
        "quiet_windows": quiet_windows,
        "fill_marks": fill_marks,
        "size_books": size_books,
        "segment_starts": segment_starts,
    }


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
    """See the compiled kernel: whether each trade's window stays strictly inside its levels."""
    return _kernels()["quiet_windows"](low, high, open_, e, g, side, adv, tp, check_adv, check_tp, o_f, by_open)


def fill_marks(
    row_k: np.ndarray,
    ev_cash: np.ndarray,
    ev_a: np.ndarray,
    ev_b: np.ndarray,
    ev_g: np.ndarray,
    ev_in: np.ndarray,
    close: np.ndarray,
    day: np.ndarray,
    acc: np.ndarray | None = None,
    ev_acc: np.ndarray | None = None,
    growth: np.ndarray | None = None,
    growth_day0: int = 0,
    ev_growth: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """Per-row ``value, cash, gross, expo, npos`` from each row's last event (see the kernel): ``acc``
    / ``ev_acc`` for a financing series, ``growth`` (per calendar day from ``growth_day0``) /
    ``ev_growth`` for interest on cash."""
    n = close.shape[0]
    value, cash, gross, expo = (np.empty(n) for _ in range(4))
    npos = np.empty(n, dtype=np.int8)
    none_f, none_b = np.empty(0), np.empty(0, dtype=np.bool_)
    _kernels()["fill_marks"](
        row_k,
        ev_cash,
        ev_a,
        ev_b,
        ev_g,
        ev_in,
        close,
        day,
        none_f if acc is None else acc,
        none_b if ev_acc is None else ev_acc,
        none_f if growth is None else growth,
        int(growth_day0),
        none_f if ev_growth is None else ev_growth,
        acc is not None,
        growth is not None,
        value,
        cash,
        gross,
        expo,
        npos,
    )
    return value, cash, gross, expo, npos


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
    taken: np.ndarray,
    margin: np.ndarray,
    topup_entry: np.ndarray,
    topup_exit: np.ndarray,
    pnl: np.ndarray,
    growth: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    cash_entry: np.ndarray | None = None,
    cash_exit: np.ndarray | None = None,
) -> None:
    """Size one-ticker books' trades in order, writing the outputs in place (see the kernel);
    ``growth`` = (per book at its start, per candidate at entry, at exit) when cash earns interest."""
    none = np.empty(0)
    g_start, g_entry, g_exit = growth if growth is not None else (none, none, none)
    _kernels()["size_books"](
        ids,
        books,
        weight,
        entry_price,
        exit_price,
        net_return,
        float(initial_capital),
        float(position_size),
        float(max_gross_leverage),
        float(lev),
        float(dust),
        float(bust),
        float(min_commission),
        float(commission),
        growth is not None,
        g_start,
        g_entry,
        g_exit,
        taken,
        margin,
        topup_entry,
        topup_exit,
        pnl,
        none if cash_entry is None else cash_entry,
        none if cash_exit is None else cash_exit,
    )


def segment_starts(seg_end: np.ndarray) -> np.ndarray:
    """First row of every ticker segment (``seg_end[i]``: last row of row ``i``'s segment)."""
    return _kernels()["segment_starts"](np.ascontiguousarray(seg_end, dtype=np.int64))
