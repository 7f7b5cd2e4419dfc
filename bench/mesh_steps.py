"""Where a mesh step's clocks go: per step, the clock (counted from ``start``) at which the last
core has delivered, the last core has pulsed ``done`` (its sweep is over and its output FIFO
has gone to its exit stage), the last exit stage is empty, the last packet is ejected into a
core, and the mesh's ``done``; with the busiest core's synaptic operations in the step and the
clocks on which an exit stage offered a packet that its router refused.

The mesh of ``builtin:celegans`` (2 % drive) or of the clustered 2,000-neuron map (1 % drive)
on 16 cores (or the 10,000-neuron one, for 64 cores), placed as compile places it for the
bench's 100-step run (``--place-steps``), runs in Amaranth's simulator with every core, exit
stage and router recorded as it is built, so their ports can be watched; means over the steps
after the first two:

    cd bench && ../.venv/bin/python mesh_steps.py [--steps 30] [--balance work|steps]
        [--mode off|ahead|sweep|slow|split] [--map celegans|clustered|clustered10k]
        [--order index|sends] [--cores 16]

``slow``: ``sweep`` with the step's earlier fixed costs (``fast_network=False``,
``quick_start=False``); ``sweep`` and ``slow`` deliver an axon's entries together
(``split_delays=False``), ``split`` is the default design (delay-1 entries first, the rest
deferred).
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from amaranth.sim import Simulator
from crossbar import clustered

from neuropaste.addresses import addresses
from neuropaste.events import poisson
from neuropaste.generators.placement import (
    SWEEP_ORDERS,
    WORK_NEURON_SLACK,
    CoreLimits,
    mesh_plan,
    place,
)
from neuropaste.generators.quantize import quantize
from neuropaste.hdl.mesh import NeuronMesh
from neuropaste.io import load_map
from neuropaste.reference import reference_run
from neuropaste.sim.amaranth_run import start_step

MODES = {"off": {"run_ahead": False}, "ahead": {"sweep_overlap": False},
         "sweep": {"split_delays": False},
         "slow": {"fast_network": False, "quick_start": False, "split_delays": False},
         "split": {}}


class WatchedMesh(NeuronMesh):
    """The mesh, keeping the cores and exit stages it builds."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cores, self.exits = [], []

    def _core(self, c):
        self.cores.append(super()._core(c))
        return self.cores[-1]

    def _exit(self, c, core):
        self.exits.append(super()._exit(c, core))
        return self.exits[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--cores", type=int, default=16)
    ap.add_argument("--balance", default="work", choices=["work", "steps"])
    ap.add_argument("--mode", default="sweep", choices=list(MODES))
    ap.add_argument("--order", default="sends", choices=list(SWEEP_ORDERS),
                    help="each core's neuron order (its sweep); index: the map's (before)")
    ap.add_argument("--map", default="celegans", choices=["celegans", "clustered", "clustered10k"])
    ap.add_argument("--place-steps", type=int, default=100,
                    help="steps of the reference run the placement sees (the bench's)")
    args = ap.parse_args()
    if args.map == "celegans":
        cmap, rate = load_map("builtin:celegans"), 0.02
    else:  # the bench's clustered maps: 2,000 neurons (16 cores) and 10,000 (64 cores)
        n = 10_000 if args.map == "clustered10k" else 2000
        cmap, rate = clustered(n=n, k=50, cluster=125, local=45, seed=1), 0.01
    net = quantize(cmap)
    stim = poisson(net.n_neurons, max(args.steps, args.place_steps), rate, seed=0)
    ref = reference_run(net, args.place_steps, stim)
    # compile's limit for C cores: neurons a core with the work placements' slack
    limit = max(math.ceil(WORK_NEURON_SLACK * net.n_neurons / args.cores),
                -(-net.n_neurons // args.cores))
    pl = place(net, args.cores, CoreLimits(neurons=limit), rates=ref.rates,
               balance=args.balance, raster=ref.raster, order=args.order)
    mesh = WatchedMesh(mesh_plan(net, pl), **MODES[args.mode])
    address = addresses(pl)[0]
    rows = []

    async def bench(ctx):
        while ctx.get(mesh.busy):
            await ctx.tick()
        ctx.set(mesh.aer_out.ready, 1)
        for t in range(args.steps):
            await start_step(ctx, mesh, address[stim.neuron[stim.step == t]].tolist())
            sops = [ctx.get(c.sop_count) for c in mesh.cores]
            k, delivered, done, exit_busy, ejected, refused = 0, set(), set(), 0, 0, 0
            last = [0, 0]
            while not ctx.get(mesh.done):
                k += 1
                for i, c in enumerate(mesh.cores):
                    if ctx.get(c.delivered) and i not in delivered:
                        delivered.add(i)
                        last[0] = k
                    if ctx.get(c.done) and i not in done:
                        done.add(i)
                        last[1] = k
                    if ctx.get(c.syn_in.valid) and ctx.get(c.syn_in.ready):
                        ejected = k
                if not all(ctx.get(e.empty) for e in mesh.exits):
                    exit_busy = k
                refused += sum(ctx.get(e.inject.valid) and not ctx.get(e.inject.ready)
                               for e in mesh.exits)
                await ctx.tick()
            await ctx.tick()
            work = [ctx.get(c.sop_count) - s for c, s in zip(mesh.cores, sops, strict=True)]
            rows.append((k + 1, last[0], last[1], exit_busy, ejected, max(work), refused))

    sim = Simulator(mesh)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    mean = np.array(rows[2:], float).mean(axis=0)
    print(f"{args.map}, {args.cores} cores, placement {args.balance}, mode "
          f"{args.mode}, means over steps 2..{args.steps - 1} (clock of the step, from start):")
    for name, v in zip(["step over (mesh done)", "last core delivered", "last core done",
                        "last exit stage busy", "last packet ejected",
                        "busiest core's SOPs in the step",
                        "clocks an exit stage's packet was refused (summed)"],
                       mean.tolist(), strict=True):
        print(f"  {name}: {v:.1f}")


if __name__ == "__main__":
    main()
