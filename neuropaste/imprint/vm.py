"""``--drive vm``: the columns carry the recorded membrane potential instead of spike pulses.

Two schemes (``--vm-scheme``); both drive column j from ``u_j``, its recorded trace binned to
1 ms and differentiated (an AC-coupled driver: a PSP's rise passes, slow drift does not),
centred on its median, scaled by its own robust noise (``GAIN_V_PER_SIGMA`` per sigma, so every
pad spans the same voltage whatever its coupling) and clipped to ``+-CLIP_V`` (a column alone
stays below threshold).

**differential** (default). Each pair (i, j) is a differential pair of cells, as a downloaded
weight is: G+ on column j+ driven at ``-u_j``, G- on column j- driven at ``+u_j`` (a
complementary column driver). Row i is held at ``ROW_V`` = v_th + CLIP_V for ``WINDOW_MS``
after each of i's spikes (a retriggerable box: a new spike restarts it), 0 otherwise. During
the box the two cells see ``ROW_V +- u_j``, both at or above the SET threshold, so with
VTEAM's ``k = k0 (V/v_th - 1)^2``

    k(ROW_V + u) - k(ROW_V - u) = 4 k0 (CLIP_V/v_th) (u/v_th)          (exactly, |u| <= CLIP_V)

the difference of the pair integrates the column's slope over the box: ``sum over the window of
the slope = V_j(t + W) - V_j(t)``, the step a PSP of i leaves in j's potential, measured from
the level just before it (the baseline subtraction of copy's spike-triggered responses). The
common part, ``k(ROW_V)`` per bin of every box plus the ``u^2`` term, raises both cells alike
and cancels in G+ - G-. Outside the boxes the cells see ``+-u_j`` alone, below threshold.
Around column j's own spikes (1 ms before to 20 ms after, copy's mask) its driver holds
``u = 0``: the AP and its recovery are j's own history, not input (the recording is replayed,
and the column driver is given the spike times the imprint detected anyway). The readout
(``readout.read_differential``) divides the pair's difference by the row's spike count and
subtracts the row's median over its columns (the shared response of every neuron to i's
spikes: bursts), then tests it on a per-column empirical null.

**threshold** (the first scheme). Row i gets the spike drive's pre waveform; the cell sees
``tail(t - t_i) + u_j(t)`` and crosses the SET threshold only where j's slope is high while
the tail is high: a rectified, clipped slope, read like the spike drive (chance level from
row and column medians).
"""

from __future__ import annotations

from collections.abc import Iterator

import numba
import numpy as np

from neuropaste.copy.detect import block_samples
from neuropaste.copy.responses import ResponseOptions, bin_size, own_mask
from neuropaste.imprint.engine import c2c_normal
from neuropaste.plasticity import DeviceModel, PulseScheme

SCHEMES = ("differential", "threshold")
GAIN_V_PER_SIGMA = 0.5
CLIP_V = 0.6
WINDOW_MS = 10.0  # the row's box after each spike: copy's PSP lags (1-10 ms, slow tail aside)
#: the fraction of the range the busiest row's common exposure may take (differential)
PEDESTAL_TARGET = 0.5


@numba.njit(cache=True)
def _rows(sb, sch, b0, u, x, rate_f, tail, dt, v_th, k_pot, alpha, xp, cp, c2c, lag_bin,
          lag_sum, e_sum, n):
    events = 0
    w = tail.size
    for s in range(sb.size):
        i = sch[s]
        off = sb[s] - b0
        for j in range(n):
            if j == i:
                continue
            e = 0.0
            lag = 0.0
            for k in range(w):
                v = tail[k] + u[off + 1 + k, j]
                if v > v_th:
                    r = k_pot * (v / v_th - 1.0) ** alpha * dt
                    e += r
                    lag += r * (k + 1.5) * lag_bin
            if e <= 0.0:
                continue
            idx = i * n + j
            scale = rate_f[idx] if rate_f.size > 1 else 1.0
            if c2c > 0.0:
                scale *= np.exp(c2c * np.random.standard_normal() - 0.5 * c2c * c2c)
            e *= scale
            if cp == 0.0:
                x[idx] = min(x[idx] + e, 1.0)
            else:
                x[idx] = min(xp - (xp - x[idx]) * np.exp(-cp * e), 1.0)
            lag_sum[idx] += lag * scale
            e_sum[idx] += e
            events += 1
    return events


