"""PSPs by multivariate regression of every channel's slope on all lagged spike trains.

A plain spike-triggered average credits a neuron with every deflection that follows its spikes,
including the network's shared drive in a burst, when many neurons fire together and every
membrane moves. Regressing each channel's slope ``y_j`` on the spike trains of *all* neurons at
once (each at a few lag windows) gives each neuron only what the others do not explain: the
synchrony confound is removed by conditioning on everyone who fired.

The design matrix ``X`` has one column per (lag window, neuron); it is never built. Its Gram
matrix ``X^T X`` is a sum of spike-count cross-correlograms (``responses.cross_counts``) and
``X^T y`` a sum of the spike-triggered sums, so one Cholesky factor solves every channel. Lag
window 0 (the spike's own bin) holds electrical coupling (a spikelet without delay); the
windows after it hold chemical PSPs. A connection's amplitude is the summed slope over the
chemical windows, the net step in the potential, and its z-score that sum over its standard
error from the same factor: ``z = a / sqrt(sigma_j^2 w^T (X^T X)^-1 w)``, normal under the null
of no connection when the residuals are close to white.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as la

from neuropaste.copy.responses import Responses, cross_counts


@dataclass(frozen=True)
class RegressOptions:
    window: int = 2  # bins per chemical lag window
    ridge: float = 1.0  # added to the Gram diagonal (spike-count units): silent neurons


@dataclass(frozen=True)
class Fit:
    amp: np.ndarray  # (n, n) net slope sum, trace mV (pre, post)
    z: np.ndarray  # (n, n) chemical z-score
    gap: np.ndarray  # (n, n) lag-0 coefficient, trace mV
    gap_z: np.ndarray  # (n, n)
    sigma: np.ndarray  # (n,) residual sd per post channel
    profile: np.ndarray  # (lags, n, n) conditional response per lag 1..lags (centred STA)
    windows: list[tuple[int, ...]]


def lag_windows(lags: int, window: int) -> list[tuple[int, ...]]:
    """Lag 0 alone, then lags 1..lags in windows of ``window`` bins."""
    out = [(0,)]
    for s in range(1, lags + 1, window):
        out.append(tuple(range(s, min(s + window, lags + 1))))
    return out


def fit(resp: Responses, opts: RegressOptions = RegressOptions()) -> Fit:
    sta = resp.sta
    lags = sta.shape[0] - 1
    n = sta.shape[1]
    T = float(resp.n_bins)
    wins = lag_windows(lags, opts.window)
    k = len(wins)
    counts = np.bincount(resp.spike_channel, minlength=n).astype(np.float64)
    d = cross_counts(resp.spike_bin, resp.spike_channel, n, resp.n_bins + 1, range(lags + 1))

    def dfull(tau: int) -> np.ndarray:
        return d[tau] if tau >= 0 else d[-tau].T

    gram = np.empty((k * n, k * n))
    for a, wa in enumerate(wins):
        for b, wb in enumerate(wins):
            if b < a:
                continue
            block = sum(dfull(m - l) for l in wa for m in wb)
            block = block - np.outer(counts * len(wa), counts * len(wb)) / T
            gram[a * n:(a + 1) * n, b * n:(b + 1) * n] = block
            if b != a:
                gram[b * n:(b + 1) * n, a * n:(a + 1) * n] = block.T
    del d
    gram[np.diag_indices_from(gram)] += opts.ridge
    ybar = resp.y_sum / T
    xty = np.concatenate([sum(sta[l] for l in w) - np.outer(counts * len(w), ybar * T) / T
                          for w in wins])
    factor = la.cho_factor(gram, lower=True, overwrite_a=True, check_finite=False)
    beta = la.cho_solve(factor, xty, check_finite=False)
    yty = resp.y_sq - resp.y_sum ** 2 / T
    dof = max(T - k * n, 1.0)
    sigma2 = np.maximum(yty - np.einsum("ij,ij->j", beta, xty), 0.0) / dof
    # standard errors: the chemical sum w_i and the lag-0 coefficient e_i of every neuron
    probe = np.zeros((k * n, 2 * n))
    for a in range(1, k):
        probe[a * n + np.arange(n), np.arange(n)] = 1.0
    probe[np.arange(n), n + np.arange(n)] = 1.0
    solved = la.cho_solve(factor, probe, check_finite=False)
    quad = np.einsum("ij,ij->j", probe, solved)
    v_chem, v_gap = quad[:n], quad[n:]
    amp = beta[n:].reshape(k - 1, n, n).sum(axis=0)
    gap = beta[:n]
    sig = np.sqrt(sigma2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = amp / (np.sqrt(v_chem)[:, None] * sig[None, :])
        gap_z = gap / (np.sqrt(v_gap)[:, None] * sig[None, :])
    z = np.nan_to_num(z)
    gap_z = np.nan_to_num(gap_z)
    safe = np.maximum(counts, 1.0)[:, None]
    profile = sta[1:] / safe[None] - ybar[None, None, :]
    return Fit(amp, z, gap, gap_z, sig, profile, wins)
