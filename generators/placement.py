"""Placement of neurons on cores and the multicast routing tables that follow from it.

A spike leaves its core once and is copied to every core that holds one of its targets, so the
cost of a placement is the number of (spike, remote core) pairs per step: a hypergraph
connectivity. METIS (through ``pymetis``) minimises the edge cut of the symmetrised synapse
graph, weighted by firing rates when a reference run is given; the edge cut is an upper bound
of that multicast traffic, tight when each source reaches few cores. A greedy repair pass then
enforces the per-core limits METIS only balances approximately.

``balance="steps"`` optimises throughput instead: a step lasts as long as its busiest core, so
it places neurons to keep every sampled step's work even across cores (docs/hardware.md,
"Placement objective"), at the price of more traffic.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numba
import numpy as np
import pymetis
import scipy.sparse as sp

from neuropaste.addresses import Placement, addresses
from neuropaste.errors import InputError
from neuropaste.events import Raster
from neuropaste.hdl.core import CoreGeometry, CoreImage, bits_for
from neuropaste.hdl.mesh import MeshPlan, mesh_shape
from neuropaste.ir import Network


@dataclass(frozen=True)
class CoreLimits:
    """What one core holds. Defaults follow TrueNorth/ODIN-sized cores (256 neurons)."""

    neurons: int = 256
    fanout_entries: int = 1 << 16  # synapses whose target lives on the core
    route_entries: int = 1 << 12  # (local source, destination row) pairs: sender-table words


#: (source, core) pairs :func:`destinations` marks at once
DEST_BLOCK = 1 << 24


def source_blocks(net: Network, pairs_per_source: int, block: int = DEST_BLOCK
                  ) -> Iterator[tuple[int, int, slice]]:
    """Sources ``lo:hi`` and their synapses (a slice: synapses are in canonical order, by
    source), ``block // pairs_per_source`` sources at a time: a walk over every synapse
    without a synapse-sized temporary."""
    n = net.n_neurons
    chunk = max(1, block // max(pairs_per_source, 1))
    starts = np.arange(0, n, chunk)
    # the queries in the synapses' type: a mixed-type search copies every synapse first
    bounds = np.searchsorted(net.pre, np.append(starts, n).astype(net.pre.dtype))
    for b, lo in enumerate(starts.tolist()):
        yield lo, min(lo + chunk, n), slice(int(bounds[b]), int(bounds[b + 1]))


def synapse_blocks(net: Network, block: int = DEST_BLOCK) -> Iterator[slice]:
    """The synapses ``block`` at a time: sums over them without synapse-sized temporaries."""
    for lo in range(0, net.n_synapses, block):
        yield slice(lo, min(lo + block, net.n_synapses))


def fan_in_of(net: Network) -> np.ndarray:
    """Synapses onto each neuron (int64), block by block: ``np.bincount`` of all of them at
    once first copies the int32 targets to int64 (2.4 GB at 3 x 10^8)."""
    out = np.zeros(net.n_neurons, np.int64)
    for syn in synapse_blocks(net):
        out += np.bincount(net.post[syn], minlength=net.n_neurons)
    return out


def destinations(net: Network, core: np.ndarray) -> sp.csr_matrix:
    """Boolean (source neuron x core) matrix: which cores hold a target of each source.
    Marked block by block of sources (the one matrix of every synapse took several GB and a
    sort of 3 x 10^8 entries on the scale-1 microcircuit)."""
    n = net.n_neurons
    n_cores = int(core.max(initial=0)) + 1
    indptr = np.zeros(n + 1, np.int64)
    indices = []
    for lo, hi, syn in source_blocks(net, n_cores):
        seen = np.zeros((hi - lo) * n_cores, bool)
        seen[(net.pre[syn].astype(np.int64) - lo) * n_cores + core[net.post[syn]]] = True
        flat = np.flatnonzero(seen)
        indices.append((flat % n_cores).astype(np.int32))
        indptr[lo + 1:hi + 1] = np.bincount(flat // n_cores, minlength=hi - lo)
    np.cumsum(indptr, out=indptr)
    cols = np.concatenate(indices) if indices else np.zeros(0, np.int32)
    return sp.csr_matrix((np.ones(len(cols), np.int8), cols, indptr), shape=(n, n_cores))


def traffic(net: Network, core: np.ndarray, rates: np.ndarray | None = None,
            dest: sp.csr_matrix | None = None) -> float:
    """Inter-core packets per step: sum over sources of rate x remote destination cores
    (``dest``: :func:`destinations` of ``core``, when already made)."""
    dest = (destinations(net, core) if dest is None else dest).tocoo()
    remote = dest.col != core[dest.row]
    r = np.ones(net.n_neurons) if rates is None else np.asarray(rates, np.float64)
    return float(r[dest.row[remote]].sum())


def destination_rows(net: Network, core: np.ndarray, n_cores: int,
                     dest: sp.csr_matrix | None = None) -> np.ndarray:
    """Per source neuron, the rows of the mesh that hold one of its targets: the packets of
    its spike under row multicast (hdl/router.py), its words in the sender table."""
    width, height = mesh_shape(n_cores)
    dest = destinations(net, core) if dest is None else dest
    cores = np.arange(dest.shape[1])
    to_row = sp.csr_matrix((np.ones(len(cores), np.int8), (cores, cores // width)),
                           shape=(dest.shape[1], height))
    return (dest @ to_row).getnnz(axis=1)


def core_loads(net: Network, core: np.ndarray, n_cores: int,
               dest: sp.csr_matrix | None = None) -> dict[str, np.ndarray]:
    return {
        "neurons": np.bincount(core, minlength=n_cores),
        "fanout_entries": np.bincount(core, weights=fan_in_of(net),
                                      minlength=n_cores).astype(np.int64),
        "route_entries": np.bincount(core, weights=destination_rows(net, core, n_cores, dest),
                                     minlength=n_cores).astype(np.int64),
    }


def delivery_work(net: Network, rates: np.ndarray | None = None) -> np.ndarray:
    """Synaptic operations per step landing on each neuron: its rate-weighted fan-in (with no
    rates, its fan-in). Summed over a core's neurons: that core's delivery clocks per step."""
    r = np.ones(net.n_neurons) if rates is None else np.asarray(rates, np.float64)
    out = np.zeros(net.n_neurons)
    for syn in synapse_blocks(net):  # no synapse-sized float64 weights
        out += np.bincount(net.post[syn], weights=r[net.pre[syn]], minlength=net.n_neurons)
    return out


def objectives(net: Network, core: np.ndarray, n_cores: int,
               rates: np.ndarray | None = None,
               dest: sp.csr_matrix | None = None) -> dict[str, float]:
    """Both things a placement trades: the busiest core's delivery work (SOPs/step) against
    the mean (their ratio bounds the mesh's share of the ideal SOP rate), and the inter-core
    packets per step."""
    work = np.bincount(core, weights=delivery_work(net, rates), minlength=n_cores)
    mean = float(work.mean()) if n_cores else 0.0
    return {"max_core_work": float(work.max(initial=0.0)), "mean_core_work": mean,
            "work_balance": mean / float(work.max()) if work.max(initial=0.0) > 0 else 1.0,
            "intercore_packets_per_step": traffic(net, core, rates, dest)}


def cores_needed(net: Network, limits: CoreLimits) -> int:
    return max(1, math.ceil(net.n_neurons / limits.neurons),
               math.ceil(net.n_synapses / limits.fanout_entries))


#: METIS and the repair see at most ``PLACE_SYNAPSES_PER_NEURON`` synapses a neuron (and at
#: least ``PLACE_SYNAPSES`` in all), a seeded sample of a denser map: the symmetrised graph of
#: the scale-0.1 microcircuit (2.9 x 10^7 synapses, ~8 x 10^3 neurons, nearly every pair
#: linked) took METIS minutes a partition. A uniform sample keeps each edge's expected weight
#: in proportion, so the cut it minimises estimates the whole map's; the stats and every
#: limit are still computed on every synapse. (A sample of 2 x 10^6 of the clustered 10^5
#: map's 9.6 x 10^6 synapses cost 11 % more traffic: sparse maps are placed whole.)
PLACE_SYNAPSES = 2_000_000
PLACE_SYNAPSES_PER_NEURON = 100


def link_graph(net: Network, r: np.ndarray, seed: int) -> sp.csr_matrix:
    """The symmetrised synapse graph, each synapse weighted by its source's rate (cutting i->j
    costs the spikes of i), no self-loops, sorted; of a seeded sample of the synapses when
    the map is denser than ``PLACE_SYNAPSES_PER_NEURON``. Built once for every partition a
    placement tries."""
    n = net.n_neurons
    pre, post = net.pre, net.post
    keep = max(PLACE_SYNAPSES, PLACE_SYNAPSES_PER_NEURON * n)
    if net.n_synapses > keep:
        # distinct draws, sorted (``choice`` without replacement holds a permutation of every
        # synapse index when the sample is over 2 % of them: 2.4 GB at 3 x 10^8)
        pick = np.unique(np.random.default_rng(seed).integers(0, net.n_synapses, keep))
        pre, post = pre[pick], post[pick]
    g = sp.csr_matrix((r[pre], (pre, post)), shape=(n, n))
    g = (g + g.T).tocsr()
    g.setdiag(0)
    g.eliminate_zeros()
    g.sort_indices()
    return g


def cores_to_start(net: Network, limits: CoreLimits) -> int:
    """The core count a default placement tries first: every core's fan-out entries may have
    to stay a neuron's fan-in short of the limit (a neuron moves whole), so the synapses
    are shared out over ``limit - largest fan-in`` a core. Where a neuron's fan-in is a
    large part of a core (the scale-0.1 microcircuit: ~16 neurons a core), filling cores to
    the brim left the repair no room and cost a second partition at 10 % more cores."""
    if not net.n_synapses:
        return 1
    room = limits.fanout_entries - int(fan_in_of(net).max(initial=0)) + 1
    return max(1, math.ceil(net.n_synapses / max(room, 1)))


def _metis(g: sp.csr_matrix, n_cores: int, seed: int,
           work: np.ndarray | None = None) -> np.ndarray:
    """METIS on the link graph ``g`` (:func:`link_graph`); with ``work``, each vertex weighs
    its work plus ``NEURON_WEIGHT`` of a mean neuron's (pymetis passes one constraint only)."""
    scale = 1000.0 / max(float(g.data.max(initial=1.0)), 1e-12)
    ew = np.maximum(np.rint(g.data * scale), 1).astype(np.int64)
    opts = pymetis.Options(seed=int(seed), ufactor=10)  # 1 % imbalance
    adjacency = pymetis.CSRAdjacency(g.indptr.astype(np.int64), g.indices.astype(np.int64))
    vw = None
    if work is not None:
        mean = max(float(work.mean()), 1e-12)
        vw = np.rint(100.0 * (work / mean + NEURON_WEIGHT)).astype(np.int64)
    result = pymetis.part_graph(n_cores, adjacency, eweights=ew, vweights=vw, options=opts)
    return np.asarray(result[1], np.int64)


