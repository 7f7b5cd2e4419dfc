"""Where each neuron sits: its core, its slot in the core, and the hardware address that follows.

Written by the placement pass (``generators/placement.py``), stored in a compiled mesh
(``rtl/placement.npz``), and read by the mesh builder, the testbench and the host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class Placement:
    core: np.ndarray  # (N,) core of each neuron
    local: np.ndarray  # (N,) address of each neuron inside its core
    n_cores: int
    stats: dict[str, Any] = field(default_factory=dict)

    def members(self, c: int) -> np.ndarray:
        """Global indices of core ``c``'s neurons, in local-address order."""
        idx = np.flatnonzero(self.core == c)
        return idx[np.argsort(self.local[idx], kind="stable")]


def addresses(placement: Placement) -> tuple[np.ndarray, np.ndarray]:
    """Global hardware address of every neuron, and each core's first address (then N)."""
    counts = np.bincount(placement.core, minlength=placement.n_cores)
    base = np.zeros(placement.n_cores + 1, np.int64)
    np.cumsum(counts, out=base[1:])
    return base[placement.core] + placement.local, base
