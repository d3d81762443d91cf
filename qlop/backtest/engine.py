"""The multi-asset leveraged backtest engine: candidates -> sizing -> daily marks -> trade table.

Pipeline (each step vectorised; the sizing of shared-capital books loops over entry days, and the
per-row loops of one-ticker books are compiled, see :mod:`qlop.backtest.kernels`):

1. :func:`qlop.backtest.candidates.build_candidates` turns each ticker's signals into candidate
   trades through the shared simulator (exits, prices, costs, net return on margin).
2. :mod:`qlop.backtest.sizing` decides which candidates each book takes and their margins.
3. :func:`mark_books` marks every open position at every close of its book's calendar (its ticker's
   last close when that ticker has no bar that day) and sums cash, equity, gross and net exposure.

A *book* is a set of tickers sharing one capital. The pipeline runs one book with every ticker;
``books="ticker"`` runs each ticker as its own book (parameter sweeps, the benchmark script).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ConfigDict

from qlop.backtest.candidates import Candidates, ExitRules, build_candidates, sim_rules
from qlop.backtest.costs import CostModel
from qlop.backtest.kernels import fill_marks
from qlop.backtest.sizing import Sized, SizingRules, size_multi, size_single
from qlop.config import BookSizing
from qlop.errors import DataError
from qlop.formatting import bar_time
from qlop.sim.engine import REASONS
from qlop.sim.panel import PanelArrays, panel_arrays
from qlop.sim.terms import TradeTerms


class EngineSettings(TradeTerms, BookSizing):
    """Capital and sizing of a backtest (:class:`~qlop.config.BookSizing`) with its
    :class:`~qlop.sim.terms.TradeTerms`: ``[backtest]`` minus the strategy, the benchmark and the trial
    count. Immutable and validated like the config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def from_config(cls, cfg: Any) -> "EngineSettings":
        """From a :class:`qlop.config.BacktestConfig` (or anything with the same attributes)."""
        return cls.model_validate({name: getattr(cfg, name) for name in cls.model_fields})

    @property
    def costs(self) -> CostModel:
        """The cost model of a book whose rates need no calendar: a constant financing rate and idle cash
        that earns nothing (else :meth:`cost_model`)."""
        return CostModel(self.terms)

    def cost_model(self, day: Any, bar_seconds: int = 0) -> CostModel:
        """The cost model of a book trading at the stamps ``day`` (calendar days; bar opens in seconds
        for an intraday panel with ``bar_seconds``), rate series loaded over their span."""
        return CostModel.over(self.terms, day, bar_seconds)

    @property
    def sizing_rules(self) -> SizingRules:
        """Capital and caps of the signal engine's sizing (:mod:`qlop.backtest.sizing`)."""
        return SizingRules(self.initial_capital, self.position_size, self.max_positions, self.max_gross_leverage)


@dataclass
class BookLayout:
    """Calendar slots of every book: slot ``s`` is one date of one book (one bar time, intraday).

    ``slot_day`` holds each slot's stamp (:attr:`PanelArrays.stamp`): its calendar day number for a
    daily panel, its bar's open in UTC seconds for an intraday one."""

    book_of_code: np.ndarray  # book id per ticker code
    single: np.ndarray  # per book: holds exactly one ticker
    offset: np.ndarray  # per book: first slot (len n_books + 1)
    row_slots: np.ndarray | None  # per panel row its slot (None when rows_are_slots: see slot_of_row)
    slot_day: np.ndarray  # per slot: stamp (calendar day number; bar open in seconds, intraday)
    slot_book: np.ndarray  # per slot
    mark_rows: dict[int, np.ndarray]  # multi-ticker book -> (slots, tickers) last row at or before
    ticker_col: np.ndarray  # per ticker code: its column in its book's mark_rows
    rows_are_slots: bool = False  # every book holds one ticker, in row order: slot == panel row
    slot_end: np.ndarray | None = None  # intraday: per slot, its bar's close in seconds (the marks' time)

    @property
    def n_slots(self) -> int:
        return int(self.offset[-1])

    @property
    def start_day(self) -> np.ndarray:
        """Per book, the calendar day of its first slot (0 for a book without slots)."""
        if self.n_slots == 0:
            return np.zeros(self.offset.size - 1, dtype=np.int64)
        first = np.minimum(self.offset[:-1], self.n_slots - 1)
        return np.where(np.diff(self.offset) > 0, self.slot_day[first], 0)

    @property
    def slot_of_row(self) -> np.ndarray:
        """Per panel row, its slot (built on first use when slots are rows: the common case needs none)."""
        if self.row_slots is None:
            self.row_slots = np.arange(self.n_slots, dtype=np.int64)
        return self.row_slots


