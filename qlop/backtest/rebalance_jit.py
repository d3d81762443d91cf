"""The compiled bodies of :mod:`qlop.backtest.rebalance_kernel` (numba, imported on first use only).

Module-level functions, so numba's on-disk cache (``cache=True``) holds them: a process's first
target-weight backtest loads machine code instead of compiling.
"""

# mypy: ignore-errors
# ruff: noqa: ANN001, ANN201

from __future__ import annotations

import numpy as np
from numba import njit

from qlop.backtest.rebalance_kernel import DUST_FRACTION, VOL_EPSILON


@njit(cache=True, nogil=True)
def skip_resize(delta, full_close, e_o, band, min_trade):
    """Whether a resize by ``delta`` of notional at an open where the book is worth ``e_o`` is not
    traded: no change, rounding noise (at most ``DUST_FRACTION`` of equity), or below the rebalance
    band or the minimum trade. Closing a position is never skipped. One rule for both bar loops."""
    if delta == 0.0:
        return True
    if full_close:
        return False
    size = abs(delta)
    return size <= DUST_FRACTION * abs(e_o) or size < band * e_o or size < min_trade


@njit(cache=True, nogil=True)
def liquidate(k, kind, s, row, q, basis, marg, lc, cash, cross, fee_rate, min_comm, comm, f_out, f_i, fi_out):
    """Close ticker ``k`` at its last close; returns the new cash and writes fill ``f_i``."""
    p = lc[k]
    notional = abs(q[k]) * p
    fee = max(comm * notional, min_comm) + fee_rate * notional
    pnl = q[k] * (p - basis[k]) - fee
    relief = 0.0
    if not cross and pnl < -marg[k]:
        relief = -marg[k] - pnl
        pnl = -marg[k]
    cash = cash + q[k] * p - fee + relief
    fi_out[f_i, 0] = row
    fi_out[f_i, 1] = s
    fi_out[f_i, 2] = kind
    f_out[f_i, 0] = -q[k]
    f_out[f_i, 1] = p
    f_out[f_i, 2] = fee
    f_out[f_i, 3] = pnl
    f_out[f_i, 4] = np.nan
    f_out[f_i, 5] = 0.0
    q[k] = 0.0
    basis[k] = 0.0
    marg[k] = 0.0
    return cash


