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
- barriers are the simulator's: take-profit, stop-loss, liquidation, horizon, the session's last
  bar with ``exit_at_session_end`` (``session``), and the end of the ticker's data (``end``). After such an exit on bar ``j`` the ticker is flat and row ``j``'s signal
  may enter again at the open of ``j + 1``.

Every candidate's exit, price, costs and net return on margin come from :func:`qlop.sim.simulate`
(trades that provably touch no level skip its scan and go straight to its settlement step,
:func:`qlop.sim.engine.settle`).
Candidates are found in rounds: each round simulates, in one vectorised call, the next candidate of
every ticker (or of every signal run) that still has one.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from qlop.backtest.kernels import quiet_windows, segment_starts
from qlop.sim.engine import END, SIGNAL, SimResult, barrier_prices, carry_days, settle, simulate, time_exit_reason
from qlop.sim.panel import PanelArrays
from qlop.sim.rates import RateCurve
from qlop.sim.rules import TradeRules
from qlop.sim.terms import RateSeries, TradeTerms

_BIG = np.iinfo(np.int64).max // 4


@dataclass(frozen=True)
class ExitRules:
    """How positions leave, besides liquidation and the end of the data.

    ``horizon`` counts bars from the entry bar (included); ``None`` = no time limit.
    ``exit_at_session_end`` closes a position at its entry session's last bar (intraday).
    """

    take_profit: float | None = None
    stop_loss: float | None = None
    horizon: int | None = None
    exit_on_signal: bool = True
    exit_at_session_end: bool = False


@dataclass(frozen=True)
class Candidates:
    """One row per candidate trade, sorted by (ticker code, entry row). Arrays are aligned."""

    code: np.ndarray  # ticker code (int64)
    signal_row: np.ndarray  # row whose close decided the entry
    entry_idx: np.ndarray  # row whose open is the entry
    exit_idx: np.ndarray  # row of the exit bar
    side: np.ndarray  # +1 / -1 (int8)
    entry_price: np.ndarray
    exit_price: np.ndarray
    reason: np.ndarray  # codes into qlop.sim.REASONS
    exit_at_open: np.ndarray  # bool: the exit happened at the exit bar's open
    price_return: np.ndarray
    fees: np.ndarray  # fractions of margin (qlop.sim semantics)
    financing: np.ndarray
    net_return: np.ndarray
    bars_held: np.ndarray

    def __len__(self) -> int:
        return self.entry_idx.shape[0]

    def take(self, order: np.ndarray) -> "Candidates":
        return Candidates(**{f.name: getattr(self, f.name)[order] for f in fields(self)})


def _next_in(sorted_rows: np.ndarray, p: np.ndarray, strict: bool = False) -> np.ndarray:
    """For each position in ``p`` the first of ``sorted_rows`` at (or, ``strict``, after) it; _BIG if none."""
    k = np.searchsorted(sorted_rows, p, side="right" if strict else "left")
    out = np.full(p.shape, _BIG, dtype=np.int64)
    ok = k < sorted_rows.size
    out[ok] = sorted_rows[k[ok]]
    return out


def sim_rules(terms: TradeTerms, exits: ExitRules) -> TradeRules:
    """The simulator's rules for the book's trades under ``terms`` (side and horizon are set per trade)."""
    return TradeRules(
        side="long",
        horizon=1,
        take_profit=exits.take_profit,
        stop_loss=exits.stop_loss,
        exit_at_session_end=exits.exit_at_session_end,
        **terms.terms.model_dump(),
    )


def _compact_simulate(
    arr: PanelArrays,
    rules: TradeRules,
    e: np.ndarray,
    f: np.ndarray,
    side: np.ndarray,
    hor: np.ndarray,
    xo: np.ndarray,
    financing: RateCurve | None,
) -> SimResult:
    """Simulate trades on a panel made of their own bars ``e .. f`` only (each window its own segment).

    Every bar the simulator can read for a trade lies in its window, so the result is the one on the
    full panel; indices are mapped back to panel positions.
    """
    length = f - e + 1
    starts = np.concatenate(([0], np.cumsum(length)[:-1])).astype(np.int64)
    total = int(length.sum())
    owner = np.repeat(np.arange(e.size), length)
    rows = e[owner] + (np.arange(total, dtype=np.int64) - starts[owner])
    seg_end = (starts + length - 1)[owner]
    c_xo = np.where(xo >= 0, starts + (xo - e), -1)
    clock = None
    if arr.clock is not None:  # sessions clipped to each window (its end is the trade's last reachable bar)
        sess = np.minimum(arr.clock.session_end[rows] - e[owner], length[owner] - 1) + starts[owner]
        clock = arr.clock.take(rows, sess)
    res = simulate(
        arr.open[rows],
        arr.high[rows],
        arr.low[rows],
        arr.close[rows],
        arr.day[rows],
        seg_end,
        starts,
        rules,
        side=side,
        horizon=hor,
        exit_open_idx=c_xo,
        financing=financing,
        clock=clock,
    )
    out = {f_.name: getattr(res, f_.name) for f_ in fields(SimResult)}
    out["entry_idx"] = e
    out["exit_idx"] = e + (res.exit_idx - starts)
    return SimResult(**out)


