"""FPGA figures of the LIF core and the mesh: Fmax and LUT / FF / block RAM / SPRAM use.

Two maps, each compiled on one core and on a mesh and built with ``neuropaste fpga DIR --board B
--build`` (YoWASP Yosys + nextpnr, placement seed 1, UART host link) for the iCEBreaker (iCE40
UP5K) and the ULX3S (ECP5-85F):

- ``celegans``: ``builtin:celegans`` (302 neurons, 5,905 synapses);
- ``pair``: a C. elegans-like connectome of 604 neurons and ~5,900 synapses: two copies of
  ``builtin:celegans``, each synapse kept with probability 1/2 (seed 0).

Configurations (``--configs``, default ``main after``): ``issue`` (the design issue 15
measured: every switch it added off, the single-clock core, neuron-balanced placement),
``before`` (the FPGA switches off: every
neuron parameter in a ROM, binary state machines, Amaranth's FIFOs, mesh fan-out tables in ROM,
entries holding weight and delay, the update's saturation by comparisons, ``start`` and the
ejection links direct), ``main`` (the design of main at 02ab24d: the default but
``short_paths=False``) and ``after`` (the default: shared parameters as constants, one-hot state
machines, FIFOs with registered flags and counted levels, registered barrier tests, every core's
fan-out table loadable into SPRAM, entries indexing a per-core (weight, delay) table, the
saturation from the sum's top bits, ``start`` and the ejection links registered) and ``small``
(``compile --rtl-profile small``: the throughput switches off, one-word sender tables, end-only
pointers, the input flags in the refractory words: the mesh that fits the UP5K). A design
that does not fit a board is reported with the fit check's line (which memory overflows, by
how much, the core count that fits) instead of figures. Builds run one at a time.

``--clock-mhz icebreaker=50`` has nextpnr time that board's clock at 50 MHz (default: the
oscillator, at which nextpnr does not push); a missed target is a row with ``met`` false.
``--seeds 1 2 3`` builds each design once per nextpnr placement seed.

    .venv/bin/python bench/fpga.py [--cases icebreaker:celegans:1 ulx3s-85f:celegans:4 ...]
                                   [--configs before after] [--clock-mhz BOARD=MHZ ...]
                                   [--seeds 1 2 3]
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
from neuropaste.fpga.build import TimingMissed
from neuropaste.generators.rtl import RTL_PROFILES, RTLOptions
from neuropaste.io import load_map

CONFIGS = {"before": {"packed": False, "retimed": False, "mesh_spram": False,
                      "fanout_lut": False, "short_paths": False, "split_delays": False},
           # the design issue 15 measured: every switch of the issue off, neurons balanced
           "issue": {"balance": "neurons", "prefetch": False, "early_update": False,
                     "pipelined": False, "packed": False, "retimed": False,
                     "mesh_spram": False, "run_ahead": False, "sweep_overlap": False,
                     "fanout_lut": False, "fast_network": False, "quick_start": False,
                     "short_paths": False, "split_delays": False},
           "main": {"short_paths": False, "split_delays": False}, "after": {},
           "small": RTL_PROFILES["small"]}
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


def measure(cmap, board: str, cores: int, config: str, steps: int, clock_mhz: float | None,
            seeds: list[int]) -> list[dict]:
    """Compile ``cmap`` on ``cores`` cores in ``config`` and build it for ``board``, once per
    nextpnr seed."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "c"
        opts = RTLOptions(cores=cores, **CONFIGS[config])
        compile_map(cmap, out, stimulus=poisson(cmap.n_neurons, steps, 0.02, seed=0),
                    steps=steps, backends=("rtl",), quiet=True, backend_options={"rtl": opts})
        for seed in seeds:
            row = {"board": board, "cores": cores, "config": config, "seed": seed,
                   "clock_target_mhz": clock_mhz}
            t0 = time.perf_counter()
            try:
                got = build(out, board, quiet=True, clock_mhz=clock_mhz, seed=seed)
            except InputError as err:
                return [row | {"fits": False, "why": str(err)}]
            except TimingMissed:  # the tree and fpga.json are kept: the figures still count
                got = json.loads((out / "fpga" / board / "fpga.json").read_text())
            except RuntimeError as err:  # e.g. nextpnr finds no legal placement: a row too
                rows.append(row | {"fits": False, "why": "build failed: "
                                   + str(err).strip().splitlines()[-2].strip()})
                continue
            use = got["utilisation"]
            path = got.get("critical_path") or {}
            rows.append(row | {
                "fits": True, "fmax_mhz": got["fmax_mhz"], "met": got["timing_met"],
                "luts": use["luts"], "ffs": use["ffs"],
                "logic_cells": use["logic_cells"]["used"], "bram": use["bram"]["used"],
                "bram_available": use["bram"]["available"],
                "spram": use.get("spram", {}).get("used", 0),
                "critical_path": " -> ".join(path.get("through", [])),
                "logic_levels": path.get("logic_levels"),
                "routing_ns": path.get("routing_ns"), "delay_ns": path.get("delay_ns"),
                "seconds": round(time.perf_counter() - t0, 1)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=CASES, metavar="BOARD:MAP:CORES")
    ap.add_argument("--configs", nargs="+", default=["main", "after"], choices=list(CONFIGS))
    ap.add_argument("--steps", type=int, default=50, help="reference run for the placement")
    ap.add_argument("--clock-mhz", nargs="+", default=[], metavar="BOARD=MHZ",
                    help="clock nextpnr must meet per board (default: the oscillator)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1], help="nextpnr seeds")
    args = ap.parse_args()
    clocks = {k: float(v) for k, v in (c.split("=") for c in args.clock_mhz)}
    maps: dict[str, ConnectivityMap] = {}
    rows = []
    for case in args.cases:
        board, name, cores = case.split(":")
        cmap = maps.setdefault(name, MAPS[name]())
        for config in args.configs:
            for row in measure(cmap, board, int(cores), config, args.steps, clocks.get(board),
                               args.seeds):
                rows.append(row | {"map": name})
                print(json.dumps(rows[-1]), flush=True)
    print("| board | map on | config | seed | Fmax MHz | LUT4 | FF | logic cells | block RAM "
          "| SPRAM | critical path (logic levels, routing ns) | build s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for r in rows:
        design = f"{r['map']}, " + ("1 core" if r["cores"] == 1 else f"{r['cores']}-core mesh")
        if not r["fits"]:
            print(f"| {r['board']} | {design} | {r['config']} | | does not fit: {r['why']} "
                  "| | | | | | | |")
            continue
        target = r["clock_target_mhz"]
        fmax = f"**{r['fmax_mhz']:.1f}**" + ("" if target is None else
                                              " (met)" if r["met"] else f" (< {target:g})")
        print(f"| {r['board']} | {design} | {r['config']} | {r['seed']} | {fmax} | "
              f"{r['luts']:,} | {r['ffs']:,} | {r['logic_cells']:,} | "
              f"{r['bram']} / {r['bram_available']} | {r['spram']} | {r['critical_path']} "
              f"({r['logic_levels']}, {r['routing_ns'] or 0:.1f}) | {r['seconds']} |")


if __name__ == "__main__":
    main()