def book_layout(arr: PanelArrays, code: np.ndarray, book_of_code: np.ndarray) -> BookLayout:
    """Each book's calendar (the union of its tickers' dates) and the row marking each ticker there."""
    n = len(arr)
    stamp = arr.stamp
    n_codes = book_of_code.shape[0]
    n_books = int(book_of_code.max()) + 1 if n_codes else 0
    tickers_per_book = np.bincount(book_of_code, minlength=n_books)
    single = tickers_per_book == 1
    if (
        n_codes
        and not arr.intraday  # the compiled one-ticker marks keep a calendar-day clock
        and single.all()
        and np.array_equal(book_of_code, np.arange(n_codes))
        and (n < 2 or bool(np.all(code[1:] >= code[:-1])))
    ):
        # one ticker per book, books in row order: a book's slots are its rows (no index to build);
        # codes are sorted, so each book's first row is found by bisection rather than a count
        offset = np.searchsorted(code, np.arange(n_books + 1), side="left").astype(np.int64)
        return BookLayout(
            book_of_code,
            single,
            offset,
            None,
            stamp,
            np.asarray(code, dtype=np.int64),
            {},
            np.zeros(n_codes, dtype=np.int64),
            True,
        )
    rows = np.arange(n, dtype=np.int64)
    book_of_row = book_of_code[code]
    sizes = np.zeros(n_books, dtype=np.int64)
    # one-ticker books: their slots are their rows
    counts = np.bincount(book_of_row, minlength=n_books)
    sizes[single] = counts[single]
    calendars: dict[int, np.ndarray] = {}
    for b in np.flatnonzero(~single & (tickers_per_book > 0)):
        calendars[int(b)] = np.unique(stamp[book_of_row == b])
        sizes[b] = calendars[int(b)].size
    offset = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    slot_of_row = np.empty(n, dtype=np.int64)
    is_single_row = single[book_of_row]
    slot_of_row[is_single_row] = (offset[book_of_row] + rows - arr.seg_start)[is_single_row]
    slot_day = np.empty(int(offset[-1]), dtype=np.int64)
    slot_day[slot_of_row[is_single_row]] = stamp[is_single_row]
    slot_book = np.repeat(np.arange(n_books, dtype=np.int64), sizes)
    mark_rows: dict[int, np.ndarray] = {}
    ticker_col = np.zeros(n_codes, dtype=np.int64)
    for b, cal in calendars.items():
        in_book = book_of_row == b
        slot_of_row[in_book] = offset[b] + np.searchsorted(cal, stamp[in_book])
        slot_day[offset[b] : offset[b + 1]] = cal
        codes_b = np.flatnonzero(book_of_code == b)
        ticker_col[codes_b] = np.arange(codes_b.size)
        table = np.full((cal.size, codes_b.size), -1, dtype=np.int64)
        for j, c in enumerate(codes_b):
            r = np.flatnonzero(code == c)
            if r.size == 0:
                continue
            s, e = int(r[0]), int(r[-1])
            pos = np.searchsorted(stamp[s : e + 1], cal, side="right") - 1
            table[:, j] = np.where(pos >= 0, s + pos, -1)
        mark_rows[b] = table
    slot_end = None
    if arr.clock is not None:  # the bars of one slot open together and close together
        slot_end = np.empty(int(offset[-1]), dtype=np.int64)
        slot_end[slot_of_row] = arr.clock.ends
    return BookLayout(
        book_of_code, single, offset, slot_of_row, slot_day, slot_book, mark_rows, ticker_col, False, slot_end
    )


