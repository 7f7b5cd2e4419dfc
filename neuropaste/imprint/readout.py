"""Reading the imprinted crossbar: conductances -> signed weights -> connections.

Each cell (i, j) holds the causal coincidences of its pair: how often j fired within the window
after i, weighted by the pulse kernel and bent by the device's update curve (the imprint only
SETs; ``neuropaste.plasticity``). By chance alone that count is proportional to both rates, so
the expected conductance of a pair is read off its row and its column: ``E0_ij = R_i C_j / M``
with R and C the row and column medians and M the median of all cells (most pairs of a culture
are not connected). An excitatory connection sits above that, an inhibitory one below.

**Signed weights: a reference per cell.** ``weight = (value - E0) x m / sqrt(n_i n_j)`` with
value the normalised conductance (``(G - g_min) / ΔG``), n_i and n_j the spike counts of the
pair's row and column drivers and m their median: the excess coincidences, normalised by the
rates as a normalised cross-correlation is, in units of ΔG at the median rate; then its signed
square root, since a neuron's extra spikes grow faster than linearly with the PSP that causes
them (the square root lifted Pearson r against the true PSP from 0.75 to 0.82 on the culture
bench, docs/imprint.md). The tile store
keeps, next to every imprinted cell (even column), its
reference conductance E0 (odd column), the layout of the differential pairs of
``spice/tiles.npz``, so a reader subtracts two cells as it would for a downloaded weight.

**Which cells are connections.** The residual ``(value - E0) / sqrt(E0)`` (count-like noise) is
put on a per-column empirical null (median and MAD over the rows, the MAD floored at the typical
column's, as ``copy`` does). With too few rows (a handful of neurons) the null is a set of
surrogate imprints of the same trains, each neuron's train circularly shifted by its own random
offset, which keeps every rate and destroys every timing relation. Either gives a z per pair;
two-sided normal p-values and Benjamini-Hochberg per sign at ``fdr`` pick the connections.

**Compensation** (``rescale``, a read-verify-rescale): before the imprint each cell's bounds are
read after a full SET and a full RESET, and its rate after a few calibration pulses; after it,
each state is divided back through that cell's own bounds and rate and the device's known SET
curve is inverted, so a nonlinear, varied cell reads as the net exposure a linear ideal cell
would have stored.

**Latency** (for delays): the excess of exposure-weighted lag over the column's median, i.e.
the mean lag of the coincidences a connection added beyond chance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from neuropaste.copy.fdr import bh_qvalues
from neuropaste.plasticity import DeviceModel, drift

COMPENSATIONS = ("none", "rescale")


@dataclass(frozen=True)
class Readout:
    g: np.ndarray  # (n k, n k) S: imprinted cells (k drivers per neuron), read at the read age
    g_ref: np.ndarray  # (n k, n k) S: each cell's reference (chance) conductance
    value: np.ndarray  # (n, n) what the null is taken on (normalised G, or exposure)
    weight: np.ndarray  # (n, n) signed: value minus its chance level
    z: np.ndarray
    q: np.ndarray
    chosen: np.ndarray  # bool
    sign: np.ndarray  # int8
    latency_s: np.ndarray  # NaN where there is no excess
    null: str


def group(a: np.ndarray, k: int) -> np.ndarray:
    """Sum each neuron pair's k x k cells (rows i k .. i k + k - 1, the same for columns): the
    multi-cell synapse's read (Boybat et al. 2018). ``k = 1`` returns ``a``."""
    if k == 1:
        return a
    n = a.shape[0] // k
    return a.reshape(n, k, n, k).sum(axis=(1, 3))


def conductances(x: np.ndarray, g_lo: np.ndarray, g_hi: np.ndarray, model: DeviceModel,
                 age_s: float) -> np.ndarray:
    """Normalised states -> siemens through each cell's own bounds, drifted to the read age."""
    return drift(g_lo + x * (g_hi - g_lo), model, age_s)


