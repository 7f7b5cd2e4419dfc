"""FPGA figures of the LIF core and the mesh: Fmax and LUT / FF / block RAM / SPRAM use.

Two maps, each compiled on one core and on a mesh and built with ``neuropaste fpga DIR --board B
--build`` (YoWASP Yosys + nextpnr, placement seed 1, UART host link) for the iCEBreaker (iCE40
UP5K) and the ULX3S (ECP5-85F):

- ``celegans``: ``builtin:celegans`` (302 neurons, 5,905 synapses);
- ``pair``: a C. elegans-like connectome of 604 neurons and ~5,900 synapses: two copies of
  ``builtin:celegans``, each synapse kept with probability 1/2 (seed 0).

Each in two configurations: ``before`` (the design at the start of this round: every neuron
parameter in a ROM, binary state machines, Amaranth's FIFOs, mesh fan-out tables in ROM) and
``after`` (the default: shared parameters as constants, one-hot state machines, FIFOs with
registered flags, every core's fan-out table loadable into SPRAM). A design that does not fit
a board is reported with the fit check's line (which memory overflows, by how much, the core
count that fits) instead of figures. Builds run one at a time.

    .venv/bin/python bench/fpga.py [--cases icebreaker:celegans:1 ulx3s-85f:celegans:4 ...]
                                   [--configs before after]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from neuropaste.cmap import ConnectivityMap
from neuropaste.compile import compile_map
from neuropaste.errors import InputError
from neuropaste.events import poisson
from neuropaste.fpga import build
from neuropaste.generators.rtl import RTLOptions
from neuropaste.io import load_map

CONFIGS = {"before": {"packed": False, "retimed": False, "mesh_spram": False}, "after": {}}
CASES = ["icebreaker:celegans:1", "icebreaker:celegans:2", "icebreaker:celegans:4",
         "icebreaker:pair:1", "icebreaker:pair:2",
         "ulx3s-85f:celegans:1", "ulx3s-85f:celegans:4"]


def celegans_pair(keep: float = 0.5, seed: int = 0) -> ConnectivityMap:
    """Two C. elegans, each synapse kept with probability ``keep``: ~600 neurons, ~6,000
    synapses with the worm's weights, delays and degree structure."""
    ce = load_map("builtin:celegans")
    rng = np.random.default_rng(seed)
    n = ce.n_neurons
    parts = []
    for copy in range(2):
        sel = rng.random(len(ce.pre)) < keep
        parts.append((ce.pre[sel] + copy * n, ce.post[sel] + copy * n, ce.weight[sel],
                      ce.delay[sel]))
    pre, post, weight, delay = (np.concatenate(x) for x in zip(*parts, strict=True))
    labels = [f"{x}_{c}" for c in "ab" for x in ce.labels]
    return ConnectivityMap.build(labels, pre, post, weight, delay, np.tile(ce.kind, 2),
                                 meta={"source": "C. elegans pair (bench/fpga.py)"})


MAPS = {"celegans": lambda: load_map("builtin:celegans"), "pair": celegans_pair}


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
    ap.add_argument("--cases", nargs="+", default=CASES, metavar="BOARD:MAP:CORES")
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--steps", type=int, default=50, help="reference run for the placement")
    args = ap.parse_args()
    maps: dict[str, ConnectivityMap] = {}
    rows = []
    for case in args.cases:
        board, name, cores = case.split(":")
        cmap = maps.setdefault(name, MAPS[name]())
        for config in args.configs:
            rows.append(measure(cmap, board, int(cores), config, args.steps) | {"map": name})
            print(json.dumps(rows[-1]), flush=True)
    print("| board | map on | config | Fmax MHz | LUT4 | FF | logic cells | block RAM | SPRAM "
          "| critical path (logic levels) | build s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for r in rows:
        design = f"{r['map']}, " + ("1 core" if r["cores"] == 1 else f"{r['cores']}-core mesh")
        if not r["fits"]:
            print(f"| {r['board']} | {design} | {r['config']} | does not fit: {r['why']} "
                  "| | | | | | | |")
            continue
        print(f"| {r['board']} | {design} | {r['config']} | **{r['fmax_mhz']:.1f}** | "
              f"{r['luts']:,} | {r['ffs']:,} | {r['logic_cells']:,} | "
              f"{r['bram']} / {r['bram_available']} | {r['spram']} | {r['critical_path']} "
              f"({r['logic_levels']}) | {r['seconds']} |")


if __name__ == "__main__":
    main()
