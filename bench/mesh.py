"""Throughput of the many-core mesh: synaptic operations per clock, summed over cores.

Each map is compiled onto 1, 4 and 16 cores and simulated as generated Verilog (cocotb +
Icarus, bit-exact against the reference in the same run). Throughput is the mesh's summed
``sop_count`` over its delivery-phase clocks; the peer is the ideal of one synaptic operation per
core per clock (a perfectly balanced map, no pointer fetch, no barrier). Also reported: clocks per
step (delivery + update + network drain) and the speed-up over one core.

    .venv/bin/python bench/mesh.py [--steps 100] [--cores 1 4 16]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from crossbar import clustered

from neuropaste.compile import compile_map
from neuropaste.events import poisson
from neuropaste.generators.rtl import RTLOptions
from neuropaste.io import load_map
from neuropaste.verify.rtl import run_cocotb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--cores", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--only", default="", help="run the maps whose name contains this")
    args = ap.parse_args()
    cases = {
        "builtin:celegans (302 n, 5,905 syn)": (load_map("builtin:celegans"), 0.02),
        "clustered 2,000 n x 50 (100,000 syn)": (
            clustered(n=2000, k=50, cluster=125, local=45, seed=1), 0.01),
    }
    rows = []
    for name, (cmap, rate) in cases.items():
        if args.only not in name:
            continue
        base = None
        for cores in args.cores:
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "c"
                stim = poisson(cmap.n_neurons, args.steps, rate, seed=0)
                manifest = compile_map(cmap, out, stimulus=stim, steps=args.steps,
                                       backends=("rtl",), quiet=True,
                                       backend_options={"rtl": RTLOptions(cores=cores)})
                r = run_cocotb(out, args.steps)
            sop_clk = r["synaptic_ops"] / r["deliver_cycles"]
            base = base or r["cycles_per_step"]
            placement = manifest["backends"]["rtl"].get("placement", {})
            rows.append({
                "case": name, "cores": cores, "bit_exact": r["passed"], "spikes": r["spikes"],
                "synaptic_ops": r["synaptic_ops"], "deliver_cycles": r["deliver_cycles"],
                "sop_per_clock": sop_clk, "ideal": cores, "of_ideal": sop_clk / cores,
                "cycles_per_step": r["cycles_per_step"],
                "speedup_vs_1_core": base / r["cycles_per_step"],
                "intercore_packets_per_step": placement.get("intercore_packets_per_step"),
                "traffic_saved_vs_in_order": placement.get("traffic_saved_vs_in_order"),
            })
            print(json.dumps(rows[-1]), flush=True)
    print("| map | cores | bit-exact | SOP/clock (sum) | ideal | of ideal | clocks/step "
          "| speed-up vs 1 core | inter-core packets/step (saved vs in order) |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        traffic = ("–" if r["intercore_packets_per_step"] is None else
                   f"{r['intercore_packets_per_step']:.1f} "
                   f"({100 * r['traffic_saved_vs_in_order']:.0f} %)")
        print(f"| {r['case']} | {r['cores']} | {r['bit_exact']} | {r['sop_per_clock']:.2f} | "
              f"{r['ideal']} | {100 * r['of_ideal']:.0f} % | {r['cycles_per_step']:.0f} | "
              f"{r['speedup_vs_1_core']:.2f}x | {traffic} |")


if __name__ == "__main__":
    main()
