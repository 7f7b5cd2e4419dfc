"""Where a mesh step's clocks go: per step, the clock (counted from ``start``) at which the last
core has delivered, the last core has pulsed ``done`` (its sweep is over and its output FIFO
has gone to its exit stage), the last exit stage is empty, the last packet is ejected into a
core, and the mesh's ``done``; with the busiest core's synaptic operations in the step.

The mesh of ``builtin:celegans`` (2 % drive) on 16 cores, placed as compile places it, runs in
Amaranth's simulator with every core, exit stage and router recorded as it is built, so their
ports can be watched; means over the steps after the first two:

    cd bench && ../.venv/bin/python mesh_steps.py [--steps 30] [--balance work|steps]
        [--mode off|ahead|sweep]
"""

from __future__ import annotations

import argparse

import numpy as np
from amaranth.sim import Simulator

from neuropaste.addresses import addresses
from neuropaste.events import poisson
from neuropaste.generators.placement import mesh_plan, place
from neuropaste.generators.quantize import quantize
from neuropaste.hdl.mesh import NeuronMesh
from neuropaste.io import load_map
from neuropaste.reference import reference_run

MODES = {"off": {"run_ahead": False}, "ahead": {"sweep_overlap": False}, "sweep": {}}


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
    args = ap.parse_args()
    net = quantize(load_map("builtin:celegans"))
    stim = poisson(net.n_neurons, args.steps, 0.02, seed=0)
    ref = reference_run(net, args.steps, stim)
    pl = place(net, args.cores, rates=ref.rates, balance=args.balance, raster=ref.raster)
    mesh = WatchedMesh(mesh_plan(net, pl), **MODES[args.mode])
    address = addresses(pl)[0]
    rows = []

    async def bench(ctx):
        while ctx.get(mesh.busy):
            await ctx.tick()
        ctx.set(mesh.aer_out.ready, 1)
        for t in range(args.steps):
            for j in address[stim.neuron[stim.step == t]].tolist():
                ctx.set(mesh.aer_in.valid, 1)
                ctx.set(mesh.aer_in.payload, j)
                await ctx.tick()
            ctx.set(mesh.aer_in.valid, 0)
            ctx.set(mesh.start, 1)
            await ctx.tick()
            ctx.set(mesh.start, 0)
            sops = [ctx.get(c.sop_count) for c in mesh.cores]
            k, delivered, done, exit_busy, ejected = 0, set(), set(), 0, 0
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
                await ctx.tick()
            await ctx.tick()
            work = [ctx.get(c.sop_count) - s for c, s in zip(mesh.cores, sops, strict=True)]
            rows.append((k + 1, last[0], last[1], exit_busy, ejected, max(work)))

    sim = Simulator(mesh)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    mean = np.array(rows[2:], float).mean(axis=0)
    print(f"builtin:celegans, {args.cores} cores, placement {args.balance}, run-ahead "
          f"{args.mode}, means over steps 2..{args.steps - 1} (clock of the step, from start):")
    for name, v in zip(["step over (mesh done)", "last core delivered", "last core done",
                        "last exit stage busy", "last packet ejected",
                        "busiest core's SOPs in the step"], mean.tolist(), strict=True):
        print(f"  {name}: {v:.1f}")


if __name__ == "__main__":
    main()