def _repair(net: Network, core: np.ndarray, n_cores: int, limits: CoreLimits,
            link: sp.csr_matrix) -> np.ndarray:
    """Move neurons out of cores over their neuron or fan-out limit, cheapest move first
    (the traffic a move saves: from the link graph, :func:`link_graph`)."""
    core = core.copy()
    fan_in = fan_in_of(net)
    # loads kept up to date move by move (recounting every neuron per move dominated)
    n_load = np.bincount(core, minlength=n_cores)
    f_load = np.bincount(core, weights=fan_in, minlength=n_cores).astype(np.int64)
    for _ in range(net.n_neurons):
        over = np.flatnonzero((n_load > limits.neurons) | (f_load > limits.fanout_entries))
        if not len(over):
            return core
        c = int(over[0])
        room = (n_load < limits.neurons)
        members = np.flatnonzero(core == c)
        # affinity of each member to each core, from the synapses it shares with them
        rows = link[members].tocoo()
        aff = np.bincount(rows.row * n_cores + core[rows.col], weights=rows.data,
                          minlength=len(members) * n_cores).astype(np.float64, copy=False
                                                                    ).reshape(-1, n_cores)
        gain = aff - aff[:, [c]]  # traffic saved by moving
        fits = room[None, :] & (f_load[None, :] + fan_in[members][:, None] <= limits.fanout_entries)
        fits[:, c] = False
        if not fits.any():
            break
        gain[~fits] = -np.inf
        m, target = np.unravel_index(int(np.argmax(gain)), gain.shape)
        moved = int(members[m])
        core[moved] = target
        n_load[c] -= 1
        n_load[target] += 1
        f_load[c] -= fan_in[moved]
        f_load[target] += fan_in[moved]
    raise InputError(net.meta.get("source"), f"cannot fit the map on {n_cores} cores of "
                     f"{limits.neurons} neurons / {limits.fanout_entries} fan-out entries: "
                     "use more cores")


