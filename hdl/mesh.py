"""The multi-core neuron array: LIF cores on a 2D mesh of multicast AER routers.

Global addresses: core ``c`` holds the neurons ``base[c] .. base[c + 1] - 1`` (the placement's
order, ``rtl/address_map.csv``). A spike of a neuron leaves its core once, as a packet with its
axon index and the core's multicast table entry for it (the destination cores), and reaches each
of those cores' ``syn_in``, where the axon index selects the fan-out range. Axon indices are
assigned so that a source has one index valid at all its destinations
(``placement.axon_indices``): a core's pointer table holds only the indices that reach it, not one
entry per global source (TrueNorth-style axons; the remap happens in the sender's table). The
host side keeps the single core's step interface: ``aer_in`` and ``aer_out`` carry global
addresses, ``start`` runs a step, ``done`` ends it.

A step has one barrier, at its end (docs/hardware.md, "Many cores"). ``start`` starts every
core's delivery of the spikes waiting in its spike FIFO; each core then updates as soon as it has
delivered (``early_update``; without it, all wait for the slowest and ``proceed`` together). The
step ends when every core has finished its update and drained its output, every exit stage is
empty and every router is idle: the network holds nothing in flight. With ``run_ahead``
(default) a core delivers the step's spikes that reach it while the step still runs (from its own
sweep on, ``sweep_overlap``), so the next delivery phase has only stragglers left.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp
from amaranth import (
    Array,
    Cat,
    ClockSignal,
    Instance,
    Module,
    Mux,
    ResetSignal,
    Signal,
    Value,
    unsigned,
)
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from neuropaste.protocol import core_bits

from .core import CoreGeometry, CoreImage, LIFCore, bits_for, step_ports
from .fifo import SkidBuffer
from .router import (
    LINK_STALL_MODULE,
    LinkStall,
    MeshRouter,
    coord_bits,
    packet_layout,
    stall_seed,
)

#: significant bits a core class keeps of each size it rounds up: at most 1/4 padding
CLASS_BITS = 3
ROUTER_MODULE = "neuropaste_router"
EJECT_MODULE = "neuropaste_eject"  # short_paths: the register between a router and its core


def core_module(k: int) -> str:
    """The Verilog module of core class ``k``."""
    return f"neuropaste_core_c{k}"


def exit_module(k: int) -> str:
    """The Verilog module of the exit stages of core class ``k``."""
    return f"neuropaste_exit_c{k}"


def round_up(v: int, bits: int = CLASS_BITS) -> int:
    """``v`` rounded up to ``bits`` significant bits (1000 -> 1024, 300 -> 320)."""
    v = max(int(v), 1)
    shift = max(v.bit_length() - bits, 0)
    return -(-v >> shift) << shift


def core_classes(images: list[CoreImage], packets: list[int] | None = None
                 ) -> tuple[list[dict[str, int]], np.ndarray]:
    """The cores' classes: cores whose neuron, axon and fan-out counts round up alike
    (:func:`round_up`) share one class, whose shape (``CoreGeometry``'s ``shape``) is those
    rounded counts, except the neurons: its largest member's (a core's update sweep lasts
    a clock per neuron of its class, so a padded neuron costs a clock every step); the largest
    spike FIFO and parameter widths of its members, and
    ``route_words``, the largest rounded sender table (``packets`` per core). Returns the
    shapes and each core's class, classes numbered in order of their first core."""
    keys = [(round_up(img.n_neurons), round_up(img.n_axons), round_up(len(img.target)))
            for img in images]
    order = list(dict.fromkeys(keys))
    class_of = np.array([order.index(k) for k in keys], np.int64)
    shapes = []
    for k, (_, axons, entries) in enumerate(order):
        geos = [CoreGeometry(images[c]) for c in np.flatnonzero(class_of == k)]
        shapes.append({"n": max(g.n for g in geos), "axons": axons, "entries": entries,
                       "sources": max(g.spike_depth for g in geos),
                       **{b: max(getattr(g, b) for g in geos)
                          for b in ("k_bits", "r_bits", "b_bits", "pairs")},
                       "route_words": max(round_up((packets or [0] * len(images))[c])
                                          for c in np.flatnonzero(class_of == k))})
    return shapes, class_of