def compensated(x: np.ndarray, model: DeviceModel, rate_est: np.ndarray | None) -> np.ndarray:
    """Net exposure a cell's state stands for (rescale compensation): the inverse SET curve."""
    xp, cp, _, _ = model.targets()
    u = x if cp == 0.0 else -np.log(np.clip(1.0 - x / xp, 1e-9, None)) / cp
    return u / rate_est if rate_est is not None else u


def chance(value: np.ndarray) -> np.ndarray:
    """E0_ij = R_i C_j / M: the rate-only expectation from row and column medians."""
    v = value.astype(np.float64).copy()
    np.fill_diagonal(v, np.nan)
    r, c, m = np.nanmedian(v, axis=1), np.nanmedian(v, axis=0), np.nanmedian(v)
    return np.outer(r, c) / m if m > 0 else np.zeros_like(v)


def empirical(resid: np.ndarray) -> np.ndarray:
    """Per-column (median, MAD) null of the residuals -> z."""
    v = resid.astype(np.float64).copy()
    np.fill_diagonal(v, np.nan)
    med = np.nanmedian(v, axis=0)
    mad = 1.4826 * np.nanmedian(np.abs(v - med), axis=0)
    mad = np.where(mad > 1e-12, mad, np.nan)
    floor = np.nanmedian(mad) if np.isfinite(mad).any() else 1.0
    mad = np.maximum(np.nan_to_num(mad, nan=floor), floor)
    return np.nan_to_num((v - med) / mad)


