"""Throughput of the many-core mesh: synaptic operations per clock, summed over cores.

Each map (C. elegans, a clustered and a random one) is compiled onto 1, 4, 16 and 64 cores and
simulated as generated Verilog (cocotb + Icarus, bit-exact against the reference in the same
run). The shares reported, each against a stated ideal (docs/hardware.md, "Share of ideal"):

- **of ideal (delivery)**: SOPs over the clocks of the mesh's delivery phase, against one
  synaptic operation per core per clock; not defined with run-ahead, which delivers mostly
  outside that phase. Beside it the bound any per-step design reaches on that placement
  (``per_step_bound``).
- **SOP/clock, whole run**: SOPs over every clock from start to done, and its share of one
  SOP per core per clock (the issue's "ideal SOP/clock"). A map whose neurons outnumber its
  SOPs per step cannot reach 100 % on hardware that updates one neuron per core per clock.
- **of peak**: the run's clocks on the two engines' peak (each step in max(SOPs, updates) /
  cores clocks, :func:`peak_clocks`) over its clocks: the hardware's own ideal with sweep
  overlap, whichever of SOPs and updates dominates.
- **(SOPs + updates) per core-clock**: the share of a core that does one SOP *or* one neuron
  update a clock (the peak without sweep overlap); with it a core does both, so this passes
  100 %.

Also: clocks per step (start to done), the speed-up over one core, and the placement's two
objectives (busiest core's delivery work against the mean, inter-core packets per step).

Configurations: ``before`` (neuron-balanced placement, serial pointer fetch, single-clock
update and accumulate, every core waiting for the slowest between delivery and update: the
design before issue 15) and ``after`` (work-balanced placement, pipelined fetch, registered
update and accumulate stages, each core updating as soon as it has delivered). ``ahead`` and
``sweep`` add cross-step run-ahead to ``after`` (a core delivers the step's spikes before the
next start: once its sweep is over, or during it on D + 1 slot banks); ``steps``,
``steps-ahead`` and ``steps-sweep`` are the same three on the throughput placement.
``sweep-slow`` and ``steps-sweep-slow`` keep the step's fixed costs of before (RTLOptions
``fast_network=False``: exit stage a spike at a time, two clocks a router hop; and
``quick_start=False``: an empty delivery phase at every start). Every one of these sweeps a
core's neurons in the map's order (``sweep_order="index"``); ``sweep-sends`` and
``steps-sweep-sends`` sweep first the neurons whose spikes feed most remote work (the default,
docs/hardware.md "Sweep order").

    .venv/bin/python bench/mesh.py [--steps 100] [--cores 1 4 16 64] [--configs before after]
    .venv/bin/python bench/mesh.py --tables 1000 10000 100000 [--core-neurons 250]
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from crossbar import clustered

from neuropaste.compile import compile_map
from neuropaste.compiled import Compiled
from neuropaste.events import Stimulus, poisson
from neuropaste.generators.placement import CoreLimits, mesh_plan, place, table_sizes
from neuropaste.generators.quantize import quantize
from neuropaste.generators.rtl import RTLOptions
from neuropaste.hdl.core import CoreGeometry
from neuropaste.io import load_map
from neuropaste.reference import reference_run
from neuropaste.verify.rtl import run_cocotb

CONFIGS = {"before": {"balance": "neurons", "prefetch": False, "early_update": False,
                      "pipelined": False, "packed": False, "retimed": False,
                      "run_ahead": False},
           "after": {"balance": "work", "prefetch": True, "early_update": True,
                     "pipelined": True, "run_ahead": False},
           # throughput placement: every step's work even over the cores (more traffic)
           "steps": {"balance": "steps", "prefetch": True, "early_update": True,
                     "pipelined": True, "run_ahead": False},
           # cross-step run-ahead: a core delivers this step's spikes before the next start,
           # once its update sweep is over ("ahead") or during it, on D + 1 slots ("sweep")
           "ahead": {"balance": "work", "run_ahead": True, "sweep_overlap": False},
           "steps-ahead": {"balance": "steps", "run_ahead": True, "sweep_overlap": False},
           "sweep": {"balance": "work", "run_ahead": True, "sweep_overlap": True},
           "steps-sweep": {"balance": "steps", "run_ahead": True, "sweep_overlap": True}}
# the same with the step's fixed costs of before (exit stage a spike at a time, two clocks a
# router hop, an empty delivery phase at every start): "sweep" and "steps-sweep" as they were
EARLIER_STEP = {"fast_network": False, "quick_start": False}
CONFIGS |= {f"{k}-slow": v | EARLIER_STEP for k, v in list(CONFIGS.items())
            if k in ("sweep", "steps-sweep")}
# every configuration above sweeps each core's neurons in the map's order (as measured before
# the sweep order existed); "-sends" sweeps the neurons that feed most remote work first
CONFIGS = {k: v | {"sweep_order": "index"} for k, v in CONFIGS.items()}
CONFIGS |= {f"{k}-sends": v | {"sweep_order": "sends"} for k, v in list(CONFIGS.items())
            if k in ("sweep", "steps-sweep")}
# every configuration above delivers an axon's entries together ("split_delays" off, as
# measured before it existed); "-split" delivers the delay-1 entries before the next sweep and
# the rest later (LIFCore ``split_delays``)
CONFIGS = {k: v | {"split_delays": False} for k, v in CONFIGS.items()}
CONFIGS |= {f"{k}-split": v | {"split_delays": True} for k, v in list(CONFIGS.items())
            if k in ("sweep-sends", "steps-sweep-sends")}


def due_sops(out: Path, steps: int) -> int:
    """Synaptic operations of the run's deliveries: the fan-out of every spike of steps
    0 .. steps - 2 (delivered in steps 1 .. steps - 1). A core that runs ahead also delivers
    the last step's spikes after its ``done``; they are not counted, so both designs are
    measured on the same work."""
    cd = Compiled.open(out)
    net = cd.network()
    raster = cd.reference(net.labels)
    fanout = np.bincount(net.pre, minlength=net.n_neurons)
    return int(fanout[raster.neuron[raster.step < steps - 1]].sum())


def peak_clocks(out: Path, steps: int, cores: int) -> float:
    """The clocks of the run on the hardware's peak: every step t in max(S_t, N) / cores clocks,
    S_t its synaptic operations (the fan-out of step t - 1's spikes), N its neuron updates. A
    core with ``sweep_overlap`` has two engines, one SOP and one neuron update a clock, side by
    side; this is their peak on perfectly balanced cores with nothing lost between steps (the
    SOPs of step t's spikes can only start once they have spiked, so even that hardware does
    not reach it). A design without sweep overlap does one or the other in a clock: its own
    peak is (S_t + N) / cores, the ``of_ideal_step`` share."""
    cd = Compiled.open(out)
    net = cd.network()
    raster = cd.reference(net.labels)
    fanout = np.bincount(net.pre, minlength=net.n_neurons)
    keep = raster.step < steps - 1
    sops = np.bincount(raster.step[keep] + 1, weights=fanout[raster.neuron[keep]],
                       minlength=steps)[:steps]
    return float(np.maximum(sops, net.n_neurons).sum() / cores)


def per_step_bound(out: Path, held_out: Stimulus | None = None) -> float:
    """The most of the ideal any design with a per-step barrier can reach on this placement:
    sum over steps of the mean core's delivery work over the busiest core's, from the
    reference raster (spikes of step t are delivered in step t + 1); with ``held_out``, from
    the reference run of that stimulus instead of the compiled one (placement "steps" saw the
    compiled run)."""
    cd = Compiled.open(out)
    net, placement = cd.network(), cd.placement()
    n_cores = 1 if placement is None else placement.n_cores
    core = np.zeros(net.n_neurons, np.int64) if placement is None else placement.core
    raster = cd.reference(net.labels)
    if held_out is not None:
        raster = reference_run(net, raster.steps, held_out).raster
    spikes = sp.csr_matrix((np.ones(len(raster.step)), (raster.step, raster.neuron)),
                           shape=(raster.steps, net.n_neurons))
    lands = sp.csr_matrix((np.ones(net.n_synapses), (net.pre, core[net.post])),
                          shape=(net.n_neurons, n_cores))
    work = (spikes @ lands).toarray()  # step x core: synaptic operations
    return float(work.sum() / (n_cores * work.max(axis=1).sum()))


def tables(sizes: list[int], per_core: int) -> None:
    """Per-core table memory with axon remap against the global-source pointer table, at a fixed
    number of neurons per core: a clustered map (clusters of ``per_core`` neurons, 45 of 50
    targets inside), placed as compile places it (no reference run: synapse-count weights)."""
    print("| N | cores | synapses | axons reaching a core (max) | pointer entries per core, "
          "remap (max / mean) | before (global sources) | table kbit per core, remap (max) "
          "| before | place + plan s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        net = quantize(clustered(n=n, k=50, cluster=per_core, local=45, seed=1))
        cores = -(-n // per_core)
        t0 = time.perf_counter()
        pl = place(net, cores, CoreLimits(neurons=per_core + per_core // 20))
        plan = mesh_plan(net, pl)
        secs = time.perf_counter() - t0
        got = table_sizes(plan)
        entries = np.array([g["axon_table_entries"] for g in got])
        e_bits = [CoreGeometry(img).e_bits for img in plan.images]
        before = [n * 2 * eb + g["table_bits"] - g["axon_table_entries"] * 2 * eb
                  - g["route_words"] * plan.axon_bits for g, eb in zip(got, e_bits, strict=True)]
        print(f"| {n:,} | {cores} | {net.n_synapses:,} | {max(g['axons_used'] for g in got):,} | "
              f"{entries.max():,} / {entries.mean():,.0f} | {n:,} | "
              f"{max(g['table_bits'] for g in got) / 1000:,.1f} | {max(before) / 1000:,.1f} | "
              f"{secs:.1f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--cores", type=int, nargs="+", default=[1, 4, 16, 64])
    ap.add_argument("--only", default="", help="run the maps whose name contains this")
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--tables", type=int, nargs="*", default=None, metavar="N",
                    help="only the per-core table sizes for these map sizes (e.g. 1000 10000 "
                         "100000) at --core-neurons neurons per core")
    ap.add_argument("--core-neurons", type=int, default=250)
    args = ap.parse_args()
    if args.tables is not None:
        tables(args.tables or [1000, 10_000, 100_000], args.core_neurons)
        return
    cases = {
        "builtin:celegans (302 n, 5,905 syn)": (load_map("builtin:celegans"), 0.02),
        "clustered 2,000 n x 50 (100,000 syn)": (
            clustered(n=2000, k=50, cluster=125, local=45, seed=1), 0.01),
        # no structure: 50 targets each drawn uniformly (one cluster, none of them "local")
        "random 2,000 n x 50 (100,000 syn)": (
            clustered(n=2000, k=50, cluster=2000, local=0, seed=2), 0.01),
        # the 64-core target: a map of >= 10^4 neurons
        "clustered 10,000 n x 50 (500,000 syn)": (
            clustered(n=10_000, k=50, cluster=125, local=45, seed=1), 0.01),
    }
    rows = []
    for name, (cmap, rate) in cases.items():
        if args.only not in name:
            continue
        base: dict[str, float] = {}
        for cores, config in itertools.product(args.cores, args.configs):
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "c"
                stim = poisson(cmap.n_neurons, args.steps, rate, seed=0)
                opts = RTLOptions(cores=cores, **CONFIGS[config])
                manifest = compile_map(cmap, out, stimulus=stim, steps=args.steps,
                                       backends=("rtl",), quiet=True,
                                       backend_options={"rtl": opts})
                r = run_cocotb(out, args.steps)
                bound = per_step_bound(out)
                sops = due_sops(out, args.steps)
                peak = peak_clocks(out, args.steps, cores)
                held = per_step_bound(out, poisson(cmap.n_neurons, args.steps, rate, seed=1))
            ahead = opts.run_ahead and opts.early_update and cores > 1
            # delivery share: SOPs over the clocks of the mesh's delivery phase (start until
            # the last core has delivered); run-ahead delivers mostly outside that phase, so
            # there only the whole run's SOP/clock is defined
            sop_clk = None if ahead else sops / r["deliver_cycles"]
            base.setdefault(config, r["cycles_per_step"])
            placement = manifest["backends"]["rtl"].get("placement", {})
            obj = placement.get("objectives", {})
            rows.append({
                "case": name, "config": config, "cores": cores, "bit_exact": r["passed"],
                "spikes": r["spikes"],
                "synaptic_ops": sops, "sop_count_rtl": r["synaptic_ops"],
                "deliver_cycles": r["deliver_cycles"],
                "deliver_cycles_per_step": r["deliver_cycles"] / args.steps,
                "update_cycles_per_step": r["update_cycles"] / args.steps,
                "sop_per_clock": sop_clk, "ideal": cores,
                "of_ideal": None if sop_clk is None else sop_clk / cores,
                # the whole run: SOPs over every clock from start to done
                "sop_per_clock_run": sops / r["cycles"],
                "of_ideal_run": sops / (cores * r["cycles"]),
                "per_step_bound": bound, "per_step_bound_held_out": held,
                # (SOPs + updates) per core-clock: the share of a core that does one SOP or
                # one update a clock; with sweep overlap a core does both, so this passes 100 %
                "of_ideal_step": (sops + cmap.n_neurons * args.steps)
                / (cores * r["cycles_per_step"] * args.steps),
                # the peak of the two engines: each step in max(SOPs, updates) / cores clocks
                "of_peak": peak / r["cycles"],
                "cycles_per_step": r["cycles_per_step"],
                "speedup_vs_1_core": base[config] / r["cycles_per_step"],
                "max_core_work": obj.get("max_core_work"),
                "work_balance": obj.get("work_balance"),
                "intercore_packets_per_step": placement.get("intercore_packets_per_step"),
                "traffic_saved_vs_in_order": placement.get("traffic_saved_vs_in_order"),
            })
            print(json.dumps(rows[-1]), flush=True)
    print("| map | cores | config | bit-exact | SOP/clock (sum) | of ideal (delivery) | bound "
          "| bound, held-out stimulus | delivery phase clocks/step "
          "| SOP/clock, whole run (of one a core a clock) | of peak, max(SOPs, updates) "
          "| (SOPs + updates) per core-clock | clocks/step | speed-up vs 1 core "
          "| max-core work / mean (SOP/step) | inter-core packets/step (saved vs in order) |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        traffic = ("–" if r["intercore_packets_per_step"] is None else
                   f"{r['intercore_packets_per_step']:.1f} "
                   f"({100 * r['traffic_saved_vs_in_order']:.0f} %)")
        work = ("–" if r["max_core_work"] is None else
                f"{r['max_core_work']:.1f} ({100 * r['work_balance']:.0f} %)")
        print(f"| {r['case']} | {r['cores']} | {r['config']} | {r['bit_exact']} | "
              + ("– | – | " if r["sop_per_clock"] is None else
                 f"{r['sop_per_clock']:.2f} | {100 * r['of_ideal']:.0f} % | ")
              + f"{100 * r['per_step_bound']:.0f} % | {100 * r['per_step_bound_held_out']:.0f} % | "
              f"{r['deliver_cycles_per_step']:.1f} | {r['sop_per_clock_run']:.2f} "
              f"({100 * r['of_ideal_run']:.0f} %) | {100 * r['of_peak']:.0f} % | "
              f"{100 * r['of_ideal_step']:.0f} % | {r['cycles_per_step']:.1f} | "
              f"{r['speedup_vs_1_core']:.2f}x | {work} | {traffic} |")


if __name__ == "__main__":
    main()
