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
    #: lag windows (bins) after lag 0, as (first, last) pairs: short ones where PSPs start,
    #: longer ones for the slow tail of the current
    windows: tuple[tuple[int, int], ...] = ((1, 2), (3, 4), (5, 6), (7, 10), (11, 16))
    ridge: float = 1.0  # added to the Gram diagonal (spike-count units): silent neurons
    template_z: float = 8.0  # pairs this strong (uniform weights) shape the matched filter
    template_pairs: int = 20  # fewer strong pairs: uniform weights


@dataclass(frozen=True)
class Fit:
    amp: np.ndarray  # (m, n, n) net step per template, trace mV (template, pre, post)
    z: np.ndarray  # (m, n, n) chemical z-score per template
    gap: np.ndarray  # (n, n) lag-0 coefficient, trace mV
    gap_z: np.ndarray  # (n, n)
    sigma: np.ndarray  # (n,) residual sd per post channel
    templates: np.ndarray  # (m, k) matched-filter weights per lag window (0: electrical)


def lag_windows(opts: RegressOptions) -> list[tuple[int, ...]]:
    """Lag 0 alone (electrical), then the chemical windows."""
    return [(0,)] + [tuple(range(a, b + 1)) for a, b in opts.windows]


def max_lag(opts: RegressOptions) -> int:
    return max(b for _, b in opts.windows)


def gram_matrix(d: np.ndarray, counts: np.ndarray, wins: list[tuple[int, ...]], T: float,
                ridge: float) -> np.ndarray:
    """Centred X^T X, (window, neuron) major, from the cross-counts ``d[lag]`` (lag >= 0)."""
    n, k = len(counts), len(wins)
    gram = np.empty((k * n, k * n), order="F")  # Fortran order: LAPACK factors in place
    for a, wa in enumerate(wins):
        for b in range(a, k):
            wb = wins[b]
            block = np.zeros((n, n))
            for la_ in wa:
                for lb in wb:  # sum_t s_i(t - la_) s_j(t - lb) = D_ij(la_ - lb)
                    tau = la_ - lb
                    block += d[tau] if tau >= 0 else d[-tau].T
            block -= np.outer(counts * len(wa), counts * len(wb)) / T
            gram[a * n:(a + 1) * n, b * n:(b + 1) * n] = block
            if b != a:
                gram[b * n:(b + 1) * n, a * n:(a + 1) * n] = block.T
    gram[np.diag_indices_from(gram)] += ridge
    return gram


def fit(resp: Responses, opts: RegressOptions = RegressOptions()) -> Fit:
    sta = resp.sta
    n = sta.shape[1]
    T = float(resp.n_bins)
    wins = lag_windows(opts)
    k = len(wins)
    if max_lag(opts) > sta.shape[0] - 1:
        raise ValueError(f"windows reach lag {max_lag(opts)}, responses hold {sta.shape[0] - 1}")
    counts = np.bincount(resp.spike_channel, minlength=n).astype(np.float64)
    d = cross_counts(resp.spike_bin, resp.spike_channel, n, resp.n_bins + 1,
                     range(max_lag(opts) + 1))
    gram = gram_matrix(d, counts, wins, T, opts.ridge)
    del d
    xty = np.concatenate([sta[list(w)].sum(axis=0) - np.outer(counts * len(w), resp.y_sum)
                          / T for w in wins])
    factor = la.cho_factor(gram, lower=True, overwrite_a=True, check_finite=False)
    beta = la.cho_solve(factor, xty, check_finite=False)
    blocks = inverse_blocks(factor[0], k, n)
    del factor, gram
    yty = resp.y_sq - resp.y_sum ** 2 / T
    dof = max(T - k * n, 1.0)
    sigma2 = np.maximum(yty - np.einsum("ij,ij->j", beta, xty), 0.0) / dof
    sig = np.sqrt(sigma2)
    sizes = np.array([len(w) for w in wins], np.float64)
    uniform = np.r_[0.0, np.ones(k - 1)]
    z0, _ = weighted_z(blocks, beta, sig, uniform)
    templates = shifted(shape_template(beta, z0, sizes, opts))
    zs, amps = [], []
    for t in templates:
        z, wsum = weighted_z(blocks, beta, sig, t)
        zs.append(z)
        # the weighted sum, read as the net step over the windows the template spans
        amps.append(wsum * float(t @ (sizes * t)) ** -1 * float(sizes @ t))
    gap_z, gap = weighted_z(blocks, beta, sig, np.r_[1.0, np.zeros(k - 1)])
    return Fit(np.stack(amps), np.stack(zs), gap, gap_z, sig, templates)


