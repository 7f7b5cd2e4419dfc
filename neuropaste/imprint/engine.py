"""The event-driven crossbar: spikes in time order, each one updating its row and its column.

Time advances only from spike to spike. When neuron a fires at t, its row gets a pre pulse and
its column a post pulse (``neuropaste.plasticity.PulseScheme``). The only cells that cross the
threshold are those of column a whose row neuron b fired within the window before t (pre b, post
a: ``dt = +(t - t_b)``, potentiation) and those of row a whose column neuron b did
(pre a, post b: ``dt = -(t - t_b)``, depression). Every other cell is half-selected and stays
below threshold. Each driver is retriggered by its neuron's next spike, so a cell's overlap
depends on one pair of spikes: the partner's last spike and this one. The exposure of the pair
is read from the scheme's exact kernel (tabulated finely over Δt), scaled by the cell's
device-to-device rate factor and a cycle-to-cycle draw, and applied with the exact ODE solution
of the device model. Nothing ever sweeps the matrix.

The loop is compiled with numba; the partners of a spike are the spikes inside the window just
before it (a moving pointer into the time-sorted list), so the cost is the number of pairs that
overlap, not N per spike.

The crossbar starts RESET (every cell at g_min). PCM's abrupt RESET happens when an overlap
goes below ``-v_reset`` (never with the default scheme).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from neuropaste.errors import InputError
from neuropaste.plasticity import DeviceModel, PulseScheme, cell_energy

#: points of the tabulated exposure kernel over |Δt| <= scheme.length
KERNEL_POINTS = 16001


@dataclass(frozen=True)
class EngineResult:
    x: np.ndarray  # (n, n) normalised state of the (plus) cell, row = pre, column = post
    lag_sum: np.ndarray  # (n, n) sum over potentiating overlaps of exposure x lag (recording s)
    exposure_sum: np.ndarray  # (n, n) sum of potentiating exposure
    overlaps: int  # above-threshold overlaps (programming events)
    overlap_energy_j: float  # ∫ V^2 G dt of those overlaps
    resets: int  # pcm abrupt RESETs
    track_t: np.ndarray  # (k, m) recording seconds of each tracked cell's updates
    track_x: np.ndarray  # (k, m) its state after the update
    track_n: np.ndarray  # (k,) updates recorded per tracked cell
    track_f: np.ndarray | None = None  # (k, m) the cycle-to-cycle factor of each (verify)


@numba.njit(cache=True)
def _apply(x, e, target, c):
    if e <= 0.0:
        return x
    if c == 0.0:
        y = x + e if target > 0.5 else x - e
    else:
        y = target - (target - x) * np.exp(-c * e)
    return min(max(y, 0.0), 1.0)


@numba.njit(cache=True)
def _record(j, ts, x, cf, track_t, track_x, track_f, track_n):
    """Keep an update of tracked cell ``j`` (-1: not tracked) while its record has room."""
    if j >= 0 and track_n[j] < track_t.shape[1]:
        track_t[j, track_n[j]] = ts
        track_x[j, track_n[j]] = x
        track_f[j, track_n[j]] = cf
        track_n[j] += 1


@numba.njit(cache=True)
def _mix(z):
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True)
def c2c_normal(seed, s, k):
    """A standard normal from (seed, spike, partner) alone (splitmix64 and Box-Muller), so the
    cycle-to-cycle draw of a pair does not depend on the order or the thread that visits it."""
    z = _mix(np.uint64(seed) ^ _mix(np.uint64(s) ^ _mix(np.uint64(k))))
    a = _mix(z)
    b = _mix(z ^ np.uint64(0xD1B54A32D192ED03))
    u1 = (float(a >> np.uint64(11)) + 1.0) / 9007199254740992.0
    u2 = float(b >> np.uint64(11)) / 9007199254740992.0
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


#: cycle-to-cycle draws: 2^C2C_BITS equiprobable quantiles of the standard normal
C2C_BITS = 16


def c2c_table(sigma: float) -> np.ndarray:
    """Mean-one lognormal factors exp(sigma z - sigma^2 / 2) at the midpoint quantiles of z:
    a pair's cycle-to-cycle factor is one entry, picked by the top bits of its hash (a table
    lookup instead of Box-Muller's log, sqrt and cos and an exp per overlap)."""
    from scipy.special import ndtri

    z = ndtri((np.arange(2**C2C_BITS) + 0.5) / 2**C2C_BITS)
    return np.exp(sigma * z - 0.5 * sigma * sigma)


