"""Assignment of crossbar tiles to the memory dies of a TSV stack.

Every signal between the neuron logic die and a memory die crosses TSVs: a spike of source ``s``
goes up once to every die that holds a tile with a row of ``s`` (the die fans it out to its own
tiles), and the column current of target ``p`` comes down once from every die that holds a
column of ``p`` (columns of one target on one die are summed on that die). Both are hyperedges
over tiles, and the TSV count is the sum of their connectivities (the number of dies each one
touches): exactly the (lambda) connectivity metric that KaHyPar minimises. We use Mt-KaHyPar
(``mtkahypar`` on PyPI, the maintained multi-threaded KaHyPar) in its deterministic preset, so
the same map gives the same stack. Spike traffic across dies is the same sum over the source
hyperedges weighted by firing rate.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numba
import numpy as np

from neuropaste.errors import InputError
from neuropaste.generators.stack_spec import StackSpec
from neuropaste.netlists.tsv import as_dict, delay_50, elmore_delay, parasitics
from neuropaste.outputs import substage


@dataclass(frozen=True, eq=False)
class TileFootprint:
    """The neurons a tile touches: sources on its rows, targets on its columns."""

    rows: np.ndarray  # source neuron indices (word lines)
    cols: np.ndarray  # target neuron indices (sense columns, one per target)
    cells: int  # cells holding a real synapse


@dataclass(frozen=True, eq=False)
class DieAssignment:
    die: np.ndarray  # (T,) memory die of each tile; die 0 sits on the logic die
    n_dies: int
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Nets:
    """Hyperedges in CSR form: net ``i``'s pins (tile or cluster indices, distinct, sorted)
    are ``pins[ptr[i]:ptr[i + 1]]``. Flat arrays, so 10^5 nets of 10^7 pins cost two arrays,
    not 10^5 Python objects."""

    ptr: np.ndarray
    pins: np.ndarray

    @property
    def n(self) -> int:
        return len(self.ptr) - 1

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.ptr)

    def owner(self) -> np.ndarray:
        """The net of every pin."""
        return np.repeat(np.arange(self.n, dtype=np.int64), self.sizes)

    @classmethod
    def of_pairs(cls, owner: np.ndarray, pin: np.ndarray, n: int) -> Nets:
        """Nets 0..n-1 from (net, pin) pairs, duplicates dropped: one 1-D sort, or none when
        each net's pins come in ascending order (as tile tables give them)."""
        owner, pin = np.asarray(owner, np.int64), np.asarray(pin, np.int64)
        if _pins_ascending(owner, pin, n):
            return cls(*_group(owner, pin, n))
        span = int(pin.max()) + 1 if len(pin) else 1
        key = np.unique(owner * span + pin)
        return cls(np.searchsorted(key, np.arange(n + 1, dtype=np.int64) * span), key % span)

    def __add__(self, other: Nets) -> Nets:
        return Nets(np.concatenate([self.ptr, other.ptr[1:] + self.ptr[-1]]),
                    np.concatenate([self.pins, other.pins]))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> np.ndarray:
        return self.pins[self.ptr[i]:self.ptr[i + 1]]

    def select(self, keep: np.ndarray) -> Nets:
        """The nets where ``keep`` is true, in order."""
        sizes = self.sizes[keep]
        return Nets(np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                    self.pins[np.repeat(keep, self.sizes)])

    def pins_per_part(self, part: np.ndarray, n_parts: int) -> np.ndarray:
        """(nets, parts): how many pins of each net lie in each part."""
        return _pins_per_part(self.ptr, self.pins, np.asarray(part, np.int64), n_parts)


@numba.njit(cache=True)
def _pins_per_part(ptr: np.ndarray, pins: np.ndarray, part: np.ndarray, n_parts: int
                   ) -> np.ndarray:
    """:meth:`Nets.pins_per_part` net by net: no pin-sized temporaries (10^8 pins at 10^8
    synapses made three int64 arrays of 0.8 GB each)."""
    out = np.zeros((len(ptr) - 1, n_parts), np.int64)
    for i in range(len(ptr) - 1):
        for j in range(ptr[i], ptr[i + 1]):
            out[i, part[pins[j]]] += 1
    return out