def run(rec, sample: np.ndarray, channel: np.ndarray, model: DeviceModel, scheme: PulseScheme,
        rate_factor: np.ndarray | None, seed: int, bin_ms: float = 1.0,
        gain: float = GAIN_V_PER_SIGMA, clip_v: float = CLIP_V, slope: bool = True):
    """(x, lag_sum, exposure_sum, events, figures) of a vm-driven imprint."""
    n = rec.n_channels
    spb = bin_size(rec.rate, bin_ms)
    bin_s = spb / rec.rate
    n_bins = rec.n_samples // spb
    # tail at bin centres after the pulse, down to where even a clipped column cannot cross
    w = 0
    tail = []
    while True:
        v = float(scheme.waveform(np.array((w + 1.5) * bin_s / scheme.speedup)))
        if v + clip_v <= model.rate.v_th or (w + 1) * bin_s >= scheme.length * scheme.speedup:
            break
        tail.append(v)
        w += 1
    tail = np.array(tail if tail else [0.0])
    w = len(tail)
    sbin = np.asarray(sample, np.int64) // spb
    keep = sbin + w + 1 < n_bins
    sbin, sch = sbin[keep], np.asarray(channel, np.int64)[keep]
    order = np.lexsort((sch, sbin))
    sbin, sch = sbin[order], sch[order]
    x = np.zeros(n * n)
    lag_sum = np.zeros(n * n)
    e_sum = np.zeros(n * n)
    rf = np.ascontiguousarray(rate_factor.ravel()) if rate_factor is not None else np.ones(1)
    xp, cp, _, _ = model.targets()
    r = model.rate
    _seed(int(seed) % (2**32))
    med = sig = None
    events = 0
    for b0, m in _bins(rec, spb, n, w):
        nb = len(m)
        if slope:  # the column driver is AC-coupled: it passes the rise of a PSP, not drift
            m = np.diff(m, axis=0, prepend=m[:1])
        if med is None:  # centre and robust noise of each channel, from the first block
            med = np.median(m, axis=0)
            sig = 1.4826 * np.median(np.abs(m - med), axis=0)
            sig = np.where(sig > 1e-9, sig, 1.0)
        u = np.clip(gain * (m - med) / sig, -clip_v, clip_v)
        last = b0 + nb >= n_bins
        hi = b0 + nb - (w + 2) if not last else b0 + nb - (w + 1)
        hi_k = int(np.searchsorted(sbin, hi))
        sel = slice(0, hi_k)
        events += _rows(sbin[sel], sch[sel], b0, u, x, rf, tail, bin_s / scheme.speedup,
                        r.v_th, r.k_pot, r.alpha, xp, cp, model.c2c_sigma, bin_s, lag_sum,
                        e_sum, n)
        sbin, sch = sbin[hi_k:], sch[hi_k:]
    fig = {"signal": "slope (1 ms bins)" if slope else "level", "gain_v_per_sigma": gain,
           "clip_v": clip_v, "bin_ms": bin_s * 1e3,
           "window_bins": int(w), "events": int(events),
           "noise_percentiles_5_50_95": [float(v) for v in np.percentile(sig, [5, 50, 95])]
           if sig is not None else None}
    return x.reshape(n, n), lag_sum.reshape(n, n), e_sum.reshape(n, n), events, fig