@numba.njit(cache=True)
def spike_hash(seed, s):
    """The per-spike half of a pair's counter-based draw (hoisted out of the pair loop)."""
    return _mix(np.uint64(seed) ^ _mix(np.uint64(s)))


@numba.njit(cache=True)
def c2c_factor(hs, k, table):
    """The cycle-to-cycle factor of the pair (spike with hash ``hs``, partner ``k``): from the
    pair alone, so it does not depend on the order or the thread that visits it."""
    return table[_mix(hs ^ np.uint64(k)) >> np.uint64(64 - C2C_BITS)]


@numba.njit(parallel=True, cache=True)
def _run_columns(t, line, first, spikes_of, cut_t, lo_of, n, xt, rate_t, k_lo, k_step, kp, ke,
                 xp, cp, c2c_tab, seed, speedup, g_min, dg, track_t_idx, track_t, track_x,
                 track_f, track_n, lag_t, e_t):
    """The SET-only imprint, one column per thread: a cell of column a changes only at a's
    spikes, so columns are independent and each is updated in its own time order. The cell
    arrays are column-major (``xt[a * n + b]`` is pre b, post a): a column's cells are one
    contiguous run that stays in cache while its spikes are processed."""
    overlaps = np.zeros(n, np.int64)
    energy = np.zeros(n)
    nk = kp.size
    inv = 1.0 / (speedup * k_step)
    off = k_lo / k_step
    varied = rate_t.size > 1
    c2c = c2c_tab.size > 1
    for a in numba.prange(n):
        col = a * n
        cnt = 0
        en = 0.0
        for q in range(first[a], first[a + 1]):
            s = spikes_of[q]
            ts = t[s]
            hs = spike_hash(seed, s)
            for k in range(lo_of[s], s):
                b = line[k]
                # b fired again by now (at this very instant too): its older waveform is cut
                if b == a or cut_t[k] <= ts:
                    continue
                lag = ts - t[k]
                u = lag * inv - off
                i = int(u)
                if i < 0 or i >= nk - 1:
                    continue
                f = u - i
                ep = kp[i] * (1.0 - f) + kp[i + 1] * f
                if ep <= 0.0:
                    continue
                idx = col + b
                cf = c2c_factor(hs, k, c2c_tab) if c2c else 1.0
                if varied:
                    ep *= rate_t[idx] * cf
                else:
                    ep *= cf
                cnt += 1
                xi = xt[idx]
                en += (ke[i] * (1.0 - f) + ke[i + 1] * f) * (g_min + dg * xi)
                lag_t[idx] += ep * lag
                e_t[idx] += ep
                xi = _apply(xi, ep, xp, cp)
                xt[idx] = xi
                if track_t_idx[idx] >= 0:
                    _record(track_t_idx[idx], ts, xi, cf, track_t, track_x, track_f, track_n)
        overlaps[a] = cnt
        energy[a] = en
    return overlaps.sum(), energy.sum()


