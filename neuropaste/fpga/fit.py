"""Will the design fit? Its RTLIL surveyed and costed on a board's resources, before synthesis.

The RTLIL is exactly what Yosys will read, whether the array is one core or a mesh, and its
``memory`` statements carry every width, depth, port and initialiser. Each memory is costed on
the board's RAM blocks as Yosys' ``memory_libmap`` would place it (the cheapest block geometry,
one copy per read port); the logic is estimated from the RTLIL's operator widths. A map that
does not fit fails with an :class:`InputError` naming the resource.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from neuropaste.fpga.boards import Board

MEMORY_ROLES = {"fan": "fan-out table", "ptr": "pointer table", "param": "parameter table",
                "acc": "accumulator ring", "vmem": "membrane state", "rmem": "refractory state",
                "ext": "input flags", "storage": "FIFO",
                # a mesh core's sender table: two memories, or one (``mask_routes``)
                "rptr": "routing table", "routes": "routing table", "rmask": "routing table"}

# LUTs per bit of RTLIL operator output. Measured (bench/README.md, "FPGA"): one core of
# builtin:celegans behind the UART link has 820-850 such bits and synthesises to 920-990 LUT4;
# a 4-core mesh (5,384 bits, 2,852 LUT4) is over-estimated about 2.4x. Only a design whose
# estimate exceeds the whole device is refused, so the error stays on the generous side.
LUTS_PER_LOGIC_BIT = 1.25
# iCE40 logic cells (a LUT4 and a flip-flop each) from the RTLIL's flip-flop bits (registers
# plus memories kept in logic) and the LUT estimate above: least squares on four placed builds
# (bench/README.md, "FPGA"; UART link, C. elegans: 1 core 2,150 placed cells, 2-core mesh
# 4,984, the 2-core and 4-core small-profile meshes 2,719 and 5,021), within 8 % of each. The
# flip-flop count alone (1.5 cells a bit, the estimate before) missed designs with less
# pipelining and more multiplexing by up to a third.
LCS_PER_FF = 0.95
LCS_PER_LUT = 0.385
# nextpnr places an iCE40 design short of every cell: the 8 cells of a logic block share one
# clock, enable and set/reset, so flip-flops with different enables pack worse. Placeable:
# 1 - PLB_SLACK x (the flip-flops' share of the estimated cells). Measured: the 2-core mesh
# (flip-flops ~60 % of its cells) found no placement at 4,984 cells (94 %); the 4-core small
# mesh (~43 %) placed at 5,021 (95 %).
PLB_SLACK = 0.1
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
        # a banked accumulator ring (LIFCore ``sweep_overlap``) is memories acc0, acc1, ...
        return MEMORY_ROLES.get(re.sub(r"^acc\d+$", "acc", self.name), self.name)

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
    bram = spram = logic_mem_bits = logic_rom_luts = 0
    for mem in sorted(memories, key=lambda x: -x.bits):
        entry = {"memory": f"{mem.module}.{mem.name}", "role": mem.role, "width": mem.width,
                 "depth": mem.depth, "bits": mem.bits}
        ok, why = mem.spram_ready()
        sp = (math.ceil(mem.width / board.spram_geometry[1])
              * math.ceil(mem.depth / board.spram_geometry[0])) if board.spram_blocks else 0
        if mem.bits <= SMALL_MEMORY_BITS or (mem.async_reads and board.family == "ice40"):
            entry["place"] = "logic"
            if mem.write_ports == 0:  # a ROM: per bit a tree of LUT4s over the address
                logic_rom_luts += mem.width * (2 * math.ceil(mem.depth / 16) - 1)
            else:  # a RAM: a flip-flop per bit and its write and read logic
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
    luts = int(LUTS_PER_LOGIC_BIT * logic_bits + logic_mem_bits + logic_rom_luts)
    ffs = ff_bits + logic_mem_bits
    need = {"luts": luts, "ffs": ffs, "bram": bram, "spram": spram}
    have = {"luts": board.luts, "ffs": board.ffs, "bram": board.bram_blocks,
            "spram": board.spram_blocks}
    logic = ("luts", "ffs")
    if board.family == "ice40":  # a cell holds a LUT and a flip-flop: count cells instead
        cells = LCS_PER_FF * ffs + LCS_PER_LUT * luts
        need["logic_cells"] = math.ceil(cells)
        have["logic_cells"] = math.floor(board.luts * (1 - PLB_SLACK * LCS_PER_FF * ffs
                                                       / max(cells, 1)))
        logic = ("logic_cells",)
    over = [k for k in ("bram", "spram") + logic if need[k] > have[k]]
    return {"need": need, "have": have, "overflow": over, "memories": placement,
            "spram_memories": [p["memory"] for p in placement if p.get("place") == "spram"],
            "logic_bits": logic_bits}


def blocks_by_role(fit: dict[str, Any], place: str = "bram") -> dict[str, int]:
    """Blocks each kind of table takes on ``place`` (all cores together), largest first."""
    out: dict[str, int] = {}
    for m in fit["memories"]:
        if m.get("place") == place:
            out[m["role"]] = out.get(m["role"], 0) + m["blocks"]
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def fit_message(fit: dict[str, Any], board: Board, source: str, suggestion: str = "") -> str:
    """One line naming the first resource that overflows, by how much, its biggest users, the
    other resources that overflow too, and what to do (``suggestion``: e.g. the core count
    that fits, from :func:`suggest_cores`)."""
    need, have = fit["need"], fit["have"]
    res = fit["overflow"][0]
    over = need[res] - have[res]
    names = {"bram": "block RAM", "spram": "SPRAM blocks", "luts": "LUTs (estimate)",
             "ffs": "flip-flops (estimate)",
             "logic_cells": f"logic cells (estimate; placeable of {board.luts:,})"}
    also = "".join(f"; also {names[k]}: needs {need[k]:,} of {have[k]:,} "
                   f"({need[k] - have[k]:,} over)" for k in fit["overflow"][1:])
    if res == "bram":
        users = [m for m in fit["memories"] if m.get("place") == "bram"][:2]
        why = "; ".join(f"{m['role']} `{m['memory'].split('.')[-1]}` {m['depth']:,} x "
                        f"{m['width']} bits = {m['bits'] / 1024:.0f} kbit needs {m['blocks']}"
                        + (f" (not on SPRAM: {m['not_spram']})"
                           if m.get("not_spram") and i == 0 else "")
                        for i, m in enumerate(users))
        roles = ", ".join(f"{k} {v}" for k, v in blocks_by_role(fit).items())
        hint = suggestion or " Use a board with more block RAM (ulx3s-85f) or a smaller map."
        return (f"{source} does not fit {board.name} ({board.device}): block RAM: needs "
                f"{need['bram']} of {have['bram']} blocks of {board.bram_kbit} kbit ({over} "
                f"over; by table: {roles}); {why}{also}.{hint}")
    return (f"{source} does not fit {board.name} ({board.device}): {names[res]}: needs "
            f"{need[res]:,} of {have[res]:,} ({over:,} over){also}.{suggestion}")


def suggest_cores(fits: dict[int, dict[str, Any]], current: int) -> str:
    """A sentence for the fit error from the fit of the same map on other core counts: the
    most cores below ``current`` that fit (the most parallel design the board holds; else
    the fewest that fit), with what they need and the other counts that fit, or that none of
    those tried does."""
    ok = {k: f for k, f in fits.items() if not f["overflow"]}
    if not ok:
        return (f" No core count of {', '.join(map(str, sorted(fits)))} fits either: use a "
                "board with more block RAM (ulx3s-85f) or a smaller map.")
    fewer = [k for k in ok if k < current]
    k = max(fewer) if fewer else min(ok)
    need = ok[k]["need"]
    spram = f", {need['spram']} SPRAM" if need["spram"] else ""
    logic = (f"~{need['logic_cells']:,} logic cells" if "logic_cells" in need
             else f"~{need['luts']:,} LUTs")
    others = sorted(set(ok) - {k})
    too = (f"; {' and '.join(map(str, others))} "
           + ("core fits" if others == [1] else "cores fit") + " too" if others else "")
    return (f" It fits on {k} core{'s' if k > 1 else ''} instead of {current} "
            f"({need['bram']} block RAMs{spram}, {logic}){too}: compile with --cores {k}.")


def suggest_profile(small: dict[str, Any]) -> str:
    """A sentence for the fit error when the same placement fits with the ``small`` RTL
    profile (``compile --rtl-profile small``), with what that design needs."""
    need = small["need"]
    spram = f", {need['spram']} SPRAM" if need["spram"] else ""
    logic = (f"~{need['logic_cells']:,} logic cells" if "logic_cells" in need
             else f"~{need['luts']:,} LUTs")
    return (f" The small RTL profile fits on the same cores ({need['bram']} block RAMs{spram}, "
            f"{logic}; more clocks a step): compile with --rtl-profile small.")
