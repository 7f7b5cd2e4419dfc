"""The time-multiplexed LIF core: docs/semantics.md in logic, one step per start/done handshake.

A core holds a :class:`CoreImage`: its own neurons and, per *axon* (a source that reaches them),
the list of local targets. Alone (``CoreImage.from_network``) its axons are its own neurons and
its spikes loop back; in a mesh (``networked=True``) the axons are the axon indices that packets
carry (``placement.axon_indices``: only those that reach the core), the spikes leave on
``aer_out`` and come back through the routers on ``syn_in``.

Memories (all sized from the image; the ROMs initialised from it unless ``rom_init=False``):

- ``ptr``: per axon, ``start | end`` into the fan-out table (CSR offsets); with
  ``split_delays``, ``start | mid | end``, the axon's delay-1 entries first (``split_order``);
- ``fanout``: per entry ``target | weight | delay`` (an axon's entries contiguous); with
  ``lut``, ``target | pair`` and ``wd``: per distinct (weight, delay) pair of the core,
  ``weight | delay`` (a core of C. elegans has 50-120 pairs among 1,000-6,000 entries, so an
  entry fits the 16 bits of an iCE40 SPRAM word);
- ``acc``: the ring of per-delay accumulators, address ``slot · 2^n_bits + target``;
- ``v``, ``r``: membrane and refractory counter per neuron; ``ext``: one pending-event bit;
- ``param``: per neuron ``threshold | v_reset | bias | leak_shift | refractory`` (ROM). Packed
  (the default), a field that every neuron of the core shares is a constant of the logic
  instead, so a core whose neurons all share their parameters (C. elegans) has no ``param``
  memory at all; ``packed=False`` keeps every field in the ROM (the earlier design).

After reset the core spends ``D · 2^n_bits`` clocks (``busy`` high) zeroing ``acc``, ``v``,
``r`` and ``ext``, so it never depends on a memory's power-up contents.

A step (docs/hardware.md): in IDLE the core takes AER input events (each sets the target's
``ext`` bit); ``start`` runs the delivery phase (the previous step's spikes, from the spike FIFO,
one synaptic operation per clock: entry read, accumulator read, accumulator write, with the
accumulator read port transparent to its write port so back-to-back updates of one address
chain without a stall) and the update phase (one neuron per clock); spikes go to the AER output
FIFO (and, alone, to the spike FIFO for the next step). ``done`` pulses when the output FIFO is
drained. A networked core waits between the phases (``delivered`` high) for ``proceed``: the
mesh's barrier, so that no core updates while another still delivers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from neuropaste.hdl.fifo import FlagFIFO
from neuropaste.hdl.onehot import StateMachine
from neuropaste.ir import Network, fanout_table

RANGE_DEPTH = 3  # fan-out ranges fetched ahead: one source a clock (docs/hardware.md)
#: deferred ranges a core with ``split_delays`` queues (LIFCore); a spike that finds it full
#: has its whole range delivered at once
DEFERRED_DEPTH = 16
PARAMS = ("threshold", "v_reset", "bias", "leak_shift", "refractory")  # the param word's order
SIGNED_PARAMS = ("threshold", "v_reset", "bias")
#: the largest maximum delay D for which a mesh build keeps ``sweep_overlap`` on (LIFCore): its
#: ring is D + 1 banks, one memory (an SRAM macro on an ASIC) each, and the extra bank costs
#: 1/D of the accumulators; up to D = 4 that is 5 banks and at most a quarter more
#: (docs/hardware.md, "Cross-step run-ahead")
SWEEP_OVERLAP_MAX_DELAY = 4


def bits_for(n: int) -> int:
    """Unsigned width that holds 0..n."""
    return max(1, int(n).bit_length())


@dataclass(frozen=True, eq=False)
class CoreImage:
    """What one core's memories hold, plus the widths every core of a design shares."""

    threshold: np.ndarray  # (n,) per local neuron
    v_reset: np.ndarray
    bias: np.ndarray
    leak_shift: np.ndarray
    refractory: np.ndarray
    indptr: np.ndarray  # (axons + 1,) CSR over axons
    target: np.ndarray  # local neuron of each entry
    weight: np.ndarray
    delay: np.ndarray
    w_bits: int
    v_bits: int
    acc_bits: int
    max_delay: int
    stim_weight: int
    sources: int  # axons with entries: the most spikes that can arrive in one step

    @property
    def n_neurons(self) -> int:
        return len(self.threshold)

    @property
    def n_axons(self) -> int:
        return len(self.indptr) - 1

    @classmethod
    def from_network(cls, net: Network) -> CoreImage:
        """The whole network on one core: axon i is neuron i."""
        indptr, target, weight, delay = fanout_table(net)
        return cls(threshold=net.threshold, v_reset=net.v_reset, bias=net.bias,
                   leak_shift=net.leak_shift, refractory=net.refractory, indptr=indptr,
                   target=target, weight=weight, delay=delay, w_bits=net.w_bits,
                   v_bits=net.v_bits, acc_bits=net.acc_bits, max_delay=net.max_delay,
                   stim_weight=int(net.stim_weight), sources=net.n_neurons)


#: the sizes a core class rounds up (:func:`neuropaste.hdl.mesh.core_classes`); every other width
#: is shared by the whole network or derived from these
SHAPE = ("n", "axons", "entries", "sources", "k_bits", "r_bits", "b_bits", "pairs")


