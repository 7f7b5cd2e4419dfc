"""Drive a neuron array in Amaranth's own simulator: fast unit tests without a Verilog build.

The array is any component with the step interface of docs/hardware.md (``hdl.core.LIFCore``,
``hdl.mesh.NeuronMesh``); the caller builds it, this module only runs it.
"""

from __future__ import annotations

import numpy as np
from amaranth import ResetInserter, Signal
from amaranth.lib import wiring
from amaranth.sim import Simulator

from neuropaste.events import Raster, Stimulus


async def start_step(ctx, dut: wiring.Component, words: list[int]) -> None:
    """One step's external events in, a clock each, then the ``start`` pulse (every testbench
    of an array drives a step this way)."""
    for j in words:
        ctx.set(dut.aer_in.valid, 1)
        ctx.set(dut.aer_in.payload, j)
        await ctx.tick()
    ctx.set(dut.aer_in.valid, 0)
    ctx.set(dut.start, 1)
    await ctx.tick()
    ctx.set(dut.start, 0)


def run_array(dut: wiring.Component, n_neurons: int, steps: int, stimulus: Stimulus, *,
              address: np.ndarray | None = None, out_stall: float = 0.0, seed: int = 0,
              reset_after: int = 0) -> tuple[Raster, dict[str, int]]:
    """Run ``steps`` steps through the AER ports; ``out_stall`` = P(aer_out not ready).

    ``address`` maps network indices to hardware addresses (identity when None); the raster
    comes back in network indices. ``reset_after > 0`` first runs that many steps, asserts reset
    for one clock in the middle of the next step's delivery, then starts over: the raster must
    not remember the first run.
    """
    address = np.arange(n_neurons) if address is None else np.asarray(address)
    index_of = np.empty(n_neurons, np.int64)
    index_of[address] = np.arange(n_neurons)
    rst = Signal()
    top = ResetInserter({"sync": rst})(dut)
    rng = np.random.default_rng(seed)
    events: list[tuple[int, int]] = []
    counts: dict[str, int] = {}

    async def bench(ctx):
        if reset_after:
            await run(ctx, reset_after, [])
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            await ctx.tick()
            ctx.set(rst, 1)
            await ctx.tick()
            ctx.set(rst, 0)
        await run(ctx, steps, events)
        for name in ("step_count", "sop_count", "deliver_cycles", "update_cycles"):
            counts[name] = ctx.get(getattr(dut, name))

    async def run(ctx, steps, events):
        while ctx.get(dut.busy):  # the post-reset clear of the state memories
            await ctx.tick()
        for t in range(steps):
            await start_step(ctx, dut, address[stimulus.neuron[stimulus.step == t]].tolist())
            while True:
                ready = int(rng.random() >= out_stall)
                ctx.set(dut.aer_out.ready, ready)
                if ready and ctx.get(dut.aer_out.valid):
                    events.append((t, int(index_of[ctx.get(dut.aer_out.payload)])))
                if ctx.get(dut.done):
                    await ctx.tick()
                    break
                await ctx.tick()

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    events.sort()
    step = np.array([e[0] for e in events], np.int64)
    neuron = np.array([e[1] for e in events], np.int64)
    return Raster(step=step, neuron=neuron, steps=steps, n_neurons=n_neurons), counts