@dataclass
class EngineArrays:
    """Everything the engine computed, as arrays (the frames are built from these)."""

    layout: BookLayout
    cand: Candidates
    sized: Sized
    equity: np.ndarray
    cash: np.ndarray
    gross: np.ndarray
    net: np.ndarray
    n_positions: np.ndarray
    arr: PanelArrays | None = None  # the panel's arrays (their clock dates the slots)


def run_arrays(
    arr: PanelArrays,
    code: np.ndarray,
    signal: np.ndarray,
    weight: np.ndarray,
    score: np.ndarray,
    settings: EngineSettings,
    exits: ExitRules,
    book_of_code: np.ndarray,
) -> EngineArrays:
    """The engine on flat arrays (see :func:`run_engine` for the frame-level entry point)."""
    rules = sim_rules(settings.terms, exits)
    costs, sizing = settings.cost_model(arr.stamp, arr.bar_seconds), settings.sizing_rules
    cand = build_candidates(arr, code, signal, rules, exits, costs.financing)
    layout = book_layout(arr, code, book_of_code)
    w = np.asarray(weight, dtype=np.float64)[cand.signal_row]
    sized = Sized.empty(len(cand))
    cand_book = layout.book_of_code[cand.code]
    single_c = layout.single[cand_book]
    if single_c.any():
        ids = np.flatnonzero(single_c)  # sorted by (ticker, entry), so by (book, entry)
        books = cand_book[ids]
        if books.size > 1 and np.any(books[1:] < books[:-1]):
            order = np.argsort(books, kind="stable")
            ids, books = ids[order], books[order]
        size_single(cand, w, ids, books, sizing, costs, sized, layout.start_day, arr.stamp)
    if (~single_c).any():
        sc = np.asarray(score, dtype=np.float64)[cand.signal_row]  # orders entries in shared books only
        entry_slot = layout.slot_of_row[cand.entry_idx]
        exit_key = 3 * layout.slot_of_row[cand.exit_idx] + np.where(cand.exit_at_open, 0, 2)
        for b, table in layout.mark_rows.items():
            lo, hi = int(layout.offset[b]), int(layout.offset[b + 1])
            size_multi(
                cand,
                w,
                sc,
                np.flatnonzero(cand_book == b),
                entry_slot - lo,
                exit_key - 3 * lo,
                table,
                layout.slot_day[lo:hi],
                layout.ticker_col,
                arr.open,
                arr.close,
                arr.stamp,
                sizing,
                costs,
                sized,
            )
    equity, cash, gross, net, npos = mark_books(arr, layout, cand, sized, costs, settings.initial_capital)
    return EngineArrays(layout, cand, sized, equity, cash, gross, net, npos, arr)


