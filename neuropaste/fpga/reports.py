"""What a finished FPGA build reports: utilisation and Fmax from nextpnr, cells from Yosys."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from neuropaste.fpga.boards import NAME, Board

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
            "fmax": fmax, "fmax_mhz": achieved, "timing_met": met,
            "critical_path": critical_path(report)}


def _block(cell: str) -> str:
    """The design block a placed cell belongs to: its hierarchical name without the host link
    and the synthesis suffixes (``link.bridge.array.acc.0.1_RDATA_3_SB_LUT4_O_LC`` ->
    ``array.acc``, ``link.bridge.array.core_0.outq.storage.0.12$DPRAM`` ->
    ``array.core_0.outq.storage``)."""
    parts = []
    for part in cell.split("$")[0].split("."):
        m = re.match(r"[A-Za-z0-9]+(?:_(?![A-Z])[A-Za-z0-9]+)*", part)
        name = m[0] if m else ""
        if not name or name.isdigit():  # a memory word or bit index
            if name == part:
                continue
            break
        if part in ("link", "bridge"):
            continue
        parts.append(name)
        if name != part:  # a synthesis suffix follows
            break
    return ".".join(parts) or cell


def critical_path(report: dict[str, Any]) -> dict[str, Any] | None:
    """The longest register-to-register path of nextpnr's ``--report`` (clock to the same
    clock): its delay split into logic and routing, its logic levels, the cells where it starts
    and ends, and the blocks it runs through in order."""
    paths = [p for p in report.get("critical_paths", [])
             if p.get("from", "").startswith("posedge") and p.get("to", "").startswith("posedge")]
    if not paths:
        return None
    steps = paths[0]["path"]
    delay = {kind: sum(float(s["delay"]) for s in steps if s["type"] == kind)
             for kind in ("logic", "routing", "clk-to-q", "setup")}
    through: list[str] = []
    for s in steps:
        block = _block(s["to"]["cell"])
        if block.startswith("$"):  # a cell nextpnr made (a feed-through LUT): no block
            continue
        if not through or through[-1] != block:
            through.append(block)
    return {"clock": paths[0]["from"].split(" ", 1)[-1],
            "delay_ns": round(sum(delay.values()), 3),
            "logic_ns": round(delay["logic"], 3), "routing_ns": round(delay["routing"], 3),
            "logic_levels": sum(1 for s in steps if s["type"] == "logic"),
            "from": steps[0]["from"]["cell"], "to": f"{steps[-1]['to']['cell']}."
            f"{steps[-1]['to']['port']}", "through": through}
