"""The spike-train-only baseline: cross-correlograms against a slow-baseline Poisson null.

This is the method of English et al. 2017 (Neuron 96:505), which takes its null from Stark and
Abeles 2009 (J Neurosci Methods 179:90): the expected count in each correlogram bin is the
correlogram itself convolved with a partially hollowed Gaussian (sigma 10 ms, the centre bin
weighted by 1 - 0.6), so slow co-modulation (bursts, rate changes) is in the null and only a
sharp, short-latency peak or trough is not. The observed count in the synaptic window
(lags 1..``window`` bins after the presynaptic spike) is compared with the summed expectation
by the Poisson distribution with the mid-p correction, in both tails (excitation: a peak;
inhibition: a trough). All pairs at once: the correlogram at each lag is one sparse x sparse
product of the binned spike trains, which is also how Elephant's
``functional_connectivity.normalized_cross_correlation`` computes it; the slow baseline is
folded into per-lag weights so no N x N x lags array is ever held.

It runs on the spike times the intracellular method detected, so the two are compared on the
same spikes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import poisson

from neuropaste.copy.responses import cross_counts


@dataclass(frozen=True)
class BaselineOptions:
    window: int = 8  # bins (lags 1..window)
    sigma_bins: float = 10.0
    hollow: float = 0.6
    half_width: int = 30  # kernel truncated at this many bins


@dataclass(frozen=True)
class CcgResult:
    observed: np.ndarray  # (n, n) counts in the window
    expected: np.ndarray  # (n, n)
    p_up: np.ndarray  # (n, n) one-sided mid-p of a peak (excitation)
    p_down: np.ndarray  # (n, n) one-sided mid-p of a trough (inhibition)
    sign: np.ndarray  # (n, n) +1 peak, -1 trough
    latency_bins: np.ndarray  # (n, n) lag of the largest excess in the window


def hollow_gaussian(opts: BaselineOptions) -> np.ndarray:
    k = np.arange(-opts.half_width, opts.half_width + 1)
    g = np.exp(-0.5 * (k / opts.sigma_bins) ** 2)
    g[opts.half_width] *= 1.0 - opts.hollow
    return g / g.sum()


def ccg_test(spike_bin: np.ndarray, spike_channel: np.ndarray, n: int, n_bins: int,
             opts: BaselineOptions = BaselineOptions()) -> CcgResult:
    kern = hollow_gaussian(opts)
    hw, w = opts.half_width, opts.window
    obs = np.zeros((w, n, n))
    base = np.zeros((w, n, n))
    for tau in range(0, w + hw + 1):
        d = cross_counts(spike_bin, spike_channel, n, n_bins, range(tau, tau + 1))[0]
        for lag in range(1, w + 1):
            if lag == tau:
                obs[lag - 1] += d
            # base[lag] = sum_k kern[k] C(lag - k); C(tau) = d, C(-tau) = d.T
            k = lag - tau
            if -hw <= k <= hw:
                base[lag - 1] += kern[k + hw] * d
            k = lag + tau
            if tau and -hw <= k <= hw:
                base[lag - 1] += kern[k + hw] * d.T
    observed, expected = obs.sum(axis=0), base.sum(axis=0)
    lam = np.maximum(expected, 1e-12)
    pmf = poisson.pmf(observed, lam)
    upper = poisson.sf(observed, lam) + 0.5 * pmf  # P(X > n) + P(X = n)/2
    lower = poisson.cdf(observed - 1, lam) + 0.5 * pmf
    sign = np.where(observed >= expected, 1, -1).astype(np.int8)
    excess = (obs - base) * sign[None]
    latency = np.argmax(excess, axis=0) + 1
    return CcgResult(observed, expected, np.minimum(upper, 1.0), np.minimum(lower, 1.0), sign,
                     latency)
