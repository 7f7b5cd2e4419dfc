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
empty and every router is idle: the network holds nothing in flight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth import Cat, Module, Signal, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In

from neuropaste.protocol import core_bits

from .core import CoreGeometry, CoreImage, LIFCore, bits_for, step_ports
from .router import LinkStall, LinkStallHook, MeshRouter, packet_layout


@dataclass(frozen=True, eq=False)
class MeshPlan:
    """What the mesh is built from: one image and one multicast table per core, and the shape."""

    images: list[CoreImage]
    base: np.ndarray  # (cores + 1,) first global address of each core, then N
    routes: list[np.ndarray]  # per core, per local neuron: destination-core bitmask
    width: int
    height: int
    axons: list[np.ndarray]  # per core, per local neuron: the axon index its packets carry

    @property
    def axon_bits(self) -> int:
        """Width of a packet's axon field: the largest index any core's table holds."""
        return bits_for(max(max(img.n_axons for img in self.images) - 1, 1))

    @property
    def n_cores(self) -> int:
        return len(self.images)

    @property
    def n_neurons(self) -> int:
        return int(self.base[-1])


def route_words(plan: MeshPlan, core: int) -> list[int]:
    """Core ``core``'s multicast table, one word a local neuron: destination mask (``n_cores``
    bits) | axon index (``axon_bits``), the ``routes`` ROM's words and
    ``rtl/mem/core_K/routes.hex``."""
    return [int(v) | (int(a) << plan.n_cores)
            for v, a in zip(plan.routes[core], plan.axons[core], strict=True)] or [0]


def mesh_shape(n_cores: int) -> tuple[int, int]:
    """width × height = n_cores, as square as the factors allow (width >= height)."""
    height = max(h for h in range(1, int(n_cores**0.5) + 1) if n_cores % h == 0)
    return n_cores // height, height


