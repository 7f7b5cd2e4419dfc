"""``--drive vm``: the columns carry the recorded membrane potential instead of spike pulses.

How: row i still gets the pre waveform of each of its spikes (pulse, then the STDP tail).
Column j is driven by ``V_col = -u_j(t)``, ``u_j = gain x (Vm_j - median_j) / sigma_j`` clipped
to ``+-clip_v``: its recorded trace, binned to 1 ms, centred on its median and scaled by its
own robust noise (so every pad, whatever its coupling, spans the same voltage), and clipped so
the line alone stays below threshold (half-selected cells are safe). The cell then sees
``V_cell = tail(t - t_i) + u_j(t)``: it crosses the SET threshold when column j depolarises while
row i's tail is high, so a subthreshold EPSP of j after a spike of i adds exposure and an IPSP
removes some; j's own action potentials saturate ``u`` at ``clip_v`` and count as in the spike
drive. Each spike of i is one event that updates row i (every column, from the trace in the
window after it). The readout is the spike drive's (chance level from row and column medians).

The exposure of an event is ``sum_k k(tail(k) + u_j(b + k)) x bin`` over the window's bins
(the trace is piecewise constant per bin; the tail is taken at bin centres).
"""

from __future__ import annotations

import numba
import numpy as np

from neuropaste.copy.detect import block_samples
from neuropaste.copy.responses import bin_size
from neuropaste.plasticity import DeviceModel, PulseScheme

GAIN_V_PER_SIGMA = 0.12
CLIP_V = 0.6


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
        gain: float = GAIN_V_PER_SIGMA, clip_v: float = CLIP_V):
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
    size = max(block_samples(n, 128.0) // spb, 8 * (w + 2)) * spb
    med = sig = None
    events = 0
    for start, blk in rec.chunks(size, (w + 2) * spb):
        b0 = start // spb
        nb = len(blk) // spb
        if nb < w + 2:
            continue
        m = blk[: nb * spb].reshape(nb, spb, n).mean(axis=1, dtype=np.float64)
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
    fig = {"gain_v_per_sigma": gain, "clip_v": clip_v, "bin_ms": bin_s * 1e3,
           "window_bins": int(w), "events": int(events),
           "noise_percentiles_5_50_95": [float(v) for v in np.percentile(sig, [5, 50, 95])]
           if sig is not None else None}
    return x.reshape(n, n), lag_sum.reshape(n, n), e_sum.reshape(n, n), events, fig


@numba.njit(cache=True)
def _seed(s):
    np.random.seed(s)