@njit(cache=True, nogil=True)
def single_book(
    b,
    s0,
    nd,
    c0,
    open_,
    close,
    target,
    cell_row,
    slot_day,
    growth,
    fin_acc,
    day0,
    interest,
    year,
    borrow_fee,
    initial_capital,
    lev,
    mm,
    comm,
    min_comm,
    slip,
    liq_rate,
    band,
    min_trade,
    cross,
    gross_cap,
    bust_frac,
    equity,
    cash_out,
    gross_out,
    net_out,
    npos_out,
    f_out,
    fi_out,
    stats,
    n_f,
):
    """:func:`rebalance_books` for a book of one ticker without volatility scaling: the same steps on
    scalars (a book loop of a few arrays of one element cost about twice as much). Returns the fill
    count, -1 when the buffers are full."""
    cap_f = f_out.shape[0]
    q = 0.0
    basis = 0.0
    marg = 0.0
    lc = 0.0
    lrow = -1
    tgt = np.nan
    c = initial_capital
    bust = False
    n_calls = 0
    n_liq = 0
    tot_int = 0.0
    tot_fin = 0.0
    tot_bor = 0.0
    bust_slot = -1
    deficit = 0.0
    for t in range(nd):
        s = s0 + t
        d = slot_day[s]
        r = cell_row[c0 + t]
        if t > 0 and not bust:
            pd_ = slot_day[s - 1]
            sv = 0.0
            if q < 0:
                sv -= q * lc
            idle = c - sv
            if idle > 0:
                if interest:
                    inc = idle * (growth[d - day0] / growth[pd_ - day0] - 1.0)
                    c += inc
                    tot_int += inc
            elif idle < 0:
                fin = -idle * (fin_acc[d - day0] - fin_acc[pd_ - day0]) / year
                c -= fin
                tot_fin += fin
            if sv > 0 and borrow_fee > 0:
                bf = sv * borrow_fee * (d - pd_) / year
                c -= bf
                tot_bor += bf
        if not bust and r >= 0 and tgt == tgt:
            o = open_[r]
            e_o = c
            if q != 0.0:
                e_o += q * o
                if not cross:
                    iso = marg + q * (o - basis)
                    if iso < 0.0:
                        e_o -= iso
            w = tgt
            tgt = np.nan
            cur = q * o
            want = w * e_o if e_o > 0 else 0.0
            delta = want - cur
            full_close = want == 0.0 and q != 0.0
            if not skip_resize(delta, full_close, e_o, band, min_trade):
                dq = -q if full_close else delta / o
                traded = abs(dq) * o
                fee = max(comm * traded, min_comm) + slip * traded
                realized = 0.0
                q_new = q + dq
                if q != 0.0 and (dq > 0) != (q > 0):
                    closed = min(abs(dq), abs(q))
                    realized = (closed if q > 0 else -closed) * (o - basis)
                if q_new == 0.0:
                    basis = 0.0
                elif q == 0.0 or (q_new > 0) != (q > 0):
                    basis = o
                elif abs(q_new) > abs(q):
                    basis = (q * basis + dq * o) / q_new
                if n_f >= cap_f:
                    return -1
                fi_out[n_f, 0] = r
                fi_out[n_f, 1] = s
                fi_out[n_f, 2] = 0
                f_out[n_f, 0] = dq
                f_out[n_f, 1] = o
                f_out[n_f, 2] = fee
                f_out[n_f, 3] = realized - fee
                f_out[n_f, 4] = cur / e_o if e_o > 0 else 0.0
                f_out[n_f, 5] = q_new * o / e_o if e_o > 0 else 0.0
                n_f += 1
                c -= dq * o + fee
                q = q_new
                marg = abs(q_new) * basis / lev
        if r >= 0:
            lc = close[r]
            lrow = r
        if not bust:
            kind = -1
            if q != 0.0:
                if cross:
                    g = abs(q) * lc
                    if not (g == 0.0 or c + q * lc > mm * g):
                        kind = 2
                elif marg + q * (lc - basis) <= mm * abs(q) * lc:
                    kind = 1
            if kind < 0 and q != 0.0 and c + q * lc <= bust_frac * initial_capital:
                kind = 3
            if kind >= 0:
                if n_f >= cap_f:
                    return -1
                notional = abs(q) * lc
                fee = max(comm * notional, min_comm) + liq_rate * notional
                pnl = q * (lc - basis) - fee
                relief = 0.0
                if not cross and pnl < -marg:
                    relief = -marg - pnl
                    pnl = -marg
                c = c + q * lc - fee + relief
                fi_out[n_f, 0] = lrow
                fi_out[n_f, 1] = s
                fi_out[n_f, 2] = kind
                f_out[n_f, 0] = -q
                f_out[n_f, 1] = lc
                f_out[n_f, 2] = fee
                f_out[n_f, 3] = pnl
                f_out[n_f, 4] = np.nan
                f_out[n_f, 5] = 0.0
                n_f += 1
                q = 0.0
                basis = 0.0
                marg = 0.0
                if kind == 2:
                    n_calls += 1
                elif kind == 1:
                    n_liq += 1
            if c + q * lc <= bust_frac * initial_capital:
                bust = True
                bust_slot = s
                if c < 0.0:
                    deficit = -c
                    c = 0.0
        if not bust and r >= 0 and target[r] == target[r]:
            latest = target[r]
            scale = 1.0
            g = abs(latest) * scale
            if g > gross_cap:
                scale = scale * (gross_cap / g)
            tgt = latest * scale
        if q != 0.0:
            x = q * lc
            equity[s] = c + x
            gross_out[s] = abs(x)
            net_out[s] = x
            npos_out[s] = 1
        else:
            equity[s] = c
            gross_out[s] = 0.0
            net_out[s] = 0.0
            npos_out[s] = 0
        cash_out[s] = c
    stats[b, 0] = tot_int
    stats[b, 1] = tot_fin
    stats[b, 2] = tot_bor
    stats[b, 3] = n_calls
    stats[b, 4] = n_liq
    stats[b, 5] = bust_slot
    stats[b, 6] = deficit
    return n_f


