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
def load_numba() -> None:
    """Import numba with its array registries, skipping the scipy import of numba's BLAS probe.

    A process's first compiled call loads every numba implementation registry; one of them
    (``numba.np.arraymath``) imports ``scipy.linalg`` only to set a flag saying whether BLAS is
    there (about 0.3 s of the 0.9 s a first backtest took; no QLOP kernel uses BLAS). scipy is a
    QLOP dependency, so the probe's answer is known: the registry is imported with the probe
    answering yes, then the probe is put back, and numba code that does use BLAS still runs numba's
    own checks (and imports scipy) when it is compiled."""
    import importlib.util
    import sys

    import numba.np.linalg as nplinalg

    probe = getattr(nplinalg, "ensure_blas", None)
    if "numba.np.arraymath" in sys.modules or probe is None or importlib.util.find_spec("scipy") is None:
        return  # already loaded, or not the layout this was written for: numba's own way
    nplinalg.ensure_blas = lambda: None
    try:
        import numba.np.arraymath as arraymath
    finally:
        nplinalg.ensure_blas = probe
    if getattr(arraymath, "ensure_blas", None) is not None:
        arraymath.ensure_blas = probe


@cache
def _kernels() -> dict[str, Any]:
    load_numba()
    from qlop.backtest import kernels_jit as k

    return {
        "quiet_windows": k.quiet_windows,
        "fill_marks": k.fill_marks,
        "size_books": k.size_books,
        "segment_starts": k.segment_starts,
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
