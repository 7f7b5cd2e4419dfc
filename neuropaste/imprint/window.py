"""The STDP window and chance reference chosen from the recording's own pre -> post lags.

A culture's spikes answer their inputs after a synaptic delay plus the time a PSP takes to bring
the post neuron to threshold, a few ms to ~15 ms depending on the culture; the imprint's window
must cover those lags (a 30 ms ramp weights lags near 1 ms most, where few spikes answer; too
short a box misses the late answers). And where co-activity (bursts, shared input) rather than
the rates sets a pair's chance count, the row/column-median chance level calls pairs whose
excess is symmetric; the mirror cell (the anti-causal count) is then the reference to use.

Both are measured before the imprint on exact cross-correlograms of the spikes at 1 ms (the
``copy`` step's sparse products, :func:`neuropaste.copy.responses.cross_counts`), lags 1 ..
``MAX_LAG_MS``:

- **lags.** A pair's causal-minus-anti-causal count ``A_ij(τ) = D_ij(τ) - D_ji(τ)`` at lag τ,
  and its z over the whole range, ``Σ A / sqrt(Σ (D + D^T) + 1)``. The pairs with z above
  ``PAIR_Z`` are the clearly directed ones; their summed ``A(τ)``, minus its floor (the median
  of the last ``FLOOR_LAGS`` lags: chance asymmetry), is the lag profile of the culture's
  pre -> post answers. The window is the lag by which ``COVER`` of that profile's mass has
  arrived, clipped to ``[MIN_MS, MAX_MS]``: a flat (box) tail of that length.
- **reference.** The row/column-median z of each pair's causal count in that window (as the
  readout computes it on the crossbar) and the mirror z (causal against anti-causal count).
  Of the pairs the median reference calls (BH at 5 %), the share the mirror also finds
  directed (mirror z > 2) is the directed share; below ``MIRROR_BELOW`` most of what the
  median reference would call is symmetric co-activity, and ``--mirror`` is chosen.

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
                         "the pairs the median reference calls are directed")}


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

    # the slow baseline summed over lags 1..big: each C(m) weighted by the kernel mass it
    # gives those lags
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
    tail_ms = float(np.clip(np.argmax(cum >= COVER * cum[-1]) + 1, MIN_MS, MAX_MS))
    w = int(tail_ms)
    causal = d[1: w + 1].sum(axis=0, dtype=np.float64)
    del sel
    e0 = chance(causal)
    zm = empirical((causal - e0) / np.sqrt(np.maximum(e0, 1e-12)))
    np.fill_diagonal(zm, 0.0)
    called, sign, _ = select(zm, 0.05)
    called &= sign > 0
    zmir = (causal - causal.T) / np.sqrt(np.maximum(causal + causal.T, 1.0))
    n_called = int(called.sum())
    share = float((zmir[called] > 2.0).mean()) if n_called else 1.0
    return WindowChoice(tail_ms, share < MIRROR_BELOW, prof / prof.max(), len(ii), n_called,
                        share, int(len(t)), float(t.max() - t.min()))
