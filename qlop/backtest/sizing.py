"""Which candidates a book takes, and with how much margin: the only sequential part of the engine.

Sizing rule, at the open of the entry day ``D`` (after the exits at that open are settled):

- ``equity`` = cash + the value of every open position marked at ``D``'s open (its ticker's open if
  it trades on ``D``, else its last close), financing accrued to ``D``;
- ``gross`` = the notional of the open positions at those same prices;
- candidates entering at ``D`` are taken in order of ``score`` (highest first), then ticker;
- a candidate is skipped when ``max_positions`` are already open or equity is not positive;
  otherwise its notional is the smallest of
  ``position_size * weight * leverage * equity`` (the wanted size),
  ``max_gross_leverage * equity - gross`` (room under the gross cap: a binding cap scales the
  position down), and ``leverage * cash`` (its margin must come out of cash);
  a notional below ``1e-9 * equity`` is skipped rather than opened as dust;
- margin = notional / leverage; quantity = notional / entry price (fractional shares).

Two implementations of that one rule:

- :func:`size_single` for books holding one ticker: positions never overlap in time (a flip closes
  at the open before the new entry), so equity at an entry is the cash left by the previous trade.
  One compiled loop over the trades (:mod:`qlop.backtest.kernels`), book after book.
- :func:`size_multi` for books sharing capital across tickers: an event loop over entry days,
  vectorised across the positions open on each day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qlop.backtest.candidates import Candidates
from qlop.backtest.costs import CostModel
from qlop.backtest.kernels import size_books

#: A computed notional below this fraction of equity is skipped instead of opened.
DUST = 1e-9
#: A book whose equity is at most this fraction of its initial capital is bust and opens nothing:
#: a wiped-out book can be left a rounding error above (or below) zero, and must not trade dust.
BUST = 1e-9


@dataclass(frozen=True)
class SizingRules:
    initial_capital: float
    position_size: float
    max_positions: int
    max_gross_leverage: float


@dataclass
class Sized:
    """Per-candidate results (aligned with the candidates; zero where not taken)."""

    taken: np.ndarray
    margin: np.ndarray
    topup_entry: np.ndarray
    topup_exit: np.ndarray
    pnl: np.ndarray
    cash_entry: np.ndarray  # one-ticker books whose cash earns interest: cash right after the entry
    cash_exit: np.ndarray  # ... and right after the exit

    @classmethod
    def empty(cls, n: int) -> "Sized":
        z = np.zeros(n, dtype=np.float64)
        return cls(np.zeros(n, dtype=bool), z.copy(), z.copy(), z.copy(), z.copy(), z.copy(), z.copy())


def _apply(out: Sized, ids: np.ndarray, margin: np.ndarray, cand: Candidates, costs: CostModel) -> np.ndarray:
    """Record taken trades ``ids`` with their margins; return their realised P&L."""
    rel = cand.exit_price[ids] / cand.entry_price[ids]
    te, tx = costs.topups(margin * costs.leverage, rel)
    pnl = costs.pnl(margin, cand.net_return[ids], te, tx)
    out.taken[ids] = True
    out.margin[ids] = margin
    out.topup_entry[ids] = te
    out.topup_exit[ids] = tx
    out.pnl[ids] = pnl
    return pnl


def size_single(
    cand: Candidates,
    weight: np.ndarray,
    ids: np.ndarray,
    books: np.ndarray,
    rules: SizingRules,
    costs: CostModel,
    out: Sized,
    start_day: np.ndarray | None = None,
    day: np.ndarray | None = None,
) -> None:
    """Size the trades of one-ticker books: ``ids`` are their candidates sorted by (book, entry) and
    ``books`` their book ids. Equity at each entry is the previous trade's realised equity (grown by
    the interest on cash when it earns any: then ``start_day`` per book and the panel's ``day`` are
    needed): a sequential rule, run as one compiled loop over every book's trades."""
    if ids.size == 0:
        return
    growth = None
    if costs.earns_interest:
        if start_day is None or day is None:
            raise ValueError("size_single: interest on cash needs each book's start day and the panel's days")
        growth = (
            costs.cash_growth(start_day),
            costs.cash_growth(day[cand.entry_idx]),
            costs.cash_growth(day[cand.exit_idx]),
        )
    # the per-trade rule of _apply, in one compiled loop (each book's trades depend on the last)
    size_books(
        np.ascontiguousarray(ids, dtype=np.int64),
        np.ascontiguousarray(books, dtype=np.int64),
        np.ascontiguousarray(weight, dtype=np.float64),
        cand.entry_price,
        cand.exit_price,
        cand.net_return,
        rules.initial_capital,
        rules.position_size,
        rules.max_gross_leverage,
        costs.leverage,
        DUST,
        BUST,
        costs.min_commission,
        costs.commission_bps / 1e4,
        out.taken,
        out.margin,
        out.topup_entry,
        out.topup_exit,
        out.pnl,
        growth,
        out.cash_entry,
        out.cash_exit,
    )


