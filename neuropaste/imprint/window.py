"""The STDP window and chance reference chosen from the recording's own pre -> post lags.

A culture's spikes answer their inputs after a synaptic delay plus the time a PSP takes to bring
the post neuron to threshold, a few ms to ~15 ms depending on the culture; the imprint's window
must cover those lags (a 30 ms ramp weights lags near 1 ms most, where few spikes answer; too
short a box misses the late answers). And where co-activity (bursts, shared input) rather than
the rates sets a pair's chance count, the row/column-median chance level calls pairs whose
excess is symmetric; the mirror cell (the anti-causal count) is then the reference to use.

Both are measured before the imprint on exact cross-correlograms of the spikes at 1 ms (the
``copy`` step's sparse products, :func:`neuropaste.copy.responses.cross_counts`), lags 0 ..
``MAX_LAG_MS + SLOW_HALF_WIDTH``:

- **lags.** Each pair's correlogram minus its slow baseline (the Stark-Abeles hollowed
  Gaussian of copy's spike-only baseline, :func:`neuropaste.copy.baseline.hollow_gaussian`,
  with sigma ``SLOW_SIGMA_MS`` so that answers spread over several ms stay in the excess). The
  pairs whose excess over lags 1 .. ``SELECT_MS`` has z above ``PAIR_Z`` are the directed ones;
  their summed excess per lag (1 .. ``MAX_LAG_MS``, negatives cut) is the lag profile of the
  culture's pre -> post answers. The box is the lag by which ``COVER`` of that profile has
  arrived, clipped to ``[MIN_MS, MAX_MS]``: the whole answer, which the weights need.
- **reference.** The row/column-median z of each pair's causal count in that box (as the
  readout computes it on the crossbar) and the mirror z (causal against anti-causal count).
  Of the pairs the median reference calls (BH at 5 %), the share the mirror also finds
  directed (mirror z > 2) is the directed share; below ``MIRROR_BELOW`` most of what the
  median reference would call is symmetric co-activity, and ``--mirror`` is chosen. Its chance
  count is then set by co-activity, which every ms of box adds to both cells alike while the
  answers are concentrated at their lags, so the box becomes the matched-filter one: the lag
  that maximises the profile's mass over the square root of the box length (dense culture:
  10 ms instead of the cover's 12; 105 true at precision 1.000 instead of 57).

The cost is bounded: at most ``MAX_SPIKES`` spikes (the first ones in time) are correlated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_LAG_MS = 30
SLOW_SIGMA_MS, SLOW_HALF_WIDTH = 20.0, 40
SELECT_MS = 12
PAIR_Z = 4.0
COVER = 0.95
MIN_MS, MAX_MS = 5.0, 25.0
MIRROR_BELOW = 0.5
MAX_SPIKES = 1_000_000


@dataclass(frozen=True)
class WindowChoice:
    tail_ms: float  # the flat tail's length (recording ms)
    mirror: bool
    profile: np.ndarray  # (MAX_LAG_MS,) floor-subtracted causal excess per lag, peak 1
    directed_pairs: int  # pairs the lag profile was taken from
    median_called: int  # pairs the median reference calls on the correlograms
    directed_share: float  # ... of which the mirror finds directed
    spikes_used: int
    seconds_used: float

    def table(self) -> dict:
        return {"tail": "flat", "tail_ms": self.tail_ms, "mirror": self.mirror,
                "lag_profile_1ms": [round(float(v), 4) for v in self.profile],
                "directed_pairs": self.directed_pairs,
                "median_called_on_correlograms": self.median_called,
                "directed_share": round(self.directed_share, 4),
                "spikes_used": self.spikes_used, "seconds_used": self.seconds_used,
                "rule": (f"box = lag by which {COVER:.0%} of the directed pairs' causal "
                         f"excess arrived (lags 1-{MAX_LAG_MS} ms, clipped to "
                         f"{MIN_MS:g}-{MAX_MS:g} ms); mirror if under {MIRROR_BELOW:.0%} of "
                         "the pairs the median reference calls are directed, and then the box "
                         "maximising excess / sqrt(length)")}


def choose(times_s: np.ndarray, neuron: np.ndarray, n: int) -> WindowChoice | None:
    """The window and reference for these spikes; None when there are too few neurons or
    directed pairs to measure (the caller keeps its defaults)."""
    from neuropaste.copy.baseline import BaselineOptions, hollow_gaussian
    from neuropaste.copy.responses import cross_counts
    from neuropaste.imprint.readout import chance, empirical, select

    order = np.argsort(times_s, kind="stable")[:MAX_SPIKES]
    t, nrn = np.asarray(times_s)[order], np.asarray(neuron, np.int64)[order]
    if n < 3 or len(t) < 2:
        return None
    sbin = np.floor((t - t.min()) * 1e3).astype(np.int64)
    n_bins = int(sbin.max()) + 1
    big, hw = MAX_LAG_MS, SLOW_HALF_WIDTH
    kern = hollow_gaussian(BaselineOptions(sigma_bins=SLOW_SIGMA_MS, half_width=hw))
    d = cross_counts(sbin, nrn, n, n_bins, range(0, big + hw + 1))  # (lags, n, n) float32

    def ccg(m: int) -> np.ndarray:  # pairs (i at u, j at u + m), any sign of m
        return d[m] if m >= 0 else d[-m].T

    # the slow baseline summed over lags 1..SELECT_MS: each C(m) weighted by the kernel mass
    # it gives those lags
    sl = np.arange(1, SELECT_MS + 1)
    obs = d[1: SELECT_MS + 1].sum(axis=0, dtype=np.float64)
    base = np.zeros((n, n))
    for m in range(1 - hw, SELECT_MS + hw + 1):
        w = kern[np.clip(sl - m + hw, 0, 2 * hw)][np.abs(sl - m) <= hw].sum()
        base += w * ccg(m)
    z = (obs - base) / np.sqrt(base + 1.0)
    np.fill_diagonal(z, 0.0)
    ii, jj = np.nonzero(z > PAIR_Z)
    if len(ii) < 3:
        return None
    sel = {m: ccg(m)[ii, jj].astype(np.float64) for m in range(1 - hw, big + hw + 1)}
    prof = np.array([sum(sel[tau] - sum(kern[k + hw] * sel[tau - k] for k in range(-hw, hw + 1))
                         ) for tau in range(1, big + 1)])
    prof = np.maximum(prof, 0.0)
    if prof.max() <= 0:
        return None
    cum = np.cumsum(prof)
    cover = float(np.clip(np.argmax(cum >= COVER * cum[-1]) + 1, MIN_MS, MAX_MS))
    causal = d[1: int(cover) + 1].sum(axis=0, dtype=np.float64)
    e0 = chance(causal)
    zm = empirical((causal - e0) / np.sqrt(np.maximum(e0, 1e-12)))
    np.fill_diagonal(zm, 0.0)
    called, sign, _ = select(zm, 0.05)
    called &= sign > 0
    zmir = (causal - causal.T) / np.sqrt(np.maximum(causal + causal.T, 1.0))
    n_called = int(called.sum())
    share = float((zmir[called] > 2.0).mean()) if n_called else 1.0
    mirror = share < MIRROR_BELOW
    tail_ms = cover
    if mirror:  # the matched-filter box: excess over the noise of a co-activity-set count
        snr = cum / np.sqrt(np.arange(1, big + 1))
        tail_ms = float(np.clip(np.argmax(snr) + 1, MIN_MS, MAX_MS))
    return WindowChoice(tail_ms, mirror, prof / prof.max(), len(ii), n_called, share,
                        int(len(t)), float(t.max() - t.min()))
