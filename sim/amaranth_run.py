"""Drive a LIFCore in Amaranth's own simulator: fast unit tests without a Verilog build."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator
from neuropaste.hdl.core import LIFCore
from neuropaste.sim.reference import Raster, Stimulus

from neuropaste.ir import Network


def run_core(net: Network, steps: int, stimulus: Stimulus, out_stall: float = 0.0,
             seed: int = 0) -> tuple[Raster, dict[str, int]]:
    """Run ``steps`` steps through the AER ports; ``out_stall`` = P(aer_out not ready)."""
    dut = LIFCore(net)
    rng = np.random.default_rng(seed)
    events: list[tuple[int, int]] = []
    counts: dict[str, int] = {}

    async def bench(ctx):
        for t in range(steps):
            sel = stimulus.step == t
            for j in stimulus.neuron[sel].tolist():
                ctx.set(dut.aer_in.valid, 1)
                ctx.set(dut.aer_in.payload, j)
                await ctx.tick()
            ctx.set(dut.aer_in.valid, 0)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            while True:
                ready = int(rng.random() >= out_stall)
                ctx.set(dut.aer_out.ready, ready)
                if ready and ctx.get(dut.aer_out.valid):
                    events.append((t, ctx.get(dut.aer_out.payload)))
                if ctx.get(dut.done):
                    await ctx.tick()
                    break
                await ctx.tick()
        for name in ("step_count", "sop_count", "deliver_cycles", "update_cycles"):
            counts[name] = ctx.get(getattr(dut, name))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    events.sort()
    step = np.array([e[0] for e in events], np.int64)
    neuron = np.array([e[1] for e in events], np.int64)
    return Raster(step=step, neuron=neuron, steps=steps, n_neurons=net.n_neurons), counts