def weight_delay_pairs(image: CoreImage) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (weight, delay) pairs of ``image``'s entries, sorted, and each entry's
    index among them: the ``wd`` table and the ``pair`` field of a ``lut`` core's entries.
    Computed once per image (a mesh asks for it per geometry, thousands of times)."""
    cached = image.__dict__.get("_pairs")
    if cached is not None:
        return cached
    if not len(image.target):
        out = np.zeros(1, np.int64), np.ones(1, np.int64), np.zeros(0, np.int64)
    else:
        # one int64 key per entry, ordered as (weight, delay): a 1-D unique, not a row sort
        w, d = np.asarray(image.weight, np.int64), np.asarray(image.delay, np.int64)
        w0, span = int(w.min()), int(d.max()) + 1
        keys, index = np.unique((w - w0) * span + d, return_inverse=True)
        out = keys // span + w0, keys % span, index.reshape(-1)
    object.__setattr__(image, "_pairs", out)
    return out


class CoreGeometry:
    """Every width and depth of one core, derived from the image it holds; ``shape`` raises
    the sizes of :data:`SHAPE` to those of the core's class, so that cores of one class share
    one module and their images are padded to it (:func:`memory_images`). ``packed``: a
    parameter every neuron shares is a constant, not a ROM column (threshold and bias stay in
    the ROM when the class pads neurons, since a padded neuron must never spike, unless the
    bias is 0 and the threshold above 0 for all: then it cannot). ``lut``: an entry
    holds the index of its (weight, delay) pair in the ``wd`` table instead of the pair.
    ``sweep_overlap``: the accumulator ring has D + 1 slots (LIFCore ``sweep_overlap``).
    ``ptr_ends``: the ``ptr`` word holds an axon's end only (LIFCore ``ptr_ends``).
    ``split``: an axon's delay-1 entries come first and its pointer word holds where they end
    (``start | mid | end``; LIFCore ``split_delays``); only when some delay exceeds 1."""

    def __init__(self, image: CoreImage | Network, shape: dict[str, int] | None = None,
                 packed: bool = True, lut: bool = False, sweep_overlap: bool = False,
                 ptr_ends: bool = False, split: bool = False):
        if isinstance(image, Network):
            image = CoreImage.from_network(image)
        size = {"n": image.n_neurons, "axons": image.n_axons, "entries": len(image.target),
                "sources": image.sources,
                "k_bits": bits_for(int(image.leak_shift.max(initial=0))),
                "r_bits": bits_for(int(image.refractory.max(initial=0))),
                "b_bits": max(2, int(np.abs(image.bias).max(initial=0)).bit_length() + 1),
                "pairs": len(weight_delay_pairs(image)[0])}
        for k in SHAPE:  # a class's shape may hold more (the mesh's sender table)
            size[k] = max(size[k], int((shape or {}).get(k, 0)))
        self.n = size["n"]
        self.axons = size["axons"]
        self.entries = max(size["entries"], 1)
        self.n_bits = bits_for(max(self.n - 1, 1))
        self.a_bits = bits_for(max(self.axons - 1, 1))
        self.e_bits = bits_for(size["entries"])
        self.w_bits = image.w_bits
        self.v_bits = image.v_bits
        self.acc_bits = image.acc_bits
        self.max_delay = image.max_delay
        self.d_bits = bits_for(image.max_delay)  # delays 1..D
        self.slot_bits = bits_for(max(image.max_delay - 1, 1))
        self.k_bits = size["k_bits"]
        self.r_bits = size["r_bits"]
        self.b_bits = size["b_bits"]
        # accumulator words: D slots, or D + 1 banks (LIFCore ``sweep_overlap``)
        self.acc_depth = (image.max_delay + bool(sweep_overlap)) << self.n_bits
        self.split = bool(split) and image.max_delay >= 2 and not ptr_ends
        self.stim_weight = int(image.stim_weight)
        self.spike_depth = max(1, size["sources"])
        self.lut = lut
        self.ptr_ends = ptr_ends
        # a ``ptr`` word: end | start (| mid, split)
        self.ptr_bits = self.e_bits * (1 if ptr_ends else 3 if self.split else 2)
        self.pairs = size["pairs"]  # distinct (weight, delay) pairs (of the class)
        self.wd_bits = self.w_bits + self.d_bits
        self.l_bits = bits_for(max(self.pairs - 1, 1)) if lut else 0
        self.entry_bits = self.n_bits + (self.l_bits if lut else self.wd_bits)
        widths = {"threshold": self.v_bits, "v_reset": self.v_bits, "bias": self.b_bits,
                  "leak_shift": self.k_bits, "refractory": self.r_bits}
        # packed: a field every neuron shares is a constant, not a ROM column
        # a padded neuron (no input, v = 0 after the clear) never spikes if the shared bias is
        # 0 and the shared threshold above 0: its v stays 0; otherwise it needs ROM words
        quiet = bool(image.n_neurons and np.all(image.bias == 0)
                     and np.all(image.threshold == image.threshold[0]) and image.threshold[0] > 0)
        padded = self.n > image.n_neurons and not quiet
        shared = {f: int(getattr(image, f)[0]) for f in PARAMS
                  if packed and image.n_neurons and not (padded and f in ("threshold", "bias"))
                  and np.all(getattr(image, f) == getattr(image, f)[0])}
        self._param_const = shared
        self._param_stored = [(f, widths[f]) for f in PARAMS if f not in shared]
        self._param_widths = widths
        self._pad = self.n - image.n_neurons
        self.param_bits = sum(w for _, w in self._param_stored)

    def param_values(self, word: Value) -> dict[str, Value]:
        """Each parameter of the neuron whose ROM word is ``word``: a slice of it, or the
        constant that the whole core shares."""
        out, shift = {}, 0
        for f in PARAMS:
            w = self._param_widths[f]
            shape = signed(w) if f in SIGNED_PARAMS else unsigned(w)
            if f in self._param_const:
                out[f] = Const(self._param_const[f], shape)
            else:
                out[f] = word[shift:shift + w].as_signed() if f in SIGNED_PARAMS \
                    else word[shift:shift + w]
                shift += w
        return out

    def param_columns(self, image: CoreImage) -> list[tuple[np.ndarray, int]]:
        """The fields the ``param`` ROM holds, in its word order (first in the low bits),
        padded to the class's neurons: threshold the largest membrane value, the rest 0."""
        fill = {"threshold": (1 << (self.v_bits - 1)) - 1}
        return [(np.concatenate([getattr(image, f),
                                 np.full(self._pad, fill.get(f, 0), np.int64)]), w)
                for f, w in self._param_stored]

    def as_dict(self) -> dict[str, int]:
        return {k: int(v) for k, v in vars(self).items() if not k.startswith("_")}


def split_order(image: CoreImage) -> tuple[np.ndarray, np.ndarray]:
    """The fan-out entries reordered so that each axon's delay-1 entries come first (stably),
    and per axon the index where they end (``mid``): the split image of LIFCore
    ``split_delays``. The sums are the same in any order (integer additions)."""
    counts = np.diff(image.indptr)
    axon = np.repeat(np.arange(image.n_axons), counts)
    late = np.asarray(image.delay) > 1
    order = np.lexsort((late, axon))
    mid = image.indptr[:-1] + np.bincount(axon[~late], minlength=image.n_axons)
    return order, mid


