"""Spike-triggered responses of every channel, summed in one streaming pass.

The response of a channel is its membrane slope in bins of ``bin_ms``: the difference of
consecutive bin means (a PSP is a step in the potential, so it is a bump in the slope a few bins
long, and the slow drifts of the potential mostly cancel). Around a channel's own spikes
(``mask_before_ms`` before to ``mask_after_ms`` after) the slope is set to zero: the AP, the
reset and the recovery are that neuron's own history, not input from anyone. A masked bin
counts as the channel's mean unmasked slope (not as 0, which would read as a hyperpolarisation
wherever the postsynaptic neuron fires just before the presynaptic one, as in every burst): the
pass also counts, per pair and lag, the triggers that landed on masked bins.

For every lag ``l`` in ``0..lags`` the pass accumulates ``A[l][i, j] = sum over spikes of i at
bin b of y_j(b + l)`` as one sparse (spikes) x dense (responses) product per block: that, the
sums and sums of squares of ``y``, the bin count and the spike trains are all that the
regression needs, so the recording is read once whatever its length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from neuropaste.copy.detect import Spikes, block_samples


@dataclass(frozen=True)
class ResponseOptions:
    bin_ms: float = 1.0
    lags: int = 16  # bins after a spike in which PSPs are looked for (delay + current)
    mask_before_ms: float = 1.0
    mask_after_ms: float = 20.0
    clip_sigmas: float = 8.0  # slopes beyond this many robust sds are clipped (missed APs)
    block_mb: float = 128.0


@dataclass(frozen=True)
class Responses:
    """What the regression needs, accumulated over the whole recording."""

    sta: np.ndarray  # (lags + 1, n, n) float64: A[l][i, j]
    y_sum: np.ndarray  # (n,)
    y_sq: np.ndarray  # (n,)
    n_bins: int
    spike_bin: np.ndarray  # int64, time order
    spike_channel: np.ndarray  # int64
    bin_samples: int
    masked_fraction: np.ndarray  # (n,) fraction of bins zeroed around own spikes


def bin_size(rate: float, bin_ms: float) -> int:
    return max(1, int(round(rate * bin_ms / 1e3)))


def accumulate(rec, spikes: Spikes, opts: ResponseOptions = ResponseOptions()) -> Responses:
    """One streaming pass over the recording: the spike-triggered sums at every lag."""
    n = rec.n_channels
    spb = bin_size(rec.rate, opts.bin_ms)
    bin_s = spb / rec.rate
    n_bins = rec.n_samples // spb
    sbin = spikes.sample // spb
    keep = sbin < n_bins
    sbin, sch = sbin[keep], spikes.channel[keep]
    L = int(opts.lags)
    before = int(np.ceil(opts.mask_before_ms / 1e3 / bin_s))
    after = int(np.ceil(opts.mask_after_ms / 1e3 / bin_s))
    size_bins = max(block_samples(n, opts.block_mb) // spb, 4)
    sta = np.zeros((L + 1, n, n))
    hits = np.zeros((L + 1, n, n), np.float32)  # triggered counts of masked bins (exact)
    y_sum, y_sq, masked = np.zeros(n), np.zeros(n), np.zeros(n)
    limit = None
    # one bin of overlap: the first owned bin's slope needs the bin before it
    for start, x in rec.chunks(size_bins * spb, spb):
        b0 = start // spb  # first bin of the block
        nb = len(x) // spb
        if nb < 2:
            continue
        means = x[: nb * spb].reshape(nb, spb, n).mean(axis=1, dtype=np.float64)
        y = np.diff(means, axis=0)  # y[k] is the slope of bin b0 + 1 + k
        lo = b0 + 1
        hi = lo + len(y)
        mask = own_mask(sbin, sch, lo, hi, before, after, n)
        if limit is None:  # robust sd of the unmasked slope, from the first block
            free = np.where(mask, np.nan, y)
            med = np.nanmedian(free, axis=0)
            limit = np.nan_to_num(opts.clip_sigmas * 1.4826 * np.nanmedian(
                np.abs(free - med), axis=0), nan=np.inf)
            limit = np.where(limit > 0, limit, np.inf)
        np.clip(y, -limit, limit, out=y)
        y[mask] = 0.0
        masked += mask.sum(axis=0)
        y_sum += y.sum(axis=0)
        y_sq += np.einsum("ij,ij->j", y, y)
        both = _triggered(sbin, sch, lo, hi, L, n,
                          np.hstack([y.astype(np.float32), mask.astype(np.float32)]))
        sta += both[:, :, :n]
        hits += both[:, :, n:]
        del both
    count = max(n_bins - 1, 1)
    # a masked bin holds no information, not a slope of 0: give it the channel's mean
    # unmasked slope, in the sums as in every triggered sum that landed on it
    fill = y_sum / np.maximum(count - masked, 1.0)
    sta += hits * fill[None, None, :]
    del hits
    y_sum += fill * masked
    y_sq += fill ** 2 * masked
    return Responses(sta, y_sum, y_sq, count, sbin, sch, spb, masked / count)


def own_mask(sbin, sch, lo: int, hi: int, before: int, after: int, n: int) -> np.ndarray:
    """Bins lo..hi-1 (rows) within -before..after of a channel's own spikes."""
    a, b = np.searchsorted(sbin, [lo - after, hi + before])
    mask = np.zeros((hi - lo, n), bool)
    for off in range(-before, after + 1):  # a loop over offsets, not over spikes
        row = sbin[a:b] + off - lo
        ok = (row >= 0) & (row < hi - lo)
        mask[row[ok], sch[a:b][ok]] = True
    return mask


def _triggered(sbin, sch, lo: int, hi: int, lags: int, n: int, y: np.ndarray) -> np.ndarray:
    """sum over spikes of i at b of y[b + l] for bins lo..hi-1, all lags at once."""
    a, b = np.searchsorted(sbin, [lo - lags, hi])
    rows, cols = [], []
    for lag in range(lags + 1):
        col = sbin[a:b] + lag - lo
        ok = (col >= 0) & (col < hi - lo)
        rows.append(sch[a:b][ok] + lag * n)
        cols.append(col[ok])
    r, c = np.concatenate(rows), np.concatenate(cols)
    s = sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=((lags + 1) * n, hi - lo))
    return np.asarray(s @ y).reshape(lags + 1, n, y.shape[1])


def cross_counts(sbin: np.ndarray, sch: np.ndarray, n: int, n_bins: int,
                 lags: range) -> np.ndarray:
    """``D[k][i, j]`` = pairs (spike of i at bin u, spike of j at bin u + lag_k), for the
    given non-negative lags; negative lags are the transposes. Sparse x sparse per lag."""
    s = sp.csr_matrix((np.ones(len(sbin), np.float32), (sch, sbin)), shape=(n, n_bins + 1))
    out = np.zeros((len(lags), n, n), np.float32)  # exact up to 2^24 pairs
    for k, lag in enumerate(lags):
        ok = sbin >= lag
        shifted = sp.csr_matrix((np.ones(int(ok.sum()), np.float32),
                                 (sch[ok], sbin[ok] - lag)), shape=(n, n_bins + 1))
        out[k] = (s @ shifted.T).toarray()
    return out
