"""``neuropaste verify --rtl``: cocotb + Icarus Verilog on a compiled directory's Verilog.

Uses cocotb's Python runner (``cocotb_tools.runner``), builds in ``DIR/sim_build`` and runs the
test module :mod:`neuropaste.sim.cocotb_core`, which compares the whole raster with the
reference model. Also runs Yosys synthesis and a Verilator lint when asked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from neuropaste.generators.rtl import (
    TOP,
    VERILOG,
    build_design,
    design_top,
    load_placement,
    synth_stats,
    to_verilog,
)

from neuropaste.errors import InputError

RESULT = "verify_rtl.json"
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
    top, verilog = design_top(compiled)
    build = compiled / "sim_build"
    build.mkdir(parents=True, exist_ok=True)
    sources = [compiled / "rtl" / verilog]
    placement = load_placement(compiled)
    if link_stall > 0 and placement is not None:
        from neuropaste.ir import load_network

        net = load_network(compiled / "network.npz")
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
    result_path = compiled / RESULT
    result_path.unlink(missing_ok=True)
    env = {"NEUROPASTE_DIR": str(compiled.resolve()), "NEUROPASTE_STEPS": str(steps),
           "NEUROPASTE_STALL": str(stall), "NEUROPASTE_LINK_STALL": str(link_stall),
           "NEUROPASTE_SEED": str(seed),
           "NEUROPASTE_RESULT": str(result_path.resolve())}
    t0 = time.perf_counter()
    suffix = os.environ.get("SIM_CMD_SUFFIX")
    if vcd:  # the runner passes vvp -none without waves; a later -vcd re-enables VCD output
        os.environ["SIM_CMD_SUFFIX"] = "-vcd"
    try:
        runner.test(hdl_toplevel=top, test_module="neuropaste.sim.cocotb_core", build_dir=build,
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
        result["waveform"] = str((build / VCD).relative_to(compiled))
    return result


def verilator_lint(rtl_dir: Path, top: str = TOP, verilog: str = VERILOG) -> dict[str, Any]:
    exe = shutil.which("verilator")
    if exe is None:
        return {"passed": False, "summary": "verilator not installed"}
    proc = subprocess.run([exe, "--lint-only", "-Wno-fatal", "--top-module", top, verilog],
                          cwd=rtl_dir, capture_output=True, text=True)
    errors = [x for x in proc.stderr.splitlines() if x.startswith("%Error")]
    warnings = [x for x in proc.stderr.splitlines() if x.startswith("%Warning")]
    return {"passed": proc.returncode == 0 and not errors, "errors": errors[:20],
            "warnings": len(warnings)}


def verify(compiled: Path, *, steps: int | None = None, vcd: bool = False, stall: float = 0.0,
           link_stall: float = 0.0, synth: bool = True, lint: bool = True) -> dict[str, Any]:
    """Run the RTL checks; the dict goes into ``DIR/verify.json`` under ``checks.rtl``."""
    compiled = Path(compiled)
    manifest = json.loads((compiled / "manifest.json").read_text())
    stored = int(manifest["stimulus"]["steps"])
    steps = stored if steps is None else steps
    if not 1 <= steps <= stored:
        raise InputError(compiled, f"--steps must be in 1..{stored} (the stored stimulus)")
    result = run_cocotb(compiled, steps, vcd=vcd, stall=stall, link_stall=link_stall)
    top, verilog = design_top(compiled)
    if lint:
        result["verilator_lint"] = verilator_lint(compiled / "rtl", top, verilog)
        result["passed"] = result["passed"] and result["verilator_lint"]["passed"]
    if synth:
        result["synthesis"] = synth_stats(compiled / "rtl", top=top, verilog=verilog)
    first = result.get("first_mismatch")
    result["summary"] = (
        f"{result['steps']} steps, {result['spikes']} spikes bit-exact, "
        f"{result['cycles_per_step']:.0f} cycles/step, "
        f"{result['sops_per_delivery_cycle'] or 0:.2f} SOP per delivery cycle"
        if first is None else
        f"raster differs at step {first['step']}, neuron {first['neuron']!r}")
    return result