def mark_books(
    arr: PanelArrays, layout: BookLayout, cand: Candidates, sized: Sized, costs: CostModel, initial_capital: float
) -> tuple[np.ndarray, ...]:
    """Cash, equity, gross and net exposure and open-position count at every close of every book.

    A position is open at the closes from its entry bar up to (not including) its exit bar; on the
    exit bar its realised value is back in cash. Idle cash grows by the interest it earns, compounded
    daily: a book's cash is ``growth[t] * cumsum(flows / growth)`` (:meth:`CostModel.cash_growth`).
    """
    if layout.rows_are_slots:
        return _mark_single_rows(arr, layout, cand, sized, costs, initial_capital)
    n_slots = layout.n_slots
    t = np.flatnonzero(sized.taken)
    margin = sized.margin[t]
    e_row, x_row = cand.entry_idx[t], cand.exit_idx[t]
    s0, s1 = layout.slot_of_row[e_row], layout.slot_of_row[x_row]
    # cash: -margin at entry, +margin+pnl at exit, initial capital at each book's first slot
    delta = np.zeros(n_slots, dtype=np.float64)
    starts = layout.offset[:-1][np.diff(layout.offset) > 0]
    delta[starts] += initial_capital
    delta -= np.bincount(s0, weights=margin, minlength=n_slots)
    delta += np.bincount(s1, weights=margin + sized.pnl[t], minlength=n_slots)
    if costs.earns_interest:
        growth = costs.cash_growth(layout.slot_day)
        cash = _segmented_cumsum(delta / growth, layout.offset) * growth
    else:
        cash = _segmented_cumsum(delta, layout.offset)

    lengths = s1 - s0
    total = int(lengths.sum())
    value = np.zeros(n_slots)
    gross = np.zeros(n_slots)
    net = np.zeros(n_slots)
    npos = np.zeros(n_slots, dtype=np.int64)
    if total:
        rep = np.repeat(np.arange(t.size), lengths)
        first = np.cumsum(lengths) - lengths
        within = np.arange(total, dtype=np.int64) - first[rep]
        slot = s0[rep] + within
        book = layout.book_of_code[cand.code[t]]
        single = layout.single[book]
        if single.all():
            row = e_row[rep] + within
        else:
            row = np.where(single[rep], e_row[rep] + within, 0)
            multi = np.flatnonzero(~single[rep])
            tb = book[rep][multi]
            for b in np.unique(tb):
                sel = multi[tb == b]
                table = layout.mark_rows[int(b)]
                row[sel] = table[slot[sel] - layout.offset[b], layout.ticker_col[cand.code[t][rep[sel]]]]
        price = arr.close[row]
        side = cand.side[t][rep]
        entry = cand.entry_price[t][rep]
        m = margin[rep]
        # marked at the close: the slot's day (daily), its bar's close in seconds (intraday)
        marked_at = layout.slot_day[slot] if layout.slot_end is None else layout.slot_end[slot]
        v = costs.value(m, side, entry, price, arr.stamp[e_row][rep], marked_at, sized.topup_entry[t][rep])
        exposure = m * costs.leverage / entry * price
        value = np.bincount(slot, weights=v, minlength=n_slots)
        gross = np.bincount(slot, weights=exposure, minlength=n_slots)
        net = np.bincount(slot, weights=exposure * side, minlength=n_slots)
        npos = np.bincount(slot, minlength=n_slots)
    return cash + value, cash, gross, net, npos