def _fill_empty(core: np.ndarray, n_cores: int) -> np.ndarray:
    """Give every core a neuron (a core of none is no hardware): take them from the fullest."""
    core = core.copy()
    for c in range(n_cores):
        load = np.bincount(core, minlength=n_cores)
        if load[c] == 0 and load.max() > 1:
            core[np.flatnonzero(core == int(np.argmax(load)))[-1]] = c
    return core


BALANCE = ("work", "neurons", "steps")
#: the order of a core's neurons (its local addresses, so its update sweep): ``"index"``, the
#: map's order (before); ``"sends"``, the neurons whose spikes feed most remote work first
SWEEP_ORDERS = ("index", "sends")
#: the largest map whose placement stats also give the neuron-balanced partition's objectives
#: (by default): it is a METIS run of its own, minutes on the scale-1 microcircuit
BASELINE_SYNAPSES = 10_000_000
# a neuron's own weight under "work", in mean neurons' work: enough to keep neuron counts (the
# update sweep) from drifting far, small enough that work balances within a few per cent
NEURON_WEIGHT = 0.1
# neurons a core may hold over the mean when work is balanced (neuron balance keeps 5 %)
WORK_NEURON_SLACK = 2.0


def place(net: Network, n_cores: int | None = None, limits: CoreLimits | None = None,
          rates: np.ndarray | None = None, seed: int = 0, balance: str = "work",
          raster: Raster | None = None, baseline: bool | None = None,
          order: str = "index") -> Placement:
    """Assign every neuron a core under the core limits: minimising inter-core spike traffic
    while balancing ``balance`` (``"work"``, ``"neurons"``), or balancing every step's work
    (``"steps"``, from ``raster`` and ``rates``; module docstring). The stats report both
    objectives for this placement and, unless ``"neurons"``, for the neuron-balanced one too
    (``baseline``; default: up to ``BASELINE_SYNAPSES``, since it is a partition of its own that
    only the stats use). ``order``: each core's local order (:data:`SWEEP_ORDERS`,
    :func:`sweep_order`)."""
    if balance not in BALANCE:
        raise ValueError(f"balance must be one of {BALANCE}, not {balance!r}")
    if order not in SWEEP_ORDERS:
        raise ValueError(f"order must be one of {SWEEP_ORDERS}, not {order!r}")
    limits = limits or CoreLimits()
    need = cores_needed(net, limits)
    # the clocks each neuron costs in each sampled step and the link graph: once for every
    # partition tried (the neuron-balanced baseline included)
    work = step_work(net, raster, rates, seed) if balance == "steps" else None
    link = link_graph(net, _r(net, rates), seed)
    core = None
    if n_cores is None:  # as few cores as fit every limit: route entries only show once placed
        need = min(max(need, cores_to_start(net, limits)), max(net.n_neurons, 1))
        while True:
            try:
                core = _partition(net, need, limits, link, seed, balance, rates, work)
            except InputError:  # the repair found no room (cores filled to the brim): more
                if need >= net.n_neurons:
                    raise
                need = min(net.n_neurons, max(need + 1, math.ceil(need * 1.1)))
                continue
            over = _overflow(net, core, need, limits)
            if over <= 1.0 or need >= net.n_neurons:
                break
            need = min(net.n_neurons, max(need + 1, math.ceil(need * over * 1.05)))
    n_cores = need if n_cores is None else n_cores
    if n_cores > max(net.n_neurons, 1):
        raise InputError(net.meta.get("source"), f"{n_cores} cores for {net.n_neurons} neurons: "
                         "a core needs at least one neuron")
    if n_cores < need:
        raise InputError(net.meta.get("source"), f"{net.n_neurons} neurons and "
                         f"{net.n_synapses} synapses need at least {need} cores of "
                         f"{limits.neurons} neurons / {limits.fanout_entries} fan-out entries, "
                         f"not {n_cores}")
    naive = np.minimum(np.arange(net.n_neurons) * n_cores // max(net.n_neurons, 1), n_cores - 1)
    if core is None:  # a core count was given
        core = _partition(net, n_cores, limits, link, seed, balance, rates, work)
    if baseline is None:
        baseline = net.n_synapses <= BASELINE_SYNAPSES
    skipped = balance != "neurons" and n_cores > 1 and not baseline
    if not baseline or balance == "neurons" or n_cores == 1:
        baseline = None
    else:
        try:
            baseline = _partition(net, n_cores, limits, link, seed, "neurons", rates)
        except InputError:  # the neuron-balanced placement may not fit where this one does
            baseline = None
    local = sweep_order(net, core, n_cores, rates, order)
    dest = destinations(net, core)  # once, for every figure below
    loads = core_loads(net, core, n_cores, dest)
    for name, load in loads.items():
        limit = getattr(limits, name)
        if load.max(initial=0) > limit:
            raise InputError(net.meta.get("source"), f"a core needs {int(load.max())} {name} "
                             f"but holds {limit}: use more cores or raise the limit")
    placed, in_order = traffic(net, core, rates, dest), traffic(net, naive, rates)
    rr = np.ones(net.n_neurons) if rates is None else np.asarray(rates, np.float64)
    unicast = 0.0
    for syn in synapse_blocks(net):
        pre = net.pre[syn]
        unicast += float(rr[pre[core[pre] != core[net.post[syn]]]].sum())
    stats = {
        "cores": n_cores,
        "limits": {"neurons": limits.neurons, "fanout_entries": limits.fanout_entries,
                   "route_entries": limits.route_entries},
        "weighted_by": "firing rates" if rates is not None else "synapse counts",
        "intercore_packets_per_step": placed,
        "intercore_packets_in_order": in_order,
        "intercore_unicast_packets": unicast,
        "traffic_saved_vs_in_order": 1.0 - placed / in_order if in_order else 0.0,
        "max_neurons_per_core": int(loads["neurons"].max()),
        "max_fanout_entries_per_core": int(loads["fanout_entries"].max()),
        "max_route_entries_per_core": int(loads["route_entries"].max()),
        "balance": balance,
        "sweep_order": order,
        "objectives": objectives(net, core, n_cores, rates, dest),
    }
    if balance == "steps":
        stats["step_balance"] = step_balance(work, core, n_cores)
    if baseline is not None:
        stats["objectives_neuron_balanced"] = objectives(net, baseline, n_cores, rates)
    elif skipped:
        stats["neuron_balanced_baseline"] = (
            f"not computed: {net.n_synapses} synapses > {BASELINE_SYNAPSES} (a second "
            "partition for this comparison alone; place(..., baseline=True))")
    return Placement(core=core, local=local, n_cores=n_cores, stats=stats)


def remote_sends(net: Network, core: np.ndarray, rates: np.ndarray | None = None) -> np.ndarray:
    """Per neuron, the synaptic operations its spikes cause on other cores per step (rate x
    remote fan-out; without rates, the remote fan-out): the work that must cross the network
    before its receivers' next sweep."""
    out = np.zeros(net.n_neurons)
    r = np.ones(net.n_neurons) if rates is None else np.asarray(rates, np.float64)
    for syn in synapse_blocks(net):
        pre = net.pre[syn]
        remote = pre[core[pre] != core[net.post[syn]]]
        out += np.bincount(remote, minlength=net.n_neurons)
    return r * out


def sweep_order(net: Network, core: np.ndarray, n_cores: int, rates: np.ndarray | None = None,
                order: str = "sends") -> np.ndarray:
    """Each neuron's local address in its core: ``"sends"``, the neurons whose spikes cause
    most remote work (:func:`remote_sends`) first, ties in index order; ``"index"``, index order.
    A core sweeps its neurons in local order and its spikes leave in that order, so early
    senders' packets reach their receivers during the receivers' own sweeps instead of as
    stragglers that hold up the next step (docs/hardware.md, "Sweep order"). The reference
    semantics do not depend on the order within a step, so any order is bit-exact."""
    key = -remote_sends(net, core, rates) if order == "sends" else np.zeros(net.n_neurons)
    by = np.lexsort((np.arange(net.n_neurons), key, core))  # core, then key, then index
    start = np.zeros(n_cores + 1, np.int64)
    np.cumsum(np.bincount(core, minlength=n_cores), out=start[1:])
    local = np.empty(net.n_neurons, np.int64)
    local[by] = np.arange(net.n_neurons) - start[core[by]]
    return local


def _r(net: Network, rates: np.ndarray | None) -> np.ndarray:
    """Vertex rates for the partitioner (never zero: a silent neuron still costs its edges)."""
    return np.ones(net.n_neurons) if rates is None else np.asarray(rates, np.float64) + 1e-3


def _overflow(net: Network, core: np.ndarray, n_cores: int, limits: CoreLimits) -> float:
    """The worst core's load over its limit, across every limit (<= 1: it fits)."""
    return max(float(load.max(initial=0)) / getattr(limits, name)
               for name, load in core_loads(net, core, n_cores).items())


def _partition(net: Network, n_cores: int, limits: CoreLimits, link: sp.csr_matrix | None,
               seed: int, balance: str, rates: np.ndarray | None,
               work: np.ndarray | None = None) -> np.ndarray:
    if n_cores == 1:
        return np.zeros(net.n_neurons, np.int64)
    if balance == "steps":
        return _fill_empty(_spread(net, n_cores, limits, work), n_cores)
    weight = delivery_work(net, rates) if balance == "work" else None
    core = _repair(net, _metis(link, n_cores, seed, weight), n_cores, limits, link)
    return _fill_empty(core, n_cores)


# steps of the reference run the step balance keeps (evenly spaced), and as many drawn from the
# neurons' rates: the drawn ones keep the placement from fitting the reference run's every spike
STEP_SAMPLES = 256


def step_work(net: Network, raster: Raster | None, rates: np.ndarray | None,
              seed: int = 0) -> np.ndarray:
    """(sampled step x neuron) clocks a neuron costs its core in that step: the synaptic events
    landing on it, plus one for its update. Steps: up to ``STEP_SAMPLES`` of the reference run
    and as many with each neuron firing at its rate (Bernoulli, seeded)."""
    n = net.n_neurons
    r = np.full(n, 0.05) if rates is None else np.clip(np.asarray(rates, np.float64), 0, 1)
    fires = [np.random.default_rng(seed).random((STEP_SAMPLES, n)) < r]
    if raster is not None and raster.steps:
        keep = np.unique(np.linspace(0, raster.steps - 1, min(raster.steps, STEP_SAMPLES))
                         .astype(np.int64))
        row = np.searchsorted(keep, raster.step)
        hit = (row < len(keep)) & (keep[np.minimum(row, len(keep) - 1)] == raster.step)
        sampled = np.zeros((len(keep), n), bool)
        sampled[row[hit], raster.neuron[hit]] = True
        fires.insert(0, sampled)
    spikes = sp.csr_matrix(np.vstack(fires).astype(np.float32))
    synapses = sp.csr_matrix((np.ones(net.n_synapses, np.float32), (net.pre, net.post)),
                             shape=(n, n))
    return np.ascontiguousarray((spikes @ synapses).toarray() + 1.0, dtype=np.float32)


def step_balance(work: np.ndarray, core: np.ndarray, n_cores: int) -> float:
    """Mean core's work over the busiest core's, summed over the sampled steps: the share of
    the ideal a design with a step barrier can reach on this placement."""
    per_core = np.zeros((work.shape[0], n_cores))
    for c in range(n_cores):
        per_core[:, c] = work[:, core == c].sum(axis=1)
    busiest = float(per_core.max(axis=1).sum())
    return float(per_core.sum()) / (n_cores * busiest) if busiest else 1.0


def _spread(net: Network, n_cores: int, limits: CoreLimits, work: np.ndarray) -> np.ndarray:
    """Greedy vector balancing: neurons, busiest first, each to the core where it adds least
    to the sum over steps of the busiest core's work (ties: the core with least work), within
    the neuron, fan-out and route-entry limits (a route entry: a source reaching a row of
    the mesh, :func:`destination_rows`)."""
    fan_in = fan_in_of(net)
    sources = sp.csr_matrix((np.ones(net.n_synapses, np.int8), (net.post, net.pre)),
                            shape=(net.n_neurons,) * 2)
    sources.sum_duplicates()
    order = np.argsort(-work.sum(axis=0), kind="stable")
    width, height = mesh_shape(n_cores)
    row = np.arange(n_cores, dtype=np.int64) // width
    core = _spread_greedy(np.ascontiguousarray(work.T), order, n_cores, row, height, fan_in,
                          sources.indptr.astype(np.int64), sources.indices.astype(np.int64),
                          limits.neurons, limits.fanout_entries, limits.route_entries)
    if (core < 0).any():
        raise InputError(net.meta.get("source"), f"cannot fit the map on {n_cores} cores of "
                         f"{limits.neurons} neurons / {limits.fanout_entries} fan-out entries / "
                         f"{limits.route_entries} route entries: use more cores")
    return core


@numba.njit(cache=True)
def _spread_greedy(work, order, n_cores, row, n_rows, fan_in, src_ptr, src, max_neurons,
                   max_entries, max_routes):  # pragma: no cover
    n, steps = work.shape
    load = np.zeros((n_cores, steps), np.float64)
    busiest = np.zeros(steps, np.float64)
    total = np.zeros(n_cores, np.float64)
    count = np.zeros(n_cores, np.int64)
    entries = np.zeros(n_cores, np.int64)
    routes = np.zeros(n_cores, np.int64)  # route entries of each core's placed neurons
    reach = np.zeros((n, n_rows), np.bool_)  # source -> mesh rows holding a target of it
    reached = np.zeros(n, np.int64)  # rows each source reaches so far
    extra = np.zeros(n_cores, np.int64)
    core = np.full(n, -1, np.int64)
    cost = np.empty(n_cores, np.float64)
    for j in order:
        for c in range(n_cores):
            cost[c] = np.inf
            if count[c] >= max_neurons or entries[c] + fan_in[j] > max_entries:
                continue
            cost[c] = 0.0
            for t in range(steps):
                over = load[c, t] + work[j, t] - busiest[t]
                if over > 0:
                    cost[c] += over
        best = -1
        while True:  # the cheapest core (least work on ties) whose route tables still fit
            best, best_cost, best_total = -1, np.inf, np.inf
            for c in range(n_cores):
                if cost[c] < np.inf and (cost[c] < best_cost or (cost[c] == best_cost
                                                                 and total[c] < best_total)):
                    best, best_cost, best_total = c, cost[c], total[c]
            if best < 0:
                return core
            extra[:] = 0
            own = reached[j]
            for k in range(src_ptr[j], src_ptr[j + 1]):
                s = src[k]
                if not reach[s, row[best]]:
                    if s == j:
                        own += 1
                    elif core[s] >= 0:
                        extra[core[s]] += 1
            fits = routes[best] + extra[best] + own <= max_routes
            for c in range(n_cores):
                if extra[c] and routes[c] + extra[c] + (own if c == best else 0) > max_routes:
                    fits = False
            if fits:
                break
            cost[best] = np.inf
        core[j] = best
        count[best] += 1
        entries[best] += fan_in[j]
        for k in range(src_ptr[j], src_ptr[j + 1]):
            s = src[k]
            if not reach[s, row[best]]:
                reach[s, row[best]] = True
                reached[s] += 1
                if core[s] >= 0 and s != j:
                    routes[core[s]] += 1
        routes[best] += reached[j]
        for t in range(steps):
            load[best, t] += work[j, t]
            total[best] += work[j, t]
            if load[best, t] > busiest[t]:
                busiest[t] = load[best, t]
    return core


def multicast_table(net: Network, placement: Placement) -> tuple[np.ndarray, np.ndarray]:
    """Routing table rows (source neuron, destination core), sorted: one packet per row."""
    dest = destinations(net, placement.core).tocoo()
    order = np.lexsort((dest.col, dest.row))
    return dest.row[order].astype(np.int64), dest.col[order].astype(np.int64)


def axon_indices(net: Network, placement: Placement,
                 dest: sp.csr_matrix | None = None) -> np.ndarray:
    """Per source neuron, the axon index its packet carries (-1: no targets).

    A packet is multicast, so one index must name the source at every core it reaches: two
    sources that reach a common core get different indices (a colouring of the sources), and
    each core's pointer table then holds only indices up to the largest that reaches it instead
    of one entry per global source. Greedy first fit, sources with the most destination cores
    first, then by index: deterministic, and each core's table stays close to the number of
    sources that reach it when sources reach few cores (local maps)."""
    dest = destinations(net, placement.core) if dest is None else dest
    n_dest = np.diff(dest.indptr)
    order = np.lexsort((np.arange(net.n_neurons), -n_dest))
    order = order[n_dest[order] > 0]
    words = len(order) // 64 + 1  # an index never exceeds the sources that have one
    return _first_fit(dest.indptr.astype(np.int64), dest.indices.astype(np.int32),
                      order.astype(np.int64), placement.n_cores, words, net.n_neurons)


@numba.njit(cache=True)
def _first_fit(indptr, indices, order, n_cores, words, n):  # pragma: no cover
    """:func:`axon_indices`' greedy colouring, with a bitset of 64-bit words per core and,
    per core, the first word that still has a free index: the lowest index free at every
    destination is in no word below the largest of those, so a source scans from there (the
    Python big-integer version ORed whole bitsets: minutes on the scale-1 microcircuit)."""
    full = np.uint64(0xFFFFFFFFFFFFFFFF)
    used = np.zeros((n_cores, words), np.uint64)
    low = np.zeros(n_cores, np.int64)
    axon = np.full(n, -1, np.int64)
    for i in order:
        a, b = indptr[i], indptr[i + 1]
        w = 0
        for j in range(a, b):
            w = max(w, low[indices[j]])
        while True:
            taken = np.uint64(0)
            for j in range(a, b):
                taken |= used[indices[j], w]
                if taken == full:  # no room in this word: most words fill at a core or two
                    break
            if taken != full:
                break
            w += 1
        bit = 0
        while (taken >> np.uint64(bit)) & np.uint64(1):
            bit += 1
        mark = np.uint64(1) << np.uint64(bit)
        for j in range(a, b):
            c = indices[j]
            used[c, w] |= mark
            while low[c] < words and used[c, low[c]] == full:
                low[c] += 1
        axon[i] = 64 * w + bit
    return axon


#: synapses the mesh plan orders by core at a time
MESH_PLAN_BLOCK = 1 << 25


def mesh_plan(net: Network, placement: Placement) -> MeshPlan:
    """Per core: its neurons' parameters, the fan-out of every axon that reaches them (indexed by
    the axon index of ``axon_indices``, so the pointer table holds only the indices that reach
    the core), and the multicast table of its neurons (destination cores and axon index); the
    mesh as square as it factors. The entries keep the network's narrow types (a core's
    geometry, not the array's type, sets their widths): int64 copies of 3 x 10^8 entries were
    7 GB on the scale-1 microcircuit."""
    dest = destinations(net, placement.core)
    axon_of = axon_indices(net, placement, dest)
    _, base = addresses(placement)
    width, height = mesh_shape(placement.n_cores)
    n_cores = placement.n_cores
    core = placement.core.astype(np.int16 if n_cores <= 1 << 15 else np.int32)
    key = np.empty(net.n_synapses, core.dtype)
    for syn in synapse_blocks(net):  # an int32 index array is copied to int64 when it indexes
        key[syn] = core[net.post[syn]]
    local = placement.local.astype(np.int16 if placement.local.max(initial=0) < 1 << 15
                                   else np.int32)
    weight = net.weight.dtype if net.w_bits > 16 else np.int16  # the entries' own width
    t_bits = bits_for(int(local.max(initial=0)) + 1)
    d_bits = bits_for(net.max_delay + 1)
    images, routes = [], []
    # cores a group at a time, ~MESH_PLAN_BLOCK synapses each: their synapses core by core
    # (a stable radix sort of int16 core numbers), no argsort of every synapse (2.4 GB)
    group = max(1, MESH_PLAN_BLOCK * n_cores // max(net.n_synapses, 1))
    for c0 in range(0, n_cores, group):
        c1 = min(c0 + group, n_cores)
        mine = np.flatnonzero((key >= c0) & (key < c1))
        mine = mine[np.argsort(key[mine], kind="stable")]
        bounds = np.searchsorted(key[mine], np.arange(c0, c1 + 1, dtype=key.dtype))
        for c in range(c0, c1):
            members = placement.members(c)
            sel = mine[bounds[c - c0]:bounds[c - c0 + 1]]
            axon, target = axon_of[net.pre[sel]], local[net.post[sel]]
            delay = net.delay[sel]
            # (axon, target, delay) order, as one key: axon indices < 2^40 with room to spare
            order = np.argsort((axon << (t_bits + d_bits)) | (target.astype(np.int64) << d_bits)
                               | delay, kind="stable")
            depth = int(axon.max(initial=-1)) + 1
            indptr = np.zeros(max(depth, 1) + 1, np.int64)
            np.cumsum(np.bincount(axon, minlength=max(depth, 1)), out=indptr[1:])
            images.append(CoreImage(
                threshold=net.threshold[members], v_reset=net.v_reset[members],
                bias=net.bias[members], leak_shift=net.leak_shift[members],
                refractory=net.refractory[members], indptr=indptr, target=target[order],
                weight=net.weight[sel][order].astype(weight), delay=delay[order],
                w_bits=net.w_bits, v_bits=net.v_bits, acc_bits=net.acc_bits,
                max_delay=net.max_delay, stim_weight=int(net.stim_weight),
                sources=int(np.count_nonzero(np.diff(indptr)))))
            routes.append(dest[members])
    del key
    axons = np.where(axon_of < 0, 0, axon_of)
    return MeshPlan(images=images, base=base, routes=routes, width=width, height=height,
                    axons=[axons[placement.members(c)] for c in range(placement.n_cores)])


def table_sizes(plan: MeshPlan, split: bool = False, ptr_ends: bool = False,
                masked: bool = False) -> list[dict[str, int]]:
    """Per core, what its tables hold: axons that reach it, pointer-table entries (axon
    indices up to the largest that reaches it), fan-out entries, sender-table words (one per
    packet: a spike's destination rows), and the bits of those tables, unpadded. With axon
    remap and row multicast these follow the core's own fan-in and fan-out, not N. ``split``,
    ``ptr_ends`` and ``masked``: the layout of the design (LIFCore ``split_delays`` and
    ``ptr_ends``, ExitStage ``masked``), so the bits are the ones it holds."""
    out = []
    word_bits = bits_for(max(plan.height - 1, 1)) + plan.width
    for c, image in enumerate(plan.images):
        g = CoreGeometry(image, split=split, ptr_ends=ptr_ends)
        words = len(plan.senders[c][1])
        head_bits = 2 * bits_for(words) + plan.axon_bits
        senders = (g.n * (plan.axon_bits + plan.width * plan.height) if masked
                   else g.n * head_bits + words * word_bits)
        out.append({
            "neurons": g.n, "axons_used": int(image.sources), "axon_table_entries": g.axons,
            "fanout_entries": len(image.target), "route_words": words,
            "table_bits": g.axons * g.ptr_bits + g.entries * g.entry_bits + senders,
        })
    return out
