"""Crossbar backend: the Network IR's synapses as conductances in 1T1R tiles, and their netlists.

Rows are (presynaptic neuron, delay) pairs: the word line of row (i, d) is pulsed at step
t + d for a spike of i at step t, so one tile row carries one delay. Columns are postsynaptic
neurons as **differential pairs** (G+ on the even column, G- on the odd one, I = I+ - I-):
a signed weight w is |w| quantized to the device's levels on one side, the other side held at
G_min. The pair costs twice the columns of a single-ended column plus one shared reference
column, but cancels G_min, wire and transistor offsets to first order per pair and needs no
per-tile calibration; docs/crossbar.md shows the trade-off.

Tiles are packed column block by column block: a block of C/2 postsynaptic neurons gets only
the rows with a synapse in it, R per tile. Neurons are ordered by a METIS partition into
N / (C/2) parts (pymetis), by reverse Cuthill-McKee (scipy), or kept in input order, whichever
needs fewest tiles: the first two put neurons that share inputs in the same column block.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import reverse_cuthill_mckee

from neuropaste.compiled import SPICE, TILES, TILES_INFO, tile_netlist
from neuropaste.devices import (
    Device,
    Electrical,
    Encoding,
    default_encoding,
    digits_of,
    load_device,
    weight_levels,
    weight_per_level,
)
from neuropaste.errors import InputError
from neuropaste.generators.backends import Backend
from neuropaste.generators.die_partition import assign_logic_dies, stack_tiles
from neuropaste.generators.stack_spec import StackSpec, load_stack
from neuropaste.ir import Network, write_npz
from neuropaste.netlists.stack_netlist import emit_stack as write_stack_netlists
from neuropaste.netlists.tile import netlist_text
from neuropaste.netlists.tsv import parasitics
from neuropaste.outputs import substage
from neuropaste.reference import ReferenceRun
from neuropaste.tiles import SYNAPSE_KEYS, TileStore


@dataclass(frozen=True)
class CrossbarOptions:
    tile_rows: int = 64
    tile_cols: int = 64  # physical columns: tile_cols / 2 postsynaptic neurons
    device: Device = field(default_factory=lambda: load_device("rram"))
    electrical: Electrical = field(default_factory=Electrical)
    patterns: int = 4  # stored input spike patterns per tile
    active_fraction: float = 0.5  # share of rows on in a random pattern
    seed: int = 0
    reorder: bool = True
    compact_rows: bool = True  # a column block's tiles hold only its rows with synapses
    stack: StackSpec | None = None  # assign the tiles to this TSV stack's memory dies
    encoding: Encoding = field(default_factory=Encoding)  # one pair; the CLI: the preset's
    programming: str = "in-array"  # how verify reads a cell while programming: PROGRAMMING
    netlists: str = "auto"  # which tiles get a netlist file: NETLISTS

    @property
    def posts(self) -> int:
        """Postsynaptic neurons per tile: a pair of columns per slice of each."""
        posts = self.tile_cols // (2 * self.enc.slices)
        if posts < 1:
            raise InputError(None, f"a tile of {self.tile_cols} columns cannot hold one weight of "
                             f"{self.enc.slices} slices (2 columns each): use a wider tile or "
                             "fewer --slices")
        return posts

    @property
    def enc(self) -> Encoding:
        return self.encoding.check(self.device)


#: which tiles' netlists compile writes (the store can write any other on demand)
NETLISTS = ("auto", "all", "sample")
AUTO_ALL_TILES = 512  # ``auto`` writes every netlist up to this many tiles, else a sample
SAMPLE_TILES = 64

#: program-and-verify modes (docs/fidelity.md "Programming"): what the verify read sees
PROGRAMMING = {
    "cell": "verify reads the cell alone: the stored conductance hits the target",
    "predistort": "targets pre-distorted for the access transistor, G' = 1/(1/G - R_on)",
    "in-array": "verify reads the cell through the array with its row alone on: each cell's "
                "single-row current hits the target (static wire IR drop and transistor "
                "compensated)",
}


def options_from_cli(tile: int | None = None, device: str | None = None,
                     memory_dies: int | None = None, stack: str | None = None,
                     slices: int | None = None, digit_levels: int | None = None,
                     programming: str | None = None, netlists: str = "auto"
                     ) -> CrossbarOptions:
    """The compile command's options. ``--memory-dies K`` overrides the die count of
    ``--stack FILE`` (else of the defaults); without ``--slices``/``--digit-levels`` a preset
    device gets its preset's encoding (bit slicing, docs/fidelity.md)."""
    opts = CrossbarOptions()
    spec = load_stack(stack) if stack is not None else None
    if memory_dies:
        spec = replace(spec or StackSpec(), memory_dies=memory_dies)
    if spec is not None:
        opts = replace(opts, stack=spec)
    if tile is not None:
        if not 8 <= tile <= 256 or tile % 2:
            raise InputError(None, f"--tile must be an even size in 8..256, got {tile}")
        opts = replace(opts, tile_rows=tile, tile_cols=tile)
    if device is not None:
        opts = replace(opts, device=load_device(device))
    if slices is not None or digit_levels is not None:
        enc = Encoding(slices or 1, digit_levels or 0)
    else:  # the preset's encoding (devices.py), one pair per weight for a device file
        enc = default_encoding(opts.device)
    opts = replace(opts, encoding=enc.check(opts.device))
    if programming is not None:
        if programming not in PROGRAMMING:
            raise InputError(None, f"--programming {programming!r}: choose one of "
                             f"{', '.join(PROGRAMMING)}")
        opts = replace(opts, programming=programming)
    if netlists not in NETLISTS:
        raise InputError(None, f"--netlists {netlists!r}: choose one of {', '.join(NETLISTS)}")
    opts = replace(opts, netlists=netlists)
    _ = opts.posts  # a tile too narrow for the encoding is refused here, before any work
    return opts


