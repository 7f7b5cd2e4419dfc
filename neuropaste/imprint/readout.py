"""Reading the imprinted crossbar: conductances -> signed weights -> connections.

**Signed weights: the reference scheme.** A cell's conductance alone is not a sign. An
uncorrelated pair sees as many causal as anti-causal coincidences and stays near its start, so
each postsynaptic column gets one reference cell programmed to the column's median conductance
(most pairs of a culture are not connected), and a weight is ``(G - G_ref) / ΔG``: positive for
a pair the causal order potentiated (excitation), negative for one the post neuron avoided
firing after (inhibition). In the tile store that reference cell is the odd column of a
differential pair (``spice/tiles.npz`` layout: even column G+, odd column G-). PCM is a true
differential pair (its second cell learns the anti-causal side) and stores G+ and G-.

**Which cells are connections.** With at least ``min_null_pairs`` rows, each column's weights
are put on an empirical null (median and MAD over its rows, the MAD floored at the typical
column's, as ``copy`` does); with fewer (a handful of neurons), the null is a set of surrogate
imprints of the same trains, each neuron's train circularly shifted by its own random offset,
which keeps every rate and destroys every timing relation. Either gives a z per pair; two-sided
normal p-values and Benjamini-Hochberg per sign at ``fdr`` pick the connections.

**Compensation** (``rescale``, a read-verify-rescale): before the imprint each cell's bounds
are read after a full SET and a full RESET, and its rate after a few calibration pulses; after
it, each state is divided back through that cell's own bounds and rate, and the device's known
potentiation curve is inverted, so a nonlinear cell reads as net exposure (pulse-equivalents),
which a linear cell would have stored directly.

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
    g: np.ndarray  # (n, n) S: imprinted cell (pcm: G+), read at the read age
    g_minus: np.ndarray  # (n, n) S: the reference cell of the column (pcm: G-)
    value: np.ndarray  # (n, n) what the null is taken on (state, or compensated state)
    weight: np.ndarray  # (n, n) signed, centred on the null
    z: np.ndarray
    q: np.ndarray
    chosen: np.ndarray  # bool
    sign: np.ndarray  # int8
    latency_s: np.ndarray  # NaN where there is no excess
    null: str


def conductances(x: np.ndarray, x_minus: np.ndarray | None, g_lo: np.ndarray,
                 g_hi: np.ndarray, model: DeviceModel, age_s: float
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """Normalised states -> siemens through each cell's own bounds, drifted to the read age."""
    g = drift(g_lo + x * (g_hi - g_lo), model, age_s)
    gm = None if x_minus is None else drift(g_lo + x_minus * (g_hi - g_lo), model, age_s)
    return g, gm


def compensated(x: np.ndarray, x_minus: np.ndarray | None, model: DeviceModel, x0: float,
                rate_est: np.ndarray | None) -> np.ndarray:
    """Net exposure a cell's state stands for (rescale compensation)."""
    xp, cp, _, _ = model.targets()

    def inv(s):
        if cp == 0.0:
            return s - x0
        return -np.log(np.clip((xp - s) / (xp - x0), 1e-9, None)) / cp

    u = inv(x) if x_minus is None else inv(x) - inv(x_minus)
    return u / rate_est if rate_est is not None else u


