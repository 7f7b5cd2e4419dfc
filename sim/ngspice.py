"""ngspice through PySpice's shared-library interface: one tile, one operating point each.

ngspice is loaded once per process (PySpice's ``NgSpiceShared`` is a singleton), so parallel
runs use processes, never threads.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from neuropaste.netlists.tile import Electrical, tile_circuit


def column_currents(g: np.ndarray, active: np.ndarray, el: Electrical,
                    cells_per_weight: int = 1) -> np.ndarray:
    """Operating-point current of every sense source ``VS{j}`` (A, into the sense node)."""
    logging.getLogger("PySpice").setLevel(logging.ERROR)
    circuit = tile_circuit(g, active, el, "tile", cells_per_weight)
    analysis = circuit.simulator(simulator="ngspice-shared").operating_point()
    return np.array([float(analysis.branches[f"vs{j}"][0]) for j in range(g.shape[1])])


def run_tile(g: np.ndarray, patterns: np.ndarray, el: Electrical,
             cells_per_weight: int = 1) -> tuple[np.ndarray, float]:
    """All patterns of one tile: (patterns x columns currents, seconds in ngspice)."""
    t0 = time.perf_counter()
    out = np.stack([column_currents(g, p, el, cells_per_weight) for p in patterns])
    return out, time.perf_counter() - t0
