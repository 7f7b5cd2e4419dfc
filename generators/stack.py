"""The TSV stack a map's tiles are assigned to: memory dies on a neuron logic die.

Defaults follow DESIGN.md: TSVs of 5 um diameter, 50 um tall, 10 um pitch; a 1T1R cell pitch of
100 nm (the access transistor, not the memory element, sets it); 10 x 10 mm dies. Tiles are
balanced over the memory dies within ``balance`` (so no die is the thermal or yield outlier)
unless a die's physical capacity is smaller.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from neuropaste.generators.dies import TileFootprint, assign_dies
from neuropaste.netlists.tsv import TSVGeometry, elmore_delay, parasitics

from neuropaste.errors import InputError


@dataclass(frozen=True)
class StackSpec:
    memory_dies: int = 2
    layers: int = 1  # monolithic memory layers per die
    die_mm: float = 10.0
    cell_pitch_nm: float = 100.0
    tsv: TSVGeometry = field(default_factory=TSVGeometry)
    tsv_budget: int | None = None  # TSVs through one die interface; None: what the area allows
    balance: float = 0.05
    r_driver: float = 1000.0  # ohm, the logic die's word-line driver
    c_load: float = 10e-15  # F, one word-line input on a memory die

    def tiles_per_die(self, rows: int, cols: int) -> int:
        tile_area = rows * cols * (self.cell_pitch_nm * 1e-9) ** 2
        return self.layers * int((self.die_mm * 1e-3) ** 2 // tile_area)

    def area_tsv_budget(self) -> int:
        """TSVs that fit a die at the TSV pitch, if a quarter of the die may hold them."""
        return int(0.25 * (self.die_mm * 1e-3) ** 2 / self.tsv.pitch**2)


def stack_tiles(row_pre: np.ndarray, col_post: np.ndarray, n_neurons: int, spec: StackSpec,
                rates: np.ndarray | None = None) -> dict[str, Any]:
    """Assign tiles (rows by presynaptic neuron, columns by target) to the memory dies."""
    if spec.memory_dies < 1:
        raise InputError(None, "--memory-dies must be at least 1")
    n_tiles = len(row_pre)
    rows, cols = row_pre.shape[1], 2 * col_post.shape[1]
    physical = spec.tiles_per_die(rows, cols)
    balanced = math.ceil(n_tiles / spec.memory_dies * (1 + spec.balance))
    per_die = min(physical, balanced)
    if n_tiles > spec.memory_dies * physical:
        raise InputError(None, f"{n_tiles} tiles of {rows}x{cols} need more than "
                         f"{spec.memory_dies} dies of {physical} tiles ({spec.die_mm:g} mm, "
                         f"{spec.layers} layer(s)): add memory dies or layers")
    tiles = [TileFootprint(rows=r[r >= 0], cols=c[c >= 0], cells=0)
             for r, c in zip(row_pre, col_post, strict=True)]
    budget = spec.tsv_budget if spec.tsv_budget is not None else spec.area_tsv_budget()
    result = assign_dies(tiles, n_neurons, spec.memory_dies, per_die, tsv_budget=budget,
                         rates=rates, columns_per_target=2)
    tsv = parasitics(spec.tsv)
    top = spec.memory_dies
    return {
        "spec": {**asdict(spec), "tsv": asdict(spec.tsv)},
        "die_of_tile": result.die.tolist(),
        "tiles_per_die_capacity": per_die,
        "tsv_budget_per_interface": budget,
        "tsv_parasitics": asdict(tsv),
        "word_line_elmore_s_top_die": elmore_delay(tsv, top, spec.r_driver, spec.c_load),
        **result.stats,
    }