def select(z: np.ndarray, fdr: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BH per sign over the off-diagonal pairs: (chosen, sign, q)."""
    n = z.shape[0]
    off = ~np.eye(n, dtype=bool)
    p_up, p_down = ndtr(-z), ndtr(z)
    sign = np.where(z >= 0, 1, -1).astype(np.int8)
    q = np.ones((n, n))
    for s, ps in ((1, p_up), (-1, p_down)):
        qs = np.ones((n, n))
        qs[off] = bh_qvalues(np.minimum(1.0, 2.0 * ps[off]))
        q = np.where(sign == s, qs, q)
    return (q <= fdr) & off, sign, q


def latency(lag_sum: np.ndarray, e_sum: np.ndarray) -> np.ndarray:
    """Mean lag of the exposure a pair got beyond its column's median (s), NaN without excess."""
    n = lag_sum.shape[0]
    off = ~np.eye(n, dtype=bool)
    ls = np.where(off, lag_sum, np.nan)
    es = np.where(off, e_sum, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        dl = lag_sum - np.nanmedian(ls, axis=0)
        de = e_sum - np.nanmedian(es, axis=0)
        lat = np.where(de > 1e-12, dl / de, np.nan)
        mean = np.where(e_sum > 0, lag_sum / np.maximum(e_sum, 1e-300), np.nan)
    return np.where(np.isfinite(lat) & (lat > 0), lat, mean)


def value_of(x: np.ndarray, g: np.ndarray, model: DeviceModel, compensation: str,
             rate_est: np.ndarray | None) -> np.ndarray:
    if compensation == "rescale":
        return compensated(x, model, rate_est)
    return (g - model.g_min) / model.dg  # what an uncalibrated reader sees


def read(x: np.ndarray, g_lo: np.ndarray, g_hi: np.ndarray, model: DeviceModel, age_s: float,
         compensation: str, rate_est: np.ndarray | None, lag_sum: np.ndarray,
         e_sum: np.ndarray, fdr: float, min_pairs: int,
         surrogate: list[np.ndarray] | None = None,
         counts: np.ndarray | None = None, mirror: bool = False, drivers: int = 1
         ) -> Readout:
    """``x``, ``g_lo``, ``g_hi``, ``rate_est``, ``lag_sum``, ``e_sum``: per cell (n k lines
    square with ``drivers`` k); the value, null and weights: per neuron pair, each the sum of
    its k x k cells (:func:`group`); ``surrogate``: grouped values."""
    g = conductances(x, g_lo, g_hi, model, age_s)
    value = group(value_of(x, g, model, compensation, rate_est), drivers)
    lag_sum, e_sum = group(lag_sum, drivers), group(e_sum, drivers)
    n = value.shape[0]
    if n - 1 >= min_pairs:
        e0 = chance(value)
        z = empirical((value - e0) / np.sqrt(np.maximum(e0, 1e-12)))
        null = "empirical: chance level from row and column medians, per-column MAD"
        if mirror:  # the transposed cell holds the anti-causal count: shared drive is symmetric
            both = np.maximum(value + value.T, 1e-12)
            z2 = empirical((value - value.T) / np.sqrt(both))
            z = np.where((z > 0) & (z2 > 0), np.minimum(z, z2),
                         np.where((z < 0) & (z2 < 0), np.maximum(z, z2), 0.0))
            null += "; and the mirror cell (intersection-union)"
    else:
        stack = np.stack(surrogate or [value])
        e0 = stack.mean(axis=0)
        spread = np.maximum(stack.std(axis=0, ddof=1) if len(stack) > 1 else
                            np.ones_like(value), 1e-12)
        z = (value - e0) / spread
        null = f"surrogate ({len(stack)} circularly shifted imprints)"
    weight = value - e0
    if counts is not None:  # rate-normalised (module doc)
        c = np.maximum(np.asarray(counts, np.float64), 1.0)
        weight = weight * float(np.median(c)) / np.sqrt(np.outer(c, c))
    weight = np.sign(weight) * np.sqrt(np.abs(weight))
    np.fill_diagonal(weight, 0.0)
    np.fill_diagonal(z, 0.0)
    chosen, sign, q = select(z, fdr)
    # each cell's share of its group's chance level
    e0_cell = np.kron(e0, np.ones((drivers, drivers))) / drivers**2 if drivers > 1 else e0
    if compensation == "rescale":  # the reference conductance of the chance exposure
        xp, cp, _, _ = model.targets()
        e = e0_cell * (rate_est if rate_est is not None else 1.0)
        xr = np.clip(e if cp == 0.0 else xp * (1.0 - np.exp(-cp * e)), 0.0, 1.0)
        g_ref = conductances(xr, g_lo, g_hi, model, age_s)
    else:
        g_ref = model.g_min + e0_cell * model.dg
    return Readout(g, g_ref, value, weight, z, q, chosen, sign, latency(lag_sum, e_sum), null)


def read_differential(x: np.ndarray, x_minus: np.ndarray, g_lo: np.ndarray, g_hi: np.ndarray,
                      lo_minus: np.ndarray, hi_minus: np.ndarray, model: DeviceModel,
                      age_s: float, compensation: str, rate_est: np.ndarray | None,
                      rate_est_minus: np.ndarray | None, lag_sum: np.ndarray,
                      e_sum: np.ndarray, fdr: float, counts: np.ndarray,
                      bin_s: float) -> Readout:
    """The differential vm imprint (``vm.run_differential``): G+ - G- of each pair, per spike
    of its row, minus the row's median over its columns (the response every neuron shares with
    i's spikes: the row's reference), on a per-column empirical null. Weights are that excess
    at the median row's spike count, in units of the range (linear in the PSP's step)."""
    g = conductances(x, g_lo, g_hi, model, age_s)
    gm = conductances(x_minus, lo_minus, hi_minus, model, age_s)
    diff = (value_of(x, g, model, compensation, rate_est)
            - value_of(x_minus, gm, model, compensation, rate_est_minus))
    n = x.shape[0]
    off = ~np.eye(n, dtype=bool)
    c = np.maximum(np.asarray(counts, np.float64), 1.0)
    per = diff / c[:, None]
    ref = np.nanmedian(np.where(off, per, np.nan), axis=1)
    excess = np.where(off, per - ref[:, None], 0.0)
    z = empirical(excess)
    np.fill_diagonal(z, 0.0)
    chosen, sign, q = select(z, fdr)
    # latency: lag centroid of the pair's difference beyond its row's reference
    lag_ref = np.nanmedian(np.where(off, lag_sum / c[:, None], np.nan), axis=1)
    e_ref = np.nanmedian(np.where(off, e_sum / c[:, None], np.nan), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        lat = (lag_sum / c[:, None] - lag_ref[:, None]) / (e_sum / c[:, None] - e_ref[:, None])
    lat = np.where(np.isfinite(lat) & (lat > 0), lat * bin_s, np.nan)
    return Readout(g, gm, diff, excess * float(np.median(c)), z, q, chosen, sign, lat,
                   "empirical: per-spike difference minus the row's median, per-column MAD")


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return None
    r = float(np.corrcoef(a[ok], b[ok])[0, 1])
    return r if math.isfinite(r) else None


def tile_store(g_plus: np.ndarray, g_minus: np.ndarray, rows: int = 64, posts: int = 64,
               drivers: int = 1) -> dict[str, np.ndarray]:
    """The pair of conductance matrices (one line per driver: n k square) in the compiled
    directory's tile layout (``spice/tiles.npz``: even column G+, odd column G-; padding cells
    at g = 0 with row_pre and col_post -1). ``row_pre`` and ``col_post`` name the neuron of a
    line, ``row_driver`` and ``col_driver`` which of its ``drivers`` it is."""
    m = g_plus.shape[0]
    tr, tc = -(-m // rows), -(-m // posts)
    g = np.zeros((tr * tc, rows, 2 * posts))
    row_line = np.full((tr * tc, rows), -1, np.int64)
    col_line = np.full((tr * tc, posts), -1, np.int64)
    for a in range(tr):
        for b in range(tc):
            t = a * tc + b
            r0, c0 = a * rows, b * posts
            r1, c1 = min(r0 + rows, m), min(c0 + posts, m)
            g[t, : r1 - r0, 0: 2 * (c1 - c0): 2] = g_plus[r0:r1, c0:c1]
            g[t, : r1 - r0, 1: 2 * (c1 - c0): 2] = g_minus[r0:r1, c0:c1]
            row_line[t, : r1 - r0] = np.arange(r0, r1)
            col_line[t, : c1 - c0] = np.arange(c0, c1)
    row_pre = np.where(row_line >= 0, row_line // drivers, -1)
    col_post = np.where(col_line >= 0, col_line // drivers, -1)
    return {"g": g, "row_pre": row_pre, "row_delay": np.where(row_pre >= 0, 1, 0),
            "col_post": col_post, "col_slice": np.zeros_like(col_post),
            "row_driver": np.where(row_line >= 0, row_line % drivers, -1),
            "col_driver": np.where(col_line >= 0, col_line % drivers, -1)}


def from_tiles(tiles: dict[str, np.ndarray], n: int, drivers: int = 1
               ) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`tile_store`: (G+, G-) as n k square matrices, one line a driver."""
    m = n * drivers
    gp, gm = np.zeros((m, m)), np.zeros((m, m))
    for t in range(len(tiles["g"])):
        rp, cp = tiles["row_pre"][t], tiles["col_post"][t]
        r, c = np.nonzero(rp >= 0)[0], np.nonzero(cp >= 0)[0]
        rl, cl = rp[r] * drivers, cp[c] * drivers
        if drivers > 1:
            rl, cl = rl + tiles["row_driver"][t][r], cl + tiles["col_driver"][t][c]
        gp[np.ix_(rl, cl)] = tiles["g"][t][np.ix_(r, 2 * c)]
        gm[np.ix_(rl, cl)] = tiles["g"][t][np.ix_(r, 2 * c + 1)]
    return gp, gm