@njit(cache=True, nogil=True)
def rebalance_books(
    open_,
    close,
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
    interest,
    year,
    borrow_fee,
    initial_capital,
    lev,
    mm,
    comm,
    min_comm,
    slip,
    stop_slip,
    liq_fee,
    band,
    min_trade,
    cross,
    gross_cap,
    ptv,
    lookback,
    periods,
    bust_frac,
    equity,
    cash_out,
    gross_out,
    net_out,
    npos_out,
    f_out,
    fi_out,
    stats,
):
    """Every book's bars; returns the number of fills written (-1: the fill buffers are full)."""
    max_k = 1
    for b in range(n_tick.shape[0]):
        if n_tick[b] > max_k:
            max_k = n_tick[b]
    q = np.zeros(max_k)
    basis = np.zeros(max_k)
    marg = np.zeros(max_k)
    lc = np.zeros(max_k)
    lrow = np.zeros(max_k, dtype=np.int64)
    tgt = np.zeros(max_k)
    latest = np.zeros(max_k)
    fresh = np.zeros(max_k, dtype=np.bool_)
    hist = np.zeros(max(lookback, 1))
    cap_f = f_out.shape[0]
    n_f = 0
    trade_rate = slip
    liq_rate = slip + stop_slip + liq_fee
    for b in range(n_tick.shape[0]):
        nk = n_tick[b]
        s0 = slot_off[b]
        nd = slot_off[b + 1] - s0
        c0 = cell_off[b]
        if nk == 1 and ptv <= 0.0:
            n_f = single_book(
                b,
                s0,
                nd,
                c0,
                open_,
                close,
                target,
                cell_row,
                slot_day,
                growth,
                fin_acc,
                day0,
                interest,
                year,
                borrow_fee,
                initial_capital,
                lev,
                mm,
                comm,
                min_comm,
                slip,
                liq_rate,
                band,
                min_trade,
                cross,
                gross_cap,
                bust_frac,
                equity,
                cash_out,
                gross_out,
                net_out,
                npos_out,
                f_out,
                fi_out,
                stats,
                n_f,
            )
            if n_f < 0:
                return -1
            continue
        for k in range(nk):
            q[k] = 0.0
            basis[k] = 0.0
            marg[k] = 0.0
            lc[k] = 0.0
            lrow[k] = -1
            tgt[k] = np.nan
            latest[k] = 0.0
        c = initial_capital
        bust = False
        n_calls = 0
        n_liq = 0
        tot_int = 0.0
        tot_fin = 0.0
        tot_bor = 0.0
        bust_slot = -1
        deficit = 0.0
        for t in range(nd):
            s = s0 + t
            d = slot_day[s]
            base = c0 + t * nk
            # 1. carry since the last date, on the balances of its close
            if t > 0 and not bust:
                pd_ = slot_day[s - 1]
                sv = 0.0  # short value: its proceeds are collateral, not idle cash
                for k in range(nk):
                    if q[k] < 0:
                        sv -= q[k] * lc[k]
                idle = c - sv
                if idle > 0:
                    if interest:
                        inc = idle * (growth[d - day0] / growth[pd_ - day0] - 1.0)
                        c += inc
                        tot_int += inc
                elif idle < 0:
                    fin = -idle * (fin_acc[d - day0] - fin_acc[pd_ - day0]) / year
                    c -= fin
                    tot_fin += fin
                if sv > 0 and borrow_fee > 0:
                    bf = sv * borrow_fee * (d - pd_) / year
                    c -= bf
                    tot_bor += bf
            # 2. resizes at the open, to the targets decided at each ticker's last close
            if not bust:
                wanted = False
                for k in range(nk):
                    if cell_row[base + k] >= 0 and tgt[k] == tgt[k]:
                        wanted = True
                if wanted:
                    e_o = c
                    for k in range(nk):
                        if q[k] != 0.0:
                            r = cell_row[base + k]
                            p = open_[r] if r >= 0 else lc[k]
                            e_o += q[k] * p
                            if not cross:
                                iso = marg[k] + q[k] * (p - basis[k])
                                if iso < 0.0:
                                    e_o -= iso
                    for k in range(nk):
                        r = cell_row[base + k]
                        if r < 0 or tgt[k] != tgt[k]:
                            continue
                        w = tgt[k]
                        tgt[k] = np.nan
                        o = open_[r]
                        cur = q[k] * o
                        want = w * e_o if e_o > 0 else 0.0
                        delta = want - cur
                        full_close = want == 0.0 and q[k] != 0.0
                        if skip_resize(delta, full_close, e_o, band, min_trade):
                            continue
                        dq = -q[k] if full_close else delta / o
                        traded = abs(dq) * o
                        fee = max(comm * traded, min_comm) + trade_rate * traded
                        realized = 0.0
                        q_new = q[k] + dq
                        if q[k] != 0.0 and (dq > 0) != (q[k] > 0):  # part or all of it closes
                            closed = min(abs(dq), abs(q[k]))
                            realized = (closed if q[k] > 0 else -closed) * (o - basis[k])
                        if q_new == 0.0:
                            basis[k] = 0.0
                        elif q[k] == 0.0 or (q_new > 0) != (q[k] > 0):
                            basis[k] = o
                        elif abs(q_new) > abs(q[k]):
                            basis[k] = (q[k] * basis[k] + dq * o) / q_new
                        if n_f >= cap_f:
                            return -1
                        fi_out[n_f, 0] = r
                        fi_out[n_f, 1] = s
                        fi_out[n_f, 2] = 0
                        f_out[n_f, 0] = dq
                        f_out[n_f, 1] = o
                        f_out[n_f, 2] = fee
                        f_out[n_f, 3] = realized - fee
                        f_out[n_f, 4] = cur / e_o if e_o > 0 else 0.0
                        f_out[n_f, 5] = q_new * o / e_o if e_o > 0 else 0.0
                        n_f += 1
                        c -= dq * o + fee
                        q[k] = q_new
                        marg[k] = abs(q_new) * basis[k] / lev
            # 3. the close: marks move, then maintenance
            for k in range(nk):
                r = cell_row[base + k]
                if r >= 0:
                    lc[k] = close[r]
                    lrow[k] = r
            if not bust:
                if cross:
                    while True:
                        e = c
                        g = 0.0
                        worst = -1
                        worst_pnl = 0.0
                        for k in range(nk):
                            if q[k] != 0.0:
                                e += q[k] * lc[k]
                                g += abs(q[k]) * lc[k]
                                u = q[k] * (lc[k] - basis[k])
                                if worst < 0 or u < worst_pnl:
                                    worst = k
                                    worst_pnl = u
                        if g == 0.0 or e > mm * g:
                            break
                        if n_f >= cap_f:
                            return -1
                        c = liquidate(
                            worst,
                            2,
                            s,
                            lrow[worst],
                            q,
                            basis,
                            marg,
                            lc,
                            c,
                            True,
                            liq_rate,
                            min_comm,
                            comm,
                            f_out,
                            n_f,
                            fi_out,
                        )
                        n_f += 1
                        n_calls += 1
                else:
                    for k in range(nk):
                        if q[k] != 0.0:
                            iso = marg[k] + q[k] * (lc[k] - basis[k])
                            if iso <= mm * abs(q[k]) * lc[k]:
                                if n_f >= cap_f:
                                    return -1
                                c = liquidate(
                                    k,
                                    1,
                                    s,
                                    lrow[k],
                                    q,
                                    basis,
                                    marg,
                                    lc,
                                    c,
                                    False,
                                    liq_rate,
                                    min_comm,
                                    comm,
                                    f_out,
                                    n_f,
                                    fi_out,
                                )
                                n_f += 1
                                n_liq += 1
                e = c
                for k in range(nk):
                    e += q[k] * lc[k]
                if e <= bust_frac * initial_capital:
                    for k in range(nk):
                        if q[k] != 0.0:
                            if n_f >= cap_f:
                                return -1
                            c = liquidate(
                                k,
                                3,
                                s,
                                lrow[k],
                                q,
                                basis,
                                marg,
                                lc,
                                c,
                                cross,
                                liq_rate,
                                min_comm,
                                comm,
                                f_out,
                                n_f,
                                fi_out,
                            )
                            n_f += 1
                    bust = True
                    bust_slot = s
                    if c < 0.0:
                        deficit = -c
                        c = 0.0
            # 4. the targets decided at this close (traded at each ticker's next open)
            if not bust:
                any_new = False
                for k in range(nk):
                    fresh[k] = False
                    r = cell_row[base + k]
                    if r >= 0 and target[r] == target[r]:
                        latest[k] = target[r]
                        fresh[k] = True
                        any_new = True
                if any_new:
                    scale = 1.0
                    if ptv > 0.0:
                        # the book's realised volatility with today's weights over the last returns
                        if t >= lookback:
                            mean = 0.0
                            for j in range(lookback):
                                h = 0.0
                                bj = c0 + (t - lookback + 1 + j) * nk
                                for k in range(nk):
                                    rr = cell_row[bj + k]
                                    if rr >= 0 and ret[rr] == ret[rr]:
                                        h += latest[k] * ret[rr]
                                hist[j] = h
                                mean += h
                            mean /= lookback
                            var = 0.0
                            for j in range(lookback):
                                var += (hist[j] - mean) * (hist[j] - mean)
                            vol = np.sqrt(var / (lookback - 1) * periods)
                            scale = ptv / vol if vol > VOL_EPSILON else 0.0
                        else:
                            scale = 0.0
                    g = 0.0
                    for k in range(nk):
                        g += abs(latest[k]) * scale
                    if g > gross_cap:
                        scale = scale * (gross_cap / g)
                    for k in range(nk):
                        if fresh[k]:
                            tgt[k] = latest[k] * scale
            # 5. marks at the close
            e = c
            g = 0.0
            net = 0.0
            n_open = 0
            for k in range(nk):
                if q[k] != 0.0:
                    x = q[k] * lc[k]
                    e += x
                    g += abs(x)
                    net += x
                    n_open += 1
            equity[s] = e
            cash_out[s] = c
            gross_out[s] = g
            net_out[s] = net
            npos_out[s] = n_open
        stats[b, 0] = tot_int
        stats[b, 1] = tot_fin
        stats[b, 2] = tot_bor
        stats[b, 3] = n_calls
        stats[b, 4] = n_liq
        stats[b, 5] = bust_slot
        stats[b, 6] = deficit
    return n_f