def _pack(fields: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """Concatenate two's-complement fields, first field in the least significant bits: uint64
    words when they fit (vectorised: a core holds up to 2^20 entries), else Python ints."""
    n = len(fields[0][0])
    if sum(width for _, width in fields) <= 64:
        words = np.zeros(n, np.uint64)
        shift = 0
        for values, width in fields:
            field = np.asarray(values, np.int64).astype(np.uint64) & np.uint64((1 << width) - 1)
            words |= field << np.uint64(shift)
            shift += width
        return words
    out = np.zeros(n, object)
    shift = 0
    for values, width in fields:
        mask = (1 << width) - 1
        out += np.array([(int(x) & mask) << shift for x in np.asarray(values).tolist()] or [],
                        object)
        shift += width
    return out


def memory_images(image: CoreImage, g: CoreGeometry) -> dict[str, tuple[np.ndarray, int]]:
    """ROM contents as (words, width), first field in the least significant bits: the one word
    layout that the Amaranth initialisers, the ``rtl/mem/*.hex`` images the emitted Verilog
    reads with ``$readmemh``, and the host's LOAD frames share. A geometry larger than the
    image (its class's) pads them: axons without entries, zero fan-out words, and neurons
    whose threshold is the largest membrane value, with no bias and no input, which never
    spike. No ``param`` when the geometry keeps every parameter as a constant; ``wd`` (the
    (weight, delay) pairs, padded with zeros) when it is a ``lut`` geometry."""
    end = np.full(g.axons - image.n_axons, len(image.target))
    order, mid = split_order(image) if g.split else (slice(None), None)
    lut = {}
    if g.lut:
        weights, delays, index = weight_delay_pairs(image)
        fanout = _pack([(image.target[order], g.n_bits), (index[order], g.l_bits)])
        wd = _pack([(weights, g.w_bits), (delays, g.d_bits)])
        lut["wd"] = (np.concatenate([wd, np.zeros(g.pairs - len(wd), wd.dtype)]), g.wd_bits)
    else:
        fanout = _pack([(image.target[order], g.n_bits), (image.weight[order], g.w_bits),
                        (image.delay[order], g.d_bits)])
    ends = np.concatenate([image.indptr[1:], end])
    fields = [] if g.ptr_ends else [(np.concatenate([image.indptr[:-1], end]), g.e_bits)]
    if g.split:
        fields.append((np.concatenate([mid, end]), g.e_bits))
    fields.append((ends, g.e_bits))
    out = {
        "ptr": (_pack(fields), g.ptr_bits),
        "fanout": (np.concatenate([fanout, np.zeros(g.entries - len(fanout), fanout.dtype)]),
                   g.entry_bits),
    }
    if g.param_bits:
        out["param"] = (_pack(g.param_columns(image)), g.param_bits)
    return out | lut


def _stage(m: Module, domain: str, name: str, **values) -> dict[str, Signal]:
    """Each value through a register (``domain="sync"``) or a wire (``"comb"``): one pipeline
    stage, so the unpipelined core is the same description with its stage registers removed.
    Only ``valid`` and ``fire`` are reset: data registers need none, and a reset net that reaches
    every flip-flop is a long one."""
    out = {}
    for key, value in values.items():
        value = Value.cast(value)
        out[key] = Signal(value.shape(), name=f"{name}_{key}",
                          reset_less=key not in ("valid", "fire"))
        m.d[domain] += out[key].eq(value)
    return out


class _PortView:
    """The address, data and enable of one field of a memory port that two fields share
    (LIFCore ``ext_in_r``); the core drives it as it would a port of its own."""

    def __init__(self, addr: Signal, width: int):
        self.addr, self.data, self.en = Signal.like(addr), Signal(width), Signal()


def step_ports(address_bits: int) -> dict[str, wiring.Member]:
    """The host side every neuron array shares (one core or a mesh): docs/hardware.md, Ports."""
    return {
        "aer_in": In(stream.Signature(unsigned(address_bits))),
        "aer_out": Out(stream.Signature(unsigned(address_bits))),
        "start": In(1),
        "busy": Out(1),
        "done": Out(1),
        "step_count": Out(32),
        "sop_count": Out(32),
        "deliver_cycles": Out(32),
        "update_cycles": Out(32),
    }


class LIFCore(wiring.Component):
    """One LIF core holding a :class:`CoreImage` (or a whole :class:`~neuropaste.ir.Network`).

    Ports: ``aer_in`` (stream of local neuron addresses, accepted while idle), ``aer_out``
    (stream of the local addresses that spiked), ``start`` (pulse: run one step), ``busy``,
    ``done`` (pulse at the end of a step), and the counters ``step_count``, ``sop_count``,
    ``deliver_cycles`` and ``update_cycles`` for measurement.

    ``networked``: spikes arrive as axon addresses on ``syn_in`` (at any time: the spike FIFO
    holds every axon once, so within a step it never refuses one) instead of looping back, and
    the core waits after delivery with ``delivered`` high until ``proceed``.

    ``fanout_loadable``: the fan-out table is a RAM without initial contents, written through
    ``fanout_load`` while idle. Its read and write ports share one address, so a single-port
    RAM (iCE40 SPRAM, which a bitstream cannot initialise) can hold it; the host loads it.

    ``rom_init=False``: the ROMs (``ptr``, ``fan``, ``param``, ``wd``) are elaborated empty,
    because the emitted Verilog loads them from the ``.hex`` images (``generators/rtl.py``);
    building the contents into the elaboration would cost time and memory for nothing.

    ``prefetch`` (default): pointer reads are pipelined through a queue of ``RANGE_DEPTH``
    fan-out ranges, so a source costs max(1, entries) clocks; ``prefetch=False`` is the earlier
    fetch (one pointer at a time, 3 clocks for a source of fewer than 3 entries), kept so the
    bench can measure both in one run.

    ``hold=False`` (networked): no barrier between the phases. The core delivers exactly the
    spikes that were in its spike FIFO at ``start`` (the previous step's: the mesh starts a step
    only when nothing is in flight), pulses ``delivered`` and updates at once; spikes of this
    step that other cores send meanwhile queue behind them for the next step.

    ``packed`` (default): parameters that all the core's neurons share are constants, not ROM
    columns (``CoreGeometry.param_values``); False keeps the whole ``param`` word in ROM.
    ``retimed`` (default, for 50 MHz on the UP5K): the phase state machine has a flip-flop per
    state (:mod:`neuropaste.hdl.onehot`), the spike and output FIFOs registered flags
    (:mod:`neuropaste.hdl.fifo`), the pipelined accumulator forwards from registers instead of
    a transparent read port, and queued ranges carry their second entry; False: the earlier
    design.

    ``run_ahead`` (networked, ``hold=False``): once its update sweep is over, the core delivers
    the spikes of this step that reach it while it waits for the next ``start`` (they touch
    slots t + 1 and later only), instead of queueing them all for the next delivery phase; the
    next delivery then has only the stragglers left (docs/hardware.md, "Cross-step run-ahead").
    ``sweep_overlap`` (with ``run_ahead``, pipelined and retimed): the core delivers them during
    its own update sweep already; the accumulator ring then has D + 1 slots, one memory bank
    each, so that the sweep's slot t is never one the deliveries add into (t + 1 .. t + D).

    ``quick_start`` (networked, ``hold=False``, pipelined and retimed): a ``start`` that finds
    nothing to deliver (no spike held or arriving, the delivery pipeline empty, all known from
    flip-flops) goes straight to the update sweep, without the two clocks of an empty delivery
    phase (docs/hardware.md, "A shorter step").

    ``split_delays`` (with ``sweep_overlap`` and ``prefetch``, and a delay above 1): an axon's
    delay-1 entries come first (``split_order``) and its pointer word says where they end; a
    popped spike delivers those at once and queues the rest of its range (delay 2 and more:
    slots t + 2 and later) as *deferred* work, taken when nothing else is to be done. The
    next sweep waits only for the delay-1 parts of the step's spikes and for the deferred parts
    of the step before (docs/hardware.md, "Split delays").

    ``lut``: fan-out entries hold ``target | pair``, the pair's (weight, delay) read from
    the core's small ``wd`` table (logic on the iCE40: an asynchronous ROM) in a stage of its own
    (DL, between D2 and the accumulator read), so that an entry fits one SPRAM word; one more
    clock of drain per delivery.

    ``short_paths`` (default): the update's saturation tests read the sum's top bits instead
    of comparing it with the rails (no carry chain ahead of the select); False: the earlier
    comparisons, the same results.
    """

    def __init__(self, image: CoreImage | Network, *, networked: bool = False,
                 fanout_loadable: bool = False, rom_init: bool = True, prefetch: bool = True,
                 hold: bool = True, pipelined: bool = True, packed: bool = True,
                 retimed: bool = True, run_ahead: bool = False, sweep_overlap: bool = False,
                 lut: bool = False, quick_start: bool = False,
                 short_paths: bool = True, ptr_ends: bool = False, ext_in_r: bool = False,
                 split_delays: bool = False,
                 shape: dict[str, int] | None = None):
        if isinstance(image, Network):
            image = CoreImage.from_network(image)
        # run-ahead needs the per-step count of owed spikes, which only an early-updating
        # networked core keeps
        self.run_ahead = run_ahead and networked and not hold
        # ... and delivering during the own sweep needs a second slot bank and the forwarding
        # from registers (no transparent read port to share)
        self.sweep_overlap = self.run_ahead and sweep_overlap and pipelined and retimed
        # the serial fetch reads an axon's end, then its start (the word before): the table
        # is half as wide, a source costs a clock more
        self.ptr_ends = ptr_ends and not prefetch
        self.ext_in_r = ext_in_r
        g = CoreGeometry(image, shape, packed=packed, lut=lut, sweep_overlap=self.sweep_overlap,
                         ptr_ends=self.ptr_ends,
                         split=split_delays and self.sweep_overlap and prefetch)
        self.split = g.split  # deferred delivery of the entries of delay 2 and more
        self.lut = lut
        self.short_paths = short_paths
        self.packed = packed
        self.retimed = retimed
        self.geometry = g
        self.image = image
        self.n_neurons = g.n
        self.networked = networked
        self.fanout_loadable = fanout_loadable
        self.rom_init = rom_init
        self.prefetch = prefetch
        self.hold = hold
        self.pipelined = pipelined
        # going from ``start`` straight to the sweep needs the registered counts
        self.quick_start = quick_start and networked and not hold and pipelined and retimed
        ports = step_ports(g.n_bits)
        if networked:
            ports |= {"syn_in": In(stream.Signature(unsigned(g.a_bits))),
                      "delivered": Out(1), "proceed": In(1)}
        if fanout_loadable:
            ports["fanout_load"] = In(stream.Signature(data.StructLayout({
                "addr": unsigned(bits_for(g.entries - 1)), "data": unsigned(g.entry_bits)})))
        super().__init__(ports)

    @property
    def range_depth(self) -> int:
        """Fan-out ranges the pipelined fetch queues: one more per pointer register, and one
        for the room test made a clock early."""
        return RANGE_DEPTH + 3 * self.pipelined

    @property
    def fetch_clocks(self) -> int:
        """Clocks from a delivery's start until its first operation issues."""
        return (5 if self.pipelined else 3) + self.ptr_ends

    @property
    def empty_delivery_clocks(self) -> int:
        """Clocks of a delivery with nothing to deliver."""
        return 2 if self.pipelined else 1

    @property
    def drain_clocks(self) -> int:
        """What a delivery costs beyond one clock per operation and the first fetch: the clocks
        from the last issue to its accumulator write, and (pipelined) one for the registered
        "pipeline empty" test; and the ``wd`` lookup's stage (``lut``, pipelined)."""
        return (6 + self.lut) if self.pipelined else 2

    @property
    def deferred_depth(self) -> int:
        """Ranges the deferred queue holds; when it is full a spike's range is delivered
        whole (as without ``split_delays``)."""
        return DEFERRED_DEPTH

    def _split_queue(self, m: Module, g: CoreGeometry, defq, ranges, room, ptr_q, may_fetch, ahead,
                     turn, old_any, move, defq_any) -> None:
        """``split_delays``: the deferred ranges (P2's second range, delay 2 and more) queue
        here and move into the range queue in a clock that fetches no spike and P2 writes no
        range, while it holds at
        most one range and has room for those in flight (a move counts as a fetch there: at
        most one of them a clock): in a delivery phase only those of the step before
        (``old_any``), from its end on all."""
        eb = g.e_bits
        m.d.comb += [defq.w_en.eq(ptr_q["valid"] & ptr_q["d_targets"]),
                     defq.w_data.eq(Cat(ptr_q["d_start"], ptr_q["d_last"], ptr_q["d_next"],
                                        ptr_q["d_single"])),
                     defq_any.eq(defq.r_rdy)]
        allow = (old_any | ahead) & ~self.start  # prev may change with a start: none then
        # not while P2 writes the range queue (its one write port)
        m.d.comb += move.eq(defq.r_rdy & allow & ~may_fetch & room & ~ptr_q["valid"]
                            & (ranges.level <= 1))
        with m.If(move):  # the front ranges are the old ones (the queue is in step order)
            m.d.comb += [ranges.w_en.eq(1), defq.r_en.eq(1),
                         ranges.w_data.eq(Cat(defq.r_data[:3 * eb], old_any, defq.r_data[-1]))]
        old = Signal(range(self.deferred_depth + 1))  # ranges of the step before still queued
        with m.If(turn):  # nothing is pushed or moved at the turn: the pipeline is empty
            m.d.sync += [old.eq(defq.level), old_any.eq(defq.level != 0)]
        with m.Elif(move & old_any):
            m.d.sync += [old.eq(old - 1), old_any.eq(old != 1)]

    def elaborate(self, platform) -> Module:
        m = Module()
        g, image = self.geometry, self.image
        n, nb = g.n, g.n_bits

        rom = {k: (words.tolist(), width) for k, (words, width)
               in memory_images(image, g).items()} if self.rom_init else {
            "ptr": ([], g.ptr_bits), "fanout": ([], g.entry_bits), "param": ([], 0),
            "wd": ([], g.wd_bits)}
        m.submodules.ptr = ptr = Memory(shape=unsigned(g.ptr_bits), depth=g.axons,
                                        init=rom["ptr"][0])
        m.submodules.fan = fan = Memory(shape=unsigned(g.entry_bits), depth=g.entries,
                                        init=[] if self.fanout_loadable else rom["fanout"][0])
        wd_rd = None
        if g.lut:  # read asynchronously, between two stage registers: logic, not a block RAM
            m.submodules.wd = wd = Memory(shape=unsigned(g.wd_bits), depth=g.pairs,
                                          init=rom["wd"][0])
            wd_rd = wd.read_port(domain="comb")
        param_rd = None
        if g.param_bits:  # packed, parameters that every neuron shares are constants
            m.submodules.param = param = Memory(shape=unsigned(g.param_bits), depth=n,
                                                init=rom["param"][0])
            param_rd = param.read_port()
        # state memories start at zero here; the core sweeps them after reset anyway
        ring = g.max_delay + self.sweep_overlap  # accumulator slots: D, or D + 1 in banks
        acc_depth = g.acc_depth
        if self.sweep_overlap:  # a bank per slot: the sweep and the deliveries use two at once
            banks = [Memory(shape=signed(g.acc_bits), depth=1 << nb, init=[])
                     for _ in range(ring)]
            for b, bank in enumerate(banks):
                m.submodules[f"acc{b}"] = bank
        else:
            m.submodules.acc = acc = Memory(shape=signed(g.acc_bits), depth=acc_depth, init=[])
        m.submodules.vmem = vmem = Memory(shape=signed(g.v_bits), depth=n, init=[])
        if self.ext_in_r:  # one memory, ``ext | r``; the ports below are views of its two
            m.submodules.rmem = rmem = Memory(shape=unsigned(g.r_bits + 1), depth=n, init=[])
            rx_wr, rx_rd = rmem.write_port(), rmem.read_port()
            r_wr, ext_wr = (_PortView(rx_wr.addr, w) for w in (g.r_bits, 1))
            r_rd, ext_rd = (_PortView(rx_rd.addr, w) for w in (g.r_bits, 1))
            m.d.comb += [r_rd.data.eq(rx_rd.data[:g.r_bits]), ext_rd.data.eq(rx_rd.data[-1])]
        else:
            m.submodules.rmem = rmem = Memory(shape=unsigned(g.r_bits), depth=n, init=[])
            m.submodules.ext = ext = Memory(shape=unsigned(1), depth=n, init=[])
        # one spare entry: a buffered FIFO's output register fills a clock after a write, so
        # a full step's spikes on consecutive clocks would otherwise overrun a 2-entry FIFO
        fifo = FlagFIFO if self.retimed else SyncFIFOBuffered  # the same, flags registered
        m.submodules.spikes = spikes = fifo(width=g.a_bits, depth=g.spike_depth + 1)
        m.submodules.outq = outq = fifo(width=nb, depth=n + 1)

        ptr_rd = ptr.read_port()
        fan_rd = fan.read_port()
        # pipelined, the write that a read would need to see at its own clock is forwarded
        # from registers (D4 below), not by a transparent port, whose address comparison
        # would hang on the read address logic (the UP5K's critical path)
        forward = self.pipelined and self.retimed
        if self.sweep_overlap:
            bank_wr = [bank.write_port() for bank in banks]
            bank_rd = [bank.read_port() for bank in banks]
        else:
            acc_wr = acc.write_port()
            acc_rd = acc.read_port(transparent_for=() if forward else (acc_wr,))
        if self.ext_in_r:
            v_wr, v_rd = vmem.write_port(), vmem.read_port()
        else:
            v_wr, r_wr, ext_wr = vmem.write_port(), rmem.write_port(), ext.write_port()
            v_rd, r_rd, ext_rd = vmem.read_port(), rmem.read_port(), ext.read_port()

        # ---------------------------------------------------------------- control state
        idle = Signal()  # in IDLE, as a flip-flop of its own (set and cleared with the state)
        slot = Signal(range(max(ring, 2)))  # t mod D (the ring's slots)
        # (t - 1) mod D: base slot of this step's deliveries; retimed, a register that follows
        # ``slot`` (the accumulator's read address starts from flip-flops)
        prev = Signal.like(slot, init=ring - 1 if self.retimed else 0)
        # split: (t - 2) mod ring, the base of deferred work of the step before, following
        # ``prev`` (it takes prev's value when prev takes slot's)
        prev_old = Signal.like(slot, init=max(ring - 2, 0))
        if not self.retimed:
            m.d.comb += prev.eq(Mux(slot == 0, ring - 1, slot - 1))

        # ---------------------------------------------------------------- delivery datapath
        ptr_pending = Signal()  # a pointer read issued last cycle
        buf_valid = Signal()
        buf_start = Signal(g.e_bits)
        buf_last = Signal(g.e_bits)
        cur_valid = Signal()
        cur_e = Signal(g.e_bits)
        cur_last = Signal(g.e_bits)  # a range is kept as first and last entry: its end
        # tests are then comparisons, with the one subtraction made as the pointer arrives
        s1_valid = Signal()  # fan-out entry data arrives
        delivering = Signal()  # in DELIVER, as a flip-flop of its own (fetch decodes no state)
        issue = Signal()
        issue_addr = Signal(g.e_bits)

        pipe = "sync" if self.pipelined else "comb"  # the stages that pipelining adds
        # P1: the pointer word, registered as it leaves the RAM (whose clock-to-output is most
        # of a clock on the ECP5); P2: its last entry and whether it has any, registered, so
        # the range queue's write enable comes from a flip-flop
        p1_valid, p1_data = ptr_pending, ptr_rd.data
        second = None  # ptr_ends: the start's read (the word before) is answered now
        if self.ptr_ends:
            second, first, end_reg = Signal(), Signal(), Signal(g.e_bits)
            before = Signal(g.a_bits)  # the axon's index - 1: its start is the word there
            m.d.sync += second.eq(ptr_pending)
            with m.If(ptr_pending):
                m.d.sync += end_reg.eq(ptr_rd.data)
            p1_valid, p1_data = second, Cat(Mux(first, 0, ptr_rd.data), end_reg)
        ptr_w = _stage(m, pipe, "p1", valid=p1_valid, data=p1_data)
        eb = g.e_bits
        p_first, p_end = ptr_w["data"][:eb], ptr_w["data"][eb:2 * eb]  # split: end of delay 1
        later, defq = {}, None
        if self.split:  # the rest of the range, from ``mid`` (P1's end) to the word's end
            m.submodules.deferred = defq = SyncFIFO(width=3 * eb + 1, depth=self.deferred_depth)
            # the deferred queue has room for this range: else the range goes whole to the
            # range queue (delivering an entry early is always right: its slot is base + delay)
            droom = Signal()
            p_mid, p_end2 = p_end, ptr_w["data"][2 * eb:3 * eb]
            p_end = Mux(droom, p_mid, p_end2)
            later = {"d_start": p_mid, "d_last": (p_end2 - 1)[:eb],
                     "d_targets": droom & (p_mid != p_end2),
                     "d_next": (p_mid + 1)[:eb], "d_single": p_mid + 1 == p_end2}
        ptr_q = _stage(m, pipe, "p2", valid=ptr_w["valid"], start=p_first,
                       last=p_end - 1,
                       targets=p_first != p_end,
                       next=(p_first + 1)[:g.e_bits],
                       single=p_first + 1 == p_end, **later)
        p_start, p_next = ptr_q["start"], ptr_q["next"]
        p_last = ptr_q["last"][:g.e_bits]
        in_flight = (ptr_pending + ptr_w["valid"] + ptr_q["valid"] if self.pipelined
                     else ptr_pending)
        if self.ptr_ends:
            in_flight = in_flight + second
        if self.split:
            # tested a clock before the range is in P1: the queue's level then, plus every
            # pointer in flight then (this one among them), each of which pushes at most once
            m.d.sync += droom.eq(defq.level + in_flight <= self.deferred_depth)
        slot_sum = Signal(range(2 * ring + 1))
        e_slot = Signal.like(slot)

        if self.pipelined:
            # two spikes at the head of the FIFO in registers, refilled whenever one has room:
            # the FIFO's read enable then waits on no decision of the fetch
            m.submodules.head = head = SyncFIFO(width=g.a_bits, depth=2)
            m.d.comb += [head.w_data.eq(spikes.r_data), head.w_en.eq(spikes.r_rdy),
                         spikes.r_en.eq(head.w_rdy)]
            held, head_rdy, head_data, head_pop = (spikes.level + head.level, head.r_rdy,
                                                   head.r_data, head.r_en)
            anywhere = spikes.r_rdy | head.r_rdy
        else:
            held, head_rdy, head_data, head_pop = (spikes.level, spikes.r_rdy, spikes.r_data,
                                                   spikes.r_en)
            anywhere = spikes.r_rdy
        ahead = Signal()  # run-ahead: from the sweep (or its end) until the next start
        # split: deferred work of the step before is queued (a flip-flop); a deferred range
        # moves into the range queue this clock; the deferred queue holds any
        old_any, move, defq_any = Signal(), Signal(), Signal()
        turn = Signal()  # the step turns: ``prev`` takes ``slot`` (deferred work becomes old)
        w_old, cur_old, issue_old, s1_old = Const(0, 1), Signal(), Signal(), Signal()
        queued = Signal()  # a spike of the previous step is at the head, ready to fetch
        waiting = Signal()  # ... or on its way there
        if self.networked and not self.hold:
            owed = Signal(range(g.spike_depth + 4))  # spikes that belong to this delivery
            owing = Signal()  # owed != 0, as a flip-flop
            held_any = held != 0
            if self.retimed:
                # the spikes in FIFO and head counted as they come and go, in flip-flops:
                # the sum of the two FIFOs' levels and its test fed ``owed`` through 12 logic
                # levels (the UP5K meshes' critical path); this count equals it every clock
                count, counted = Signal.like(owed), Signal()
                arrive = Signal()
                m.d.comb += arrive.eq(spikes.w_en & spikes.w_rdy)
                with m.If(arrive & ~head_pop):
                    m.d.sync += [count.eq(count + 1), counted.eq(1)]
                with m.Elif(head_pop & ~arrive):
                    m.d.sync += [count.eq(count - 1), counted.eq(count != 1)]
                held, held_any = count, counted
            load, load_any = held, held_any
            if self.run_ahead:  # a spike may be popped in the clock of ``start``: not owed
                load = held - head_pop
                load_any = load != 0
            with m.If(idle & self.start):
                m.d.sync += [owed.eq(load), owing.eq(load_any)]
            with m.Elif(head_pop & ~ahead):  # a spike popped ahead is not owed
                m.d.sync += [owed.eq(owed - 1), owing.eq(owed != 1)]
            m.d.comb += [queued.eq(head_rdy & owing), waiting.eq(owing)]
        else:
            m.d.comb += [queued.eq(head_rdy), waiting.eq(anywhere)]
        take = Signal()  # a waiting range becomes the streaming one
        w_start, w_last, w_valid = buf_start, buf_last, buf_valid
        fetch = Signal()
        pipeline_busy = Signal()
        # run-ahead: between its update sweep and the next ``start`` the core delivers what
        # arrives (this step's spikes: slots t + 1 and later), except while the host loads
        may_fetch = Signal()
        m.d.comb += may_fetch.eq(delivering & queued)
        if self.run_ahead:
            hold_off = self.fanout_load.valid if self.fanout_loadable else Const(0, 1)
            m.d.comb += may_fetch.eq(delivering & queued | ahead & head_rdy & ~hold_off)
        if self.prefetch:
            # pointer fetch pipelined: a spike popped every clock while the range queue has
            # room for what is in flight, so sources of one entry stream at one SOP per clock
            depth = self.range_depth
            # a range is queued with its second entry too (``start + 1``, which P2 computes
            # anyway): taking it then needs no adder between the queue and ``cur_e``
            parts = [p_start, p_last] + [p_next] * self.retimed + [Const(0, 1)] * self.split \
                + [ptr_q["single"]]
            m.submodules.ranges = ranges = SyncFIFO(width=len(Cat(*parts)), depth=depth)
            room = Signal()  # the queue has room for one more range besides those in flight
            if self.pipelined:  # tested a clock early, with one place to spare: at most one
                # fetch joins what is in flight per clock, so the test still holds
                m.d.sync += room.eq(ranges.level + in_flight <= depth - 2)
            else:
                m.d.comb += room.eq(ranges.level + in_flight <= depth - 1)
            m.d.comb += [
                fetch.eq(may_fetch & room),
                ranges.w_en.eq(ptr_q["valid"] & ptr_q["targets"]),  # no targets: dropped
                ranges.w_data.eq(Cat(*parts)),
                ranges.r_en.eq(take),
            ]
            eb = g.e_bits
            w_start, w_last = ranges.r_data[:eb], ranges.r_data[eb:2 * eb]
            w_next = ranges.r_data[2 * eb:3 * eb] if self.retimed else w_start + 1
            w_single, w_valid = ranges.r_data[-1], ranges.r_rdy
            if self.split:
                w_old = ranges.r_data[3 * eb]
                self._split_queue(m, g, defq, ranges, room, ptr_q, may_fetch, ahead, turn,
                                  old_any, move, defq_any)
        else:  # one spike popped per read, into a one-entry buffer (3 clocks a short source)
            w_single, w_next = w_start == w_last, w_start + 1
            m.d.comb += fetch.eq(may_fetch & (in_flight == 0) & ~buf_valid)
            with m.If(ptr_q["valid"]):  # a fresh pointer lands in the buffer (dropped if empty)
                m.d.sync += [buf_valid.eq(ptr_q["targets"]), buf_start.eq(p_start),
                             buf_last.eq(p_last)]
            with m.Elif(take):
                m.d.sync += buf_valid.eq(0)
        m.d.comb += head_pop.eq(fetch)
        if self.ptr_ends:
            m.d.comb += ptr_rd.addr.eq(Mux(ptr_pending, before, head_data))
            with m.If(fetch):
                m.d.sync += [before.eq(head_data - 1), first.eq(head_data == 0)]
        else:
            m.d.comb += ptr_rd.addr.eq(head_data)
        m.d.sync += ptr_pending.eq(fetch)

        with m.If(cur_valid):
            m.d.comb += [issue.eq(1), issue_addr.eq(cur_e), issue_old.eq(cur_old)]
            with m.If(cur_e == cur_last):
                m.d.sync += cur_valid.eq(0)
            m.d.sync += cur_e.eq(cur_e + 1)
        with m.Elif(w_valid):
            m.d.comb += [issue.eq(1), issue_addr.eq(w_start), take.eq(1), issue_old.eq(w_old)]
            m.d.sync += [cur_e.eq(w_next), cur_last.eq(w_last),
                         cur_valid.eq(~w_single), cur_old.eq(w_old)]
        old_tag = {"old": issue_old} if self.split else {}  # the range's base: prev or prev_old

        if self.fanout_loadable:  # one address for both ports: a single-port RAM suffices
            load = self.fanout_load
            fan_wr = fan.write_port()
            fan_addr = Signal.like(fan_wr.addr)
            writing = Signal()
            # run-ahead, a word is taken only while nothing is delivered (none is fetched
            # while one is offered), so the shared address never carries both
            load_ok = idle & ~pipeline_busy if self.run_ahead else idle
            if self.split:  # nor a deferred range that would be fetched while it writes
                load_ok = load_ok & ~defq_any
            m.d.comb += [writing.eq(load_ok & load.valid), load.ready.eq(load_ok),
                         fan_addr.eq(Mux(writing, load.payload.addr, issue_addr))]
            # D0 (a register when pipelined): the table's address, so the RAM's address pins
            # (far away, for SPRAM) hang on flip-flops. A word is then written the clock after
            # it is taken, at worst in the first clocks of a delivery, which read nothing yet;
            # the read port rests while writing: SPRAM keeps its output during a write
            d0 = _stage(m, pipe, "d0", valid=issue, addr=fan_addr, writing=writing,
                        data=load.payload.data, **old_tag)
            m.d.comb += [fan_wr.addr.eq(d0["addr"]), fan_wr.data.eq(d0["data"]),
                         fan_wr.en.eq(d0["writing"]), fan_rd.addr.eq(d0["addr"]),
                         fan_rd.en.eq(~d0["writing"])]
        else:
            # unpipelined, the table's own address width: a wider wire copy of ``issue_addr``
            # (its bits aliased by Yosys) reads to Verilator as a combinational loop
            d0 = _stage(m, pipe, "d0", valid=issue, addr=issue_addr if self.pipelined
                        else issue_addr[:len(fan_rd.addr)], **old_tag)
            m.d.comb += fan_rd.addr.eq(d0["addr"])
        # D1: the entry arrives; D2 (a register when pipelined): its accumulator is read;
        # D3: the accumulator word arrives; D4 (a register when pipelined): add and write back
        m.d.sync += s1_valid.eq(d0["valid"])
        # split: the entry's base slot, registered (prev and prev_old change only while the
        # delivery pipeline is empty)
        base = {"base": Mux(s1_old, prev_old, prev)} if self.split else {}
        if self.split:
            m.d.sync += s1_old.eq(d0["old"])
        d2 = _stage(m, pipe, "d2", valid=s1_valid, entry=fan_rd.data, **base)
        d2_valid = d2["valid"]
        if wd_rd is not None:  # DL: the entry's (weight, delay) pair from the ``wd`` table
            m.d.comb += wd_rd.addr.eq(d2["entry"][nb:])
            base = {"base": d2["base"]} if self.split else {}
            d2 = _stage(m, pipe, "dl", valid=d2["valid"], entry=Cat(d2["entry"][:nb], wd_rd.data),
                        **base)
        e_target = d2["entry"][:nb]
        e_weight = d2["entry"][nb:nb + g.w_bits].as_signed()
        e_delay = d2["entry"][nb + g.w_bits:]
        m.d.comb += [
            slot_sum.eq((d2["base"] if self.split else prev) + e_delay),
            e_slot.eq(Mux(slot_sum >= ring, slot_sum - ring, slot_sum)),
        ]
        d3 = _stage(m, "sync", "d3", valid=d2["valid"], addr=Cat(e_target, e_slot), w=e_weight)
        acc_sum = Signal(signed(g.acc_bits))
        last_sum = Signal.like(acc_sum)  # the sum written last clock
        m.d.sync += last_sum.eq(acc_sum)
        if self.sweep_overlap:  # the word of the entry's bank; the sweep's, of bank ``slot``
            acc_data = Array(p.data for p in bank_rd)[d3["addr"][nb:]]
            sweep_data = Array(p.data for p in bank_rd)[slot]
        else:
            acc_data = sweep_data = acc_rd.data
        old = acc_data
        if forward:
            # the read at D2 saw the writes before its own clock. The one made at that clock
            # (by the entry two ahead, in D4 then) is taken now, in D3, from registers: its
            # address, and its sum in ``last_sum``
            wr_valid, wr_addr = Signal(), Signal.like(d3["addr"])
            old = Mux(wr_valid & (wr_addr == d3["addr"]), last_sum, acc_data)
        d4 = _stage(m, pipe, "d4", valid=d3["valid"], addr=d3["addr"], w=d3["w"], old=old)
        if forward:  # with banks the sweep's writes go elsewhere: only deliveries count
            m.d.sync += [wr_valid.eq(d4["valid"]), wr_addr.eq(d4["addr"])] if self.sweep_overlap \
                else [wr_valid.eq(acc_wr.en), wr_addr.eq(acc_wr.addr)]
        if self.pipelined:
            # ... and the one of the next clock, which D4 makes while this entry is in D3
            fwd = Signal()
            m.d.sync += fwd.eq(d4["valid"] & d3["valid"] & (d4["addr"] == d3["addr"]))
            m.d.comb += acc_sum.eq(Mux(fwd, last_sum, d4["old"]) + d4["w"])
        else:
            m.d.comb += acc_sum.eq(d4["old"] + d4["w"])
        busy = (waiting | move | ptr_pending | ptr_w["valid"] | ptr_q["valid"] | w_valid
                | cur_valid | d0["valid"] | s1_valid | d2_valid | d2["valid"] | d3["valid"]
                | d4["valid"])
        m.d.comb += pipeline_busy.eq(busy | second if self.ptr_ends else busy)

        # ---------------------------------------------------------------- update datapath
        # U0 reads neuron j; U1 its words arrive; U2..U6 (registers when pipelined) decode,
        # add in pairs, saturate and compare; U6 writes back; U7 queues the spike. Each neuron
        # is read and written once per sweep, so no stage needs another's result.
        j = Signal(range(n + 1))
        u1_valid = Signal()  # neuron data arrives
        u1_j = Signal(nb)
        updating = Signal()
        sweeping = Signal()  # j < n, kept in a flip-flop rather than compared each clock
        m.d.sync += [u1_valid.eq(updating & sweeping), u1_j.eq(j)]

        u2 = _stage(m, pipe, "u2", valid=u1_valid, j=u1_j, v=v_rd.data, r=r_rd.data,
                    ext=ext_rd.data, acc=sweep_data,
                    param=param_rd.data if param_rd is not None else Const(0, 1))
        prm = g.param_values(u2["param"])
        k = prm["leak_shift"]
        v_min, v_max = -(1 << (g.v_bits - 1)), (1 << (g.v_bits - 1)) - 1
        keep = {"valid": u2["valid"], "j": u2["j"], "r": u2["r"], "thr": prm["threshold"],
                "v_reset": prm["v_reset"], "refr": prm["refractory"]}
        u3 = _stage(m, pipe, "u3", **keep, v=u2["v"], ext=u2["ext"],
                    leak=Mux(k == 0, 0, u2["v"] >> k),
                    c=(u2["acc"] + prm["bias"]).as_signed())
        keep = {key: u3[key] for key in keep}
        stim = Mux(u3["ext"], Const(g.stim_weight, signed(bits_for(g.stim_weight) + 1)), 0)
        u4 = _stage(m, pipe, "u4", **keep, x=u3["v"] - u3["leak"], y=u3["c"] + stim)
        keep = {key: u4[key] for key in keep}
        u5 = _stage(m, pipe, "u5", **keep, u=(u4["x"] + u4["y"]).as_signed())
        u = u5["u"]
        if self.short_paths and len(u) > g.v_bits:
            # u leaves the membrane's range when its bits from v_bits - 1 up are not all
            # equal (one LUT over a few bits): no comparison's carry chain ahead of the
            # select (the UP5K's critical path, 19 levels, u5_u -> u6_sat); the sign says which rail
            top = u[g.v_bits - 1:]
            out = top.any() & ~top.all()
            below, above = out & u[-1], out & ~u[-1]
            sat = Mux(below, v_min, Mux(above, v_max, u[:g.v_bits].as_signed()))
        else:
            below, above = u < v_min, u > v_max
            sat = Mux(below, v_min, Mux(above, v_max, u))
        # u_sat >= thr without the saturated value: thr fits in v_bits, so above v_max u
        # exceeds it anyway, and below v_min only thr = v_min is reached
        u6 = _stage(m, pipe, "u6", valid=u5["valid"], j=u5["j"], r=u5["r"],
                    v_reset=u5["v_reset"], refr=u5["refr"], sat=sat.as_signed(),
                    ge=(u >= u5["thr"]) | (below & (u5["thr"] == v_min)))
        fire = Signal()
        m.d.comb += fire.eq(u6["valid"] & (u6["r"] == 0) & u6["ge"])
        u7 = _stage(m, pipe, "u7", valid=u6["valid"], fire=fire, j=u6["j"])

        # ---------------------------------------------------------------- port sharing
        if param_rd is not None:
            m.d.comb += param_rd.addr.eq(j)
        m.d.comb += [
            v_rd.addr.eq(j), r_rd.addr.eq(j), ext_rd.addr.eq(j),
            v_wr.addr.eq(u6["j"]), r_wr.addr.eq(u6["j"]),
            v_wr.en.eq(u6["valid"]), r_wr.en.eq(u6["valid"]),
        ]
        with m.If(u6["r"] != 0):
            m.d.comb += [v_wr.data.eq(u6["v_reset"]), r_wr.data.eq(u6["r"] - 1)]
        with m.Elif(fire):
            m.d.comb += [v_wr.data.eq(u6["v_reset"]), r_wr.data.eq(u6["refr"])]
        with m.Else():
            m.d.comb += [v_wr.data.eq(u6["sat"]), r_wr.data.eq(0)]
        m.d.comb += [outq.w_en.eq(u7["fire"]), outq.w_data.eq(u7["j"])]
        if self.networked:  # spikes come back through the router as axon addresses
            m.d.comb += [spikes.w_en.eq(self.syn_in.valid), spikes.w_data.eq(self.syn_in.payload),
                         self.syn_in.ready.eq(spikes.w_rdy)]
        else:
            m.d.comb += [spikes.w_en.eq(u7["fire"]), spikes.w_data.eq(u7["j"])]
        update_busy = Signal()
        m.d.comb += update_busy.eq(u1_valid | u2["valid"] | u3["valid"] | u4["valid"]
                                   | u5["valid"] | u6["valid"] | u7["valid"])

        clearing = Signal()
        clear_addr = Signal(range(acc_depth))
        if self.sweep_overlap:  # bank ``slot`` is the sweep's while it runs, the rest delivery's
            for b, (rd, wr) in enumerate(zip(bank_rd, bank_wr, strict=True)):
                with m.If(clearing):
                    m.d.comb += [wr.addr.eq(clear_addr[:nb]), wr.data.eq(0),
                                 wr.en.eq(clear_addr[nb:] == b)]
                with m.Elif(updating & (slot == b)):
                    m.d.comb += [rd.addr.eq(j[:nb]), wr.addr.eq(u6["j"]),
                                 wr.en.eq(u6["valid"]), wr.data.eq(0)]
                with m.Else():
                    m.d.comb += [rd.addr.eq(e_target), wr.addr.eq(d4["addr"][:nb]),
                                 wr.en.eq(d4["valid"] & (d4["addr"][nb:] == b)),
                                 wr.data.eq(acc_sum)]
        else:
            with m.If(updating):
                m.d.comb += [acc_rd.addr.eq(Cat(j[:nb], slot)),
                             acc_wr.addr.eq(Cat(u6["j"], slot)), acc_wr.en.eq(u6["valid"]),
                             acc_wr.data.eq(0)]
            with m.Else():
                m.d.comb += [acc_rd.addr.eq(Cat(e_target, e_slot)),
                             acc_wr.addr.eq(d4["addr"]), acc_wr.en.eq(d4["valid"]),
                             acc_wr.data.eq(acc_sum)]

        # external events set ext bits while idle; the update clears them
        in_range = Signal()
        m.d.comb += in_range.eq(self.aer_in.payload < n)
        if self.ext_in_r:
            # the flag shares its word with r: an event reads the word (the clock it is taken)
            # and writes it back with the flag set (the next, while the next event is read).
            # r changes only in the update, so a read that misses the write just before it
            # still holds the right r: an event a clock, as with a memory of flags
            setting, set_addr = Signal(), Signal.like(rx_wr.addr)
            m.d.sync += [setting.eq(idle & self.aer_in.valid & in_range),
                         set_addr.eq(self.aer_in.payload)]
            m.d.comb += [self.aer_in.ready.eq(idle),
                         rx_rd.addr.eq(Mux(idle, self.aer_in.payload, r_rd.addr))]
            with m.If(setting):
                m.d.comb += [rx_wr.addr.eq(set_addr), rx_wr.data.eq(Cat(r_rd.data, 1)),
                             rx_wr.en.eq(1)]
            with m.Else():  # r and the flag are written together everywhere else
                m.d.comb += [rx_wr.addr.eq(r_wr.addr), rx_wr.data.eq(Cat(r_wr.data, ext_wr.data)),
                             rx_wr.en.eq(r_wr.en)]
        else:
            with m.If(idle):
                m.d.comb += [self.aer_in.ready.eq(1), ext_wr.addr.eq(self.aer_in.payload),
                             ext_wr.data.eq(1), ext_wr.en.eq(self.aer_in.valid & in_range)]
            with m.Else():
                m.d.comb += [ext_wr.addr.eq(u6["j"]), ext_wr.data.eq(0),
                             ext_wr.en.eq(u6["valid"])]

        m.d.comb += [self.aer_out.payload.eq(outq.r_data), self.aer_out.valid.eq(outq.r_rdy),
                     outq.r_en.eq(self.aer_out.ready)]

        # after reset every state memory is swept to zero: SRAM macros power up with garbage
        # and a reset mid-run must not leave stale membranes or in-flight accumulators
        clear_nrn = Signal()
        m.d.comb += clear_nrn.eq(clear_addr < n)
        with m.If(clearing):
            if not self.sweep_overlap:
                m.d.comb += [acc_wr.addr.eq(clear_addr), acc_wr.data.eq(0), acc_wr.en.eq(1)]
            m.d.comb += [v_wr.addr.eq(clear_addr), v_wr.data.eq(0), v_wr.en.eq(clear_nrn),
                         r_wr.addr.eq(clear_addr), r_wr.data.eq(0), r_wr.en.eq(clear_nrn),
                         ext_wr.addr.eq(clear_addr), ext_wr.data.eq(0), ext_wr.en.eq(clear_nrn)]
            m.d.sync += clear_addr.eq(clear_addr + 1)

        # ---------------------------------------------------------------- phases
        delivery_over, update_over = Signal(), Signal()
        if self.pipelined:
            # "every stage empty", registered: an empty pipeline with nothing queued stays empty
            # (each stage is fed only by the one before), so a clock-old test is still true;
            # the first clock of a delivery is skipped, as its queue count is being loaded
            was_busy, entering, was_updating = Signal(), Signal(), Signal()
            m.d.sync += [was_busy.eq(pipeline_busy), entering.eq(idle & self.start),
                         was_updating.eq(update_busy | sweeping)]
            m.d.comb += [delivery_over.eq(~was_busy & ~entering), update_over.eq(~was_updating)]
        else:
            m.d.comb += [delivery_over.eq(~pipeline_busy), update_over.eq(~update_busy)]
        quiet, skipped = Signal(), Signal()  # quick start: nothing to deliver; it was taken
        if self.quick_start:
            # nothing held now (``held_any``, a flip-flop), and last clock the delivery pipeline
            # was empty and fetched nothing: so it is empty now and nothing can be fetched
            was_fetch = Signal()
            m.d.sync += [was_fetch.eq(fetch), skipped.eq(0)]
            m.d.comb += quiet.eq(~was_busy & ~was_fetch & ~held_any & ~old_any)
        hold = self.networked and self.hold
        fsm = StateMachine(m, ["CLEAR", "IDLE", "DELIVER"] + ["HOLD"] * hold
                           + ["UPDATE", "DRAIN"], "CLEAR", one_hot=self.retimed)
        m.d.comb += self.busy.eq(~fsm["IDLE"])
        with m.If(fsm["CLEAR"]):
            m.d.comb += clearing.eq(1)
            with m.If(clear_addr == acc_depth - 1):
                m.d.sync += idle.eq(1)
                fsm.goto("CLEAR", "IDLE")
        with m.If(fsm["IDLE"]):
            if self.quick_start:
                with m.If(self.start & quiet):  # straight to the sweep, as DELIVER would go
                    m.d.sync += [idle.eq(0), ahead.eq(self.sweep_overlap), j.eq(0),
                                 sweeping.eq(1), skipped.eq(1)]
                    if self.sweep_overlap:
                        m.d.sync += [prev.eq(slot), prev_old.eq(prev)]
                        m.d.comb += turn.eq(1)
                    fsm.goto("IDLE", "UPDATE")
            with m.If(self.start & ~quiet if self.quick_start else self.start):
                m.d.sync += [delivering.eq(1), idle.eq(0), ahead.eq(0)]
                fsm.goto("IDLE", "DELIVER")
        with m.If(fsm["DELIVER"]):
            m.d.sync += self.deliver_cycles.eq(self.deliver_cycles + 1)
            # split: the deferred work of the step before done too (it may add into slot t)
            with m.If(delivery_over & ~old_any if self.split else delivery_over):
                m.d.sync += [j.eq(0), sweeping.eq(1), delivering.eq(0)]
                if self.sweep_overlap:  # the sweep's deliveries have base t: slot t + 1 ..
                    m.d.sync += [prev.eq(slot), prev_old.eq(prev), ahead.eq(1)]
                    m.d.comb += turn.eq(1)
                fsm.goto("DELIVER", "HOLD" if hold else "UPDATE")
                if self.networked and not self.hold:
                    m.d.comb += self.delivered.eq(1)
        if hold:
            with m.If(fsm["HOLD"]):  # the mesh barrier: every core has delivered
                m.d.comb += self.delivered.eq(1)
                with m.If(self.proceed):
                    fsm.goto("HOLD", "UPDATE")
        with m.If(fsm["UPDATE"]):
            m.d.comb += [updating.eq(1), self.delivered.eq(skipped)] if self.quick_start \
                else updating.eq(1)
            m.d.sync += self.update_cycles.eq(self.update_cycles + 1)
            with m.If(sweeping):
                m.d.sync += j.eq(j + 1)
                with m.If(j == n - 1):
                    m.d.sync += sweeping.eq(0)
            with m.Elif(update_over):
                # the slot advances once slot t is read and cleared, so a delivery that runs
                # ahead has t as its base (``prev``) and adds into slots t + 1 .. t + D
                if self.retimed and not self.sweep_overlap:
                    m.d.sync += prev.eq(slot)
                m.d.sync += [slot.eq(Mux(slot == ring - 1, 0, slot + 1)),
                             ahead.eq(self.run_ahead)]
                fsm.goto("UPDATE", "DRAIN")
        with m.If(fsm["DRAIN"]):
            with m.If(~outq.r_rdy):
                m.d.comb += self.done.eq(1)
                m.d.sync += [self.step_count.eq(self.step_count + 1), idle.eq(1)]
                fsm.goto("DRAIN", "IDLE")
        with m.If(d4["valid"]):
            m.d.sync += self.sop_count.eq(self.sop_count + 1)
        return m
