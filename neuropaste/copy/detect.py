"""Spike detection per channel, with each electrode's action-potential amplitude.

An intracellular electrode sees the whole action potential, scaled by its coupling to the cell
(which varies from pad to pad) plus recording noise. The upstroke is the largest sample-to-sample
rise a trace has, tens of times a PSP's, so a spike is an upward crossing of a per-channel
threshold on the first difference. The threshold is set once, from a calibration block at the
start of the recording: ``max(up_fraction x the largest rise, noise_sigmas x the robust noise of
the rise)``, so a channel whose neuron never fires gets no spikes from its noise. The AP
amplitude of a channel (peak minus the value just before the upstroke, median over its spikes)
is what every PSP on that channel is divided by, as the array's own analysis does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DetectOptions:
    up_fraction: float = 0.3  # threshold: this fraction of the largest rise in calibration ...
    noise_sigmas: float = 10.0  # ... but at least this many robust sigmas of the rise
    dead_ms: float = 2.0  # a second crossing closer than this to the last is the same spike
    peak_ms: float = 2.0  # the AP peak is looked for this long after the crossing
    calibration_s: float = 10.0  # length of the calibration block
    block_mb: float = 128.0  # samples x channels x 4 bytes read at once


@dataclass(frozen=True)
class Spikes:
    """Detected spikes in time order: sample index and channel, per channel AP amplitude."""

    sample: np.ndarray  # int64, the first sample above threshold
    channel: np.ndarray  # int64
    ap_mV: np.ndarray  # float64 per channel: median AP amplitude (NaN without spikes)
    threshold: np.ndarray  # float64 per channel, mV per sample
    noise: np.ndarray  # float64 per channel: robust sigma of the first difference, mV

    def counts(self, n: int) -> np.ndarray:
        return np.bincount(self.channel, minlength=n)


def block_samples(n_channels: int, block_mb: float) -> int:
    return max(1024, int(block_mb * 2**20 / (4 * max(1, n_channels))))


def calibrate(rec, opts: DetectOptions, channels: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel threshold on the first difference and the robust noise of it."""
    n_cal = min(rec.n_samples, max(int(opts.calibration_s * rec.rate), 3),
                block_samples(rec.n_channels, 2 * opts.block_mb))
    d = np.diff(rec.read(0, n_cal, channels), axis=0)
    med = np.median(d, axis=0)
    sigma = 1.4826 * np.median(np.abs(d - med), axis=0).astype(np.float64)
    sigma = np.maximum(sigma, 1e-6)
    top = d.max(axis=0).astype(np.float64) if len(d) else np.zeros(d.shape[1])
    return np.maximum(opts.up_fraction * top, opts.noise_sigmas * sigma), sigma


def detect(rec, opts: DetectOptions = DetectOptions(), workers: int = 1) -> Spikes:
    """One streaming pass: threshold crossings of the first difference, AP amplitudes.
    ``workers`` > 1 splits the channels between that many processes (every channel is
    detected on its own, so the spikes are the same as one process finds)."""
    n = rec.n_channels
    parts = [p for p in np.array_split(np.arange(n), max(1, min(workers, n))) if len(p)]
    if len(parts) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from functools import partial

        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(len(parts), mp_context=ctx) as ex:
            found = list(ex.map(partial(_crossings, rec, opts), parts))
    else:
        found = [_crossings(rec, opts, parts[0])]
    s = np.concatenate([f[0] for f in found])
    c = np.concatenate([f[1] for f in found])
    a = np.concatenate([f[2] for f in found])
    thr = np.concatenate([f[3] for f in found])
    sigma = np.concatenate([f[4] for f in found])
    dead = max(1, int(round(opts.dead_ms * rec.rate / 1e3)))
    order = np.lexsort((s, c))  # by channel, then time: drop re-crossings within dead time
    s, c, a = s[order], c[order], a[order]
    again = np.zeros(len(s), bool)
    again[1:] = (c[1:] == c[:-1]) & (s[1:] - s[:-1] < dead)
    s, c, a = s[~again], c[~again], a[~again]
    ap = _median_by(c, a, n)
    order = np.lexsort((c, s))
    return Spikes(s[order], c[order], ap, thr, sigma)


def _crossings(rec, opts: DetectOptions, channels: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Threshold crossings (sample, channel, amplitude) of ``channels`` (consecutive), with
    their thresholds and noise. Blocks are read in the file's layout: an icephys file's
    per-channel traces are processed channel-major, without a transposing copy."""
    thr, sigma = calibrate(rec, opts, channels)
    peak = max(1, int(round(opts.peak_ms * rec.rate / 1e3)))
    ov = peak + 3  # each block owns [start+ov, stop-ov): windows never leave the block
    size = max(block_samples(rec.n_channels, opts.block_mb), 4 * ov + 1)
    samples, chans, amps = [], [], []
    thr32 = thr.astype(np.float32)
    for start, x in rec.chunks(size, 2 * ov, channels, order="K"):
        first, last = start == 0, start + len(x) >= rec.n_samples
        up = np.diff(x, axis=0) > thr32  # up[t]: x[t+1] - x[t] above threshold
        onset = up[1:] & ~up[:-1]  # onset[t]: the rise x[t+1] -> x[t+2] is the first one
        if onset.flags.f_contiguous and not onset.flags.c_contiguous:
            c, t = np.nonzero(onset.T)  # channel-major: the contiguous walk
        else:
            t, c = np.nonzero(onset)
        t = t + 1  # index of the sample before the first big rise
        lo = 0 if first else ov
        hi = len(x) if last else len(x) - ov
        keep = (t >= max(lo, 2)) & (t < hi)
        t, c = t[keep], c[keep]
        win = np.clip(t[:, None] + np.arange(1, peak + 1), 0, len(x) - 1)
        amp = x[win, c[:, None]].max(axis=1) - x[t - 1, c]
        samples.append(t + start)
        chans.append(channels[c])
        amps.append(amp.astype(np.float64))
    s = np.concatenate(samples).astype(np.int64) if samples else np.zeros(0, np.int64)
    c = np.concatenate(chans).astype(np.int64) if chans else np.zeros(0, np.int64)
    a = np.concatenate(amps) if amps else np.zeros(0)
    return s, c, a, thr, sigma


def _median_by(group: np.ndarray, value: np.ndarray, n: int) -> np.ndarray:
    """Median of ``value`` per group (groups 0..n-1, NaN where empty), without a loop."""
    out = np.full(n, np.nan)
    if not len(group):
        return out
    order = np.lexsort((value, group))
    g, v = group[order], value[order]
    counts = np.bincount(g, minlength=n)
    start = np.concatenate(([0], np.cumsum(counts)[:-1]))
    has = counts > 0
    lo = start[has] + (counts[has] - 1) // 2
    hi = start[has] + counts[has] // 2
    out[has] = 0.5 * (v[lo] + v[hi])
    return out