@dataclass(frozen=True, eq=False)
class MeshPlan:
    """What the mesh is built from: one image and one multicast table per core, and the shape."""

    images: list[CoreImage]
    base: np.ndarray  # (cores + 1,) first global address of each core, then N
    routes: list[sp.csr_matrix]  # per core: (local neuron x core) destinations, sorted
    width: int
    height: int
    axons: list[np.ndarray]  # per core, per local neuron: the axon index its packets carry

    @cached_property
    def axon_bits(self) -> int:
        """Width of a packet's axon field: the largest index any core's table holds."""
        return bits_for(max(max(img.n_axons for img in self.images) - 1, 1))

    @property
    def n_cores(self) -> int:
        return len(self.images)

    @property
    def n_neurons(self) -> int:
        return int(self.base[-1])

    @cached_property
    def classes(self) -> tuple[list[dict[str, int]], np.ndarray]:
        """:func:`core_classes` of the images: shapes, and each core's class."""
        return core_classes(self.images, [len(self.senders[c][1]) for c in range(self.n_cores)])

    @cached_property
    def senders(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per core, its sender table unpadded: per local neuron its first packet and the end
        of its packets (an (n, 2) array), and one word per packet (row | columns)."""
        return [_senders(self, c) for c in range(self.n_cores)]

    def shape(self, core: int) -> dict[str, int]:
        """The shape of core ``core``'s class."""
        shapes, class_of = self.classes
        return shapes[int(class_of[core])]


def _senders(plan: MeshPlan, core: int) -> tuple[np.ndarray, np.ndarray]:
    """One packet per (neuron, destination row), in row order, from the core's destination
    matrix (sorted columns, so rows come in order): words are uint64 while ``row | columns``
    fits 64 bits, else Python integers built from 64-bit limbs (a mesh wider than ~58)."""
    w, row_bits = plan.width, coord_bits(plan.height)
    dest = plan.routes[core]
    n = dest.shape[0]
    neuron = np.repeat(np.arange(n), np.diff(dest.indptr))
    cores = dest.indices.astype(np.int64)
    row, col = cores // w, cores % w
    new = np.ones(len(cores), bool)
    new[1:] = (neuron[1:] != neuron[:-1]) | (row[1:] != row[:-1])
    starts = np.flatnonzero(new)
    per = np.bincount(neuron[starts], minlength=n)
    end = np.cumsum(per)
    heads = np.stack([end - per, end], axis=1)
    g_row = row[starts].astype(np.uint64)
    if not len(starts):
        return heads, np.zeros(0, np.uint64)
    bit = np.left_shift(np.uint64(1), (col % 64).astype(np.uint64))
    if row_bits + w <= 64:
        return heads, g_row | np.bitwise_or.reduceat(bit, starts) << np.uint64(row_bits)
    limbs = np.zeros((len(starts), -(-w // 64)), np.uint64)
    np.bitwise_or.at(limbs, (np.cumsum(new) - 1, col // 64), bit)
    masks = [int.from_bytes(x, "little") for x in
             np.ascontiguousarray(limbs.astype("<u8")).view(f"V{8 * limbs.shape[1]}").ravel()
             .tolist()]
    return heads, np.array([int(r) | m << row_bits for r, m in zip(g_row.tolist(), masks,
                                                                  strict=True)], dtype=object)


def mask_table(plan: MeshPlan, core: int) -> dict[str, tuple[np.ndarray, int]]:
    """Core ``core``'s sender table as one word per neuron of its class
    (``rtl/mem/core_K/rmask.hex``): ``axon | cores``, bit ``c`` of ``cores`` set when core ``c``
    holds one of the neuron's targets (ExitStage ``masked``: a packet per row of the mesh whose
    columns are not all clear). One memory of ``axon_bits + cores`` bits instead of two."""
    shape = plan.shape(core)
    dest = plan.routes[core]
    n = dest.shape[0]
    neuron = np.repeat(np.arange(n), np.diff(dest.indptr))
    mask = np.zeros(shape["n"], object)
    np.add.at(mask, neuron, np.array([1 << int(c) for c in dest.indices], object)
              if len(neuron) else np.zeros(0, object))
    axon = np.zeros(shape["n"], object)
    axon[:n] = np.asarray(plan.axons[core], np.int64).tolist()
    words = axon | mask << plan.axon_bits
    width = plan.axon_bits + plan.width * plan.height
    if width <= 64:
        words = words.astype(np.uint64)
    return {"rmask": (words, width)}


def sender_table(plan: MeshPlan, core: int, masked: bool = False
                 ) -> dict[str, tuple[np.ndarray, int]]:
    """Core ``core``'s sender table, padded to its class, as ROM words and widths
    (``rtl/mem/core_K/{rptr,routes}.hex``): ``rptr``, one word per neuron of the class,
    ``first | end | axon`` (``end`` exclusive; no packets: ``first = end``); ``routes``, one
    word per packet, ``row | columns``: a spike sends one packet per row of the mesh that holds
    one of its targets, the columns of its target cores in that row as a mask. Words are
    uint64 where they fit, else Python integers (an object array). ``masked``: the
    :func:`mask_table` instead."""
    if masked:
        return mask_table(plan, core)
    shape = plan.shape(core)
    heads, words = plan.senders[core]
    p_bits = bits_for(shape["route_words"])
    ptr_bits = 2 * p_bits + plan.axon_bits
    first, end, axon = heads[:, 0], heads[:, 1], np.asarray(plan.axons[core], np.int64)
    pad = [len(words) | len(words) << p_bits] * (shape["n"] - len(heads))
    if ptr_bits <= 64:
        u = np.uint64
        ptr = np.concatenate([first.astype(u) | end.astype(u) << u(p_bits)
                              | axon.astype(u) << u(2 * p_bits), np.array(pad, u)])
    else:
        ptr = np.array([f | e << p_bits | a << 2 * p_bits for f, e, a in
                        zip(first.tolist(), end.tolist(), axon.tolist(), strict=True)] + pad,
                       dtype=object)
    routes = np.zeros(max(shape["route_words"], 1), words.dtype)
    routes[:len(words)] = words
    return {"rptr": (ptr, ptr_bits), "routes": (routes, coord_bits(plan.height) + plan.width)}


def _as_ints(table: dict[str, tuple[np.ndarray, int]]) -> dict[str, tuple[list[int], int]]:
    """ROM words as Python integers (an Amaranth memory's ``init``)."""
    return {k: ([int(x) for x in words], width) for k, (words, width) in table.items()}


class ExitStage(wiring.Component):
    """Between a core's ``aer_out`` and its router: a spike's entry of the sender table
    (:func:`sender_table`) is read, each of its packets injected in turn, and the spike is
    offered to the host (local address). ``empty``: nothing held. ``init``: the ROMs' words
    (none when the Verilog loads them). ``queued`` (default): spikes are taken one a clock into
    a queue of table entries, so a spike costs one clock per packet and one more, and its first
    packet is offered four clocks after the spike is taken; False: the
    earlier stage, one spike at a time (about five clocks a spike besides its packets).
    ``masked``: the table is one word per neuron, ``axon | cores`` (:func:`mask_table`), and a
    spike walks the mesh's rows, one clock each, injecting a packet for each row that holds a
    target core (``height`` + 2 clocks a spike); one memory instead of two."""

    def __init__(self, depth: int, route_words: int, local_bits: int, axon_bits: int,
                 width: int, height: int,
                 init: dict[str, tuple[list[int], int]] | None = None, queued: bool = True,
                 masked: bool = False):
        self.layout = packet_layout(axon_bits, width, height)
        self.depth, self.route_words, self.axon_bits = depth, max(route_words, 1), axon_bits
        self.p_bits = bits_for(route_words)
        self.word_bits = coord_bits(height) + width
        self.init = init
        self.queued = queued
        self.masked = masked
        self.width, self.height = width, height
        super().__init__({"spike": In(stream.Signature(unsigned(local_bits))),
                          "inject": Out(stream.Signature(self.layout)),
                          "host": Out(stream.Signature(unsigned(local_bits))),
                          "empty": Out(1)})

    def elaborate(self, platform) -> Module:
        m = Module()
        init = self.init or {}
        if self.masked:
            m.submodules.rmask = rmask = Memory(
                shape=unsigned(self.axon_bits + self.width * self.height), depth=self.depth,
                init=init.get("rmask", ([], 0))[0])
            self._masked(m, rmask.read_port())
            return m
        m.submodules.rptr = rptr = Memory(shape=unsigned(2 * self.p_bits + self.axon_bits),
                                          depth=self.depth, init=init.get("rptr", ([], 0))[0])
        m.submodules.routes = routes = Memory(shape=unsigned(self.word_bits),
                                              depth=self.route_words,
                                              init=init.get("routes", ([], 0))[0])
        (self._queued if self.queued else self._serial)(m, rptr.read_port(),
                                                         routes.read_port())
        return m

    def _queued(self, m: Module, head_rd, word_rd) -> None:
        pb = self.p_bits
        spike, inject, host = self.spike, self.inject, self.host
        # three decoupled parts, so that a spike costs one clock per packet and one more:
        # spikes are taken one a clock while there is room, their sender-table entries read
        # into ``heads`` and their host copies into ``hostq``; the entries' words are read
        # into ``words`` (each with its axon), from which the packets go to the router
        m.submodules.heads = heads = SyncFIFO(width=2 * pb + self.axon_bits, depth=2)
        m.submodules.hostq = hostq = SyncFIFO(width=len(spike.payload), depth=2)
        m.submodules.words = words = SyncFIFO(width=self.word_bits + self.axon_bits,
                                              depth=PACKET_QUEUE)
        heading, accept = Signal(), Signal()  # heading: an entry arrives from the ROM
        cur, end = Signal(pb), Signal(pb)
        axon, word_axon = Signal(self.axon_bits), Signal(self.axon_bits)
        reading, fetch = Signal(), Signal()
        # an entry that finds the queue empty and the current one done is taken at once
        direct = Signal()
        m.d.comb += [accept.eq(spike.valid & (heads.level + heading < 2) & hostq.w_rdy),
                     spike.ready.eq(accept), head_rd.addr.eq(spike.payload),
                     head_rd.en.eq(accept), hostq.w_en.eq(accept),
                     hostq.w_data.eq(spike.payload),
                     direct.eq(heading & ~heads.r_rdy & (cur == end)),
                     heads.w_en.eq(heading & ~direct), heads.w_data.eq(head_rd.data)]
        m.d.sync += heading.eq(accept)
        # the next entry is taken once the current one's words are all read
        m.d.comb += heads.r_en.eq(cur == end)
        entry = Mux(direct, head_rd.data, heads.r_data)
        with m.If(direct | heads.r_en & heads.r_rdy):
            m.d.sync += [cur.eq(entry[:pb]), end.eq(entry[pb:2 * pb]),
                         axon.eq(entry[2 * pb:])]
        # a word is read while the queue has room for it and for the one in flight
        m.d.comb += [fetch.eq((cur != end) & (words.level + reading < PACKET_QUEUE)),
                     word_rd.addr.eq(cur), word_rd.en.eq(fetch),
                     words.w_en.eq(reading), words.w_data.eq(Cat(word_rd.data, word_axon))]
        m.d.sync += [reading.eq(fetch), word_axon.eq(axon)]
        with m.If(fetch):
            m.d.sync += cur.eq(cur + 1)
        m.d.comb += [inject.valid.eq(words.r_rdy), words.r_en.eq(inject.ready),
                     inject.payload.src.eq(words.r_data[self.word_bits:]),
                     inject.payload.as_value()[self.axon_bits:].eq(
                         words.r_data[:self.word_bits]),
                     host.valid.eq(hostq.r_rdy), host.payload.eq(hostq.r_data),
                     hostq.r_en.eq(host.ready),
                     self.empty.eq(~heading & ~heads.r_rdy & (cur == end) & ~reading
                                   & ~words.r_rdy & ~hostq.r_rdy)]

    def _masked(self, m: Module, mask_rd) -> None:
        ab, w, h = self.axon_bits, self.width, self.height
        spike, inject, host = self.spike, self.inject, self.host
        valid, fresh, host_pending = Signal(), Signal(), Signal()
        src = Signal.like(spike.payload)
        axon, mask = Signal(ab), Signal(w * h)
        row = Signal(range(h + 1), init=h)  # the row walked; h: the walk is over
        accept = Signal()
        m.d.comb += [accept.eq(~valid & spike.valid), spike.ready.eq(~valid),
                     mask_rd.addr.eq(spike.payload), mask_rd.en.eq(accept)]
        m.d.sync += fresh.eq(accept)
        with m.If(accept):
            m.d.sync += [valid.eq(1), src.eq(spike.payload), host_pending.eq(1)]
        with m.If(fresh):  # the word, registered as it leaves the RAM
            m.d.sync += [axon.eq(mask_rd.data[:ab]), mask.eq(mask_rd.data[ab:]), row.eq(0)]
        cols = Signal(w)
        m.d.comb += cols.eq(Array(mask[r * w:(r + 1) * w] for r in range(h))[row])
        walking = Signal()
        m.d.comb += [walking.eq(valid & ~fresh & (row != h)),
                     inject.valid.eq(walking & (cols != 0)),
                     inject.payload.src.eq(axon),
                     inject.payload.as_value()[ab:].eq(Cat(row[:coord_bits(h)], cols)),
                     host.valid.eq(valid & host_pending), host.payload.eq(src),
                     self.empty.eq(~valid)]
        with m.If(walking & ((cols == 0) | inject.ready)):  # a row without targets: skipped
            m.d.sync += row.eq(row + 1)
        with m.If(host.valid & host.ready):
            m.d.sync += host_pending.eq(0)
        with m.If(valid & ~fresh & (row == h) & ~host_pending):
            m.d.sync += valid.eq(0)

    def _serial(self, m: Module, head_rd, word_rd) -> None:
        pb = self.p_bits
        valid, fresh = Signal(), Signal()  # fresh: the table entry arrives this clock
        src = Signal.like(self.spike.payload)
        net_pending, host_pending, accept = Signal(), Signal(), Signal()
        cur, end = Signal(pb), Signal(pb)
        axon = Signal(self.axon_bits)
        reading, fetch = Signal(), Signal()
        # words read ahead of the router, so that a spike injects one packet a clock: a read
        # is issued while the queue has room for it and for the one still in flight
        m.submodules.words = words = SyncFIFO(width=self.word_bits, depth=PACKET_QUEUE)
        spike, inject, host = self.spike, self.inject, self.host
        m.d.comb += [accept.eq(~valid & spike.valid), spike.ready.eq(~valid),
                     head_rd.addr.eq(spike.payload), head_rd.en.eq(accept)]
        m.d.sync += fresh.eq(accept)
        with m.If(accept):
            m.d.sync += [valid.eq(1), src.eq(spike.payload), net_pending.eq(1),
                         host_pending.eq(1)]
        with m.If(fresh):  # the entry, registered as it leaves the RAM
            first, last = head_rd.data[:pb], head_rd.data[pb:2 * pb]
            m.d.sync += [cur.eq(first), end.eq(last), axon.eq(head_rd.data[2 * pb:]),
                         net_pending.eq(first != last)]
        m.d.comb += [fetch.eq(valid & ~fresh & net_pending & (cur != end)
                              & (words.level + reading < PACKET_QUEUE)),
                     word_rd.addr.eq(cur), word_rd.en.eq(fetch),
                     words.w_en.eq(reading), words.w_data.eq(word_rd.data)]
        m.d.sync += reading.eq(fetch)
        with m.If(fetch):
            m.d.sync += cur.eq(cur + 1)
        m.d.comb += [inject.valid.eq(words.r_rdy), words.r_en.eq(inject.ready),
                     inject.payload.src.eq(axon),
                     inject.payload.as_value()[self.axon_bits:].eq(words.r_data),
                     host.valid.eq(valid & host_pending), host.payload.eq(src),
                     self.empty.eq(~valid)]
        last_out = (words.level == 1) & inject.ready  # the queue's last word leaves now
        with m.If(valid & ~fresh & net_pending & (cur == end) & ~reading & ~fetch
                  & (~words.r_rdy | last_out)):
            m.d.sync += net_pending.eq(0)
        with m.If(host.valid & host.ready):
            m.d.sync += host_pending.eq(0)
        with m.If(valid & ~fresh & ~net_pending & ~host_pending):
            m.d.sync += valid.eq(0)


PACKET_QUEUE = 3  # words an exit stage reads ahead: one packet a clock at one clock's read


def instantiate(m: Module, name: str, inner: wiring.Component, module: str,
                **params: Any) -> Any:
    """``inner``'s interface, as instance ``name`` of the Verilog module ``module`` (with
    ``params``): the emitted mesh instantiates one module per class instead of elaborating
    every core, exit stage and router again. Port names are Amaranth's for a top-level
    component (the path joined by ``__``), which is how ``module`` is converted."""
    iface = inner.signature.create(path=(name,))
    ports: dict[str, Any] = {}
    for path, member, value in inner.signature.flatten(iface):
        flow = "i" if member.flow == In else "o"
        ports[f"{flow}_{'__'.join(str(p) for p in path)}"] = Value.cast(value)
    m.submodules[name] = Instance(module, i_clk=ClockSignal(), i_rst=ResetSignal(),
                                  **{f"p_{k}": v for k, v in params.items()}, **ports)
    inner._MustUse__silence = True  # built for its signature only: Amaranth's own opt-out
    return iface


def mesh_shape(n_cores: int) -> tuple[int, int]:
    """width × height = n_cores, as square as the factors allow (width >= height)."""
    height = max(h for h in range(1, int(n_cores**0.5) + 1) if n_cores % h == 0)
    return n_cores // height, height


def tree_sum(values: list[Value], op=operator.add) -> Value:
    """A balanced tree of ``op`` (default: adders): a chain of hundreds of adds is as deep as
    Python's recursion."""
    while len(values) > 1:
        values = [op(values[i], values[i + 1]) if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
    return values[0]


class NeuronMesh(wiring.Component):
    """Cores, routers and the step barrier of a :class:`MeshPlan`.

    ``stall > 0`` puts a :class:`LinkStall` on every link (injection, router to router,
    ejection) for verification under back-pressure in Amaranth's simulator; ``stall_hooks``
    puts a :class:`LinkStallHook` there instead (a wire unless a simulator of the emitted
    Verilog defines ``NEUROPASTE_SIM_STALL``). ``rom_init=False``: the fan-out, pointer,
    parameter and routing ROMs are elaborated empty (the emitted Verilog loads ``.hex``
    images). ``prefetch``: the cores' pipelined pointer fetch (False: the serial one).
    ``early_update`` (default): each core updates as soon as it has delivered, without the
    barrier between the phases (False: every core waits for the slowest, the earlier design).
    ``run_ahead`` (default, with ``early_update``): a core that has updated delivers the spikes
    that reach it before the next ``start`` (False: they wait for the next delivery phase);
    ``sweep_overlap`` (default, with ``run_ahead``): already during its own update sweep, on a
    ring of D + 1 accumulator slots in banks (False: once the sweep is over, on D slots).
    ``pipelined`` (default): the cores' registered update and accumulate stages (False: the
    single-clock ones, the earlier design). ``fanout_loadable``: every core's fan-out table is
    a RAM without contents (on the iCE40, SPRAM), written through ``fanout_load`` (address
    ``core | entry``, :func:`neuropaste.protocol.load_address`) by the host link. ``lut``: the
    cores' entries index a table of their (weight, delay) pairs (LIFCore ``lut``).
    ``fast_network`` (default): routers that pass a packet a clock, one clock a hop
    (MeshRouter ``fast``), and exit stages that take a spike a clock (ExitStage ``queued``);
    False: the earlier ones (two clocks a hop, a packet every other clock; five clocks a spike).
    ``split_delays`` (default): each core delivers its axons' delay-1 entries before its next
    sweep and the rest (delay 2 and more) later (LIFCore ``split_delays``; off: the earlier
    design).
    ``quick_start`` (default): a core that has nothing to deliver at ``start`` sweeps at once
    (LIFCore ``quick_start``; False: an empty delivery phase of two clocks first).
    ``short_paths`` (default): ``start`` reaches the cores a clock later from a flip-flop, and
    each ejection link passes a :class:`~neuropaste.hdl.fifo.SkidBuffer` (counted in "network
    empty"); False: both direct (the earlier design). Counters: ``sop_count`` sums the cores';
    ``deliver_cycles`` and ``update_cycles`` count the mesh's phases, so SOPs per delivery
    clock is the array's throughput.
    """

    def __init__(self, plan: MeshPlan, stall: float = 0.0, seed: int = 0, *,
                 rom_init: bool = True, stall_hooks: bool = False, prefetch: bool = True,
                 early_update: bool = True, pipelined: bool = True, packed: bool = True,
                 retimed: bool = True, fanout_loadable: bool = False, hooks: bool = False,
                 run_ahead: bool = True, sweep_overlap: bool = True, lut: bool = False,
                 fast_network: bool = True, quick_start: bool = True,
                 short_paths: bool = True, mask_routes: bool = False, ptr_ends: bool = False,
                 ext_in_r: bool = False, split_delays: bool = True):
        if stall > 0 and stall_hooks:
            raise ValueError("stall (Amaranth simulation) and stall_hooks (Verilog) exclude "
                             "each other")
        self.plan = plan
        self.rom_init = rom_init and not hooks
        self.prefetch = prefetch
        self.early_update = early_update
        self.run_ahead = run_ahead and early_update  # the cores' cross-step run-ahead
        # ... during their own sweep: LIFCore's condition, so the mesh's figures (accumulator
        # banks, image layout) are the cores'
        self.sweep_overlap = sweep_overlap and self.run_ahead and pipelined and retimed
        self.pipelined = pipelined
        # the cores' constant parameters (LIFCore ``packed``); not with ``hooks``: the cores of
        # a class share one module, so their parameters stay in their own images
        self.packed = packed and not hooks
        self.retimed = retimed  # the cores' control for 50 MHz (LIFCore ``retimed``)
        self.lut = lut  # the cores' (weight, delay) tables (LIFCore ``lut``)
        self.fast_network = fast_network  # the routers' one-clock hops (MeshRouter ``fast``)
        self.quick_start = quick_start  # a core with nothing to deliver sweeps at once
        self.short_paths = short_paths  # registered start and ejection; the cores' (LIFCore)
        self.mask_routes = mask_routes  # sender tables of a word a neuron (ExitStage ``masked``)
        self.ptr_ends = ptr_ends and not prefetch  # the cores' one-field pointers (LIFCore)
        self.ext_in_r = ext_in_r  # the cores' input flags in their refractory words (LIFCore)
        # the cores deliver an axon's delay-1 entries first and defer the rest (LIFCore's
        # condition: the rom images are laid out for it only when it is on)
        self.split_delays = split_delays and self.sweep_overlap and prefetch
        self.stall_hooks = stall_hooks
        self.hooks = hooks
        self.n_neurons = plan.n_neurons
        self.stall = stall
        self.seed = seed
        self.a_bits = bits_for(max(plan.n_neurons - 1, 1))
        if fanout_loadable and hooks:
            raise ValueError("loadable fan-out tables are built by the FPGA flow, not emitted")
        self.fanout_loadable = fanout_loadable
        ports = step_ports(self.a_bits)
        if fanout_loadable:  # every core's table, addressed core | entry (protocol.load_address)
            geometries = [CoreGeometry(img, plan.shape(c), packed=self.packed, lut=lut)
                          for c, img in enumerate(plan.images)]
            self.load_entry_bits = max(bits_for(g.entries - 1) for g in geometries)
            ports["fanout_load"] = In(stream.Signature(data.StructLayout({
                "addr": unsigned(core_bits(plan.n_cores) + self.load_entry_bits),
                "data": unsigned(max(g.entry_bits for g in geometries))})))
        super().__init__(ports)

    def _core(self, c: int) -> LIFCore:
        return LIFCore(self.plan.images[c], networked=True, rom_init=self.rom_init,
                       prefetch=self.prefetch, hold=not self.early_update,
                       pipelined=self.pipelined, packed=self.packed, retimed=self.retimed,
                       run_ahead=self.run_ahead,
                       sweep_overlap=self.sweep_overlap, fanout_loadable=self.fanout_loadable,
                       lut=self.lut, quick_start=self.quick_start,
                       short_paths=self.short_paths, ptr_ends=self.ptr_ends,
                       ext_in_r=self.ext_in_r, split_delays=self.split_delays,
                       shape=self.plan.shape(c))

    def _exit(self, c: int, core: LIFCore) -> ExitStage:
        plan, shape = self.plan, self.plan.shape(c)
        return ExitStage(shape["n"], shape["route_words"], core.geometry.n_bits, plan.axon_bits,
                         plan.width, plan.height,
                         _as_ints(sender_table(plan, c, self.mask_routes)) if self.rom_init
                         else None, queued=self.fast_network, masked=self.mask_routes)

    def _router(self) -> MeshRouter:
        return MeshRouter(self.plan.width, self.plan.height, self.plan.axon_bits,
                          fast=self.fast_network)

    def class_modules(self) -> dict[str, wiring.Component]:
        """Module name -> the component it is converted from, with empty ROMs: per core class
        its core and its exit stage (elaborated from the class's first core), and the router.
        With ``hooks`` the mesh instantiates these by name, each core's exit stage and core
        with parameter ``IMAGE = "core_K/"``, the folder of its images under ``rtl/mem``."""
        shapes, class_of = self.plan.classes
        out: dict[str, wiring.Component] = {}
        for k in range(len(shapes)):
            c = int(np.flatnonzero(class_of == k)[0])
            core = LIFCore(self.plan.images[c], networked=True, rom_init=False,
                           prefetch=self.prefetch, hold=not self.early_update,
                           pipelined=self.pipelined, packed=self.packed, retimed=self.retimed,
                           run_ahead=self.run_ahead, sweep_overlap=self.sweep_overlap,
                           lut=self.lut, quick_start=self.quick_start,
                           short_paths=self.short_paths, ptr_ends=self.ptr_ends,
                           ext_in_r=self.ext_in_r, split_delays=self.split_delays,
                           shape=shapes[k])
            out[core_module(k)] = core
            out[exit_module(k)] = ExitStage(shapes[k]["n"], shapes[k]["route_words"],
                                            core.geometry.n_bits, self.plan.axon_bits,
                                            self.plan.width, self.plan.height,
                                            queued=self.fast_network, masked=self.mask_routes)
        out[ROUTER_MODULE] = self._router()
        if self.short_paths:
            out[EJECT_MODULE] = SkidBuffer(self.plan.axon_bits)
        return out

    def elaborate(self, platform) -> Module:
        m = Module()
        plan = self.plan
        w, n_cores = plan.width, plan.n_cores
        layout = packet_layout(plan.axon_bits, w, plan.height)
        _, class_of = plan.classes
        cores, exits, routers = [], [], {}
        protos = self.class_modules() if self.hooks else {}  # one signature per class
        for c in range(n_cores):
            x, y = c % w, c // w
            if self.hooks:
                k = int(class_of[c])
                core = instantiate(m, f"core_{c}", protos[core_module(k)], core_module(k),
                                   IMAGE=f"core_{c}/")
                stage = instantiate(m, f"exit_{c}", protos[exit_module(k)], exit_module(k),
                                    IMAGE=f"core_{c}/")
                router = instantiate(m, f"router_{c}", protos[ROUTER_MODULE], ROUTER_MODULE)
            else:
                core = self._core(c)
                stage, router = self._exit(c, core), self._router()
                m.submodules[f"core_{c}"] = core
                m.submodules[f"exit_{c}"] = stage
                m.submodules[f"router_{c}"] = router
            m.d.comb += [router.x.eq(x), router.y.eq(y)]
            cores.append(core)
            exits.append(stage)
            routers[x, y] = router

        seeds = iter(range(1, 1 << 20))
        for (x, y), r in routers.items():
            for dx, dy, out, into in ((1, 0, "east", "west"), (0, 1, "north", "south")):
                other = routers.get((x + dx, y + dy))
                if other is not None:
                    self._connect(m, f"{x}_{y}_{out}", getattr(r, f"o_{out}"),
                                  getattr(other, f"i_{into}"), layout, next(seeds))
                    self._connect(m, f"{x + dx}_{y + dy}_{into}", getattr(other, f"o_{into}"),
                                  getattr(r, f"i_{out}"), layout, next(seeds))

        # ------------------------------------------------ per core: exit stage and ejection
        host_req, host_src, stage_empty = [], [], []
        host_take = Signal(n_cores)
        for c, (core, stage) in enumerate(zip(cores, exits, strict=True)):
            r = routers[c % w, c // w]
            wiring.connect(m, core.aer_out, stage.spike)
            self._connect(m, f"inject_{c}", stage.inject, r.i_local, layout, next(seeds))
            eject = stream.Signature(layout).flip().create(path=(f"eject_{c}",))
            self._connect(m, f"eject_{c}", r.o_local, eject, layout, next(seeds))
            syn = eject
            if self.short_paths:  # through registers: the router may sit across the die
                if self.hooks:
                    reg = instantiate(m, f"eject_reg_{c}", protos[EJECT_MODULE], EJECT_MODULE)
                else:
                    m.submodules[f"eject_reg_{c}"] = reg = SkidBuffer(plan.axon_bits)
                m.d.comb += [reg.i.valid.eq(eject.valid), reg.i.payload.eq(eject.payload.src),
                             eject.ready.eq(reg.i.ready)]
                syn = reg.o
                stage_empty.append(reg.empty)  # a word in it is in flight
            m.d.comb += [core.syn_in.valid.eq(syn.valid),
                         core.syn_in.payload.eq(syn.payload.src if syn is eject else syn.payload),
                         syn.ready.eq(core.syn_in.ready),
                         stage.host.ready.eq(host_take[c])]
            host_req.append(stage.host.valid)
            host_src.append(stage.host.payload + int(plan.base[c]))
            stage_empty.append(stage.empty)

        if self.fanout_loadable:  # a LOAD word goes to the core its address names
            load, eb = self.fanout_load, self.load_entry_bits
            which = load.payload.addr[eb:]
            for c, core in enumerate(cores):
                mine = which == c if n_cores > 1 else 1
                m.d.comb += [core.fanout_load.valid.eq(load.valid & mine),
                             core.fanout_load.payload.addr.eq(load.payload.addr[:eb]),
                             core.fanout_load.payload.data.eq(load.payload.data)]
                with m.If(mine):
                    m.d.comb += load.ready.eq(core.fanout_load.ready)

        # ------------------------------------------------ host side: merged spikes, demuxed input
        # fixed priority, lowest core first: the lowest request bit, one-hot, by one adder
        # (a case per core would hold a C-bit pattern each: C² bits of text and logic)
        req, grant = Signal(n_cores), Signal(n_cores)
        m.d.comb += [req.eq(Cat(host_req)), grant.eq(req & (~req + 1)),
                     self.aer_out.valid.eq(req.any()),
                     self.aer_out.payload.eq(tree_sum(
                         [host_src[c] & grant[c].replicate(self.a_bits) for c in range(n_cores)],
                         operator.or_)),
                     host_take.eq(grant & self.aer_out.ready.replicate(n_cores))]

        idle = Signal()
        in_ready = Cat(core.aer_in.ready for core in cores).all()
        m.d.comb += self.aer_in.ready.eq(idle & in_ready)
        for c, core in enumerate(cores):
            lo, hi = int(plan.base[c]), int(plan.base[c + 1])
            here = (self.aer_in.payload >= lo) & (self.aer_in.payload < hi)
            m.d.comb += [core.aer_in.valid.eq(idle & self.aer_in.valid & here),
                         core.aer_in.payload.eq(self.aer_in.payload - lo)]

        # ------------------------------------------------ the step barrier
        finished = Signal(n_cores)  # cores that have pulsed done in this step
        seen = Signal(n_cores)  # cores that have delivered in this step
        delivered_now = Cat(core.delivered for core in cores)
        all_delivered = delivered_now.all()  # the barrier (every core holding)
        all_seen = (seen | delivered_now).all()
        network_empty = Signal()
        # retimed: a clock old, from a register (the routers' and exit stages' state spans the
        # die: its AND fed ``done`` on the UP5K meshes' critical path). Safe: ``finished`` is
        # full at clock k only if every core pulsed ``done`` by k - 1, with its output FIFO
        # empty, so from k - 1 on nothing enters the network, and empty at k - 1 is empty at k
        empty_now = Cat(r.idle for r in routers.values()).all() & Cat(stage_empty).all()
        if self.retimed:
            m.d.sync += network_empty.eq(empty_now)
        else:
            m.d.comb += network_empty.eq(empty_now)
        m.d.comb += self.sop_count.eq(tree_sum([core.sop_count for core in cores])[:32])
        core_start = self.start & idle
        if self.short_paths:  # a clock later, from a flip-flop: it fans out to every core
            start_q = Signal()
            m.d.sync += start_q.eq(core_start)
            core_start = start_q
        for core in cores:
            m.d.comb += [core.start.eq(core_start), core.proceed.eq(all_delivered)]
        with m.FSM():
            with m.State("IDLE"):
                cores_busy = Cat(core.busy for core in cores).any()
                m.d.comb += [idle.eq(~cores_busy), self.busy.eq(cores_busy)]
                with m.If(self.start & ~cores_busy):
                    m.d.sync += [finished.eq(0), seen.eq(0)]
                    m.next = "DELIVER"
            done_now = finished | Cat(core.done for core in cores)
            with m.State("DELIVER"):  # until the last core has delivered
                m.d.comb += self.busy.eq(1)
                m.d.sync += [self.deliver_cycles.eq(self.deliver_cycles + 1),
                             seen.eq(seen | delivered_now), finished.eq(done_now)]
                with m.If(all_seen):
                    m.next = "UPDATE"
            with m.State("UPDATE"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += self.update_cycles.eq(self.update_cycles + 1)
                m.d.sync += finished.eq(done_now)
                with m.If((finished == (1 << n_cores) - 1) & network_empty):
                    m.d.comb += self.done.eq(1)
                    m.d.sync += self.step_count.eq(self.step_count + 1)
                    m.next = "IDLE"
        return m

    def _connect(self, m: Module, name: str, src, dst, layout, seed: int) -> None:
        """A link, through a random-stall gate when verifying under back-pressure."""
        if self.stall_hooks:  # an instance of the Verilog link (router.LINK_STALL_VERILOG)
            m.submodules[f"stall_{name}"] = Instance(
                LINK_STALL_MODULE, p_WIDTH=layout.size, p_SEED=stall_seed(self.seed * 7919 + seed),
                i_clk=ClockSignal(), i_rst=ResetSignal(),
                i_i_payload=Value.cast(src.payload), i_i_valid=src.valid, o_i_ready=src.ready,
                o_o_payload=Value.cast(dst.payload), o_o_valid=dst.valid, i_o_ready=dst.ready)
        elif self.stall > 0:
            gate = LinkStall(layout, self.stall, seed=self.seed * 7919 + seed)
            m.submodules[f"stall_{name}"] = gate
            wiring.connect(m, src, gate.i)
            wiring.connect(m, gate.o, dst)
        else:
            wiring.connect(m, src, dst)
