"""Candidate trades: what each ticker's signals would trade if that ticker were traded alone.

A candidate depends only on its own ticker's signals and prices, never on the book (capital, other
tickers, caps). The book then takes or skips candidates (:mod:`qlop.backtest.sizing`); a skipped
candidate is not replaced, so the trades of a ticker are always a subset of its candidates, and with
the label's barriers every candidate is exactly the trade the label scored.

Rules, for the target ``signal[r]`` in {-1, 0, 1} decided at the close of row ``r``:

- a ticker that is flat after the close of row ``r`` and whose ``signal[r] != 0`` enters at the open
  of row ``r + 1`` on side ``signal[r]`` (a signal on a ticker's last row cannot trade);
- with ``exit_on_signal`` the position leaves at the open of the row after the first later row whose
  signal differs (a flip leaves and re-enters at that same open); without it, only barriers exit;
- barriers are the simulator's: take-profit, stop-loss, liquidation, horizon, and the end of the
  ticker's data (``end``). After such an exit on bar ``j`` the ticker is flat and row ``j``'s signal
  may enter again at the open of ``j + 1``.

Every candidate's exit, price, costs and net return on margin come from :func:`qlop.sim.simulate`.
Candidates are found in rounds: each round simulates, in one vectorised call, the next candidate of
every ticker (or of every signal run) that still has one.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from qlop.sim.engine import END, SIGNAL, SimResult, simulate
from qlop.sim.panel import PanelArrays
from qlop.sim.rules import TradeRules

_BIG = np.iinfo(np.int64).max // 4


@dataclass(frozen=True)
class ExitRules:
    """How positions leave, besides liquidation and the end of the data.

    ``horizon`` counts bars from the entry bar (included); ``None`` = no time limit.
    """

    take_profit: float | None = None
    stop_loss: float | None = None
    horizon: int | None = None
    exit_on_signal: bool = True


@dataclass(frozen=True)
class Candidates:
    """One row per candidate trade, sorted by (ticker code, entry row). Arrays are aligned."""

    code: np.ndarray          # ticker code (int64)
    signal_row: np.ndarray    # row whose close decided the entry
    entry_idx: np.ndarray     # row whose open is the entry
    exit_idx: np.ndarray      # row of the exit bar
    side: np.ndarray          # +1 / -1 (int8)
    entry_price: np.ndarray
    exit_price: np.ndarray
    reason: np.ndarray        # codes into qlop.sim.REASONS
    exit_at_open: np.ndarray  # bool: the exit happened at the exit bar's open
    price_return: np.ndarray
    fees: np.ndarray          # fractions of margin (qlop.sim semantics)
    financing: np.ndarray
    net_return: np.ndarray
    bars_held: np.ndarray

    def __len__(self) -> int:
        return self.entry_idx.shape[0]

    def take(self, order: np.ndarray) -> "Candidates":
        return Candidates(**{f.name: getattr(self, f.name)[order] for f in fields(self)})


def _next_true(mask: np.ndarray) -> np.ndarray:
    """For every position ``p`` the smallest ``r >= p`` with ``mask[r]`` (``_BIG`` when none)."""
    n = mask.shape[0]
    pos = np.where(mask, np.arange(n, dtype=np.int64), _BIG)
    return np.minimum.accumulate(pos[::-1])[::-1] if n else pos


def sim_rules(leverage: float, maintenance_margin: float, liquidation_fee: float, commission_bps: float,
              slippage_bps: float, financing_rate: float, borrow_fee: float, exits: ExitRules) -> TradeRules:
    """The simulator's rules for the book's trades (side and horizon are set per trade)."""
    return TradeRules(side="long", leverage=leverage, horizon=1, take_profit=exits.take_profit,
                      stop_loss=exits.stop_loss, maintenance_margin=maintenance_margin,
                      liquidation_fee=liquidation_fee, commission_bps=commission_bps,
                      slippage_bps=slippage_bps, financing_rate=financing_rate, borrow_fee=borrow_fee)


def build_candidates(arr: PanelArrays, code: np.ndarray, signal: np.ndarray, rules: TradeRules,
                     exits: ExitRules) -> Candidates:
    """All candidate trades of every ticker (see the module docstring for the rules)."""
    n = len(arr)
    rows = np.arange(n, dtype=np.int64)
    sig = np.asarray(signal, dtype=np.int8)
    seg_end, seg_start = arr.seg_end, arr.seg_start
    tradable = (sig != 0) & (rows < seg_end)
    next_tradable = _next_true(tradable)
    change = np.ones(n, dtype=bool)
    if n > 1:
        change[1:] = sig[1:] != sig[:-1]
    change |= rows == seg_start
    next_change = _next_true(change)
    # first row after r whose signal differs from r's (within the ticker), else _BIG
    after = np.full(n, _BIG, dtype=np.int64)
    inner = rows < seg_end
    after[inner] = next_change[rows[inner] + 1]
    after[after > seg_end] = _BIG

    def simulate_rows(sig_rows: np.ndarray) -> SimResult:
        e = sig_rows + 1
        end = seg_end[sig_rows]
        if exits.horizon is not None:
            hor = np.full(e.shape, exits.horizon, dtype=np.int64)
        else:
            hor = end - e + 2  # past the last bar: the trade ends with reason "end"
        xo = np.full(e.shape, -1, dtype=np.int64)
        if exits.exit_on_signal:
            a = after[sig_rows]
            ok = a < end  # the change row must leave a bar to trade at
            xo[ok] = a[ok] + 1
            hor[ok] = np.minimum(hor[ok], xo[ok] - e[ok] + 1)  # bounds the simulator's window
        # similar windows in the same chunk keep the simulator's gathered matrices tight
        order = np.argsort(np.minimum(hor - 1, end - e), kind="stable")
        res = simulate(arr.open, arr.high, arr.low, arr.close, arr.day, seg_end, e[order], rules,
                       side=sig[sig_rows][order], horizon=hor[order],
                       exit_open_idx=xo[order] if exits.exit_on_signal else None)
        inv = np.empty_like(order)
        inv[order] = np.arange(order.size)
        return SimResult(**{f.name: getattr(res, f.name)[inv] for f in fields(res)})

    if exits.exit_on_signal:
        # every run of a non-zero signal starts a candidate; re-entries after barrier exits follow
        pending = rows[change & tradable]
    else:
        starts = np.unique(seg_start)
        first = next_tradable[starts] if n else starts
        pending = first[first <= seg_end[starts]]

    parts: list[tuple[np.ndarray, SimResult]] = []
    while pending.size:
        res = simulate_rows(pending)
        parts.append((pending, res))
        j = res.exit_idx
        # search for the next entry from the exit bar (from the change row after a signal exit)
        search = np.where(res.reason == SIGNAL, j - 1, j)
        alive = (res.reason != END) & (search < seg_end[pending])
        nxt = np.full(pending.shape, _BIG, dtype=np.int64)
        nxt[alive] = next_tradable[search[alive]]
        ok = alive & (nxt <= seg_end[pending])
        if exits.exit_on_signal:
            ok &= nxt < after[pending]  # later runs are already candidates
        pending = nxt[ok]

    if not parts:
        empty_i = np.zeros(0, dtype=np.int64)
        empty_f = np.zeros(0, dtype=np.float64)
        return Candidates(code=empty_i, signal_row=empty_i, entry_idx=empty_i, exit_idx=empty_i,
                          side=np.zeros(0, np.int8), entry_price=empty_f, exit_price=empty_f,
                          reason=np.zeros(0, np.int8), exit_at_open=np.zeros(0, bool), price_return=empty_f,
                          fees=empty_f, financing=empty_f, net_return=empty_f, bars_held=empty_i)
    sig_rows = np.concatenate([p for p, _ in parts])
    res_f = {f.name: np.concatenate([getattr(r, f.name) for _, r in parts]) for f in fields(SimResult)}
    order = np.argsort(sig_rows, kind="stable")  # rows are grouped by ticker: this sorts by (ticker, row)
    return Candidates(
        code=np.asarray(code, dtype=np.int64)[sig_rows][order], signal_row=sig_rows[order],
        entry_idx=res_f["entry_idx"][order], exit_idx=res_f["exit_idx"][order], side=res_f["side"][order],
        entry_price=res_f["entry_price"][order], exit_price=res_f["exit_price"][order],
        reason=res_f["reason"][order], exit_at_open=res_f["exit_at_open"][order],
        price_return=res_f["price_return"][order], fees=res_f["fees"][order],
        financing=res_f["financing"][order], net_return=res_f["net_return"][order],
        bars_held=res_f["bars_held"][order],
    )
