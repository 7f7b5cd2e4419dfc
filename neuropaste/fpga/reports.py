"""What a finished FPGA build reports: utilisation and Fmax from nextpnr, cells from Yosys."""

from __future__ import annotations

import json
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
            "fmax": fmax, "fmax_mhz": achieved, "timing_met": met}