def size_multi(
    cand: Candidates,
    weight: np.ndarray,
    score: np.ndarray,
    ids: np.ndarray,
    entry_slot: np.ndarray,
    exit_key: np.ndarray,
    mark_row: np.ndarray,
    slot_day: np.ndarray,
    ticker_col: np.ndarray,
    open_: np.ndarray,
    close: np.ndarray,
    day: np.ndarray,
    rules: SizingRules,
    costs: CostModel,
    out: Sized,
) -> None:
    """Event loop of one shared-capital book over its entry days.

    ``ids``: the book's candidates; ``entry_slot`` / ``exit_key`` (per candidate, full length):
    calendar slot of the entry and ``3 * slot + (0 at the open, 2 later)`` of the exit;
    ``mark_row[slot, col]``: the last row of the book's ticker ``col`` at or before that slot (-1
    before its first bar); ``ticker_col`` maps a candidate to its column.
    """
    if ids.size == 0:
        return
    lev = costs.leverage
    # cash is kept as its value on the book's first day (``cash / growth``): interest is then implicit
    growth = costs.cash_growth(slot_day)
    interest = costs.earns_interest
    order = np.lexsort((cand.code[ids], -np.nan_to_num(score[ids], nan=-np.inf), entry_slot[ids]))
    ids = ids[order]
    slots = entry_slot[ids]
    bounds = np.flatnonzero(np.r_[True, slots[1:] != slots[:-1], True])
    cash_0 = float(rules.initial_capital) / float(growth[0]) if interest else float(rules.initial_capital)
    open_ids = np.zeros(0, dtype=np.int64)
    open_pnl: dict[int, float] = {}
    for b0, b1 in zip(bounds[:-1], bounds[1:]):
        slot = int(slots[b0])
        if open_ids.size:
            done = exit_key[open_ids] < 3 * slot + 1
            if done.any():
                for i in open_ids[done]:
                    credit = out.margin[i] + open_pnl.pop(int(i))
                    cash_0 += credit / float(growth[exit_key[i] // 3]) if interest else credit
                open_ids = open_ids[~done]
        g = float(growth[slot]) if interest else 1.0
        cash = cash_0 * g if interest else cash_0
        equity, gross = cash, 0.0
        if open_ids.size:
            rows = mark_row[slot, ticker_col[cand.code[open_ids]]]
            at_open = day[rows] == slot_day[slot]
            price = np.where(at_open, open_[rows], close[rows])
            m = out.margin[open_ids]
            value = costs.value(
                m,
                cand.side[open_ids],
                cand.entry_price[open_ids],
                price,
                day[cand.entry_idx[open_ids]],
                slot_day[slot],
                out.topup_entry[open_ids],
            )
            equity = cash + float(value.sum())
            gross = float((m * lev / cand.entry_price[open_ids] * price).sum())
        taken: list[int] = []
        margins: list[float] = []
        room = rules.max_positions - open_ids.size
        if room > 0 and equity > BUST * rules.initial_capital:
            for i, w_i in zip(ids[b0:b1].tolist(), weight[ids[b0:b1]].tolist()):
                if len(taken) >= room:
                    break
                wanted = rules.position_size * w_i * lev * equity
                notional = min(wanted, rules.max_gross_leverage * equity - gross, lev * cash)
                if not notional > DUST * equity:
                    continue
                margin = notional / lev
                cash -= margin
                cash_0 -= margin / g if interest else margin
                gross += notional
                taken.append(i)
                margins.append(margin)
        if taken:
            new = np.asarray(taken, dtype=np.int64)
            pnl = _apply(out, new, np.asarray(margins), cand, costs)
            open_pnl.update(zip(taken, pnl.tolist()))
            open_ids = np.concatenate([open_ids, new])