#: Rows whose volatility windows are summed side by side (one accumulator per row, see ``window_vol``).
VOL_BLOCK = 256


@njit(cache=True, nogil=True)
def window_vol(ret, r0, w, lookback, periods, acc, mean, vol):
    """``vol[k]`` for ``k < w``: the sample standard deviation (ddof 1) of ``ret[r0 + k - lookback + 1 :
    r0 + k + 1]``, annualised by ``sqrt(periods)``. Two passes over each window (mean, then squared
    deviations): running sums would drift, and a window of equal returns must give exactly 0. Each
    window's sums run in the same order as a loop over that window alone (so the same bits); the
    loops go across ``w`` windows at once, independent accumulators the CPU overlaps and vectorises
    instead of one dependent chain of additions per window."""
    a = acc[:w]
    mu = mean[:w]
    b0 = r0 - lookback + 1  # the first window's first return
    for k in range(w):
        a[k] = 0.0
    m = 0
    while m + 4 <= lookback:  # four returns of each window per pass over the block, added in order
        x0 = ret[b0 + m : b0 + m + w]
        x1 = ret[b0 + m + 1 : b0 + m + 1 + w]
        x2 = ret[b0 + m + 2 : b0 + m + 2 + w]
        x3 = ret[b0 + m + 3 : b0 + m + 3 + w]
        for k in range(w):
            a[k] = a[k] + x0[k] + x1[k] + x2[k] + x3[k]
        m += 4
    while m < lookback:
        x0 = ret[b0 + m : b0 + m + w]
        for k in range(w):
            a[k] += x0[k]
        m += 1
    for k in range(w):
        mu[k] = a[k] / lookback
        a[k] = 0.0
    m = 0
    while m + 4 <= lookback:
        x0 = ret[b0 + m : b0 + m + w]
        x1 = ret[b0 + m + 1 : b0 + m + 1 + w]
        x2 = ret[b0 + m + 2 : b0 + m + 2 + w]
        x3 = ret[b0 + m + 3 : b0 + m + 3 + w]
        for k in range(w):
            u = mu[k]
            d0 = x0[k] - u
            d1 = x1[k] - u
            d2 = x2[k] - u
            d3 = x3[k] - u
            a[k] = a[k] + d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3
        m += 4
    while m < lookback:
        x0 = ret[b0 + m : b0 + m + w]
        for k in range(w):
            d0 = x0[k] - mu[k]
            a[k] += d0 * d0
        m += 1
    v = vol[:w]
    for k in range(w):
        v[k] = np.sqrt(a[k] / (lookback - 1) * periods)


