"""Sustained synaptic operations per clock of the LIF core, and its Yosys cell counts.

Cycle counts come from simulation of the generated Verilog (cocotb + Icarus): the core's own
``sop_count`` and ``deliver_cycles`` counters over whole runs. The peer is ODIN's published
figure of 2 clock cycles per synaptic operation (0.5 SOP/clock); the target is >= 1 per clock
in the delivery phase. Cells: Yosys generic ``synth`` (gates; memories kept as macros) and
``synth_ice40`` (LUTs, flip-flops, block RAMs), both from the pip-installed Yosys.

    .venv/bin/python bench/rtl.py [--steps 300]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from neuropaste.cmap import ConnectivityMap
from neuropaste.compile import compile_map
from neuropaste.events import poisson
from neuropaste.io import load_map
from neuropaste.verify.rtl import run_cocotb, synth_stats

ODIN_SOP_PER_CLOCK = 0.5


def random_map(n: int, fanout: int, seed: int = 0) -> ConnectivityMap:
    rng = np.random.default_rng(seed)
    pre = np.repeat(np.arange(n), fanout)
    post = rng.integers(0, n, n * fanout)
    w = np.where(np.arange(n) < int(0.8 * n), 1.0, -3.0)[pre] * rng.integers(1, 4, n * fanout)
    return ConnectivityMap.build([f"r{i}" for i in range(n)], pre, post, w,
                                 rng.integers(1, 5, n * fanout))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    cases = {
        "builtin:celegans (302 n, 5,905 syn)": load_map("builtin:celegans"),
        "random 256 n x 64 fan-out": random_map(256, 64),
    }
    rows = []
    for name, cmap in cases.items():
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "c"
            stim = poisson(cmap.n_neurons, args.steps, 0.02, seed=0)
            compile_map(cmap, out, stimulus=stim, steps=args.steps, backends=("rtl",),
                        quiet=True)
            r = run_cocotb(out, args.steps)
            generic = synth_stats(out / "rtl", "generic")
            ice40 = synth_stats(out / "rtl", "ice40")
        sop_clk = r["synaptic_ops"] / r["deliver_cycles"]
        rows.append({
            "case": name, "bit_exact": r["passed"], "spikes": r["spikes"],
            "synaptic_ops": r["synaptic_ops"], "deliver_cycles": r["deliver_cycles"],
            "sop_per_delivery_clock": sop_clk, "vs_odin": sop_clk / ODIN_SOP_PER_CLOCK,
            "cycles_per_step": r["cycles_per_step"], "yosys_cells_generic": generic["cells"],
            "flip_flops_generic": generic["flip_flops"], "memories_generic": generic["memories"],
            "ice40": {k: v for k, v in ice40["by_type"].items()
                      if k in ("SB_LUT4", "SB_DFF", "SB_DFFE", "SB_DFFSR", "SB_DFFESR",
                               "SB_RAM40_4K", "SB_CARRY")},
        })
        print(json.dumps(rows[-1]))
    print("| case | bit-exact | SOPs | delivery cycles | SOP/clock | vs ODIN (0.5) | cycles/step "
          "| Yosys cells / FFs / memories | iCE40 LUT4 / RAM40 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['case']} | {r['bit_exact']} | {r['synaptic_ops']:,} | "
              f"{r['deliver_cycles']:,} | {r['sop_per_delivery_clock']:.3f} | "
              f"{r['vs_odin']:.2f}x | {r['cycles_per_step']:.0f} | {r['yosys_cells_generic']:,} / "
              f"{r['flip_flops_generic']} / {r['memories_generic']} | "
              f"{r['ice40'].get('SB_LUT4', 0):,} / {r['ice40'].get('SB_RAM40_4K', 0)} |")


if __name__ == "__main__":
    main()
