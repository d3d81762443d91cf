"""The engine against a plain per-bar Python loop written from the rules in docs/backtest.md.

The reference below imports nothing from qlop.backtest or qlop.sim: it walks the union calendar one
date at a time (interest on idle cash, exits at the open, entries sized at the open, barriers inside
the bar, marks at the close) with scalar arithmetic, and accrues every rate one calendar day at a
time. Hypothesis generates books with several tickers on their own calendars, gaps through barriers,
leverage, shorts, every cost (stop slippage included), both day counts, the caps and liquidations,
and rates that are constants or a series read through the csv data source (financing, risk-free
and cash rate).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import tempfile
from bisect import bisect_right
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qlop.backtest import EngineSettings, ExitRules, run_engine
from qlop.sim.terms import RateSeries

DUST = 1e-9
BUST = 1e-9  # a book at or below this fraction of its initial capital is bust: no new entries


# -------------------------------------------------------------------------------------- a rate series
@cache
def rate_file() -> Path:
    """A synthetic daily rate series (made up for this test: it changes every few days and has weekend
    gaps) as a CSV in the data sources' OHLCV layout, close = the annual rate in percent."""
    path = Path(tempfile.mkdtemp(prefix="qlop-rates-")) / "RATE.csv"
    levels = (0.5, 3.0, 8.0, 1.25, 20.0, 0.01)
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["Date", "Open", "High", "Low", "Close", "Volume"])
        day = dt.date(2020, 12, 1)
        k = 0
        while day <= dt.date(2021, 6, 30):
            if day.weekday() < 5:  # no prints at weekends: Friday's rate holds until Monday
                rate = levels[(k // 3) % len(levels)]
                out.writerow([day.isoformat(), rate, rate, rate, rate, 0])
                k += 1
            day += dt.timedelta(days=1)
    return path


def rate_series() -> RateSeries:
    return RateSeries(
        data_source_type="csv", data_source_params={"path": str(rate_file().parent)}, ticker="RATE", units="percent"
    )


@cache
def _rate_rows() -> tuple[list[int], list[float]]:
    days, rates = [], []
    with rate_file().open() as fh:
        for row in csv.DictReader(fh):
            days.append((dt.date.fromisoformat(row["Date"]) - dt.date(1970, 1, 1)).days)
            rates.append(float(row["Close"]) / 100)
    return days, rates


def rate_on(rate, day: int) -> float:
    """The annual rate in effect on calendar day ``day``: a constant, or the series' last print on or
    before that day (read from the CSV with the csv module)."""
    if not isinstance(rate, RateSeries):
        return float(rate)
    days, rates = _rate_rows()
    return rates[bisect_right(days, day) - 1]


# ------------------------------------------------------------------------------------ the reference
class _Cand:
    """A candidate trade of one ticker (taken by the book or not)."""

    def __init__(self, ticker, row, side, entry, day, lev, mm, tp, sl, horizon, weight, score):
        self.ticker, self.entry_row, self.side, self.entry, self.entry_day = ticker, row, side, entry, day
        self.horizon, self.weight, self.score = horizon, weight, score
        s = float(side)
        self.tp = entry * (1 + s * tp) if tp is not None else s * math.inf
        self.sl = entry * (1 - s * sl) if sl is not None else -s * math.inf
        if side > 0:
            self.liq = entry * (lev - 1) / (lev * (1 - mm)) if lev > 1 else -math.inf
            self.liq_first = self.liq >= self.sl
        else:
            self.liq = entry * (1 + lev) / (lev * (1 + mm))
            self.liq_first = self.liq <= self.sl
        self.adv = self.liq if self.liq_first else self.sl
        self.taken = False
        self.margin = 0.0
        self.te = 0.0


def reference_backtest(
    panel: pd.DataFrame, signals: pd.DataFrame, cfg: EngineSettings, exits: ExitRules, bar: int = 0, tz: str = "UTC"
):
    """``bar``: an intraday panel's bar length in seconds (0 = daily); its sessions are calendar dates
    in the time zone ``tz``. Intraday carry accrues on the seconds held, idle cash per UTC day."""
    lev, mm = cfg.leverage, cfg.maintenance_margin
    year = {"act_365": 365, "act_360": 360}[cfg.day_count]
    leg = (cfg.commission_bps + cfg.slippage_bps) / 1e4
    c_rate = cfg.commission_bps / 1e4

    stop_leg = cfg.stop_slippage_bps / 1e4
    cash_rate = cfg.risk_free if cfg.cash_rate is None else cfg.cash_rate

    def carry(side, d0, d1):
        """Carry from day d0 to day d1 (intraday: second d0 to second d1) as a fraction of margin:
        each day's rate / year, for the part of the day held."""
        if bar:
            spans = [
                (k, (min(d1, (k + 1) * 86400) - max(d0, k * 86400)) / 86400)
                for k in range(d0 // 86400, (d1 - 1) // 86400 + 1)
                if d1 > d0
            ]
        else:
            spans = [(k, 1.0) for k in range(d0, d1)]
        if side > 0:
            return sum(rate_on(cfg.financing_rate, k) * part * max(lev - 1, 0) / year for k, part in spans)
        return cfg.borrow_fee * lev * sum(part for _, part in spans) / year

    def value(c, price, day):
        frac = 1 + c.side * lev * (price / c.entry - 1) - leg * lev - carry(c.side, c.entry_day, day)
        return max(c.margin * frac - c.te, 0.0)

    tickers = list(dict.fromkeys(panel.index.get_level_values(0)))
    data = {}
    for t in tickers:
        p = panel.loc[t]
        s = signals.loc[t].reindex(p.index) if t in signals.index.get_level_values(0) else pd.DataFrame(index=p.index)
        data[t] = {
            "dates": list(p.index),
            "day": [int(d.value // 86_400_000_000_000) for d in p.index],
            "t": [int(d.value // 1_000_000_000) if bar else int(d.value // 86_400_000_000_000) for d in p.index],
            "session": [d.tz_convert(tz).date() if bar else d for d in p.index],
            "o": p["open"].tolist(),
            "h": p["high"].tolist(),
            "l": p["low"].tolist(),
            "c": p["close"].tolist(),
            "sig": [int(x) if x == x else 0 for x in s.get("signal", pd.Series(0, index=p.index)).tolist()],
            "w": [float(x) if x == x else 1.0 for x in s.get("weight", pd.Series(1.0, index=p.index)).tolist()],
            "sc": [float(x) for x in s.get("score", pd.Series(np.nan, index=p.index)).tolist()],
        }
    calendar = sorted(set().union(*[set(d["dates"]) for d in data.values()]))
    pos = {t: {d: i for i, d in enumerate(data[t]["dates"])} for t in tickers}
    cur = {t: None for t in tickers}  # open candidate per ticker
    last_exit = {t: -1 for t in tickers}  # bar of the last exit
    last_row = {t: -1 for t in tickers}  # last bar seen (for marks on dates without a bar)
    cash = cfg.initial_capital
    open_taken: list[_Cand] = []
    trades, marks = [], []

    def close_trade(c, row, price, reason, at_open=False):
        nonlocal cash
        d = data[c.ticker]
        rel = price / c.entry
        fees = leg * lev * (1 + rel) + (cfg.liquidation_fee * lev * rel if reason == "liquidation" else 0.0)
        if reason in ("sl", "liquidation"):
            fees += stop_leg * lev * rel
        fin = carry(c.side, c.entry_day, d["t"][row] + (0 if at_open else bar))
        net = max(lev * c.side * (rel - 1) - fees - fin, -1.0)
        cur[c.ticker] = None
        last_exit[c.ticker] = row
        if not c.taken:
            return
        notional = c.margin * lev
        tx = max(cfg.min_commission - c_rate * notional * rel, 0.0) if cfg.min_commission > 0 else 0.0
        pnl = max(c.margin * net - c.te - tx, -c.margin)
        cash += c.margin + pnl
        open_taken.remove(c)
        trades.append(
            {
                "ticker": c.ticker,
                "entry_date": d["dates"][c.entry_row],
                "exit_date": d["dates"][row],
                "side": "long" if c.side > 0 else "short",
                "entry_price": c.entry,
                "exit_price": price,
                "exit_reason": reason,
                "margin": c.margin,
                "pnl": pnl,
                "fees": c.margin * fees + c.te + tx,
                "financing": c.margin * fin,
            }
        )

    prev_day = None
    for date in calendar:
        today = {t: pos[t][date] for t in tickers if date in pos[t]}
        day_num = int(date.value // 86_400_000_000_000)
        now = int(date.value // 1_000_000_000) if bar else day_num  # the open of this bar
        # 0. idle cash earns the cash rate for every calendar day since the last date, compounded daily
        if prev_day is not None:
            for k in range(prev_day, day_num):
                cash *= 1 + rate_on(cash_rate, k) / year
        prev_day = day_num
        # 1. exits at the open: gaps through a level, then strategy exits
        for t, i in today.items():
            c, d = cur[t], data[t]
            if c is None or c.entry_row >= i:
                continue
            o = d["o"][i]
            gap_liq = o <= c.liq if c.side > 0 else o >= c.liq
            gap_sl = o <= c.sl if c.side > 0 else o >= c.sl
            gap_tp = o >= c.tp if c.side > 0 else o <= c.tp
            if gap_liq:
                close_trade(c, i, o, "liquidation", True)
            elif gap_sl:
                close_trade(c, i, o, "sl", True)
            elif gap_tp:
                close_trade(c, i, o, "tp", True)
            elif exits.exit_on_signal and d["sig"][i - 1] != c.side:
                close_trade(c, i, o, "signal", True)
        # 2. candidates entering at this open, then the book's decisions
        new = []
        for t, i in today.items():
            d = data[t]
            if cur[t] is not None or i == 0 or d["sig"][i - 1] == 0:
                continue
            run_start = i - 1 == 0 or d["sig"][i - 2] != d["sig"][i - 1]
            if not (last_exit[t] < i or (exits.exit_on_signal and run_start)):
                continue
            c = _Cand(
                t,
                i,
                d["sig"][i - 1],
                d["o"][i],
                d["t"][i],
                lev,
                mm,
                exits.take_profit,
                exits.stop_loss,
                exits.horizon,
                d["w"][i - 1],
                d["sc"][i - 1],
            )
            cur[t] = c
            new.append(c)
        if new:
            equity, gross = cash, 0.0
            for c in open_taken:
                d = data[c.ticker]
                if c.ticker in today:
                    price = d["o"][today[c.ticker]]
                else:
                    price = d["c"][last_row[c.ticker]]
                equity += value(c, price, now)
                gross += c.margin * lev / c.entry * price
            new.sort(key=lambda c: (-(c.score if c.score == c.score else -math.inf), tickers.index(c.ticker)))
            for c in new:
                if len(open_taken) >= cfg.max_positions or not equity > BUST * cfg.initial_capital:
                    break
                wanted = cfg.position_size * c.weight * lev * equity
                notional = min(wanted, cfg.max_gross_leverage * equity - gross, lev * cash)
                if not notional > DUST * equity:
                    continue
                c.taken, c.margin = True, notional / lev
                c.te = max(cfg.min_commission - c_rate * notional, 0.0) if cfg.min_commission > 0 else 0.0
                cash -= c.margin
                gross += notional
                open_taken.append(c)
        # 3. inside the bar and at its close
        for t, i in today.items():
            c, d = cur[t], data[t]
            last_row[t] = i
            if c is None:
                continue
            k = i - c.entry_row
            lo, hi = min(d["l"][i], d["o"][i]), max(d["h"][i], d["o"][i])
            adverse = lo <= c.adv if c.side > 0 else hi >= c.adv
            fav = hi >= c.tp if c.side > 0 else lo <= c.tp
            if adverse:
                close_trade(c, i, c.adv, "liquidation" if c.liq_first else "sl")
            elif fav:
                close_trade(c, i, c.tp, "tp")
            elif c.horizon is not None and k == c.horizon - 1:
                close_trade(c, i, d["c"][i], "horizon")
            elif i == len(d["dates"]) - 1:
                close_trade(c, i, d["c"][i], "end")
            elif exits.exit_at_session_end and d["session"][i + 1] != d["session"][c.entry_row]:
                close_trade(c, i, d["c"][i], "session")  # the next bar is another session's
        # 4. marks at the close
        equity, gross, net = cash, 0.0, 0.0
        for c in open_taken:
            price = data[c.ticker]["c"][last_row[c.ticker]]
            equity += value(c, price, now + bar)  # marked at the close
            expo = c.margin * lev / c.entry * price
            gross += expo
            net += c.side * expo
        marks.append(
            {
                "date": date,
                "equity": equity,
                "cash": cash,
                "gross_exposure": gross,
                "net_exposure": net,
                "n_positions": len(open_taken),
            }
        )
    return pd.DataFrame(marks).set_index("date"), pd.DataFrame(trades)


# -------------------------------------------------------------------------------------- generators
def intraday_calendar(kind: str, n: int) -> pd.DatetimeIndex:
    """``n`` bar opens (UTC): hourly 24/7 from a Monday evening, or exchange sessions of five hourly
    bars from 09:30 New York on business days (overnight and weekend gaps between sessions)."""
    if kind == "24/7":
        return pd.date_range("2021-01-04 18:00", periods=n, freq="1h", tz="UTC")
    days = pd.bdate_range("2021-01-04", periods=n // 5 + 1)
    opens = [
        pd.Timestamp(f"{d:%Y-%m-%d} 09:30", tz="America/New_York") + pd.Timedelta(hours=k)
        for d in days
        for k in range(5)
    ]
    return pd.DatetimeIndex(opens[:n]).tz_convert("UTC")


@st.composite
def books(draw, intraday=None):
    n_tickers = draw(st.integers(1, 4))
    n_days = draw(st.integers(3, 45))
    calendar = pd.bdate_range("2021-01-04", periods=n_days) if intraday is None else intraday_calendar(intraday, n_days)
    rows, sig_rows = [], []
    for j in range(n_tickers):
        keep = draw(st.lists(st.booleans(), min_size=n_days, max_size=n_days))
        dates = [d for d, k in zip(calendar, keep) if k]
        if len(dates) < 2:
            dates = list(calendar[:2])
        price = draw(st.floats(5, 200))
        hold = draw(st.integers(-1, 1))
        for d in dates:
            gap = draw(st.sampled_from([0.0, 0.0, 0.0, 0.01, -0.01, 0.12, -0.12, 0.35, -0.35]))
            o = price * (1 + gap)
            moves = draw(st.lists(st.floats(-0.15, 0.15), min_size=3, max_size=3))
            c = o * (1 + moves[0])
            h = max(o, c) * (1 + abs(moves[1]))
            lo = min(o, c) * (1 - abs(moves[2]) * 0.9)
            rows.append((f"T{j}", d, o, h, lo, c))
            price = c
            if draw(st.integers(0, 3)) == 0:
                hold = draw(st.integers(-1, 1))
            sig_rows.append((f"T{j}", d, hold, draw(st.sampled_from([1.0, 0.5, 2.0, 0.0])), draw(st.floats(0, 1))))
    panel = pd.DataFrame(rows, columns=["ticker", "date", "open", "high", "low", "close"])
    panel["adj_close"] = panel["close"]
    panel["volume"] = 1000.0
    panel = panel.set_index(["ticker", "date"]).sort_index()
    signals = (
        pd.DataFrame(sig_rows, columns=["ticker", "date", "signal", "weight", "score"])
        .set_index(["ticker", "date"])
        .sort_index()
    )
    lev = draw(st.sampled_from([0.5, 1.0, 2.0, 3.0, 5.0]))
    mm = draw(st.sampled_from([0.05, 0.1, 0.15]))
    terms = dict(
        initial_capital=10_000.0,
        leverage=lev,
        maintenance_margin=mm,
        position_size=draw(st.sampled_from([0.1, 0.3, 0.5, 1.0])),
        max_positions=draw(st.integers(1, 4)),
        max_gross_leverage=draw(st.sampled_from([0.5, 1.5, 3.0, 10.0])),
        commission_bps=draw(st.sampled_from([0.0, 1.0, 10.0])),
        min_commission=draw(st.sampled_from([0.0, 1.0, 25.0])),
        slippage_bps=draw(st.sampled_from([0.0, 2.0, 20.0])),
        financing_rate=draw(st.sampled_from([0.0, 0.05, 0.5, "series"])),
        borrow_fee=draw(st.sampled_from([0.0, 0.03, 0.5])),
        liquidation_fee=draw(st.sampled_from([0.0, 0.01])),
        day_count=draw(st.sampled_from(["act_365", "act_360"])),
        stop_slippage_bps=draw(st.sampled_from([0.0, 0.0, 25.0])),
        risk_free=draw(st.sampled_from([0.0, 0.0, 0.03, -0.01, "series"])),
        cash_rate=draw(st.sampled_from([None, None, 0.0, 0.2, "series"])),
    )
    cfg = EngineSettings(**{k: rate_series() if v == "series" else v for k, v in terms.items()})
    exits = ExitRules(
        take_profit=draw(st.sampled_from([None, 0.02, 0.1])),
        stop_loss=draw(st.sampled_from([None, 0.02, 0.1])),
        horizon=draw(st.sampled_from([None, 1, 2, 5])),
        exit_on_signal=draw(st.booleans()),
        exit_at_session_end=intraday is not None and draw(st.booleans()),
    )
    if intraday is not None:  # what an intraday data source records (a ticker may miss bars)
        panel.attrs["interval"] = "1h"
    if intraday == "exchange":
        panel.attrs["timezone"] = "America/New_York"
    return panel, signals, cfg, exits


def _compare(panel, signals, cfg, exits, books=None):
    res = run_engine(panel, signals, cfg, exits, books=books)
    dates = pd.DatetimeIndex(panel.index.get_level_values(1))
    bar = 3600 if dates.tz is not None else 0
    tz = panel.attrs.get("timezone", "UTC")
    if books == "ticker":
        for t in panel.index.get_level_values(0).unique():
            ref_eq, ref_tr = reference_backtest(panel.loc[[t]], signals.loc[[t]], cfg, exits, bar, tz)
            _assert_equal(res.equity.loc[t], res.trades[res.trades["ticker"] == t], ref_eq, ref_tr)
    else:
        ref_eq, ref_tr = reference_backtest(panel, signals, cfg, exits, bar, tz)
        _assert_equal(res.equity, res.trades, ref_eq, ref_tr)


def _assert_equal(eq, trades, ref_eq, ref_tr):
    assert list(eq.index) == list(ref_eq.index)
    scale = 10_000.0
    for col in ("equity", "cash", "gross_exposure", "net_exposure"):
        np.testing.assert_allclose(
            eq[col].to_numpy(), ref_eq[col].to_numpy(), rtol=1e-9, atol=1e-9 * scale, err_msg=col
        )
    np.testing.assert_array_equal(eq["n_positions"].to_numpy(), ref_eq["n_positions"].to_numpy())
    assert len(trades) == len(ref_tr)
    if len(ref_tr):
        ref = ref_tr.sort_values(["entry_date", "ticker"], kind="mergesort").reset_index(drop=True)
        got = trades.reset_index(drop=True)
        for col in ("ticker", "side", "entry_date", "exit_date", "exit_reason"):
            assert got[col].tolist() == ref[col].tolist(), col
        for col in ("entry_price", "exit_price", "margin", "pnl", "fees", "financing"):
            np.testing.assert_allclose(
                got[col].to_numpy(), ref[col].to_numpy(), rtol=1e-9, atol=1e-9 * scale, err_msg=col
            )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(books())
def test_engine_equals_reference_loop_shared_book(book):
    _compare(*book)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(books())
def test_engine_equals_reference_loop_one_book_per_ticker(book):
    _compare(*book, books="ticker")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.sampled_from(["24/7", "exchange"]).flatmap(lambda kind: books(intraday=kind)), st.booleans())
def test_engine_equals_reference_loop_on_intraday_calendars(book, per_ticker):
    """Hourly bars, 24/7 or in exchange sessions: carry on the seconds held, session exits, gaps at opens."""
    _compare(*book, books="ticker" if per_ticker else None)


def test_reference_sees_liquidations_and_every_exit_reason():
    """The generator reaches the cases the engine must get right (guards against a vacuous test)."""
    seen: set[str] = set()
    rng = np.random.default_rng(3)
    dates = pd.bdate_range("2020-01-01", periods=120)
    for seed in range(6):
        rows = []
        for j in range(3):
            p = 100.0
            for d in dates:
                o = p * (1 + rng.choice([0, 0, 0, 0.2, -0.2]))
                c = o * (1 + rng.normal(0, 0.04))
                rows.append((f"T{j}", d, o, max(o, c) * 1.02, min(o, c) * 0.98, c))
                p = c
        panel = pd.DataFrame(rows, columns=["ticker", "date", "open", "high", "low", "close"]).set_index(
            ["ticker", "date"]
        )
        sig = pd.DataFrame({"signal": rng.choice([-1, 0, 1], size=len(panel))}, index=panel.index)
        for exits in (ExitRules(0.05, 0.04, 4, False), ExitRules(None, None, None, True)):
            cfg = EngineSettings(
                leverage=4.0,
                maintenance_margin=0.1,
                position_size=0.5,
                max_positions=2,
                commission_bps=5,
                min_commission=2,
                slippage_bps=5,
                financing_rate=0.1,
                borrow_fee=0.05,
                liquidation_fee=0.01,
            )
            res = run_engine(panel, sig, cfg, exits)
            ref_eq, ref_tr = reference_backtest(panel, sig, cfg, exits)
            _assert_equal(res.equity, res.trades, ref_eq, ref_tr)
            seen |= set(res.trades["exit_reason"])
    assert {"liquidation", "tp", "sl", "horizon", "signal", "end"} <= seen


# ------------------------------------------------------------------------- target-weight books
def _vol(closes: list[float], i: int, lookback: int) -> float:
    """Annualised sample volatility (ddof 1) of the ``lookback`` close-to-close returns ending at bar ``i``."""
    if i < lookback:
        return math.nan
    rets = [closes[m] / closes[m - 1] - 1 for m in range(i - lookback + 1, i + 1)]
    mean = sum(rets) / lookback
    return math.sqrt(sum((r - mean) ** 2 for r in rets) / (lookback - 1) * 252)


def reference_targets(panel: pd.DataFrame, signals: pd.DataFrame, cfg: EngineSettings):
    """The target-weight book of docs/backtest.md, one date at a time with scalar arithmetic."""
    lev, mm = cfg.leverage, cfg.maintenance_margin
    year = {"act_365": 365, "act_360": 360}[cfg.day_count]
    comm, slip = cfg.commission_bps / 1e4, cfg.slippage_bps / 1e4
    liq_rate = slip + cfg.stop_slippage_bps / 1e4 + cfg.liquidation_fee
    cash_rate = cfg.risk_free if cfg.cash_rate is None else cfg.cash_rate
    cross = cfg.margin_mode == "cross"
    cap = min(cfg.max_gross_leverage, lev)
    tickers = list(dict.fromkeys(panel.index.get_level_values(0)))
    data = {}
    for t in tickers:
        p = panel.loc[t]
        s = signals.loc[t].reindex(p.index)
        closes = p["close"].tolist()
        raw = []
        for i in range(len(p)):
            if "signal" in s.columns:
                sig = s["signal"].iloc[i]
                sig = 0 if sig != sig else int(sig)
                w = s["weight"].iloc[i] if "weight" in s.columns else 1.0
                w = 1.0 if w != w else float(w)
                if cfg.sizing == "vol_target":
                    base = sig * w
                else:
                    prev = None if i == 0 else s["signal"].iloc[i - 1]
                    prev = 0 if prev is None or prev != prev else int(prev)
                    changed = sig != 0 if i == 0 else sig != prev
                    base = sig * w * cfg.position_size * lev if changed else math.nan
            else:
                base = float(s["weight"].iloc[i])
            if cfg.sizing == "vol_target" and base == base:
                v = _vol(closes, i, cfg.vol_lookback)
                x = base * cfg.target_vol / v if v == v and v > 1e-9 else 0.0  # docs: at most 1e-9 is zero
                base = min(max(x, -cfg.max_leverage), cfg.max_leverage)
            raw.append(base)
        data[t] = {
            "dates": list(p.index),
            "o": p["open"].tolist(),
            "c": closes,
            "ret": [math.nan] + [closes[i] / closes[i - 1] - 1 for i in range(1, len(closes))],
            "raw": raw,
        }
    calendar = sorted(set().union(*[set(d["dates"]) for d in data.values()]))
    pos = {t: {d: i for i, d in enumerate(data[t]["dates"])} for t in tickers}
    q = dict.fromkeys(tickers, 0.0)
    basis = dict.fromkeys(tickers, 0.0)
    marg = dict.fromkeys(tickers, 0.0)
    lc = dict.fromkeys(tickers, 0.0)
    pending = dict.fromkeys(tickers, math.nan)
    latest = dict.fromkeys(tickers, 0.0)
    cash = cfg.initial_capital
    bust = False
    fills, marks = [], []
    stats = {"calls": 0, "liquidations": 0, "deficit": 0.0}

    def liquidate(t, date, kind):
        nonlocal cash
        p = lc[t]
        notional = abs(q[t]) * p
        fee = max(comm * notional, cfg.min_commission) + liq_rate * notional
        pnl = q[t] * (p - basis[t]) - fee
        relief = 0.0
        if not cross and pnl < -marg[t]:
            relief, pnl = -marg[t] - pnl, -marg[t]
        cash += q[t] * p - fee + relief
        fills.append(
            {"ticker": t, "date": date, "reason": kind, "quantity": -q[t], "price": p, "fees": fee, "pnl": pnl}
        )
        q[t] = basis[t] = marg[t] = 0.0

    prev_day = None
    for ti, date in enumerate(calendar):
        today = {t: pos[t][date] for t in tickers if date in pos[t]}
        day = int(date.value // 86_400_000_000_000)
        # carry since the last date on the balances of its close
        if prev_day is not None and not bust:
            sv = sum(-q[t] * lc[t] for t in tickers if q[t] < 0)
            idle = cash - sv
            if idle > 0:
                g = 1.0
                for k in range(prev_day, day):
                    g *= 1 + rate_on(cash_rate, k) / year
                cash += idle * (g - 1)
            elif idle < 0:
                cash -= -idle * sum(rate_on(cfg.financing_rate, k) for k in range(prev_day, day)) / year
            if sv > 0:
                cash -= sv * cfg.borrow_fee * (day - prev_day) / year
        prev_day = day
        # resizes at the open
        if not bust and any(pending[t] == pending[t] for t in today):
            e_o = cash
            for t in tickers:
                if q[t] != 0:
                    p = data[t]["o"][today[t]] if t in today else lc[t]
                    e_o += q[t] * p
                    if not cross:
                        iso = marg[t] + q[t] * (p - basis[t])
                        e_o += -iso if iso < 0 else 0.0
            for t in tickers:
                if t not in today or pending[t] != pending[t]:
                    continue
                w, pending[t] = pending[t], math.nan
                o = data[t]["o"][today[t]]
                cur = q[t] * o
                want = w * e_o if e_o > 0 else 0.0
                delta = want - cur
                full_close = want == 0 and q[t] != 0
                if delta == 0 or (not full_close and abs(delta) <= 1e-9 * abs(e_o)):
                    continue  # docs/backtest.md: a resize below 1e-9 x equity is float noise, not a trade
                if not full_close and (abs(delta) < cfg.rebalance_band * e_o or abs(delta) < cfg.min_trade_value):
                    continue
                dq = -q[t] if full_close else delta / o
                traded = abs(dq) * o
                fee = max(comm * traded, cfg.min_commission) + slip * traded
                realized = 0.0
                if q[t] != 0 and (dq > 0) != (q[t] > 0):
                    closed = min(abs(dq), abs(q[t]))
                    realized = (closed if q[t] > 0 else -closed) * (o - basis[t])
                new = q[t] + dq
                if new == 0:
                    basis[t] = 0.0
                elif q[t] == 0 or (new > 0) != (q[t] > 0):
                    basis[t] = o
                elif abs(new) > abs(q[t]):
                    basis[t] = (q[t] * basis[t] + dq * o) / new
                fills.append(
                    {
                        "ticker": t,
                        "date": date,
                        "reason": "rebalance",
                        "quantity": dq,
                        "price": o,
                        "fees": fee,
                        "pnl": realized - fee,
                        "weight_before": cur / e_o if e_o > 0 else 0.0,
                        "weight_after": new * o / e_o if e_o > 0 else 0.0,
                    }
                )
                cash -= dq * o + fee
                q[t] = new
                marg[t] = abs(new) * basis[t] / lev
        # the close: maintenance, bust
        for t, i in today.items():
            lc[t] = data[t]["c"][i]
        if not bust:
            if cross:
                while True:
                    held = [t for t in tickers if q[t] != 0]
                    e = cash + sum(q[t] * lc[t] for t in held)
                    g = sum(abs(q[t]) * lc[t] for t in held)
                    if g == 0 or e > mm * g:
                        break
                    worst = min(held, key=lambda t: (q[t] * (lc[t] - basis[t]), tickers.index(t)))
                    liquidate(worst, date, "margin_call")
                    stats["calls"] += 1
            else:
                for t in tickers:
                    if q[t] != 0 and marg[t] + q[t] * (lc[t] - basis[t]) <= mm * abs(q[t]) * lc[t]:
                        liquidate(t, date, "liquidation")
                        stats["liquidations"] += 1
            if cash + sum(q[t] * lc[t] for t in tickers) <= BUST * cfg.initial_capital:
                for t in tickers:
                    if q[t] != 0:
                        liquidate(t, date, "bust")
                bust = True
                if cash < 0:
                    stats["deficit"], cash = -cash, 0.0
        # the targets of this close
        if not bust:
            fresh = [t for t, i in today.items() if data[t]["raw"][i] == data[t]["raw"][i]]
            for t in fresh:
                latest[t] = data[t]["raw"][today[t]]
            if fresh:
                scale = 1.0
                if cfg.portfolio_target_vol > 0:
                    lb = cfg.vol_lookback
                    if ti >= lb:
                        hist = []
                        for s_date in calendar[ti - lb + 1 : ti + 1]:
                            h = 0.0
                            for t in tickers:
                                if s_date in pos[t]:
                                    r = data[t]["ret"][pos[t][s_date]]
                                    h += latest[t] * r if r == r else 0.0
                            hist.append(h)
                        mean = sum(hist) / lb
                        vol = math.sqrt(sum((h - mean) ** 2 for h in hist) / (lb - 1) * 252)
                        scale = cfg.portfolio_target_vol / vol if vol > 1e-9 else 0.0  # docs: at most 1e-9 is zero
                    else:
                        scale = 0.0
                gross = sum(abs(latest[t]) * scale for t in tickers)
                if gross > cap:
                    scale *= cap / gross
                for t in fresh:
                    pending[t] = latest[t] * scale
        held = [t for t in tickers if q[t] != 0]
        marks.append(
            {
                "date": date,
                "equity": cash + sum(q[t] * lc[t] for t in held),
                "cash": cash,
                "gross_exposure": sum(abs(q[t]) * lc[t] for t in held),
                "net_exposure": sum(q[t] * lc[t] for t in held),
                "n_positions": len(held),
            }
        )
    return pd.DataFrame(marks).set_index("date"), pd.DataFrame(fills), stats


@st.composite
def target_books(draw):
    panel, signals, cfg, _ = draw(books())
    weights_mode = draw(st.booleans())
    if weights_mode:
        w = [draw(st.sampled_from([math.nan, math.nan, 0.0, 0.3, -0.4, 1.0, 2.5, -1.5])) for _ in range(len(panel))]
        signals = pd.DataFrame({"weight": w}, index=panel.index)
    lev = draw(st.sampled_from([1.0, 2.0, 5.0, 10.0]))
    mm = draw(st.sampled_from([0.0, 0.05, 0.09]))
    fields = cfg.model_dump() | dict(
        leverage=lev,
        maintenance_margin=mm,
        max_gross_leverage=draw(st.sampled_from([0.5, 2.0, 10.0])),
        margin_mode=draw(st.sampled_from(["isolated", "cross"])),
        sizing=draw(st.sampled_from(["fixed", "vol_target"])),
        target_vol=draw(st.sampled_from([0.1, 0.5])),
        vol_lookback=draw(st.sampled_from([2, 3, 5])),
        max_leverage=draw(st.sampled_from([0.5, 3.0])),
        portfolio_target_vol=draw(st.sampled_from([0.0, 0.0, 0.2])),
        rebalance_band=draw(st.sampled_from([0.0, 0.0, 0.05])),
        min_trade_value=draw(st.sampled_from([0.0, 0.0, 500.0])),
    )
    if not weights_mode and fields["margin_mode"] == "isolated" and fields["sizing"] == "fixed":
        fields["margin_mode"] = "cross"  # else the signal engine runs it (tested above)
    cfg = EngineSettings(**{k: (rate_series() if isinstance(v, dict) else v) for k, v in fields.items()})
    return panel, signals, cfg


def _compare_targets(panel, signals, cfg, books=None):
    res = run_engine(panel, signals, cfg, ExitRules(), books=books)
    parts = [(res.equity, res.trades, None)]
    if books == "ticker":
        parts = [(res.equity.loc[t], res.trades[res.trades["ticker"] == t], t) for t in panel.index.unique(0)]
    for eq, fills, t in parts:
        p, s = (panel, signals) if t is None else (panel.loc[[t]], signals.loc[[t]])
        ref_eq, ref_fills, _ = reference_targets(p, s, cfg)
        assert list(eq.index) == list(ref_eq.index)
        for col in ("equity", "cash", "gross_exposure", "net_exposure"):
            np.testing.assert_allclose(eq[col].to_numpy(), ref_eq[col].to_numpy(), rtol=1e-9, atol=1e-5, err_msg=col)
        np.testing.assert_array_equal(eq["n_positions"].to_numpy(), ref_eq["n_positions"].to_numpy())
        assert len(fills) == len(ref_fills)
        if len(ref_fills):
            got = fills.reset_index(drop=True)
            assert got["ticker"].tolist() == ref_fills["ticker"].tolist()
            assert got["date"].tolist() == ref_fills["date"].tolist()
            assert got["reason"].tolist() == ref_fills["reason"].tolist()
            for col in ("quantity", "price", "fees", "pnl"):
                np.testing.assert_allclose(
                    got[col].to_numpy(), ref_fills[col].to_numpy(), rtol=1e-9, atol=1e-6, err_msg=col
                )
            reb = ref_fills["reason"].to_numpy() == "rebalance"
            for col in ("weight_before", "weight_after"):
                np.testing.assert_allclose(
                    got[col].to_numpy()[reb], ref_fills[col].to_numpy()[reb], rtol=1e-9, atol=1e-12, err_msg=col
                )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(target_books())
def test_target_weight_book_equals_reference_loop(book):
    _compare_targets(*book)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(target_books())
def test_target_weight_books_per_ticker_equal_reference_loop(book):
    _compare_targets(*book, books="ticker")


def test_target_reference_sees_margin_calls_liquidations_and_bust():
    """The cases the target-weight engine must get right are reached (guards against a vacuous test)."""
    rng = np.random.default_rng(5)
    dates = pd.bdate_range("2020-01-01", periods=150)
    rows = []
    for j in range(3):
        p = 100.0
        for d in dates:
            o = p * (1 + rng.choice([0, 0, 0, 0.15, -0.15]))
            c = o * (1 + rng.normal(0, 0.04))
            rows.append((f"T{j}", d, o, max(o, c) * 1.02, min(o, c) * 0.98, c))
            p = c
    panel = pd.DataFrame(rows, columns=["ticker", "date", "open", "high", "low", "close"]).set_index(["ticker", "date"])
    w = pd.DataFrame({"weight": rng.choice([np.nan, np.nan, 3.0, -3.0, 0.0], size=len(panel))}, index=panel.index)
    seen: set[str] = set()
    seen_alone: set[str] = set()  # one-ticker books run their own loop (single_book): it must see them too
    for mode in ("isolated", "cross"):
        cfg = EngineSettings(leverage=10.0, maintenance_margin=0.05, max_gross_leverage=10.0, margin_mode=mode)
        res = run_engine(panel, w, cfg)
        _, ref_fills, _ = reference_targets(panel, w, cfg)
        _compare_targets(panel, w, cfg)
        seen |= set(res.trades["reason"]) | set(ref_fills["reason"])
        _compare_targets(panel, w, cfg, books="ticker")
        alone = run_engine(panel, w, cfg, books="ticker")
        seen_alone |= set(alone.trades["reason"]) | ({"bust"} if alone.summary["bust"] else set())
    assert {"rebalance", "liquidation", "margin_call", "bust"} <= seen
    # (a lone position's account goes bust through its margin call: no separate "bust" fill)
    assert {"rebalance", "liquidation", "margin_call", "bust"} <= seen_alone


def _flat_then_step_book() -> pd.DataFrame:
    """Two tickers whose vol-target weights times returns are equal on consecutive dates (the
    book's P&L is constant up to rounding) and whose calendars have gaps: the engine once levered
    this book to its cap on ~1e-17 of realised volatility and made a 4e-14-share rebalance."""
    rows = []
    t0 = pd.to_datetime(["2021-01-15", "2021-01-18", "2021-01-19", "2021-01-20", "2021-01-21", "2021-01-22",
                         "2021-01-25", "2021-01-26", "2021-01-27", "2021-01-28", "2021-02-08", "2021-02-09",
                         "2021-02-10", "2021-02-11", "2021-02-12"])  # fmt: skip
    o0 = [5.0] * 8 + [5.494181] * 2 + [5.081659] * 5
    h0 = [5.0] * 7 + [5.494181] * 3 + [5.081659] * 5
    c0 = [5.0] * 7 + [5.494181] * 2 + [5.081659] * 6
    l0 = [5.0] * 8 + [5.494181] + [5.081659] * 6
    for i, d in enumerate(t0):
        rows.append(("T0", d, o0[i], h0[i], l0[i], c0[i], c0[i], 1000.0))
    t1 = pd.bdate_range("2021-01-14", "2021-02-03").append(pd.bdate_range("2021-02-10", "2021-02-12"))
    for i, d in enumerate(t1):
        p = 5.0 if i < 11 else 3.25
        rows.append(("T1", d, p, p, p, p, p, 1000.0))
    cols = ["ticker", "date", "open", "high", "low", "close", "adj_close", "volume"]
    return pd.DataFrame(rows, columns=cols).set_index(["ticker", "date"])


@pytest.mark.parametrize("min_commission", [0.0, 1.0])
@pytest.mark.parametrize(
    "w0, w1",
    [
        ("- - -1.5 -1.5 - .3 - 2.5 .3 - -.4 1 - - -1.5", "1 -1.5 .3 - -1.5 0 - -.4 0 - 2.5 - - -.4 1 .3 - 1"),
        ("2.5 - 2.5 -.4 - .3 -1.5 - - 2.5 - 0 - 0 .3", "0 0 2.5 1 - 1 2.5 - - -1.5 - 2.5 - .3 - - 1 -1.5"),
    ],
)
def test_target_book_ignores_rounding_noise(w0, w1, min_commission):
    panel = _flat_then_step_book()
    weights = [math.nan if x == "-" else float(x) for x in (w0 + " " + w1).split()]
    signals = pd.DataFrame({"weight": weights}, index=panel.index)
    cfg = EngineSettings(
        initial_capital=10_000.0, max_positions=1, max_gross_leverage=0.5, sizing="vol_target", target_vol=0.1,
        vol_lookback=2, max_leverage=0.5, portfolio_target_vol=0.2, min_commission=min_commission,
        maintenance_margin=0.0, commission_bps=0.0, slippage_bps=0.0, financing_rate=0.0, day_count="act_365",
    )  # fmt: skip
    _compare_targets(panel, signals, cfg)
    trades = run_engine(panel, signals, cfg, ExitRules()).trades
    assert (trades["notional"] > 1e-6).all()