def _simulate(
    arr: PanelArrays,
    rules: TradeRules,
    e: np.ndarray,
    side: np.ndarray,
    hor: np.ndarray,
    xo: np.ndarray,
    end: np.ndarray,
    financing: RateCurve | None = None,
) -> list[tuple[np.ndarray, SimResult]]:
    """:func:`qlop.sim.simulate` for these trades, without scanning the windows of quiet trades.

    Returns ``(where, result)`` parts: ``result`` holds the trades ``where`` (positions in ``e``);
    the caller concatenates them (one copy, rather than scattering each part back here).

    A trade is *quiet* when no bar it examines can reach a barrier or its liquidation price: every
    bar's range from the entry bar to the last bar whose range matters, and the open it may leave
    at, stay strictly between its levels (one compiled scan, :func:`qlop.backtest.kernels.quiet_windows`).
    Such a trade leaves at its ``exit_open_idx`` open or at the close of its horizon / last bar
    whatever the bars in between, and the simulator's settlement (:func:`qlop.sim.engine.settle`)
    gives its returns and costs from that exit. Other trades are simulated on a compact panel made
    of their own windows.
    """
    stop = np.minimum(end, arr.session_end[e]) if rules.exit_at_session_end else end
    k_last = np.minimum(hor - 1, stop - e)
    f = e + k_last  # the last bar the simulator can reach
    by_open = (xo >= 0) & (xo == f)  # leaves at f's open unless a level is hit first
    g = np.where(by_open, f - 1, f)  # last bar whose range matters
    quiet = np.ones(e.shape, dtype=bool)
    o_e = arr.open[e]
    o_f = arr.open[f]
    for s in (1, -1):
        sel = np.flatnonzero(side == s)
        if not sel.size:
            continue
        tp, sl, liq = barrier_prices(o_e[sel], s, rules)
        adv = np.maximum(sl, liq) if s > 0 else np.minimum(sl, liq)
        # one compiled scan per side, stopping at a trade's first bar that reaches a level
        quiet[sel] = quiet_windows(
            arr.low,
            arr.high,
            arr.open,
            e[sel],
            g[sel],
            side[sel],
            adv,
            tp,
            bool(np.isfinite(adv).any()),
            rules.take_profit is not None,
            o_f[sel],
            by_open[sel],
        )
    parts: list[tuple[np.ndarray, SimResult]] = []
    loud = np.flatnonzero(~quiet)
    if loud.size:
        order = loud[np.argsort(k_last[loud], kind="stable")]  # similar windows in one chunk
        res = _compact_simulate(arr, rules, e[order], f[order], side[order], hor[order], xo[order], financing)
        parts.append((order, res))
    calm = np.flatnonzero(quiet)
    if calm.size:
        # A quiet trade touches no level, so the simulator's scan would find nothing: it leaves at
        # its exit_open_idx open (reason "signal": that open is strictly inside its levels, no gap)
        # or at the close of its last reachable bar ("horizon" when that is the horizon bar, else
        # "end"). Its returns, costs and financing come from the simulator's own settlement.
        ce, cf, at_open = e[calm], f[calm], by_open[calm]
        reason = np.where(at_open, SIGNAL, time_exit_reason(k_last[calm], hor[calm], (end - e)[calm])).astype(np.int8)
        exit_price = np.where(at_open, o_f[calm], arr.close[cf])
        parts.append(
            (
                calm,
                settle(
                    ce,
                    cf,
                    side[calm].astype(np.int8),
                    o_e[calm],
                    exit_price,
                    reason,
                    at_open,
                    arr.day,
                    rules,
                    financing=financing,
                    clock=arr.clock,
                ),
            )
        )
    return parts