@njit(cache=True, nogil=True)
def rolling_vol(close, seg_end, lookback, periods):
    """Per row: its ticker's realised volatility over the last ``lookback`` close-to-close returns, to
    and including the row's close (:func:`window_vol`); NaN until the ticker has that many returns.
    Also the returns (NaN on a ticker's first row)."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    ret = np.full(n, np.nan)
    acc = np.empty(VOL_BLOCK)
    mean = np.empty(VOL_BLOCK)
    i = 0
    while i < n:
        end = seg_end[i]
        for j in range(i + 1, end + 1):
            ret[j] = close[j] / close[j - 1] - 1.0
        for j0 in range(i + lookback, end + 1, VOL_BLOCK):
            w = min(VOL_BLOCK, end + 1 - j0)
            window_vol(ret, j0, w, lookback, periods, acc, mean, out[j0:])
        i = end + 1
    return out, ret


@njit(cache=True, nogil=True)
def vol_targets(close, seg_end, signal, weight, from_signal, lookback, periods, target_vol, max_lev):
    """Per row the volatility-scaled target before the book's caps: ``base x (target_vol / vol)``,
    0 where the volatility is not above ``VOL_EPSILON`` (before ``lookback`` returns, or flat prices),
    then clipped to ``[-max_lev, max_lev]``; NaN (hold) where ``base`` is NaN. ``base`` is
    ``signal x weight`` (``from_signal``) or ``weight``; ``vol`` as :func:`rolling_vol`. One pass
    with a ticker's returns and a block's volatilities in scratch arrays: the same numbers as
    :func:`rolling_vol` followed by the numpy expressions, without their full-length temporaries."""
    n = close.shape[0]
    out = np.empty(n)
    acc = np.empty(VOL_BLOCK)
    mean = np.empty(VOL_BLOCK)
    vol = np.empty(VOL_BLOCK)
    ret = np.empty(0)
    i = 0
    while i < n:
        end = seg_end[i]
        if ret.shape[0] < end + 1 - i:
            ret = np.empty(end + 1 - i)
        ret[0] = np.nan
        for j in range(i + 1, end + 1):
            ret[j - i] = close[j] / close[j - 1] - 1.0
        for j0 in range(i, end + 1, VOL_BLOCK):
            j1 = min(j0 + VOL_BLOCK, end + 1)
            first = max(j0, i + lookback)  # the block's first row with a full window
            if j1 > first:
                window_vol(ret, first - i, j1 - first, lookback, periods, acc, mean, vol)
            for j in range(j0, j1):
                base = signal[j] * weight[j] if from_signal else weight[j]
                if base != base:
                    out[j] = np.nan
                    continue
                v = vol[j - first] if j >= first else np.nan
                if np.isfinite(v) and v > VOL_EPSILON:
                    x = base * (target_vol / v)
                    if x > max_lev:
                        x = max_lev
                    elif x < -max_lev:
                        x = -max_lev
                else:
                    x = 0.0
                out[j] = x
        i = end + 1
    return out


@njit(cache=True, nogil=True)
def signal_targets(signal, weight, seg_start, scale, every_row):
    """Per row ``signal x weight x scale`` where a target is set: every row (``every_row``), else
    where the signal differs from the ticker's previous row (its first row: where it is not 0);
    NaN (hold) elsewhere. One pass (numpy needed about eight)."""
    n = signal.shape[0]
    out = np.empty(n)
    for i in range(n):
        s = signal[i]
        if every_row or (s != 0 if seg_start[i] == i else s != signal[i - 1]):
            out[i] = s * weight[i] * scale
        else:
            out[i] = np.nan
    return out