def _mark_single_rows(
    arr: PanelArrays, layout: BookLayout, cand: Candidates, sized: Sized, costs: CostModel, initial_capital: float
) -> tuple[np.ndarray, ...]:
    """:func:`mark_books` when each book is one ticker and slots are rows.

    Positions never overlap there, so a row's state is set by the last *event* at or before it: the
    book's first row (cash = initial capital), an exit (cash = realised equity) or an entry (cash =
    equity before it less the margin, plus one open position). The open position's value is linear
    in the close and the calendar day, ``a + b * close + g * day`` floored at zero, with per-trade
    coefficients, so each row needs one lookup of its event, not an expansion of every trade. With a
    financing-rate series a long's clock is the series' accrual index instead of the day; with
    interest on cash an event's cash grows with :meth:`CostModel.cash_growth` until the next event.
    """
    n = len(arr)
    t = np.flatnonzero(sized.taken)
    m = sized.margin[t]
    pnl = sized.pnl[t]
    e_row, x_row = cand.entry_idx[t], cand.exit_idx[t]
    book = cand.code[t]  # slots are rows and books are tickers: the book is the ticker code
    # realised equity before / after each trade, within its book
    cum = np.cumsum(pnl)
    first = np.r_[True, book[1:] != book[:-1]] if t.size else np.zeros(0, bool)
    base = np.maximum.accumulate(np.where(first, np.arange(t.size), 0)) if t.size else first.astype(np.int64)
    if costs.earns_interest:  # the sizing loop followed the cash with its interest
        cash_exit, cash_entry = sized.cash_exit[t], sized.cash_entry[t]
    else:
        r_after = initial_capital + cum - (cum[base] - pnl[base])
        cash_exit, cash_entry = r_after, r_after - pnl - m
    # value = m * (1 + s*L*(P/E - 1) - leg*L - carry*(d - d_e)/year) - te  =  a + b*P + g*d
    lev = costs.leverage
    side = cand.side[t].astype(np.float64)
    carry = costs.carry_rate(side) / costs.days_per_year
    b = m * side * lev / cand.entry_price[t]
    clock_e = arr.day[e_row].astype(np.float64)
    acc = by_acc = None
    if costs.series_financing:  # longs: carry = k * (A(d) - A(d_e)) with A the series' accrual index
        assert costs.financing is not None
        acc = costs.financing.rate_days(arr.day)
        by_acc = side > 0
        carry = np.where(by_acc, max(lev - 1.0, 0.0) / costs.days_per_year, carry)
        clock_e = np.where(by_acc, acc[e_row], clock_e)
    g = -m * carry
    a = m * (1.0 - side * lev - costs.leg_rate * lev) + m * carry * clock_e - sized.topup_entry[t]
    # events in row order; on one row: an earlier trade's exit, then an entry, then the exit of a
    # trade entered and left on that same bar (each kind is already in row order: a stable sort of
    # the concatenation merges three sorted runs)
    starts = layout.offset[:-1][np.diff(layout.offset) > 0]
    k_exit = np.where(x_row > e_row, 0, 2)
    ev_row = np.concatenate([starts, x_row, e_row])
    ev_key = np.concatenate([4 * starts, 4 * x_row + k_exit, 4 * e_row + 1])
    order = np.argsort(ev_key, kind="stable")
    # a row's state is its last event's: keep the last event of each row, repeat it until the next
    row_o = ev_row[order]
    keep = np.r_[row_o[1:] != row_o[:-1], True] if order.size else np.zeros(0, bool)
    order, row_k = order[keep], row_o[keep]
    zeros_s, zeros_t = np.zeros(starts.size), np.zeros(t.size)

    def per_event(values: list[np.ndarray]) -> np.ndarray:
        return np.ascontiguousarray(np.concatenate(values)[order])

    no_s, no_t = np.zeros(starts.size, bool), np.zeros(t.size, bool)
    growth = ev_growth = None
    day0 = 0
    if costs.earns_interest and n:  # growth per calendar day of the span (far fewer days than rows)
        day0 = int(arr.day.min())
        growth = costs.cash_growth(np.arange(day0, int(arr.day.max()) + 1, dtype=np.int64))
        ev_day = arr.day[np.concatenate([starts, x_row, e_row])[order]]
        ev_growth = np.ascontiguousarray(growth[ev_day - day0])
    # one compiled pass writes the five outputs (numpy needed about a dozen full-length passes)
    return fill_marks(
        row_k,
        per_event([np.full(starts.size, float(initial_capital)), cash_exit, cash_entry]),
        per_event([zeros_s, zeros_t, a]),
        per_event([zeros_s, zeros_t, b]),
        per_event([zeros_s, zeros_t, g]),
        per_event([np.zeros(starts.size, np.int8), np.zeros(t.size, np.int8), np.ones(t.size, np.int8)]),
        arr.close,
        arr.day,
        acc,
        None if by_acc is None else per_event([no_s, no_t, by_acc]),
        growth,
        day0,
        ev_growth,
    )


