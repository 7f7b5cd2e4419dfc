"""The crossbar tile store: where every synapse sits, kept sparse so that 10^8 synapses fit.

A dense store of every cell's conductance costs R x C floats a tile whatever its use; at 10^5
neurons that is tens of GB for tiles a fifth full. The store instead keeps, per tile, what its
word lines and columns carry (``row_pre``, ``row_delay``, ``col_post``, ``col_slice``, the
stored read ``patterns``) and, per synapse, its place and integer weight (``syn_tile``,
``syn_row``, ``syn_post``, ``syn_weight``). A cell's programmed conductance follows from its
weight through the device and encoding (:func:`neuropaste.devices.conductances`), so any tile's
conductances, and so its netlist, can be written on demand.

A store may instead carry the programmed state itself, a dense ``g`` (tiles x R x C): what an
imprint (conductances learned in place, not derived from weights) or a hand edit writes. Then
``g`` is the artifact and the synapse records, if any, only say what it was meant to hold.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from neuropaste.devices import Device, Encoding, conductances

#: per-tile arrays, then per-synapse records
TILE_KEYS = ("row_pre", "row_delay", "col_post", "col_slice", "patterns")
SYNAPSE_KEYS = ("syn_tile", "syn_row", "syn_post", "syn_weight")
#: per-tile integer tables written narrowed (int16/int32) and read back as int64
NARROW_KEYS = ("row_pre", "row_delay", "col_post", "col_slice")


@dataclass(frozen=True, eq=False)
class TileStore:
    row_pre: np.ndarray  # (T, R) presynaptic neuron of each row, -1 unused
    row_delay: np.ndarray  # (T, R)
    col_post: np.ndarray  # (T, pairs) postsynaptic neuron of each differential pair, -1 unused
    col_slice: np.ndarray  # (T, pairs) the weight digit each pair holds (0 least significant)
    patterns: np.ndarray  # (T, P, R) stored read patterns; pattern 0 is every used row on
    syn_tile: np.ndarray  # (S,) per synapse: its tile,
    syn_row: np.ndarray  # its row,
    syn_post: np.ndarray  # its postsynaptic neuron's slot p (pairs p * slices + s hold it),
    syn_weight: np.ndarray  # its integer weight
    w_max: int  # the weight on the top level
    g: np.ndarray | None = None  # (T, R, 2 pairs) programmed conductances when not derived

    @property
    def n_tiles(self) -> int:
        return int(self.row_pre.shape[0])

    @property
    def rows(self) -> int:
        return int(self.row_pre.shape[1])

    @property
    def slices(self) -> int:
        """Slices per weight, read from the column map (1 when the map is empty)."""
        return int(self.col_slice.max(initial=0)) + 1

    @property
    def posts(self) -> int:
        return int(self.col_post.shape[1]) // self.slices

    def weights(self, tiles: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Integer weights (t, R, posts) of the chosen tiles (0 where no synapse)."""
        idx = np.arange(self.n_tiles)[tiles]
        if self.tile_ordered and isinstance(tiles, np.ndarray):
            # a few tiles of a large store: their synapses' ranges, not a mask of them all
            at = idx.astype(self.syn_tile.dtype)  # of one type: else numpy widens every record
            lo = np.searchsorted(self.syn_tile, at, "left")
            size = np.searchsorted(self.syn_tile, at, "right") - lo
            which = np.repeat(np.arange(len(idx)), size)
            sel = np.repeat(lo - (np.cumsum(size) - size), size) + np.arange(int(size.sum()))
            back = None
        else:
            uniq, back = np.unique(idx, return_inverse=True)  # a tile asked twice: both
            if len(uniq) == len(idx) and np.array_equal(uniq, idx):
                back = None  # as asked: no copy
            idx = uniq
            pos = np.full(self.n_tiles, -1, np.int64)
            pos[idx] = np.arange(len(idx))
            sel = np.flatnonzero(pos[self.syn_tile] >= 0)
            which = pos[self.syn_tile[sel]]
        out = np.zeros((len(idx), self.rows, self.posts), np.int64)
        out[which, self.syn_row[sel], self.syn_post[sel]] = self.syn_weight[sel]
        return out if back is None else out[back.reshape(-1)]

    @functools.cached_property
    def tile_ordered(self) -> bool:
        """Whether the synapse records ascend by tile (as packing writes them)."""
        return bool(_ascending(np.asarray(self.syn_tile)))

    def conductances(self, dev: Device, enc: Encoding,
                     tiles: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Programmed conductances (t, R, 2 pairs): G+ on even columns, G- on odd ones."""
        if self.g is not None:
            return self.g[tiles]
        return self._derived(self.weights(tiles), dev, enc)

    def _derived(self, w: np.ndarray, dev: Device, enc: Encoding) -> np.ndarray:
        """Conductances (t, R, 2 pairs) of integer weights (t, R, posts) through the device."""
        if w.size == 0:
            return np.zeros((len(w), self.rows, 2 * self.col_post.shape[1]))
        gp, gn = conductances(w, self.w_max, dev, enc)
        g = np.empty((*gp.shape[:-1], 2 * gp.shape[-1]))
        g[..., 0::2], g[..., 1::2] = gp, gn
        return g

    def dense(self, dev: Device, enc: Encoding) -> dict[str, np.ndarray]:
        """The whole store as dense arrays (what small maps' readers and tests index):
        ``g``, ``weight`` (t, R, pairs: the weight each pair is a digit of) and the tile keys."""
        w = self.weights()
        g = self.g if self.g is not None else self._derived(w, dev, enc)
        return {"g": g, "weight": np.repeat(w, self.slices, axis=2),
                **{k: getattr(self, k) for k in TILE_KEYS}}

    def arrays(self) -> dict[str, np.ndarray]:
        """What tiles.npz holds: the per-tile tables in the narrowest integer type that holds
        them (they are most of the file at 10^5 tiles; :func:`load_store` widens them back)."""
        out = {k: getattr(self, k) for k in (*TILE_KEYS, *SYNAPSE_KEYS)}
        for k in NARROW_KEYS:
            out[k] = _narrow(out[k])
        out["w_max"] = np.array(self.w_max, np.int64)
        if self.g is not None:
            out["g"] = self.g
        return out


@numba.njit(cache=True)
def _ascending(a: np.ndarray) -> bool:
    for i in range(1, len(a)):
        if a[i] < a[i - 1]:
            return False
    return True


def _narrow(a: np.ndarray) -> np.ndarray:
    """``a`` as int16 or int32 when its values fit (-1 marks an unused slot)."""
    a = np.asarray(a)
    for t in (np.int16, np.int32):
        if a.size == 0 or (a.min() >= np.iinfo(t).min and a.max() <= np.iinfo(t).max):
            return a.astype(t, copy=False)
    return a


def load_store(path: str | Path) -> TileStore:
    """tiles.npz back as a store; a dense file (``g`` and ``weight`` only, as older compiles and
    hand edits write) becomes a store whose ``g`` is the programmed state."""
    with np.load(path, allow_pickle=False) as data:
        z = {k: data[k] for k in data.files}
    if "col_slice" not in z and "col_post" in z:
        z["col_slice"] = np.zeros_like(z["col_post"])
    if "syn_tile" not in z:  # dense: recover the synapse records from the weight array
        w = z["weight"]
        slices = int(z["col_slice"].max(initial=0)) + 1
        t, r, p = np.nonzero(w[..., ::slices])
        z.update(syn_tile=t, syn_row=r, syn_post=p, syn_weight=w[..., ::slices][t, r, p],
                 w_max=np.array(int(np.abs(w).max(initial=1)) or 1))
    for k in NARROW_KEYS:
        if np.issubdtype(z[k].dtype, np.integer):
            z[k] = z[k].astype(np.int64)
    return TileStore(**{k: z[k] for k in (*TILE_KEYS, *SYNAPSE_KEYS)},
                     w_max=int(np.ravel(z["w_max"])[0]), g=z.get("g"))
