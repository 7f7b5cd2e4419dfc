"""FPGA figures of the LIF core and the mesh: Fmax and LUT / FF / block RAM / SPRAM use.

C. elegans (``builtin:celegans``) compiled on one core and on a 4-core mesh, each in the
``before`` and ``after`` configurations of ``bench/mesh.py`` (before: the single-clock core of
issue 15's start; after: the pipelined one), built with ``neuropaste fpga DIR --board B --build``
(YoWASP Yosys + nextpnr, placement seed 1) for the iCEBreaker (iCE40 UP5K) and the ULX3S
(ECP5-85F). A design that does not fit a board is reported with the fit check's one line
(which memory overflows, by how much) instead of figures. Builds run one at a time.

    .venv/bin/python bench/fpga.py [--boards icebreaker ulx3s-85f] [--cores 1 4]
                                   [--configs before after]
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

from mesh import CONFIGS

from neuropaste.compile import compile_map
from neuropaste.errors import InputError
from neuropaste.events import poisson
from neuropaste.fpga import build
from neuropaste.generators.rtl import RTLOptions
from neuropaste.io import load_map


def measure(cmap, board: str, cores: int, config: str, steps: int) -> dict:
    """Compile ``cmap`` on ``cores`` cores in ``config`` and build it for ``board``."""
    row = {"board": board, "cores": cores, "config": config}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "c"
        opts = RTLOptions(cores=cores, **CONFIGS[config])
        compile_map(cmap, out, stimulus=poisson(cmap.n_neurons, steps, 0.02, seed=0),
                    steps=steps, backends=("rtl",), quiet=True, backend_options={"rtl": opts})
        t0 = time.perf_counter()
        try:
            got = build(out, board, quiet=True)
        except InputError as err:
            return row | {"fits": False, "why": str(err)}
        use = got["utilisation"]
        path = got.get("critical_path") or {}
        return row | {
            "fits": True, "fmax_mhz": got["fmax_mhz"], "luts": use["luts"], "ffs": use["ffs"],
            "logic_cells": use["logic_cells"]["used"], "bram": use["bram"]["used"],
            "bram_available": use["bram"]["available"],
            "spram": use.get("spram", {}).get("used", 0),
            "critical_path": " -> ".join(path.get("through", [])),
            "logic_levels": path.get("logic_levels"),
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", nargs="+", default=["icebreaker", "ulx3s-85f"])
    ap.add_argument("--cores", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--steps", type=int, default=50, help="reference run for the placement")
    args = ap.parse_args()
    cmap = load_map("builtin:celegans")
    rows = []
    for board, cores, config in itertools.product(args.boards, args.cores, args.configs):
        rows.append(measure(cmap, board, cores, config, args.steps))
        print(json.dumps(rows[-1]), flush=True)
    print("| board | C. elegans on | config | Fmax MHz | LUT4 | FF | block RAM | SPRAM "
          "| critical path (logic levels) | build s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---|---:|")
    for r in rows:
        design = "1 core" if r["cores"] == 1 else f"{r['cores']}-core mesh"
        if not r["fits"]:
            print(f"| {r['board']} | {design} | {r['config']} | does not fit: {r['why']} "
                  "| | | | | | |")
            continue
        print(f"| {r['board']} | {design} | {r['config']} | **{r['fmax_mhz']:.1f}** | "
              f"{r['luts']:,} | {r['ffs']:,} | {r['bram']} / {r['bram_available']} | "
              f"{r['spram']} | {r['critical_path']} ({r['logic_levels']}) | {r['seconds']} |")


if __name__ == "__main__":
    main()