def build_candidates(
    arr: PanelArrays,
    code: np.ndarray,
    signal: np.ndarray,
    rules: TradeRules,
    exits: ExitRules,
    financing: RateCurve | None = None,
) -> Candidates:
    """All candidate trades of every ticker (see the module docstring for the rules); ``financing``:
    the curve of a financing-rate series over the panel's days (loaded here when not given)."""
    if financing is None and len(arr) and isinstance(rules.financing_rate, RateSeries):
        financing = RateCurve.over(rules.financing_rate, carry_days(arr.day, arr.clock), "financing_rate")
    n = len(arr)
    sig = np.asarray(signal, dtype=np.int8)
    seg_end = arr.seg_end
    first_rows = segment_starts(seg_end)[1:]  # each ticker's first row but the panel's first
    movable = sig != 0
    movable[first_rows - 1] = False  # a signal on a ticker's last row cannot trade
    if n:
        movable[n - 1] = False
    change = np.empty(n, dtype=bool)
    if n:
        change[0] = True
        np.not_equal(sig[1:], sig[:-1], out=change[1:])
        change[first_rows] = True
    change_rows = np.flatnonzero(change)
    # the first movable row of every run of a non-zero signal: a movable row's run starts with one,
    # so the next movable row after a row that is not movable is the next of these
    run_starts = change_rows[movable[change_rows]]

    def next_movable(p: np.ndarray) -> np.ndarray:
        """First movable row at or after each of ``p`` (_BIG if none)."""
        return np.where(movable[p], p, _next_in(run_starts, p, strict=True))

    def after_of(r: np.ndarray) -> np.ndarray:
        """First row after r whose signal differs from r's, within the ticker (else _BIG)."""
        a = _next_in(change_rows, r, strict=True)
        a[a > seg_end[r]] = _BIG
        return a

    def simulate_rows(
        sig_rows: np.ndarray, end: np.ndarray, a: np.ndarray | None
    ) -> list[tuple[np.ndarray, SimResult]]:
        """The trades entered after ``sig_rows`` (``end``: their tickers' last rows; ``a``: their
        ``after_of``, with signal exits)."""
        e = sig_rows + 1
        if exits.horizon is not None:
            hor = np.full(e.shape, exits.horizon, dtype=np.int64)
        else:
            hor = end - e + 2  # past the last bar: the trade ends with reason "end"
        xo = np.full(e.shape, -1, dtype=np.int64)
        if a is not None:
            ok = a < end  # the change row must leave a bar to trade at
            xo[ok] = a[ok] + 1
            hor[ok] = np.minimum(hor[ok], xo[ok] - e[ok] + 1)  # bounds the simulator's window
        return _simulate(arr, rules, e, sig[sig_rows], hor, xo, end, financing)

    after: np.ndarray | None = None
    if exits.exit_on_signal:
        # every run of a non-zero signal starts a candidate; re-entries after barrier exits follow.
        # A run start's next change row is the next of change_rows (no search needed).
        pending = run_starts
        pos = np.flatnonzero(movable[change_rows]) + 1
        after = np.full(pos.shape, _BIG, dtype=np.int64)
        has = pos < change_rows.size
        after[has] = change_rows[pos[has]]
        after[after > seg_end[pending]] = _BIG
    else:
        starts = np.r_[0, first_rows] if n else first_rows
        first = next_movable(starts)
        pending = first[first <= seg_end[starts]]

    parts: list[tuple[np.ndarray, SimResult]] = []
    while pending.size:
        end = seg_end[pending]  # a movable row is not its ticker's last: entries share its segment
        sim_parts = simulate_rows(pending, end, after)
        parts.extend((pending[where], res) for where, res in sim_parts)
        j = np.empty(pending.shape, dtype=np.int64)
        reason = np.empty(pending.shape, dtype=np.int8)
        for where, res in sim_parts:
            j[where], reason[where] = res.exit_idx, res.reason
        # search for the next entry from the exit bar (from the change row after a signal exit)
        search = np.where(reason == SIGNAL, j - 1, j)
        alive = (reason != END) & (search < end)
        nxt = np.full(pending.shape, _BIG, dtype=np.int64)
        nxt[alive] = next_movable(search[alive])
        ok = alive & (nxt <= end)
        if after is not None:
            ok &= nxt < after  # later runs are already candidates
        pending = nxt[ok]
        if after is not None:
            after = after_of(pending)

    if not parts:
        empty_i = np.zeros(0, dtype=np.int64)
        empty_f = np.zeros(0, dtype=np.float64)
        return Candidates(
            code=empty_i,
            signal_row=empty_i,
            entry_idx=empty_i,
            exit_idx=empty_i,
            side=np.zeros(0, np.int8),
            entry_price=empty_f,
            exit_price=empty_f,
            reason=np.zeros(0, np.int8),
            exit_at_open=np.zeros(0, bool),
            price_return=empty_f,
            fees=empty_f,
            financing=empty_f,
            net_return=empty_f,
            bars_held=empty_i,
        )
    sig_rows = np.concatenate([p for p, _ in parts])
    res_f = {f.name: np.concatenate([getattr(r, f.name) for _, r in parts]) for f in fields(SimResult)}
    order = np.argsort(sig_rows, kind="stable")  # rows are grouped by ticker: this sorts by (ticker, row)
    return Candidates(
        code=np.asarray(code, dtype=np.int64)[sig_rows][order],
        signal_row=sig_rows[order],
        entry_idx=res_f["entry_idx"][order],
        exit_idx=res_f["exit_idx"][order],
        side=res_f["side"][order],
        entry_price=res_f["entry_price"][order],
        exit_price=res_f["exit_price"][order],
        reason=res_f["reason"][order],
        exit_at_open=res_f["exit_at_open"][order],
        price_return=res_f["price_return"][order],
        fees=res_f["fees"][order],
        financing=res_f["financing"][order],
        net_return=res_f["net_return"][order],
        bars_held=res_f["bars_held"][order],
    )