def _segmented_cumsum(x: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each book's first slot."""
    out = np.empty_like(x)
    for b0, b1 in zip(offset[:-1], offset[1:]):
        if b1 > b0:
            np.cumsum(x[b0:b1], out=out[b0:b1])
    return out


# ----------------------------------------------------------------------------------- frame level
@dataclass
class BacktestResult:
    """Daily book marks and the trade list.

    ``equity``: index ``date`` (or ``book, date`` with several books); columns ``equity cash
    gross_exposure net_exposure leverage n_positions``. ``trades``: one row per trade taken.
    """

    equity: Any
    trades: Any
    n_candidates: int
    arrays: Any  # EngineArrays, or PortfolioArrays for a target-weight book
    positions: Any = None  # target-weight books: per (date, ticker) the position after the close
    summary: dict[str, Any] | None = None  # target-weight books: mode, carry, forced closes, bust


def align_signals(panel: Any, signals: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``signal``, ``weight`` (default 1) and ``score`` (default NaN) on the panel's rows.

    Rows the strategy left out are flat. Raises :class:`DataError` naming ticker and date for a
    signal outside {-1, 0, 1} or a weight that is negative or not finite.
    """

    if "signal" not in signals.columns:
        raise DataError(f"strategy output has no 'signal' column (columns: {', '.join(map(str, signals.columns))})")
    if not signals.index.is_unique:
        dup = signals.index[signals.index.duplicated()][0]
        raise DataError(f"strategy output: duplicate row for ticker {dup[0]}, date {bar_time(dup[1])}")
    extra = signals.index.difference(panel.index)
    if len(extra):
        t, d = extra[0]
        raise DataError(f"strategy output: ticker {t}, date {bar_time(d)} is not in the price data")
    aligned = signals.reindex(panel.index)

    def _bad(mask: np.ndarray, what: str) -> None:
        if mask.any():
            t, d = panel.index[int(np.flatnonzero(mask)[0])]
            raise DataError(f"strategy output: ticker {t}, date {bar_time(d)}: {what}")

    raw = aligned["signal"].to_numpy(dtype=np.float64, na_value=0.0)
    bad = ~np.isin(raw, (-1.0, 0.0, 1.0))
    if bad.any():
        _bad(bad, f"signal {float(raw[bad][0]):g} is not -1, 0 or 1")
    signal = raw.astype(np.int8)
    if "weight" in aligned.columns:
        weight = aligned["weight"].to_numpy(dtype=np.float64, na_value=np.nan)
        weight = np.where(signal == 0, np.nan_to_num(weight, nan=1.0), weight)
        _bad(~np.isfinite(weight) | (weight < 0), "weight must be a finite number >= 0")
    else:
        weight = np.ones(len(panel))
    score = (
        aligned["score"].to_numpy(dtype=np.float64, na_value=np.nan)
        if "score" in aligned.columns
        else np.full(len(panel), np.nan)
    )
    return signal, weight, score


def uses_targets(signals: Any, settings: EngineSettings) -> bool:
    """Whether a backtest runs as a target-weight book (:mod:`qlop.backtest.portfolio`): the strategy
    returns a ``weight`` and no ``signal``, or the sizing or margin mode needs positions resized."""
    columns = set(map(str, signals.columns))
    weights_only = "signal" not in columns and "weight" in columns
    return weights_only or settings.sizing == "vol_target" or settings.margin_mode == "cross"


def align_targets(panel: Any, signals: Any) -> np.ndarray:
    """The signed target ``weight`` on the panel's rows (NaN: hold; rows left out hold). Raises
    :class:`DataError` naming ticker and date for a weight that is infinite or above 1000 in size."""
    import pandas as pd

    if not signals.index.is_unique:
        dup = signals.index[signals.index.duplicated()][0]
        raise DataError(f"strategy output: duplicate row for ticker {dup[0]}, date {pd.Timestamp(dup[1]):%Y-%m-%d}")
    extra = signals.index.difference(panel.index)
    if len(extra):
        t, d = extra[0]
        raise DataError(f"strategy output: ticker {t}, date {pd.Timestamp(d):%Y-%m-%d} is not in the price data")
    w = signals["weight"].reindex(panel.index).to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isinf(w) | (np.abs(np.nan_to_num(w)) > 1000)
    if bad.any():
        t, d = panel.index[int(np.flatnonzero(bad)[0])]
        raise DataError(
            f"strategy output: ticker {t}, date {pd.Timestamp(d):%Y-%m-%d}: weight must be a finite "
            "fraction of equity within -1000 .. 1000 (NaN holds)"
        )
    return w


def run_engine(
    panel: Any,
    signals: Any,
    settings: EngineSettings,
    exits: ExitRules | None = None,
    books: str | dict[str, str] | None = None,
) -> BacktestResult:
    """Backtest ``signals`` (``signal`` [+ ``weight``, ``score``] on the panel's index) on ``panel``.

    ``books``: None = one book sharing capital across every ticker; ``"ticker"`` = each ticker alone;
    or a mapping ticker -> book name.
    """
    import pandas as pd

    exits = exits or ExitRules()
    arr = panel_arrays(panel, source="backtest")
    _check_prices(panel, arr)
    tickers_all = panel.index.get_level_values(0)
    code, names = pd.factorize(tickers_all)
    code = code.astype(np.int64)
    names = np.asarray(names, dtype=object)
    if books is None:
        book_of_code = np.zeros(len(names), dtype=np.int64)
        book_names = np.asarray(["book"], dtype=object)
    elif books == "ticker":
        book_of_code = np.arange(len(names), dtype=np.int64)
        book_names = names
    else:
        missing = [t for t in names if t not in books]
        if missing:
            raise DataError(f"books: ticker {missing[0]} has no book")
        book_codes, book_names = pd.factorize(pd.Index([books[t] for t in names]))
        book_of_code = book_codes.astype(np.int64)
        book_names = np.asarray(book_names, dtype=object)
    if uses_targets(signals, settings):
        return _run_targets(panel, signals, settings, exits, arr, code, names, book_of_code, book_names, books)
    signal, weight, score = align_signals(panel, signals)
    out = run_arrays(arr, code, signal, weight, score, settings, exits, book_of_code)
    dates = pd.DatetimeIndex(panel.index.get_level_values(1))
    return BacktestResult(
        equity_frame(out, book_names, books is None),
        trades_frame(out, names, dates, settings.leverage),
        len(out.cand),
        out,
    )


def _check_prices(panel: Any, arr: PanelArrays) -> None:

    bad = ~(
        np.isfinite(arr.open)
        & (arr.open > 0)
        & np.isfinite(arr.close)
        & (arr.close > 0)
        & np.isfinite(arr.high)
        & np.isfinite(arr.low)
    )
    if bad.any():
        t, d = panel.index[int(np.flatnonzero(bad)[0])]
        raise DataError(
            f"backtest: ticker {t}, date {bar_time(d)}: open/high/low/close must be finite and open/close positive"
        )


def equity_frame(out: Any, book_names: np.ndarray, one_book: bool) -> Any:
    """The marks as a frame: ``out`` is :class:`EngineArrays` or a target-weight book's arrays."""
    import pandas as pd

    if hasattr(out, "layout"):
        slot_day, slot_book, arr = out.layout.slot_day, out.layout.slot_book, out.arr
    else:  # a target-weight book's arrays
        slot_day, slot_book, arr = out.slot_day, out.slot_book, getattr(out, "arr", None)
    if arr is not None and arr.intraday:  # bar times, tz-aware UTC
        dates = arr.stamp_index(slot_day)
    else:
        dates = pd.to_datetime(slot_day.astype("datetime64[D]")).astype("datetime64[ns]")
    lev = np.zeros_like(out.gross)
    np.divide(out.gross, out.equity, out=lev, where=out.equity > 0)
    frame = pd.DataFrame(
        {
            "equity": out.equity,
            "cash": out.cash,
            "gross_exposure": out.gross,
            "net_exposure": out.net,
            "leverage": lev,
            "n_positions": np.asarray(out.n_positions, dtype=np.int64),
        }
    )
    if one_book and len(book_names) == 1:
        frame.index = pd.DatetimeIndex(dates, name="date")
    else:
        frame.index = pd.MultiIndex.from_arrays([book_names[slot_book], dates], names=["book", "date"])
    return frame


def trades_frame(out: EngineArrays, names: np.ndarray, dates: Any, leverage: float) -> Any:
    import pandas as pd

    c, s = out.cand, out.sized
    t = np.flatnonzero(s.taken)
    margin = s.margin[t]
    notional = margin * leverage
    rel = c.exit_price[t] / c.entry_price[t]
    pnl = s.pnl[t]
    frame = pd.DataFrame(
        {
            "ticker": names[c.code[t]].astype(str),
            "side": np.where(c.side[t] > 0, "long", "short"),
            "signal_date": dates[c.signal_row[t]],
            "entry_date": dates[c.entry_idx[t]],
            "entry_price": c.entry_price[t],
            "exit_date": dates[c.exit_idx[t]],
            "exit_price": c.exit_price[t],
            "exit_at_open": c.exit_at_open[t],
            "quantity": notional / c.entry_price[t],
            "leverage": np.full(t.size, float(leverage)),
            "margin": margin,
            "entry_notional": notional,
            "exit_notional": notional * rel,
            "exit_reason": np.asarray(REASONS, dtype=object)[c.reason[t]].astype(str),
            "bars_held": c.bars_held[t].astype(np.int64),
            "pnl": pnl,
            "return": np.divide(pnl, margin, out=np.zeros_like(pnl), where=margin > 0),
            "fees": margin * c.fees[t] + s.topup_entry[t] + s.topup_exit[t],
            "financing": margin * c.financing[t],
        }
    )
    frame = frame.sort_values(["entry_date", "ticker"], kind="mergesort").reset_index(drop=True)
    return frame


def _run_targets(
    panel: Any,
    signals: Any,
    settings: EngineSettings,
    exits: ExitRules,
    arr: PanelArrays,
    code: np.ndarray,
    names: np.ndarray,
    book_of_code: np.ndarray,
    book_names: np.ndarray,
    books: Any,
) -> BacktestResult:
    """:func:`run_engine` for a target-weight book (:mod:`qlop.backtest.portfolio`)."""
    from qlop.backtest.portfolio import fills_frame, positions_frame, raw_targets, run_portfolio_arrays, summary
    from qlop.errors import ConfigError

    if arr.intraday:
        raise ConfigError(
            f"backtest: sizing = {settings.sizing!r} and margin_mode = {settings.margin_mode!r} (or a strategy "
            "of target weights) need the target-weight engine, which runs on daily bars: use sizing = 'fixed' "
            "and margin_mode = 'isolated' on intraday bars, or resample them to 1d"
        )
    if "signal" in signals.columns:
        if exits.take_profit is not None or exits.stop_loss is not None or exits.horizon is not None:
            raise ConfigError(
                f"backtest: sizing = {settings.sizing!r} and margin_mode = {settings.margin_mode!r} resize "
                "positions to targets, which a strategy with barriers (take-profit, stop-loss, horizon) "
                "cannot express: use barriers = 'none' with an exit, or a strategy without barriers"
            )
        signal, weight, _ = align_signals(panel, signals)
        target = raw_targets(arr, signal, weight, settings)
    else:
        target = raw_targets(arr, None, align_targets(panel, signals), settings)
    out = run_portfolio_arrays(arr, code, target, settings, book_of_code)
    equity = equity_frame(out, book_names, books is None)
    trades = fills_frame(out, names, code)
    book_of = {str(t): str(book_names[book_of_code[i]]) for i, t in enumerate(names)}
    positions = positions_frame(trades, panel, equity, books is None and len(book_names) == 1, book_of)
    return BacktestResult(equity, trades, len(trades), out, positions, summary(out, settings, book_names))