def _bins(rec, spb: int, n: int, w: int) -> Iterator[tuple[int, np.ndarray]]:
    """The recording in blocks of bin means, (first bin, bins x channels); blocks overlap by
    the window so that every spike sees its whole window in one block."""
    size = max(block_samples(n, 128.0) // spb, 8 * (w + 2)) * spb
    for start, blk in rec.chunks(size, (w + 2) * spb):
        nb = len(blk) // spb
        if nb >= w + 2:
            yield start // spb, blk[: nb * spb].reshape(nb, spb, n).mean(axis=1, dtype=np.float64)


@numba.njit(cache=True)
def _seed(s):
    np.random.seed(s)


def row_v(model: DeviceModel, clip_v: float = CLIP_V) -> float:
    """The row's level in its box: both cells of a pair stay at or above v_th."""
    return model.rate.v_th + clip_v


def _boxes(sbin: np.ndarray, sch: np.ndarray, w: int) -> np.ndarray:
    """Bins each spike's box covers: up to ``w``, cut where its neuron fires again (the
    retriggered driver); ``sbin``, ``sch`` in time order."""
    by = np.lexsort((sbin, sch))
    nxt = np.full(len(sbin), np.iinfo(np.int64).max)
    same = sch[by[1:]] == sch[by[:-1]]
    nxt[by[:-1][same]] = sbin[by[1:][same]]
    return np.minimum(w, nxt - sbin).astype(np.int64)


def pedestal_gain(sbin: np.ndarray, sch: np.ndarray, n: int, model: DeviceModel, bin_s: float,
                  speedup: float, bin_ms: float = 1.0, window_ms: float = WINDOW_MS,
                  clip_v: float = CLIP_V, target: float = PEDESTAL_TARGET) -> float:
    """The rate factor (a shorter SET overlap, as ``run.pulse_gain``) that keeps the busiest
    row's common exposure, ``k(ROW_V)`` per covered bin, at ``target`` of the range."""
    w = max(1, int(round(window_ms / bin_ms)))
    order = np.lexsort((sch, sbin))
    cover = np.bincount(sch[order], weights=_boxes(sbin[order], sch[order], w), minlength=n)
    r = model.rate
    per_bin = float(r(np.array(row_v(model, clip_v)))) * bin_s / speedup
    top = float(cover.max()) * per_bin if len(cover) else 0.0
    return 1.0 if top <= target else target / top


@numba.njit(cache=True)
def _set(x, e, x_inf, cp):
    """The exact SET update of a normalised state (linear when cp = 0), clipped at 1."""
    return min(x + e if cp == 0.0 else x_inf - (x_inf - x) * np.exp(-cp * e), 1.0)


@numba.njit(parallel=True, cache=True)
def _pairs(sb, sch, box, gidx, b0, u, xp, xm, rf_p, rf_m, c, inv_vth, alpha, kdt, x_inf, cp,
           c2c, seed, lag_sum, e_sum, n):
    """One row update per spike, every column in parallel: the pair's two exposures over the
    spike's box, applied with the model's exact update."""
    for j in numba.prange(n):
        for s in range(sb.size):
            i = sch[s]
            if i == j or box[s] <= 0:
                continue
            off = sb[s] - b0
            ep = 0.0
            em = 0.0
            lag = 0.0
            for k in range(box[s]):  # the bins of i's box, u piecewise constant per bin
                v = u[off + 1 + k, j] * inv_vth
                a = max(c + v, 0.0)
                b = max(c - v, 0.0)
                if alpha == 2.0:
                    a, b = a * a, b * b
                else:
                    a, b = a ** alpha, b ** alpha
                ep += a
                em += b
                lag += (a - b) * (k + 1)
            idx = i * n + j
            raw = (ep - em) * kdt
            fp = rf_p[idx] if rf_p.size > 1 else 1.0
            fm = rf_m[idx] if rf_m.size > 1 else 1.0
            if c2c > 0.0:
                fp *= np.exp(c2c * c2c_normal(seed, gidx[s], 2 * j) - 0.5 * c2c * c2c)
                fm *= np.exp(c2c * c2c_normal(seed, gidx[s], 2 * j + 1) - 0.5 * c2c * c2c)
            ep *= kdt * fp
            em *= kdt * fm
            xp[idx] = _set(xp[idx], ep, x_inf, cp)
            xm[idx] = _set(xm[idx], em, x_inf, cp)
            lag_sum[idx] += lag * kdt  # nominal cells: the lag centroid of the difference
            e_sum[idx] += raw


def boxes(sample: np.ndarray, channel: np.ndarray, spb: int, n_bins: int, w: int
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The row drive of a differential imprint: (bin, neuron, box bins, global index) of every
    spike that opens a box (in time order; the last ``w + 1`` bins open none), and (bin,
    neuron) of every spike (each masks its own column). Spike s holds its row at
    :func:`row_v` over bins ``bin + 1 .. bin + box``; the global index seeds its c2c draws."""
    sbin = np.asarray(sample, np.int64) // spb
    sch = np.asarray(channel, np.int64)
    order = np.lexsort((sch, sbin))
    sbin, sch = sbin[order], sch[order]
    box = _boxes(sbin, sch, w)
    gidx = np.arange(len(sbin), dtype=np.int64)
    keep = sbin + w + 1 < n_bins
    return sbin[keep], sch[keep], box[keep], gidx[keep], sbin, sch


def column_drive(rec, all_bin: np.ndarray, all_ch: np.ndarray, spb: int, w: int,
                 gain: float = GAIN_V_PER_SIGMA, clip_v: float = CLIP_V,
                 stats: dict | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """The columns' drive ``u`` (V; the G+ column carries -u, the G- column +u), in blocks
    (first bin, bins x channels): the binned trace's slope, centred and scaled by its free
    slope's median and robust noise (from the first block), clipped, and held at 0 around the
    channel's own spikes (``all_bin``, ``all_ch``). ``stats["noise"]``: the noise used."""
    n = rec.n_channels
    mask = ResponseOptions()
    bin_s = spb / rec.rate
    before = int(np.ceil(mask.mask_before_ms * 1e-3 / bin_s))
    after = int(np.ceil(mask.mask_after_ms * 1e-3 / bin_s))
    med = sig = None
    for b0, m in _bins(rec, spb, n, w):
        nb = len(m)
        y = np.diff(m, axis=0, prepend=m[:1])
        held = own_mask(all_bin, all_ch, b0, b0 + nb, before, after, n)
        if med is None:  # centre and robust noise of each channel's free slope, first block
            free = np.where(held, np.nan, y)
            med = np.nan_to_num(np.nanmedian(free, axis=0))
            sig = 1.4826 * np.nan_to_num(np.nanmedian(np.abs(free - med), axis=0))
            sig = np.where(sig > 1e-9, sig, 1.0)
            if stats is not None:
                stats["noise"] = sig
        u = np.clip(gain * (y - med) / sig, -clip_v, clip_v)
        u[held] = 0.0
        yield b0, u


def driven(rec, spikes: tuple[np.ndarray, ...], all_bin: np.ndarray, all_ch: np.ndarray,
           spb: int, n_bins: int, w: int, gain: float = GAIN_V_PER_SIGMA,
           clip_v: float = CLIP_V, stats: dict | None = None
           ) -> Iterator[tuple[int, np.ndarray, tuple[np.ndarray, ...]]]:
    """(first bin, the block's column drive, the box spikes it updates): every spike of
    ``spikes`` (:func:`boxes`' first four, in time order) once, in the block that holds its
    whole box."""
    sbin = spikes[0]
    done = 0
    for b0, u in column_drive(rec, all_bin, all_ch, spb, w, gain, clip_v, stats):
        nb = len(u)
        hi = b0 + nb - (w + 2) if b0 + nb < n_bins else b0 + nb - (w + 1)
        hi_k = max(int(np.searchsorted(sbin, hi)), done)
        yield b0, u, tuple(a[done:hi_k] for a in spikes)
        done = hi_k


def run_differential(rec, sample: np.ndarray, channel: np.ndarray, model: DeviceModel,
                     scheme: PulseScheme, rate_plus: np.ndarray | None,
                     rate_minus: np.ndarray | None, seed: int, bin_ms: float = 1.0,
                     window_ms: float = WINDOW_MS, gain: float = GAIN_V_PER_SIGMA,
                     clip_v: float = CLIP_V):
    """(x+, x-, lag_sum, signed exposure sum, events, figures) of a differential vm imprint.
    ``lag_sum`` is in bins x exposure: the lag centroid of a pair's difference."""
    n = rec.n_channels
    spb = bin_size(rec.rate, bin_ms)
    bin_s = spb / rec.rate
    n_bins = rec.n_samples // spb
    w = max(1, int(round(window_ms * 1e-3 / bin_s)))
    mask = ResponseOptions()
    sbin, sch, box, gidx, all_bin, all_ch = boxes(sample, channel, spb, n_bins, w)
    xp_ = np.zeros(n * n)
    xm_ = np.zeros(n * n)
    lag_sum = np.zeros(n * n)
    e_sum = np.zeros(n * n)
    one = np.ones(1)
    rp = np.ascontiguousarray(rate_plus.ravel()) if rate_plus is not None else one
    rm = np.ascontiguousarray(rate_minus.ravel()) if rate_minus is not None else one
    x_inf, cp, _, _ = model.targets()
    r = model.rate
    c = row_v(model, clip_v) / r.v_th - 1.0
    kdt = r.k_pot * bin_s / scheme.speedup
    events = 0
    stats: dict = {}
    spikes = (sbin, sch, box, gidx)
    for b0, u, (sb, sc, bx, gi) in driven(rec, spikes, all_bin, all_ch, spb, n_bins, w, gain,
                                          clip_v, stats):
        _pairs(sb, sc, bx, gi, b0, u, xp_, xm_, rp, rm, c, 1.0 / r.v_th, r.alpha, kdt, x_inf,
               cp, model.c2c_sigma, int(seed) % (2**32), lag_sum, e_sum, n)
        events += len(sb)
    sig = stats.get("noise")
    fig = {"scheme": "differential", "signal": "slope (1 ms bins), held around own spikes",
           "row_v": row_v(model, clip_v), "window_ms": w * bin_s * 1e3,
           "gain_v_per_sigma": gain, "clip_v": clip_v, "bin_ms": bin_s * 1e3,
           "own_spike_hold_ms": [-mask.mask_before_ms, mask.mask_after_ms],
           "events": int(events),
           "noise_percentiles_5_50_95": [float(v) for v in np.percentile(sig, [5, 50, 95])]
           if sig is not None else None}
    return (xp_.reshape(n, n), xm_.reshape(n, n), lag_sum.reshape(n, n), e_sum.reshape(n, n),
            events, fig)