def shifted(template: np.ndarray) -> np.ndarray:
    """The template and its copies one window earlier and one later: delays differ from
    synapse to synapse (1-5 ms in a culture), so one fixed shape misses the early and the late
    ones. Three tests per pair, paid for by a Bonferroni factor of 3 on the best."""
    chem = template[1:]
    early = np.r_[0.0, chem[1:], 0.0]
    late = np.r_[0.0, 0.0, chem[:-1]]
    out = [template] + [t for t in (early, late) if t.max() > 0]
    return np.stack(out)


def inverse_blocks(lower: np.ndarray, k: int, n: int) -> np.ndarray:
    """``M[i] = (X^T X)^-1`` restricted to neuron i's k windows, (n, k, k), from the Cholesky
    factor: one triangular inverse, then column dot products (``G^-1 = L^-T L^-1``)."""
    linv, info = la.lapack.dtrtri(lower, lower=1, overwrite_c=1)
    if info:
        raise ValueError(f"singular Gram matrix (dtrtri info {info})")
    upper = np.triu_indices(n, 1)
    for a in range(k):  # the factor's upper triangle holds leftovers: zero it, block by block
        linv[:a * n, a * n:(a + 1) * n] = 0.0
        linv[a * n:(a + 1) * n, a * n:(a + 1) * n][upper] = 0.0
    m = np.empty((n, k, k))
    for a in range(k):
        for b in range(a, k):
            rows = slice(b * n, None)  # L^-1 is lower triangular: rows above are zero
            v = np.einsum("ij,ij->j", linv[rows, a * n:(a + 1) * n],
                          linv[rows, b * n:(b + 1) * n])
            m[:, a, b] = m[:, b, a] = v
    return m


def weighted_z(blocks: np.ndarray, beta: np.ndarray, sig: np.ndarray,
               w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z-scores and values of ``sum_a w_a beta[(a, i), j]`` for every pair (i, j)."""
    n, k = blocks.shape[0], len(w)
    quad = np.einsum("a,iab,b->i", w, blocks, w)
    value = np.tensordot(w, beta.reshape(k, n, n), axes=(0, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = value / (np.sqrt(quad)[:, None] * sig[None, :])
    return np.nan_to_num(z), value


def shape_template(beta: np.ndarray, z0: np.ndarray, sizes: np.ndarray,
                   opts: RegressOptions) -> np.ndarray:
    """Matched-filter weights per lag window: the mean per-bin slope of the strongest pairs.

    With white residuals the best linear test of a response of known shape weights each
    window by the response per bin it carries. The shape comes from the recording itself
    (pairs with |z| > ``template_z`` under uniform weights, sign-aligned), so it follows the
    synaptic time course of whatever prepared the culture; too few strong pairs (a recording
    without connections) keep the uniform weights.
    """
    k, n = len(sizes), z0.shape[0]
    strong = np.abs(z0) > opts.template_z
    np.fill_diagonal(strong, False)
    if strong.sum() < opts.template_pairs:
        return np.r_[0.0, np.ones(k - 1)]
    b = beta.reshape(k, n, n)[:, strong] * np.sign(z0[strong])[None, :]
    per_bin = np.maximum(b.mean(axis=1) / sizes, 0.0)
    per_bin[0] = 0.0
    if per_bin.max() <= 0:
        return np.r_[0.0, np.ones(k - 1)]
    return per_bin / per_bin.max()



def onset(resp: Responses, pre: np.ndarray, post: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """Lag (bins, >= 1) at which each pair's signed mean slope first reaches half its peak."""
    counts = np.maximum(np.bincount(resp.spike_channel, minlength=resp.sta.shape[1]), 1)
    prof = resp.sta[1:, pre, post] / counts[pre] - (resp.y_sum / resp.n_bins)[post]
    prof = prof * sign[None, :]
    reached = prof >= 0.5 * prof.max(axis=0, initial=0.0)[None, :]
    return np.argmax(reached, axis=0).astype(np.float64) + 1.0