@numba.njit(cache=True)
def _run(t, nrn, n, x, rate_f, k_lo, k_step, kp, kd, ke, kr, xp, cp, xd, cd, c2c_tab, seed, speedup,
         length, g_min, dg, track, track_t, track_x, track_f, track_n, lag_sum, e_sum,
         neg_support):
    last = np.full(n, -np.inf)
    lo = 0
    nk = kp.size
    overlaps = 0
    energy = 0.0
    resets = 0
    window = length * speedup  # recording seconds: the kernel's support
    inv = 1.0 / (speedup * k_step)  # the lag -> kernel index map of _run_columns, exactly
    off = k_lo / k_step
    group = 0
    for s in range(t.size):
        ts = t[s]
        a = nrn[s]
        # every spike of this instant retriggers its driver before any pair is counted: a
        # partner that fires now too has cut its older waveform (as in the crossbar, and in
        # ngspice), whatever the order of simultaneous spikes in the list
        while group < t.size and t[group] == ts:
            last[nrn[group]] = ts
            group += 1
        while t[lo] < ts - window:
            lo += 1
        hs = spike_hash(seed, s)
        for k in range(lo, s):
            b = nrn[k]
            if b == a or last[b] != t[k]:
                continue
            lag = ts - t[k]
            sides = 2 if lag / speedup <= neg_support else 1
            for side in range(sides):
                if side == 0:
                    idx = b * n + a  # pre b, post a
                    u = lag * inv - off
                else:
                    idx = a * n + b  # pre a, post b
                    u = -lag * inv - off
                i = int(u)
                if i < 0 or i >= nk - 1:
                    continue
                f = u - i
                ep = kp[i] * (1.0 - f) + kp[i + 1] * f
                ed = kd[i] * (1.0 - f) + kd[i + 1] * f
                if ep <= 0.0 and ed <= 0.0:
                    continue
                scale = rate_f[idx] if rate_f.size > 1 else 1.0
                cf = 1.0
                if c2c_tab.size > 1:
                    cf = c2c_factor(hs, k + side * t.size, c2c_tab)
                scale *= cf
                ep *= scale
                ed *= scale
                overlaps += 1
                energy += (ke[i] * (1.0 - f) + ke[i + 1] * f) * (g_min + dg * x[idx])
                if ep > 0.0:
                    lag_sum[idx] += ep * lag
                    e_sum[idx] += ep
                x[idx] = _apply(_apply(x[idx], ep, xp, cp), ed, xd, cd)
                if kr[i] or kr[i + 1]:
                    x[idx] = 0.0
                    resets += 1
                _record(track[idx], ts, x[idx], cf, track_t, track_x, track_f, track_n)
        last[a] = ts
    return overlaps, energy, resets


def drivers(times_s: np.ndarray, neuron: np.ndarray, k: int) -> np.ndarray:
    """The line each spike drives when every neuron has ``k`` drivers taking its spikes in
    turn (round robin in time order): neuron i's m-th spike goes to line ``i k + m mod k``.
    A retriggered driver carries only its last spike's waveform, so with one driver a spike
    pairs only with its partner's last spike; with k drivers the last k of a burst all count.
    ``k = 1`` is the identity."""
    neuron = np.asarray(neuron, np.int64)
    if k == 1:
        return neuron
    order = np.lexsort((np.asarray(times_s), neuron))
    sorted_n = neuron[order]
    start = np.r_[0, np.flatnonzero(np.diff(sorted_n)) + 1]
    rank = np.arange(len(order)) - np.repeat(start, np.diff(np.r_[start, len(order)]))
    line = np.empty_like(neuron)
    line[order] = sorted_n * k + rank % k
    return line