def tree_sum(values: list[Value]) -> Value:
    """A balanced adder tree: a chain of hundreds of adds is as deep as Python's recursion."""
    while len(values) > 1:
        values = [values[i] + values[i + 1] if i + 1 < len(values) else values[i]
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
    ``pipelined`` (default): the cores' registered update and accumulate stages (False: the
    single-clock ones, the earlier design). ``fanout_loadable``: every core's fan-out table is
    a RAM without contents (on the iCE40, SPRAM), written through ``fanout_load`` (address
    ``core | entry``, :func:`neuropaste.protocol.load_address`) by the host link.
    Counters: ``sop_count`` sums the cores';
    ``deliver_cycles`` and ``update_cycles`` count the mesh's phases, so SOPs per delivery
    clock is the array's throughput.
    """

    def __init__(self, plan: MeshPlan, stall: float = 0.0, seed: int = 0, *,
                 rom_init: bool = True, stall_hooks: bool = False, prefetch: bool = True,
                 early_update: bool = True, pipelined: bool = True, packed: bool = True,
                 retimed: bool = True, fanout_loadable: bool = False):
        if stall > 0 and stall_hooks:
            raise ValueError("stall (Amaranth simulation) and stall_hooks (Verilog) exclude "
                             "each other")
        self.plan = plan
        self.rom_init = rom_init
        self.prefetch = prefetch
        self.early_update = early_update
        self.pipelined = pipelined
        self.packed = packed  # the cores' constant parameters (LIFCore ``packed``)
        self.retimed = retimed  # the cores' control for 50 MHz (LIFCore ``retimed``)
        self.stall_hooks = stall_hooks
        self.n_neurons = plan.n_neurons
        self.stall = stall
        self.seed = seed
        self.a_bits = bits_for(max(plan.n_neurons - 1, 1))
        self.fanout_loadable = fanout_loadable
        ports = step_ports(self.a_bits)
        if fanout_loadable:  # every core's table, addressed core | entry (protocol.load_address)
            geometries = [CoreGeometry(img, packed=packed) for img in plan.images]
            self.load_entry_bits = max(bits_for(g.entries - 1) for g in geometries)
            ports["fanout_load"] = In(stream.Signature(data.StructLayout({
                "addr": unsigned(core_bits(plan.n_cores) + self.load_entry_bits),
                "data": unsigned(max(g.entry_bits for g in geometries))})))
        super().__init__(ports)

    def elaborate(self, platform) -> Module:
        m = Module()
        plan = self.plan
        w, h, n_cores = plan.width, plan.height, plan.n_cores
        layout = packet_layout(plan.axon_bits, n_cores)
        cores = [LIFCore(img, networked=True, rom_init=self.rom_init, prefetch=self.prefetch,
                         hold=not self.early_update, pipelined=self.pipelined,
                         packed=self.packed, retimed=self.retimed,
                         fanout_loadable=self.fanout_loadable)
                 for img in plan.images]
        routers = {}
        for c, core in enumerate(cores):
            m.submodules[f"core_{c}"] = core
            x, y = c % w, c // w
            routers[x, y] = r = MeshRouter(x, y, w, h, plan.axon_bits)
            m.submodules[f"router_{c}"] = r

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
        for c, core in enumerate(cores):
            r = routers[c % w, c // w]
            base = int(plan.base[c])
            table = Memory(shape=unsigned(n_cores + plan.axon_bits),
                           depth=max(len(plan.routes[c]), 1),
                           init=route_words(plan, c) if self.rom_init else [])
            m.submodules[f"routes_{c}"] = table
            rd = table.read_port()
            valid = Signal(name=f"stage_valid_{c}")
            fresh = Signal(name=f"stage_fresh_{c}")  # table data arrives next clock
            src = Signal(self.a_bits, name=f"stage_src_{c}")
            net_pending = Signal(name=f"stage_net_{c}")
            host_pending = Signal(name=f"stage_host_{c}")
            accept = Signal(name=f"stage_accept_{c}")
            inject = stream.Signature(layout).create(path=(f"inject_{c}",))
            m.d.comb += [accept.eq(~valid & core.aer_out.valid), core.aer_out.ready.eq(~valid),
                         rd.addr.eq(core.aer_out.payload), rd.en.eq(accept)]
            m.d.sync += fresh.eq(accept)
            with m.If(accept):
                m.d.sync += [valid.eq(1), src.eq(core.aer_out.payload),
                             net_pending.eq(1), host_pending.eq(1)]
            net_wait = Signal(name=f"stage_net_wait_{c}")
            # the table word is registered as it leaves the RAM (used from the clock after
            # ``fresh``, as before), so no logic hangs on the RAM's slow output
            mask = Signal(n_cores, name=f"stage_mask_{c}")
            axon = Signal(plan.axon_bits, name=f"stage_axon_{c}")
            remote = Signal(name=f"stage_remote_{c}")
            with m.If(fresh):
                m.d.sync += [mask.eq(rd.data[:n_cores]), axon.eq(rd.data[n_cores:]),
                             remote.eq(rd.data[:n_cores] != 0)]
            m.d.comb += [net_wait.eq(net_pending & (fresh | remote)),
                         inject.valid.eq(valid & ~fresh & net_pending & remote),
                         inject.payload.src.eq(axon), inject.payload.dest.eq(mask)]
            with m.If(inject.valid & inject.ready):
                m.d.sync += net_pending.eq(0)
            with m.If(host_take[c]):
                m.d.sync += host_pending.eq(0)
            with m.If(valid & ~net_wait & ~host_pending):
                m.d.sync += valid.eq(0)
            self._connect(m, f"inject_{c}", inject, r.i_local, layout, next(seeds))
            eject = stream.Signature(layout).flip().create(path=(f"eject_{c}",))
            self._connect(m, f"eject_{c}", r.o_local, eject, layout, next(seeds))
            m.d.comb += [core.syn_in.valid.eq(eject.valid),
                         core.syn_in.payload.eq(eject.payload.src),
                         eject.ready.eq(core.syn_in.ready)]
            host_req.append(valid & host_pending)
            host_src.append(src + base)
            stage_empty.append(~valid)

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
        with m.Switch(Cat(host_req)):  # fixed priority, lowest core first
            for c in range(n_cores):
                with m.Case("-" * (n_cores - 1 - c) + "1" + "0" * c):
                    m.d.comb += [self.aer_out.valid.eq(1), self.aer_out.payload.eq(host_src[c]),
                                 host_take[c].eq(self.aer_out.ready)]

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
        m.d.comb += network_empty.eq(Cat(r.idle for r in routers.values()).all()
                                     & Cat(stage_empty).all())
        m.d.comb += self.sop_count.eq(tree_sum([core.sop_count for core in cores])[:32])
        for core in cores:
            m.d.comb += [core.start.eq(self.start & idle), core.proceed.eq(all_delivered)]
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
        if self.stall > 0 or self.stall_hooks:
            gate = (LinkStallHook(layout, seed=self.seed * 7919 + seed) if self.stall_hooks
                    else LinkStall(layout, self.stall, seed=self.seed * 7919 + seed))
            m.submodules[f"stall_{name}"] = gate
            wiring.connect(m, src, gate.i)
            wiring.connect(m, gate.o, dst)
        else:
            wiring.connect(m, src, dst)