def _metis_order(sym: sp.csr_matrix, parts: int, seed: int) -> np.ndarray:
    """Neurons grouped by a METIS partition into ``parts`` balanced parts (fewest cut
    synapses), so a column block tends to be one part and shares its presynaptic rows."""
    import pymetis

    sym = sym.copy()
    sym.setdiag(0)
    sym.eliminate_zeros()
    adjacency = pymetis.CSRAdjacency(sym.indptr.astype(np.int64), sym.indices.astype(np.int64))
    result = pymetis.part_graph(parts, adjacency, options=pymetis.Options(seed=int(seed)))
    return np.argsort(np.asarray(result[1]), kind="stable")


#: the reorderings see at most this many synapses, a seeded sample of a larger map: METIS on
#: the 3 x 10^7 synapses of the scale-0.1 microcircuit ran for minutes, and a sample keeps
#: what they look for (who shares inputs with whom); every order is still scored on them all
REORDER_SYNAPSES = 2_000_000
#: METIS makes at most this many parts (each then kept in input order): with a part per
#: column block of a large map (10^4 parts) its initial partition alone took minutes, and a
#: block inside a part of similar neurons shares their inputs just the same
METIS_PARTS = 256


def _slots(net: Network, opts: CrossbarOptions, build: bool = True) -> tuple[str, Slots]:
    """The packing with the fewest tiles among the candidate neuron orders (its tile count
    alone without ``build``)."""
    n = net.n_neurons
    orders = {"none": np.arange(n)}
    if opts.reorder and net.n_synapses:
        with substage("symmetric pattern"):
            pre, post = net.pre, net.post
            if net.n_synapses > REORDER_SYNAPSES:
                pick = np.random.default_rng(opts.seed).choice(net.n_synapses,
                                                               REORDER_SYNAPSES, replace=False)
                pre, post = pre[pick], post[pick]
            pattern = sp.csr_matrix((np.ones(len(pre)), (pre, post)), shape=(n, n))
            sym = (pattern + pattern.T).tocsr()
        with substage("reverse Cuthill-McKee"):
            orders["reverse Cuthill-McKee"] = reverse_cuthill_mckee(sym, symmetric_mode=True)
        parts = min(-(-n // opts.posts), METIS_PARTS)
        if parts >= 2:
            with substage("METIS"):
                name = "METIS parts of C/2 neurons" if parts < METIS_PARTS else \
                    f"METIS parts of ~{-(-n // parts)} neurons"
                orders[name] = _metis_order(sym, parts, opts.seed)
    # candidates scored by their tile count alone; only the best is packed (a packing is 12
    # bytes a synapse: GBs at 10^8)
    tiles = {}
    for name, order in orders.items():
        with substage(f"tiles in {name} order"):
            tiles[name] = tiles_in_order(net, opts, order)
    best = min(tiles, key=tiles.__getitem__)  # the first of equals
    with substage(f"slots in {best} order"):
        return best, slots_in_order(net, opts, orders[best], build, tiles[best])


#: synapses gathered at a time for placement (10 bytes each): the placement walks the
#: synapses once per group of column blocks instead of holding synapse-sized keys
GATHER = 1 << 25


@numba.njit(cache=True)
def _row_flags(pre: np.ndarray, delay: np.ndarray, rank: np.ndarray, span: int,
               bound: int) -> np.ndarray:
    """Which row keys rank(pre) * span + delay occur (a flag table: no synapse-sized key)."""
    seen = np.zeros(bound, np.bool_)
    for e in range(len(pre)):
        seen[rank[pre[e]] * span + delay[e]] = True
    return seen


@numba.njit(cache=True)
def _block_sizes(post: np.ndarray, rank: np.ndarray, posts: int, n_blocks: int) -> np.ndarray:
    count = np.zeros(n_blocks, np.int64)
    for e in range(len(post)):
        count[rank[post[e]] // posts] += 1
    return count


@numba.njit(cache=True)
def _gather(pre, post, delay, weight, rank, row_index, span, posts, b0, b1, start, build,
            rows, cols, weights):
    """The synapses of column blocks b0..b1-1, block by block: each one's row (index of its
    row key), and with ``build`` its column within the block and its weight. One pass in
    synapse order, so the IR's arrays are read in order and only the small tables jump."""
    fill = start[:-1].copy()
    for e in range(len(post)):
        b = rank[post[e]] // posts
        if b >= b0 and b < b1:
            k = fill[b - b0]
            fill[b - b0] += 1
            rows[k] = row_index[rank[pre[e]] * span + delay[e]]
            if build:
                cols[k] = rank[post[e]] - b * posts
                weights[k] = weight[e]


@numba.njit(cache=True)
def _place(start, b0, rows_in, cols, weights, keys, order, span, posts, R, compact, build,
           mark, slot_of, scratch, band_tile, tiles_of_block, t_next, s_next, row_pre,
           row_delay, tile_block, syn_tile, syn_row, syn_post, syn_weight):
    """Tiles of the gathered column blocks: each block's distinct rows in key order, cut R
    at a time (``compact``) or in fixed bands of R row keys; with ``build`` the row tables
    and every synapse's (tile, row, column, weight), written in (tile, row, column) order
    from ``s_next`` on (tile numbers from ``t_next``). Returns the next (tile, synapse)."""
    for k in range(len(start) - 1):
        b = b0 + k
        lo, hi = start[k], start[k + 1]
        m = 0
        for j in range(lo, hi):
            r = rows_in[j]
            if mark[r] != b:
                mark[r] = b
                scratch[m] = r
                m += 1
        rows = scratch[:m]
        rows.sort()
        nt = 0
        if compact:
            for s in range(m):
                slot_of[rows[s]] = s
            nt = (m + R - 1) // R
        else:  # the slot is the row's own index; one tile per band of R indices used
            last = -1
            for s in range(m):
                band = rows[s] // R
                if band != last:
                    band_tile[band] = nt
                    nt += 1
                    last = band
                slot_of[rows[s]] = rows[s]
        tiles_of_block[b] = nt
        if build:
            for t in range(t_next, t_next + nt):
                tile_block[t] = b
            if compact:
                for s in range(m):
                    key = keys[rows[s]]
                    row_pre[t_next + s // R, s % R] = order[key // span]
                    row_delay[t_next + s // R, s % R] = key % span
            else:
                last = -1
                for s in range(m):
                    band = rows[s] // R
                    if band != last:
                        last = band
                        for j in range(R):
                            g = band * R + j
                            if g < len(keys):
                                row_pre[t_next + band_tile[band], j] = order[keys[g] // span]
                                row_delay[t_next + band_tile[band], j] = keys[g] % span
            # the block's synapses by (slot, column): unique keys, so one order whatever sort
            cell = np.empty(hi - lo, np.int64)
            for j in range(lo, hi):
                cell[j - lo] = slot_of[rows_in[j]] * posts + cols[j]
            by = np.argsort(cell)
            for j in range(hi - lo):
                s, p = cell[by[j]] // posts, cell[by[j]] % posts
                syn_tile[s_next] = t_next + (s // R if compact else band_tile[s // R])
                syn_row[s_next] = s % R
                syn_post[s_next] = p
                syn_weight[s_next] = weights[lo + by[j]]
                s_next += 1
        t_next += nt
    return t_next, s_next


@dataclass(frozen=True, eq=False)
class Slots:
    """Where :func:`slots_in_order` puts every synapse: per tile its column block and rows,
    per synapse (in tile, row, column order) its tile, row, column within the block and
    weight. Narrow types (asserted to fit): 12 bytes a synapse, 6 a row slot."""

    order: np.ndarray  # (N,) the neuron of each column rank
    n_rows: int  # distinct (pre, delay) rows of the map
    n_tiles: int
    tile_block: np.ndarray  # (T,) int32 column block of each tile, ascending
    row_pre: np.ndarray  # (T, R) int32 presynaptic neuron of each row, -1 unused
    row_delay: np.ndarray  # (T, R) int16
    syn_tile: np.ndarray  # (S,) int32
    syn_row: np.ndarray  # (S,) int16
    syn_post: np.ndarray  # (S,) int16 column rank within the tile's block
    syn_weight: np.ndarray  # (S,) int32


def slots_in_order(net: Network, opts: CrossbarOptions, order: np.ndarray,
                   build: bool = True, tiles: int | None = None) -> Slots:
    """Cut the synapses into tiles with neurons in ``order``: columns in blocks of ``posts``
    neurons by rank, rows (pre, delay) pairs keyed rank(pre) * (max delay + 1) + delay.

    Compiled and streamed: the synapses are walked once per group of column blocks (about
    ``GATHER`` of them held, 10 bytes each) and each block's synapses sorted alone, so the
    only synapse-sized arrays are the results (none without ``build``: then only the tile
    count; ``tiles``, when known, saves the count's walk before a build).
    """
    n, R, posts = net.n_neurons, opts.tile_rows, opts.posts
    e = net.n_synapses
    if R > np.iinfo(np.int16).max or posts > np.iinfo(np.int16).max:
        raise ValueError("a tile's rows and columns must fit int16")
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    span = int(net.max_delay) + 1
    pre, post, delay = net.pre, net.post, np.asarray(net.delay)
    seen = _row_flags(pre, delay, rank, span, n * span)
    keys = np.flatnonzero(seen)
    row_index = np.cumsum(seen, dtype=np.int32 if n * span < 2**31 else np.int64) - 1
    del seen
    n_blocks = -(-n // posts)
    count = _block_sizes(post, rank, posts, n_blocks)
    first = np.cumsum(count) - count
    group = first // GATHER  # consecutive blocks whose synapses start in one window
    cuts = np.flatnonzero(np.diff(group)) + 1 if n_blocks else np.zeros(0, np.int64)
    bounds = np.concatenate([[0], cuts, [n_blocks]]).astype(np.int64)
    n_rows = len(keys)
    mark = np.full(n_rows, -1, np.int64)
    slot_of = np.zeros(n_rows, np.int64)
    scratch = np.zeros(n_rows, np.int64)
    band_tile = np.zeros(-(-n_rows // R), np.int64)
    tiles_of_block = np.zeros(n_blocks, np.int64)
    largest = int(max((first[b1 - 1] + count[b1 - 1] - first[b0]
                       for b0, b1 in zip(bounds[:-1], bounds[1:], strict=True) if b1 > b0),
                      default=0))
    weight = np.asarray(net.weight)
    if build:  # the tile count first, to size the tables
        t_total = tiles if tiles is not None else \
            slots_in_order(net, opts, order, build=False).n_tiles
        if t_total >= 2**31:
            raise ValueError(f"{t_total} tiles do not fit int32 tile numbers")
        if e and max(-int(weight.min()), int(weight.max())) >= 2**31:
            raise ValueError("weights must fit int32")
        row_pre = np.full((t_total, R), -1, np.int32)
        row_delay = np.zeros((t_total, R), np.int16)
        tile_block = np.empty(t_total, np.int32)
        syn = (np.empty(e, np.int32), np.empty(e, np.int16), np.empty(e, np.int16),
               np.empty(e, np.int32))
    else:
        row_pre, row_delay = np.zeros((0, R), np.int32), np.zeros((0, R), np.int16)
        tile_block = np.zeros(0, np.int32)
        syn = (np.zeros(0, np.int32), np.zeros(0, np.int16), np.zeros(0, np.int16),
               np.zeros(0, np.int32))
    # per gathered synapse: row (4 bytes), and to build, column (2) and weight (4)
    rows_buf = np.empty(largest, row_index.dtype)
    cols_buf = np.empty(largest if build else 0, np.int16)
    w_buf = np.empty(largest if build else 0, np.int32)
    order64 = np.asarray(order, np.int64)
    t_next = s_next = 0
    for b0, b1 in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        start = np.concatenate([[0], np.cumsum(count[b0:b1])]).astype(np.int64)
        _gather(pre, post, delay, weight, rank, row_index, span, posts, b0, b1, start, build,
                rows_buf, cols_buf, w_buf)
        t_next, s_next = _place(start, b0, rows_buf, cols_buf, w_buf, keys, order64, span,
                                posts, R, opts.compact_rows, build, mark, slot_of, scratch,
                                band_tile, tiles_of_block, t_next, s_next, row_pre, row_delay,
                                tile_block, *syn)
    if build and (t_next, s_next) != (len(tile_block), e):
        raise AssertionError("packing placed a different number of tiles or synapses")
    return Slots(order, n_rows, t_next, tile_block, row_pre, row_delay, *syn)


def tiles_in_order(net: Network, opts: CrossbarOptions, order: np.ndarray) -> int:
    """How many tiles :func:`slots_in_order` would cut in ``order``, with none of its
    synapse-sized arrays: what the candidate orders are scored by."""
    return slots_in_order(net, opts, order, build=False).n_tiles


def pack(net: Network, opts: CrossbarOptions, build: bool = True) -> TileSet:
    """Reorder, cut into tiles and (unless ``build`` is False: statistics only) place every
    synapse, vectorised over synapses: no loop over tiles or cells.

    Columns are cut into blocks of ``tile_cols / (2 slices)`` neurons in reordered order. With
    ``compact_rows`` (the default) a block's tiles hold only the rows that have a synapse in
    that block, R at a time: a row's word line is driven by the spike router, so a (pre,
    delay) row may sit in any tile and in several. Without it, rows are cut in fixed R-row
    bands and empty R x C blocks skipped.
    """
    n, R = net.n_neurons, opts.tile_rows
    posts, enc = opts.posts, opts.enc
    ordering, slots = _slots(net, opts, build)
    weight = np.asarray(net.weight)
    # the top level, without a synapse-sized |w|
    w_max = max(-int(weight.min()), int(weight.max())) if net.n_synapses else 1
    T, n_rows = slots.n_tiles, slots.n_rows
    store = None
    if build:
        # the neurons of each tile's column block: rows of the order padded with -1
        by_block = np.full(-(-n // posts) * posts, -1, np.int32)
        by_block[:n] = slots.order
        col = by_block.reshape(-1, posts)[slots.tile_block]
        store = TileStore(
            row_pre=slots.row_pre, row_delay=slots.row_delay,
            col_post=np.repeat(col, enc.slices, axis=1),
            col_slice=np.tile(np.arange(enc.slices, dtype=np.int16), (T, posts)),
            patterns=np.zeros((T, opts.patterns, R), bool),
            syn_tile=slots.syn_tile, syn_row=slots.syn_row, syn_post=slots.syn_post,
            syn_weight=slots.syn_weight, w_max=w_max)
        del slots
        store = replace(store, patterns=patterns_for(store, opts))
    cells = T * R * posts
    per_level = weight_per_level(w_max, opts.device, enc)
    err = _level_errors(weight, w_max, opts.device, enc)
    stats = {
        "tiles": T,
        "tile_rows": opts.tile_rows, "tile_cols": opts.tile_cols,
        "crossbar_rows": int(n_rows),
        "utilisation": net.n_synapses / cells if cells else 0.0,
        "utilisation_naive_NxN": net.n_synapses / float(n * n) if n else 0.0,
        "utilisation_naive_rows_x_N": net.n_synapses / float(max(n_rows, 1) * n),
        "tiles_naive_NxN": int(np.ceil(n / opts.tile_rows) * np.ceil(n / posts)),
        "tiles_dense_grid": int(np.ceil(n_rows / opts.tile_rows) * np.ceil(n / posts)),
        "reordering": ordering,
        "row_packing": "rows compacted per column block" if opts.compact_rows
        else "fixed row bands",
        "signed_scheme": "differential column pairs",
        "encoding": {"slices": enc.slices, "digit_levels": enc.digits(opts.device),
                     "levels": enc.levels(opts.device), "describe": enc.describe(opts.device),
                     "cells_per_synapse": 2 * enc.slices * opts.device.cells_per_weight,
                     "lossless": err["max"] == 0},
        "weight_per_level": per_level,
        "weight_quantisation_max_error": err["max"],
        "weight_quantisation_mean_error": err["mean"],
        "weights_raised_to_one_level": err["raised"],
    }
    return TileSet(store, net.n_synapses, stats)


#: weights of at most this many distinct values are taken as a histogram (8-bit: 255)
HISTOGRAM_VALUES = 1 << 22


def _level_errors(weight: np.ndarray, w_max: int, dev: Device, enc: Encoding,
                  block: int = 1 << 22) -> dict[str, Any]:
    """Largest and mean |level weight - weight| and the weights raised to one level, without
    float arrays of the synapses' size: per distinct weight value (a w_bits-bit weight takes
    at most 2^w_bits), then the mean summed block by block in numpy's own order (so the
    figure is the bytes ``err.mean()`` gave)."""
    if not len(weight):
        return {"max": 0.0, "mean": 0.0, "raised": 0}
    per_level = weight_per_level(w_max, dev, enc)
    lo, hi = int(weight.min()), int(weight.max())

    def errors(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = weight_levels(w, w_max, dev, enc)
        return np.abs(k * per_level - w), (k != 0) & (np.rint(np.abs(w) / per_level) == 0)

    if hi - lo < HISTOGRAM_VALUES:
        count = np.zeros(hi - lo + 1, np.int64)
        for a in range(0, len(weight), block):
            count += np.bincount(weight[a:a + block].astype(np.int64) - lo,
                                 minlength=hi - lo + 1)
        table, up = errors(np.arange(lo, hi + 1))
        worst, raised = float(table[count > 0].max()), int(count[up].sum())

        def err_of(a: int) -> np.ndarray:
            return table[weight[a:a + block].astype(np.int64) - lo]
    else:
        worst, raised = 0.0, 0
        for a in range(0, len(weight), block):
            err, up = errors(weight[a:a + block])
            worst, raised = max(worst, float(err.max())), raised + int(up.sum())

        def err_of(a: int) -> np.ndarray:
            return errors(weight[a:a + block])[0]
    return {"max": worst, "raised": raised,
            "mean": 0.0 if worst == 0 else _numpy_sum(err_of, len(weight), block) / len(weight)}


def _numpy_sum(part: Callable[[int], np.ndarray], n: int, block: int) -> float:
    """``np.sum`` of a float64 array of ``n`` given ``block`` elements at a time by
    ``part(start)``, bit for bit: numpy adds the pairwise sums of buffer-sized chunks one
    after another (``block`` is a multiple of the buffer size)."""
    chunk = np.getbufsize()
    assert block % chunk == 0
    total = 0.0
    for a in range(0, n, block):
        e = part(a)
        whole = len(e) // chunk * chunk
        for s in e[:whole].reshape(-1, chunk).sum(1).tolist():
            total += s
        if whole < len(e):
            total += float(np.add.reduce(e[whole:]))
    return total


@dataclass(frozen=True, eq=False)
class TileSet:
    """A packing: the tile store (None when only the statistics were asked for) and its
    figures."""

    store: TileStore | None
    synapses: int
    stats: dict[str, Any]


#: program-and-verify accepts a cell within this many device level steps of its target
VERIFY_TOLERANCE = 0.5


def _cell_levels(store: TileStore, dev: Device, enc: Encoding, chunk: int
                 ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per programmed weight digit: its level (device steps over the floor) and its tile,
    about ``chunk`` digits at a time (10^8 synapses' digits would not fit at once)."""
    if store.g is not None:  # a programmed state given as it is (an imprint)
        k = np.rint((store.g - dev.cells_per_weight * dev.g_min) / dev.level_step)
        k, tile = k.reshape(len(k), -1).ravel(), np.repeat(np.arange(len(k)), k[0].size)
        for a in range(0, len(k), chunk):
            yield k[a:a + chunk], tile[a:a + chunk]
        return
    per = max(chunk // enc.slices, 1)
    for a in range(0, len(store.syn_weight), per):
        lv = digits_of(weight_levels(store.syn_weight[a:a + per], store.w_max, dev, enc), dev,
                       enc)
        yield lv.ravel(), np.repeat(store.syn_tile[a:a + per], lv.shape[-1])


@numba.njit(cache=True)
def _write_cells(target: np.ndarray, top: int, sigma: float, tolerance: float,
                 max_pulses: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pulses and success of each cell written from level 0 to ``target`` (the loop of
    :func:`program_and_verify`, cell by cell: the work is ~20 pulses a cell, 10^9 at 3 x
    10^7 synapses, which a pass of array operations per pulse made minutes)."""
    np.random.seed(seed)
    pulses = np.zeros(len(target), np.int64)
    done = np.zeros(len(target), np.bool_)
    for i in range(len(target)):
        t, level, p = target[i], 0.0, 0
        while True:
            size = 1.0 if (t - level >= 1.0 or top == 1) else 0.25  # a binary cell just flips
            level += size * (1.0 + sigma * np.random.standard_normal())
            p += 1
            if level - t > tolerance:  # reset pulse, then start again
                level = 0.0
                p += 1
            if abs(level - t) <= tolerance:
                done[i] = True
                break
            if p >= max_pulses:
                break
        pulses[i] = p
    return pulses, done


#: past this many cells, each cell's pulses are drawn from ``POOL_CELLS`` cells simulated per
#: target level (cells of one level are independent and identically distributed; an outcome
#: rarer than 1 / POOL_CELLS, such as a failed cell, is then not seen): at 3 x 10^7 synapses
#: the 10^9 pulses simulated one by one took minutes
EXACT_CELLS = 1 << 23
POOL_CELLS = 1 << 14


def program_and_verify(ts: TileSet, dev: Device, enc: Encoding, seed: int = 0,
                       tolerance_levels: float = VERIFY_TOLERANCE,
                       max_pulses: int = 1000, chunk: int = 1 << 21) -> dict[str, Any]:
    """Incremental-step program-and-verify of every physical cell from G_min.

    A weight digit's level k is spread over its ``cells_per_weight`` cells thermometer-wise
    (each cell up to ``levels - 1`` steps). A cell gets coarse pulses of one level step while
    it is at least a step below target, then fine pulses of a quarter step; each pulse's step
    is scaled by (1 + pulse_sigma N(0,1)) and followed by a verify read. A cell that
    overshoots by more than the tolerance is reset to G_min (one pulse) and starts again; one
    still out of tolerance after ``max_pulses`` is counted as failed. Cells are written one at
    a time within a tile, tiles in parallel. Compiled (numba), ``chunk`` digits at a time,
    each chunk with its own stream of the seed, so memory stays flat at any size; past
    ``EXACT_CELLS`` cells from a simulated pool per level.
    """
    store = ts.store
    assert store is not None, "program_and_verify needs a built packing"
    cpw, top = dev.cells_per_weight, dev.levels - 1
    pulses_per_tile = np.zeros(store.n_tiles, np.int64)
    failed, programmed = 0, 0
    streams = np.random.SeedSequence(seed)
    digits = (store.g.size if store.g is not None else len(store.syn_weight) * enc.slices) * cpw
    pool = None
    if digits > EXACT_CELLS:  # every level's outcomes, POOL_CELLS cells each, to draw from
        (stream,) = streams.spawn(1)
        pp, pd = _write_cells(np.repeat(np.arange(1, top + 1, dtype=np.float64), POOL_CELLS),
                              top, dev.pulse_sigma, tolerance_levels, max_pulses,
                              int(stream.generate_state(1, np.uint32)[0]))
        pool = pp.reshape(top, POOL_CELLS), pd.reshape(top, POOL_CELLS)
    for k, tile in _cell_levels(store, dev, enc, chunk):
        (stream,) = streams.spawn(1)  # the c-th child, as spawn(chunks)[c]
        per_cell = np.clip(k[:, None] - top * np.arange(cpw)[None, :], 0, top).ravel()
        cell_tile = np.repeat(tile, cpw)
        on = per_cell > 0  # cells left at G_min need no pulse
        target = per_cell[on].astype(np.int64)
        if pool is None:
            pulses, done = _write_cells(target.astype(np.float64), top, dev.pulse_sigma,
                                        tolerance_levels, max_pulses,
                                        int(stream.generate_state(1, np.uint32)[0]))
        else:  # a cell's outcome depends on its target alone: draw it from that level's
            pick = np.random.default_rng(stream).integers(0, POOL_CELLS, len(target))
            pulses, done = pool[0][target - 1, pick], pool[1][target - 1, pick]
        failed += int((~done).sum())
        programmed += len(pulses)
        pulses_per_tile += np.bincount(cell_tile[on], pulses, store.n_tiles).astype(np.int64)
    total = int(pulses_per_tile.sum())
    per_pulse = dev.write_pulse_s + dev.verify_read_s
    cells = store.n_tiles * store.rows * store.col_post.shape[1] * 2 * cpw
    return {"pulses": total, "cells": cells,
            "cells_programmed": programmed, "cells_failed": failed,
            "mean_pulses_per_programmed_cell": total / max(1, programmed),
            "time_serial_s": total * per_pulse,
            "time_tiles_parallel_s": int(pulses_per_tile.max(initial=0)) * per_pulse,
            "tolerance_levels": tolerance_levels, "max_pulses_per_cell": max_pulses,
            "simulated": "every cell" if pool is None else
            f"{POOL_CELLS} cells per level; each other cell's outcome drawn from its level's"}


def patterns_for(store: TileStore, opts: CrossbarOptions) -> np.ndarray:
    """Per tile, ``patterns`` boolean row vectors: all used rows on, then random subsets."""
    rng = np.random.default_rng(opts.seed)
    real = store.row_pre >= 0
    out = np.empty((store.n_tiles, max(opts.patterns, 1), store.rows), bool)
    out[:, 0] = real
    for a in range(0, store.n_tiles, 1 << 16):  # the same stream as one draw, less memory
        b = min(a + (1 << 16), store.n_tiles)
        draws = rng.random((b - a, max(opts.patterns - 1, 0), store.rows))
        out[a:b, 1:] = real[a:b, None, :] & (draws < opts.active_fraction)
    return out


def netlist_tiles(store: TileStore, mode: str, seed: int) -> np.ndarray:
    """The tiles whose netlists are written: all, or (``sample``) the busiest tile and a seeded
    draw of the rest, ``SAMPLE_TILES`` in all; ``auto`` is all up to ``AUTO_ALL_TILES`` tiles."""
    n = store.n_tiles
    if mode == "all" or (mode == "auto" and n <= AUTO_ALL_TILES):
        return np.arange(n)
    count = np.zeros(n, np.int64)  # synapses per tile, in blocks: no int64 copy of them all
    for a in range(0, len(store.syn_tile), 1 << 22):
        count += np.bincount(store.syn_tile[a:a + (1 << 22)], minlength=n)
    busiest = int(np.argmax(count)) if n else 0
    rest = np.random.default_rng(seed).permutation(n)[:SAMPLE_TILES]
    return np.unique(np.concatenate([[busiest], rest[rest != busiest][:SAMPLE_TILES - 1]]))[
        :min(n, SAMPLE_TILES)].astype(np.int64)


def write_tile_netlists(out_dir: Path, store: TileStore, tiles: np.ndarray, dev: Device,
                        enc: Encoding, el: Electrical, chunk: int = 256) -> list[dict[str, Any]]:
    """Write ``spice/tile_NNNN.cir`` for ``tiles``; return their headers (by tile)."""
    headers = []
    for a in range(0, len(tiles), chunk):
        part = tiles[a:a + chunk]
        for t, g in zip(part.tolist(), store.conductances(dev, enc, part), strict=True):
            header = {"tile": t, "rows": g.shape[0], "columns": g.shape[1], "device": dev.name,
                      "g_min_S": dev.g_min, "g_max_S": dev.g_max, "levels": dev.levels,
                      "cells_per_weight": dev.cells_per_weight,
                      "signed_scheme": "differential pairs: even column G+, odd column G-",
                      "encoding": enc.describe(dev)}
            headers.append(header)
            (Path(out_dir) / tile_netlist(t)).write_text(netlist_text(
                g, store.patterns[t][0], el, {**header, "pattern": "0 (all rows on)"},
                dev.cells_per_weight))
    return headers


def emit(net: Network, out_dir: Path, ref: ReferenceRun, opts: CrossbarOptions
         ) -> dict[str, Any]:
    """Write ``out_dir/spice``: the tile store, the netlists of all tiles or of a sample (any
    other can be written from the store: :func:`write_tile_netlists`), and the tile table;
    with a stack, the die assignment (weighted by the reference run's rates) and, when every
    tile's netlist is written, the stack's netlists."""
    with substage("packing"):
        ts = pack(net, opts)
    store = ts.store
    assert store is not None
    spice = Path(out_dir) / SPICE
    spice.mkdir(parents=True, exist_ok=True)
    dev, enc = opts.device, opts.enc
    with substage("tile netlists"):
        written = netlist_tiles(store, opts.netlists, opts.seed)
        headers = write_tile_netlists(out_dir, store, written, dev, enc, opts.electrical)
    with substage("tile store"):
        write_npz(Path(out_dir) / TILES, store.arrays())
    params = {"device": asdict(dev), "electrical": asdict(opts.electrical),
              "tile_rows": opts.tile_rows, "tile_cols": opts.tile_cols,
              "patterns": opts.patterns, "seed": opts.seed,
              "encoding": asdict(enc), "programming": opts.programming,
              "verify_tolerance_levels": VERIFY_TOLERANCE, "netlists": opts.netlists}
    every = len(written) == store.n_tiles
    (Path(out_dir) / TILES_INFO).write_text(json.dumps(
        {"params": params, "stats": ts.stats,
         "netlists": {"written": "all" if every else "sample", "count": len(written)},
         "tiles": [{"tile": t, "netlist": f"tile_{t:04d}.cir",
                    "rows": [[int(p), int(d)] for p, d in zip(store.row_pre[t],
                                                                store.row_delay[t],
                                                                strict=True) if p >= 0],
                    "columns": [int(p) for p in store.col_post[t] if p >= 0]}
                   for t in written.tolist()]}, indent=1, sort_keys=True) + "\n")
    with substage("program and verify"):
        prog = program_and_verify(ts, dev, enc, opts.seed, VERIFY_TOLERANCE)
    prog["mode"] = f"{opts.programming}: {PROGRAMMING[opts.programming]}"
    stats = ts.stats
    del ts
    if not every:  # the stack reads the tile tables alone: the synapse records (12 bytes a
        # synapse, on disk now) and read patterns go before its partition
        store = replace(store, patterns=store.patterns[:0].copy(),  # copies: views keep
                        **{k: getattr(store, k)[:0].copy() for k in SYNAPSE_KEYS})  # the data
    stack = {}
    if opts.stack is not None:
        rates = ref.rates if ref.steps > 0 else None
        stack = {"stack": _emit_stack(net, Path(out_dir), store, opts, opts.stack,
                                      headers if every else None, rates)}
    return {**stats, **stack, "device": dev.name, "levels_per_weight": dev.weight_levels,
            "g_min_S": dev.g_min, "g_max_S": dev.g_max, "programming": prog,
            "netlists": {"written": "all" if every else "sample", "count": len(written)},
            "params": params, "files": [TILES, TILES_INFO, "spice/tile_NNNN.cir"]}


def _emit_stack(net: Network, out_dir: Path, store: TileStore, opts: CrossbarOptions,
                spec: StackSpec, headers: list[dict[str, Any]] | None,
                rates: np.ndarray | None) -> dict[str, Any]:
    """Assign the tiles to the memory dies (and neurons to the logic dies) and write the stack
    description, with its netlists when ``headers`` (every tile's) are given: what
    ``compile --memory-dies K`` / ``--stack FILE`` adds to the spice backend."""
    spec = spec.check()
    el, cpw = opts.electrical, opts.device.cells_per_weight
    word_line = (el.r_wire, el.c_gate * cpw, 2 * store.col_post.shape[1])  # cells a row drives
    with substage("die partition"):
        result = stack_tiles(store.row_pre, store.col_post, net.n_neurons, spec, rates,
                             word_line, opts.enc.slices)
    result["rates_from_reference_run"] = rates is not None
    if spec.logic_dies > 1:
        result["logic_dies"] = assign_logic_dies(net.pre, net.post, net.n_neurons,
                                                 spec.logic_dies, rates)
    tsv = parasitics(spec.tsv)

    def g_of(tiles: np.ndarray) -> np.ndarray:
        return store.conductances(opts.device, opts.enc, tiles)

    with substage("stack netlists"):
        result["netlists"] = write_stack_netlists(
            out_dir, store, g_of if headers is not None else None, result["die_of_tile"],
            spec.memory_dies, tsv, spec.c_load, spec.r_driver, opts.electrical, headers or [],
            opts.device.cells_per_weight, word_line[2])
    return result


BACKEND = Backend(name="spice", options=CrossbarOptions, emit=emit,
                  bytes_per_synapse=27.0)  # S = 1: 12.1 GB peak from 4.3 GB resident