@numba.njit(cache=True)
def _pins_ascending(owner: np.ndarray, pin: np.ndarray, n: int) -> bool:
    """Whether every net's pins appear in non-decreasing order."""
    last = np.full(n, -1, np.int64)
    for i in range(len(owner)):
        if pin[i] < last[owner[i]]:
            return False
        last[owner[i]] = pin[i]
    return True


@numba.njit(cache=True)
def _group(owner: np.ndarray, pin: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR of (net, pin) pairs whose pins ascend within each net: a counting sort by net,
    repeats dropped (linear; the sort of 2.6 x 10^7 pairs took 11 s)."""
    ptr = np.zeros(n + 1, np.int64)
    last = np.full(n, -1, np.int64)
    for i in range(len(owner)):
        if pin[i] != last[owner[i]]:
            last[owner[i]] = pin[i]
            ptr[owner[i] + 1] += 1
    for k in range(n):
        ptr[k + 1] += ptr[k]
    fill = ptr[:-1].copy()
    out = np.empty(ptr[n], np.int64)
    last[:] = -1
    for i in range(len(owner)):
        o = owner[i]
        if pin[i] != last[o]:
            last[o] = pin[i]
            out[fill[o]] = pin[i]
            fill[o] += 1
    return ptr, out


def hyperedges(tiles: list[TileFootprint], n_neurons: int) -> tuple[Nets, Nets]:
    """Pins (tile indices) of each source's word-line net and each target's column net."""
    def nets(attr: str) -> Nets:
        parts = [np.asarray(getattr(t, attr), np.int64) for t in tiles]
        sizes = np.array([len(x) for x in parts], np.int64)
        owner = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return Nets.of_pairs(owner, np.repeat(np.arange(len(tiles), dtype=np.int64), sizes),
                             n_neurons)

    return nets("rows"), nets("cols")


def tile_hyperedges(row_pre: np.ndarray, col_post: np.ndarray, n_neurons: int
                    ) -> tuple[Nets, Nets]:
    """:func:`hyperedges` straight from the tile store's (T, R) and (T, C) arrays (-1 unused):
    a counting pass over each table, int32 pins (tile numbers)."""
    if len(row_pre) >= 2**31:
        raise ValueError("tile numbers must fit int32")
    return (Nets(*_table_nets(np.asarray(row_pre), n_neurons)),
            Nets(*_table_nets(np.asarray(col_post), n_neurons)))


@numba.njit(cache=True)
def _table_nets(table: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per value v in 0..n-1 of a (T, W) table (-1 unused): the tiles holding it, ascending,
    once each, as CSR."""
    ptr = np.zeros(n + 1, np.int64)
    last = np.full(n, -1, np.int64)
    for t in range(table.shape[0]):
        for c in range(table.shape[1]):
            v = table[t, c]
            if v >= 0 and last[v] != t:
                last[v] = t
                ptr[v + 1] += 1
    for k in range(n):
        ptr[k + 1] += ptr[k]
    fill = ptr[:-1].copy()
    last[:] = -1
    pins = np.empty(ptr[n], np.int32)
    for t in range(table.shape[0]):
        for c in range(table.shape[1]):
            v = table[t, c]
            if v >= 0 and last[v] != t:
                last[v] = t
                pins[fill[v]] = t
                fill[v] += 1
    return ptr, pins


def evaluate(die: np.ndarray, n_dies: int, src: Nets, dst: Nets,
             rates: np.ndarray | None = None, columns_per_target: int = 1) -> dict[str, Any]:
    """TSV signals, TSV segments, per-interface load and spike traffic of one assignment."""
    r = np.ones(len(src)) if rates is None else np.asarray(rates, np.float64)
    die = np.asarray(die, np.int64)
    s_touch = src.pins_per_part(die, n_dies) > 0
    up = s_touch.sum(0)  # signals that terminate on each die
    traffic = float(r @ s_touch.sum(1))
    down = (dst.pins_per_part(die, n_dies) > 0).sum(0) * columns_per_target
    per_die = up + down
    # a signal for die k passes the interfaces 0..k: interface k carries dies >= k
    through = np.cumsum(per_die[::-1])[::-1]
    return {
        "tsv_signals": int(per_die.sum()),
        "word_line_signals": int(up.sum()),
        "column_signals": int(down.sum()),
        "tsv_segments": int(through.sum()),
        "signals_per_die": per_die.tolist(),
        "tsvs_per_interface": through.tolist(),
        "spike_traffic_per_step": traffic,
        "traffic_weighted_by": "firing rates" if rates is not None else "one spike per source",
    }


#: above this many tiles, consecutive tiles are merged into at most this many clusters first
COARSE_NODES = 4_000
#: a coarse net with at least this many pins on every die of the start is left out of the
#: refinement: no move of a single cluster takes it off a die (docs/stack.md "At scale"; on
#: the clustered 10^5-neuron, 10^7-synapse map 4 took 3x the time for 0.006 % fewer TSVs)
SPREAD_PINS = 2
#: identical short nets (up to this many pins) are merged into one, weights summed
MERGE_PINS = 8


def coarsen(nets: Nets, n_tiles: int, size: int) -> tuple[Nets, np.ndarray]:
    """Nets over clusters of ``size`` consecutive tiles (packing order keeps neighbours
    together), and each cluster's tile count: the hypergraph Mt-KaHyPar partitions at scale."""
    n_clusters = -(-n_tiles // size)
    return (Nets(*_coarse_pins(nets.ptr, nets.pins, size)),
            np.bincount(np.arange(n_tiles) // size, minlength=n_clusters))


@numba.njit(cache=True)
def _coarse_pins(ptr: np.ndarray, pins: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each net's pins divided by ``size``, repeats dropped (pins ascend within a net, so
    repeats are neighbours): the nets over clusters, in one pass."""
    n = len(ptr) - 1
    out_ptr = np.zeros(n + 1, np.int64)
    out = np.empty(len(pins), pins.dtype)  # at most every pin; untouched pages cost nothing
    k = 0
    for i in range(n):
        last = -1
        for j in range(ptr[i], ptr[i + 1]):
            q = pins[j] // size
            if q != last:
                last = q
                out[k] = q
                k += 1
        out_ptr[i + 1] = k
    return out_ptr, out[:k].copy()


def informative(nets: Nets, weights: np.ndarray, start: np.ndarray, n_dies: int
                ) -> tuple[Nets, np.ndarray]:
    """The nets a refinement from ``start`` can improve, identical short ones merged.

    A net of one pin never crosses a die; a net with ``SPREAD_PINS`` or more pins on every die
    touches every die in the start and keeps doing so under moves of single nodes (and its
    connectivity, already the most it can be, cannot grow). Both only cost time: at 10^5
    neurons the sources' nets are 98 % of the pins and nearly all spread. TSVs are counted on
    the full nets afterwards, so the figures stay exact.
    """
    keep = (nets.sizes > 1) & ~(nets.pins_per_part(start, n_dies) >= SPREAD_PINS).all(1)
    kept, w = nets.select(keep), np.asarray(weights, np.int64)[keep]
    short = kept.sizes <= MERGE_PINS
    pad = np.full((int(short.sum()), MERGE_PINS), -1, np.int64)
    sub = kept.select(short)
    pad[sub.owner(), np.arange(len(sub.pins)) - np.repeat(sub.ptr[:-1], sub.sizes)] = sub.pins
    rows, inverse = np.unique(pad, axis=0, return_inverse=True)
    merged_w = np.bincount(inverse.ravel(), w[short], len(rows)).astype(np.int64)
    on = rows >= 0
    merged = Nets(np.concatenate([[0], np.cumsum(on.sum(1))]).astype(np.int64), rows[on])
    return merged + kept.select(~short), np.concatenate([merged_w, w[~short]])


def _in_order(node_w: np.ndarray, n_dies: int, max_per_die: int) -> np.ndarray:
    """The in-order assignment of nodes (weighted by tiles), cut as the in-order baseline."""
    chunk = min(math.ceil(int(node_w.sum()) / n_dies), max_per_die)
    first = np.cumsum(node_w) - node_w  # first tile of each node
    return np.minimum(first // chunk, n_dies - 1)


def _kahypar(n_tiles: int, parts: tuple[Nets, ...], weights: np.ndarray, n_dies: int,
             max_per_die: int, seed: int) -> np.ndarray:
    """Mt-KaHyPar on the tile hypergraph (the nets of ``parts`` one after another); past
    ``COARSE_NODES`` tiles on clusters of consecutive tiles, refined from in order on the nets
    that refinement can improve, then projected back (docs/stack.md "At scale")."""
    size = -(-n_tiles // COARSE_NODES)
    if size > 1 and max_per_die * n_dies >= n_tiles:
        # V-cycles from in order only: a fresh start cost 70 % for 0.02 % fewer TSVs; each
        # part coarsened alone (the fine nets are never joined: at 10^8 synapses a copy of
        # every pin)
        coarse = [coarsen(p, n_tiles, size) for p in parts]
        node_w = coarse[0][1]
        coarse = sum((c for c, _ in coarse[1:]), coarse[0][0])
        start = _in_order(node_w, n_dies, max_per_die)
        coarse, w = informative(coarse, weights, start, n_dies)
        part = start if not coarse.n else _kahypar_nodes(len(node_w), coarse, w, node_w,
                                                         n_dies, max_per_die, seed, fresh=False)
        return part[np.arange(n_tiles) // size]
    nets = sum(parts[1:], parts[0])
    keep = nets.sizes > 1
    return _kahypar_nodes(n_tiles, nets.select(keep), np.asarray(weights)[keep],
                          np.ones(n_tiles, np.int64), n_dies, max_per_die, seed)


def _kahypar_nodes(n_nodes: int, nets: Nets, weights: np.ndarray,
                   node_w: np.ndarray, n_dies: int, max_per_die: int, seed: int,
                   fresh: bool = True) -> np.ndarray:
    import mtkahypar

    _init_mtkahypar()
    n_tiles = int(node_w.sum())
    mtkahypar.set_seed(int(seed))
    ctx = _INIT["init"].context_from_preset(mtkahypar.PresetType.DETERMINISTIC)
    ctx.logging = False
    eps = max(max_per_die * n_dies / n_tiles - 1.0, 0.0)
    ctx.set_partitioning_parameters(n_dies, min(eps, 1.0) if eps > 0 else 0.0,
                                    mtkahypar.Objective.KM1)
    if eps > 0:
        ctx.set_individual_target_block_weights([max_per_die] * n_dies)
    hg = _INIT["init"].create_hypergraph(
        ctx, n_nodes, nets.n, [p.tolist() for p in np.split(nets.pins, nets.ptr[1:-1])]
        if nets.n else [], node_w.tolist(), np.asarray(weights, np.int64).tolist())
    # two starts, the better (connectivity) kept: a fresh multilevel partition, and V-cycles
    # from the in-order assignment (tiles come out of packing in a locality-preserving order,
    # so in order is a strong start that a fresh partition does not always beat)
    in_order_fits = max_per_die * n_dies >= n_tiles
    best = hg.partition(ctx) if fresh or not in_order_fits else None
    if in_order_fits:
        order = _in_order(node_w, n_dies, max_per_die)
        refined = hg.create_partitioned_hypergraph(ctx, n_dies, order.tolist())
        refined.improve_partition(ctx, 1)
        if best is None or (refined.km1() < best.km1() and max(
                refined.block_weight(b) for b in range(n_dies)) <= max_per_die):
            best = refined
    return np.array([best.block_id(t) for t in range(n_nodes)], np.int64)


_INIT: dict[str, Any] = {}


def _init_mtkahypar() -> None:
    if "init" not in _INIT:
        import mtkahypar

        _INIT["init"] = mtkahypar.initialize(1, False)  # one thread: deterministic


def assign_dies(tiles: list[TileFootprint], n_neurons: int, n_dies: int, tiles_per_die: int,
                tsv_budget: int | None = None, rates: np.ndarray | None = None,
                columns_per_target: int = 1, seed: int = 0) -> DieAssignment:
    """Tiles -> dies minimising TSV signals (and rate-weighted spike traffic) under capacity."""
    with substage("hyperedges"):
        src, dst = hyperedges(tiles, n_neurons)
    return assign_nets(src, dst, len(tiles), n_neurons, n_dies, tiles_per_die, tsv_budget,
                       rates, columns_per_target, seed)


def assign_nets(src: Nets, dst: Nets, n_tiles: int, n_neurons: int, n_dies: int,
                tiles_per_die: int, tsv_budget: int | None = None,
                rates: np.ndarray | None = None, columns_per_target: int = 1, seed: int = 0
                ) -> DieAssignment:
    """:func:`assign_dies` on the tiles' nets (:func:`hyperedges`, :func:`tile_hyperedges`)."""
    if n_tiles > n_dies * tiles_per_die:
        raise InputError(None, f"the map needs {n_tiles} tiles but {n_dies} memory dies hold "
                         f"{n_dies * tiles_per_die} ({tiles_per_die} each): add dies or layers, "
                         "or use larger tiles")
    r = np.zeros(n_neurons) if rates is None else np.asarray(rates, np.float64)
    # each net costs one TSV per die it touches; a source net also carries r spikes per step
    # each time it crosses, weighted so that the spikes of a source firing at the mean rate
    # weigh as much as one TSV (both objectives at once, neither swamping the other)
    mean = float(r.mean()) if rates is not None and len(r) else 0.0
    scale = 1.0 / mean if mean > 0 else 0.0
    w_src = 1 + np.rint(r * scale).astype(np.int64)
    weights = np.concatenate([w_src, np.full(n_neurons, columns_per_target, np.int64)])
    if n_dies == 1 or n_tiles <= 1:
        die = np.zeros(n_tiles, np.int64)
    else:
        with substage("Mt-KaHyPar"):
            die = _kahypar(n_tiles, (src, dst), weights, n_dies, tiles_per_die, seed)
        die = _repair_capacity(die, n_dies, tiles_per_die)
    with substage("TSV counts"):
        die = _order_by_load(die, n_dies, src, dst, columns_per_target)
        stats = evaluate(die, n_dies, src, dst, rates, columns_per_target)
        rng = np.random.default_rng(seed)
        random_die = rng.permutation(np.arange(n_tiles) % n_dies)
        in_order = np.minimum(np.arange(n_tiles) // max(math.ceil(n_tiles / n_dies), 1),
                              n_dies - 1)
        stats["baselines"] = {
            "random": evaluate(random_die, n_dies, src, dst, rates, columns_per_target),
            "in_order": evaluate(in_order, n_dies, src, dst, rates, columns_per_target),
        }
    stats["tiles_per_die"] = np.bincount(die, minlength=n_dies).tolist()
    stats["partitioner"] = "Mt-KaHyPar (deterministic preset), connectivity objective"
    if tsv_budget is not None:
        worst = max(stats["tsvs_per_interface"], default=0)
        if worst > tsv_budget:
            raise InputError(None, f"the stack needs {worst} TSVs through one die interface "
                             f"but the budget is {tsv_budget} per die: raise the TSV budget, "
                             "use fewer dies or a finer TSV pitch")
    return DieAssignment(die=die, n_dies=n_dies, stats=stats)


def _repair_capacity(die: np.ndarray, n_dies: int, cap: int) -> np.ndarray:
    """Move the last tiles of over-full dies to the emptiest die (rare: KaHyPar's balance)."""
    die = die.copy()
    load = np.bincount(die, minlength=n_dies)
    for t in range(len(die) - 1, -1, -1):
        if not (load > cap).any():
            break
        if load[die[t]] > cap:
            load[die[t]] -= 1
            die[t] = int(np.argmin(load))
            load[die[t]] += 1
    return die


def _order_by_load(die: np.ndarray, n_dies: int, src: Nets, dst: Nets, cpt: int
                   ) -> np.ndarray:
    """Put the die with the most TSV signals nearest the logic die: fewer TSV segments."""
    per_die = np.array(evaluate(die, n_dies, src, dst, None, cpt)["signals_per_die"])
    order = np.argsort(-per_die, kind="stable")  # order[new] = old
    rank = np.empty(n_dies, np.int64)
    rank[order] = np.arange(n_dies)
    return rank[die]


def _logic_traffic(part: np.ndarray, pre: np.ndarray, post: np.ndarray, r: np.ndarray
                   ) -> dict[str, Any]:
    """Synapses cut between logic dies, and spikes per step crossing them (one per other die
    holding a target of the source: a spike goes over once per die, then fans out there)."""
    cross = part[pre] != part[post]
    pairs = np.unique(np.stack([pre[cross], part[post[cross]]], 1), axis=0)
    return {"cut_synapses": int(cross.sum()),
            "spikes_between_logic_dies_per_step": float(r[pairs[:, 0]].sum()) if len(pairs)
            else 0.0,
            "neurons_per_logic_die": np.bincount(part, minlength=int(part.max()) + 1).tolist()}


def assign_logic_dies(pre: np.ndarray, post: np.ndarray, n_neurons: int, logic_dies: int,
                      rates: np.ndarray | None = None, seed: int = 0) -> dict[str, Any]:
    """Neurons onto ``logic_dies`` balanced logic dies, fewest rate-weighted synapses cut.

    A graph partition (METIS, seeded) of the symmetrised synapse graph, edge weights 1 + the
    source's scaled firing rate: the approximation of the spike hypergraph by its synapses
    (a source with several targets on another die is counted once per synapse, not once per
    die). The memory interface stays on the logic die next to the memory; spikes between
    logic dies cross their own face-to-face vias, reported here against in-order.
    """
    import pymetis
    import scipy.sparse as sp

    pre, post = np.asarray(pre, np.int64), np.asarray(post, np.int64)
    r = np.ones(n_neurons) if rates is None else np.asarray(rates, np.float64)
    scale = 1.0 / max(float(r.mean()), 1e-12)  # a synapse of a mean-rate source weighs 2
    w = 1 + np.rint(r[pre] * scale).astype(np.int64)
    keep = pre != post
    a = sp.csr_matrix((w[keep], (pre[keep], post[keep])), shape=(n_neurons, n_neurons))
    a = (a + a.T).tocsr()
    a.sort_indices()
    adj = pymetis.CSRAdjacency(a.indptr.astype(np.int64), a.indices.astype(np.int64))
    _, membership = pymetis.part_graph(logic_dies, adjacency=adj,
                                       eweights=a.data.astype(np.int64).tolist(),
                                       options=pymetis.Options(seed=int(seed)))
    part = np.asarray(membership, np.int64)
    in_order = np.minimum(np.arange(n_neurons) * logic_dies // max(n_neurons, 1),
                          logic_dies - 1)
    return {"partitioner": "METIS on the synapse graph, edges weighted by source rate",
            **_logic_traffic(part, pre, post, r),
            "baselines": {"in_order": _logic_traffic(in_order, pre, post, r)},
            "logic_die_of_neuron": part.tolist()}


def stack_tiles(row_pre: np.ndarray, col_post: np.ndarray, n_neurons: int, spec: StackSpec,
                rates: np.ndarray | None = None,
                word_line: tuple[float, float, int] = (0.0, 0.0, 0),
                slices: int = 1) -> dict[str, Any]:
    """Assign tiles (rows by presynaptic neuron, columns by target) to the memory dies.

    ``word_line`` is (r_wire ohm per cell, gate capacitance per cell, cells across a tile):
    the word-line delay to the top die is the vias and that distributed RC line, not a lumped
    guess (``spec.c_load`` is added at its far end).
    """
    if isinstance(spec.memory_dies, int) and spec.memory_dies < 1:
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
    spec.check()
    with substage("hyperedges"):
        src, dst = tile_hyperedges(row_pre, col_post[:, ::slices], n_neurons)
    budget = spec.budget()
    result = assign_nets(src, dst, n_tiles, n_neurons, spec.memory_dies, per_die,
                         tsv_budget=budget, rates=rates, columns_per_target=2 * slices)
    tsv = parasitics(spec.tsv)
    top = spec.memory_dies
    return {
        "spec": {**asdict(spec), "tsv": asdict(spec.tsv)},
        "die_of_tile": result.die.tolist(),
        "tiles_per_die_capacity": per_die,
        "tsv_budget_per_interface": budget,
        "tsv_parasitics": as_dict(tsv),
        "word_line": {"r_wire_ohm": word_line[0], "c_gate_F": word_line[1],
                      "cells": word_line[2]},
        "word_line_elmore_s_top_die": elmore_delay(tsv, top, spec.r_driver, spec.c_load,
                                                   r_wire=word_line[0], c_cell=word_line[1],
                                                   cells=word_line[2]),
        "word_line_delay_50_s_top_die": delay_50(tsv, top, spec.r_driver, spec.c_load,
                                                 r_wire=word_line[0], c_cell=word_line[1],
                                                 cells=word_line[2]),
        **result.stats,
    }