def run(times_s: np.ndarray, neuron: np.ndarray, n: int, model: DeviceModel,
        scheme: PulseScheme, rate_factor: np.ndarray | None, seed: int,
        track: np.ndarray | None = None, track_points: int = 2000,
        parallel: bool = True) -> EngineResult:
    """Imprint spikes (recording seconds, any order) onto an n x n crossbar. ``parallel``:
    with the SET-only default, one column per thread (the same result as the serial loop)."""
    order = np.lexsort((neuron, times_s))
    t = np.ascontiguousarray(np.asarray(times_s, np.float64)[order])
    nrn = np.ascontiguousarray(np.asarray(neuron, np.int64)[order])
    dts, kp, kd = scheme.kernel(model.rate, KERNEL_POINTS)
    ke = cell_energy(scheme, dts, 1.0)
    ke = np.where((kp > 0) | (kd > 0), ke, 0.0)
    live = np.nonzero((kp > 0) | (kd > 0))[0]
    if len(live) == 0:
        raise InputError(None, "pulse scheme never crosses the threshold of the device model")
    lo, hi = max(live[0] - 1, 0), min(live[-1] + 2, len(dts))  # only where overlaps switch
    dts, kp, kd, ke = dts[lo:hi], kp[lo:hi], kd[lo:hi], ke[lo:hi]
    support = float(max(-dts[0], dts[-1]))
    kr = (scheme.peak(dts) < -model.v_reset) & ((kp > 0) | (kd > 0))
    xp, cp, xd, cd = model.targets()
    tr = np.full(n * n, -1, np.int32)
    track = np.zeros(0, np.int64) if track is None else np.asarray(track, np.int64)
    tr[track] = np.arange(len(track))
    track_t = np.zeros((len(track), track_points))
    track_x = np.zeros((len(track), track_points))
    track_f = np.ones((len(track), track_points))
    track_n = np.zeros(len(track), np.int64)
    # the anti-causal cell of a pair switches only for |dt| below this (the SET-only default:
    # pulses that still overlap), so most pairs visit one cell
    neg = dts[(dts < 0) & ((kp > 0) | (kd > 0))]
    neg_support = float(-neg.min()) + float(dts[1] - dts[0]) if len(neg) else -1.0
    tab = c2c_table(model.c2c_sigma) if model.c2c_sigma > 0 else np.ones(1)
    if parallel and neg_support < 0 and not kd.any() and not kr.any():  # SET-only
        window = support * scheme.speedup
        lo_of = np.searchsorted(t, t - window, side="left")
        by = np.lexsort((np.arange(len(t)), nrn))
        cut_t = np.full(len(t), np.inf)  # when each spike's driver is retriggered
        same = nrn[by[1:]] == nrn[by[:-1]]
        cut_t[by[:-1][same]] = t[by[1:][same]]
        first = np.concatenate(([0], np.cumsum(np.bincount(nrn, minlength=n))))
        xt = np.zeros(n * n)  # RESET before the imprint
        rate_t = (np.ascontiguousarray(rate_factor.T).ravel() if rate_factor is not None
                  else np.ones(1))
        track_t_idx = np.ascontiguousarray(tr.reshape(n, n).T).ravel()
        lag_t = np.zeros(n * n)
        e_t = np.zeros(n * n)
        overlaps, energy = _run_columns(
            t, nrn, first, by, cut_t, lo_of, n, xt, rate_t, float(dts[0]),
            float(dts[1] - dts[0]), kp, ke, xp, cp, tab, int(seed) % (2**32), scheme.speedup,
            model.g_min, model.dg, track_t_idx, track_t, track_x, track_f, track_n, lag_t, e_t)
        del rate_t, track_t_idx

        def back(a: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(a.reshape(n, n).T)

        return EngineResult(back(xt), back(lag_t), back(e_t), int(overlaps), float(energy), 0,
                            track_t, track_x, track_n, track_f)
    x = np.zeros(n * n)  # RESET before the imprint
    rf = np.ascontiguousarray(rate_factor.ravel()) if rate_factor is not None else np.ones(1)
    lag_sum = np.zeros(n * n)
    e_sum = np.zeros(n * n)
    overlaps, energy, resets = _run(
        t, nrn, n, x, rf, float(dts[0]), float(dts[1] - dts[0]), kp, kd, ke, kr, xp, cp, xd,
        cd, tab, int(seed) % (2**32), scheme.speedup, support,
        model.g_min, model.dg, tr, track_t, track_x, track_f, track_n, lag_sum, e_sum,
        neg_support)
    return EngineResult(x.reshape(n, n), lag_sum.reshape(n, n), e_sum.reshape(n, n),
                        int(overlaps), float(energy), int(resets), track_t, track_x, track_n,
                        track_f)
