"""p-values from z-scores and the Benjamini-Hochberg step-up procedure."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr


def two_sided_p(z: np.ndarray) -> np.ndarray:
    return 2.0 * ndtr(-np.abs(z))


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) of a flat array of p-values."""
    p = np.asarray(p, np.float64).ravel()
    m = len(p)
    if not m:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out