def empirical(value: np.ndarray, min_pairs: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-column (centre, spread) over the rows, or None when too few rows."""
    n = value.shape[0]
    if n - 1 < min_pairs:
        return None
    v = value.astype(np.float64).copy()
    np.fill_diagonal(v, np.nan)
    med = np.nanmedian(v, axis=0)
    mad = 1.4826 * np.nanmedian(np.abs(v - med), axis=0)
    mad = np.where(mad > 1e-12, mad, np.nan)
    floor = np.nanmedian(mad) if np.isfinite(mad).any() else 1.0
    mad = np.maximum(np.nan_to_num(mad, nan=floor), floor)
    return np.broadcast_to(med, v.shape), np.broadcast_to(mad, v.shape)


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


def read(x: np.ndarray, x_minus: np.ndarray | None, g_lo: np.ndarray, g_hi: np.ndarray,
         model: DeviceModel, x0: float, age_s: float, compensation: str,
         rate_est: np.ndarray | None, lag_sum: np.ndarray, e_sum: np.ndarray, fdr: float,
         min_pairs: int, surrogate: list[np.ndarray] | None = None) -> Readout:
    g, gm = conductances(x, x_minus, g_lo, g_hi, model, age_s)
    if compensation == "rescale":
        value = compensated(x, x_minus, model, x0, rate_est)
    else:  # what an uncalibrated reader sees: conductance over the nominal range
        value = (g - model.g_min) / model.dg
        if gm is not None:
            value = value - (gm - model.g_min) / model.dg
    emp = empirical(value, min_pairs)
    if emp is not None:
        centre, spread = emp
        null = "empirical (per-column median and MAD)"
    else:
        stack = np.stack(surrogate or [value])
        centre = stack.mean(axis=0)
        spread = np.maximum(stack.std(axis=0, ddof=1) if len(stack) > 1 else
                            np.ones_like(value), 1e-12)
        null = f"surrogate ({len(stack)} circularly shifted imprints)"
    weight = value - centre
    np.fill_diagonal(weight, 0.0)
    z = weight / spread
    np.fill_diagonal(z, 0.0)
    chosen, sign, q = select(z, fdr)
    if gm is None:  # the column's reference cell, programmed to its median conductance
        gg = g.copy()
        np.fill_diagonal(gg, np.nan)
        gm = np.broadcast_to(np.nanmedian(gg, axis=0), g.shape).copy()
    return Readout(g, gm, value, weight, z, q, chosen, sign, latency(lag_sum, e_sum), null)


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return None
    r = float(np.corrcoef(a[ok], b[ok])[0, 1])
    return r if math.isfinite(r) else None


def tile_store(g_plus: np.ndarray, g_minus: np.ndarray, rows: int = 64, posts: int = 64
               ) -> dict[str, np.ndarray]:
    """The N x N pair of conductance matrices in the compiled directory's tile layout
    (``spice/tiles.npz``: even column G+, odd column G-; padding cells at g = 0 with row_pre and
    col_post -1)."""
    n = g_plus.shape[0]
    tr, tc = -(-n // rows), -(-n // posts)
    g = np.zeros((tr * tc, rows, 2 * posts))
    row_pre = np.full((tr * tc, rows), -1, np.int64)
    col_post = np.full((tr * tc, posts), -1, np.int64)
    for a in range(tr):
        for b in range(tc):
            t = a * tc + b
            r0, c0 = a * rows, b * posts
            r1, c1 = min(r0 + rows, n), min(c0 + posts, n)
            g[t, : r1 - r0, 0: 2 * (c1 - c0): 2] = g_plus[r0:r1, c0:c1]
            g[t, : r1 - r0, 1: 2 * (c1 - c0): 2] = g_minus[r0:r1, c0:c1]
            row_pre[t, : r1 - r0] = np.arange(r0, r1)
            col_post[t, : c1 - c0] = np.arange(c0, c1)
    return {"g": g, "row_pre": row_pre, "row_delay": np.where(row_pre >= 0, 1, 0),
            "col_post": col_post, "col_slice": np.zeros_like(col_post)}


def from_tiles(tiles: dict[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`tile_store`: (G+, G-) as N x N matrices."""
    gp, gm = np.zeros((n, n)), np.zeros((n, n))
    for t in range(len(tiles["g"])):
        rp, cp = tiles["row_pre"][t], tiles["col_post"][t]
        r, c = np.nonzero(rp >= 0)[0], np.nonzero(cp >= 0)[0]
        gp[np.ix_(rp[r], cp[c])] = tiles["g"][t][np.ix_(r, 2 * c)]
        gm[np.ix_(rp[r], cp[c])] = tiles["g"][t][np.ix_(r, 2 * c + 1)]
    return gp, gm
