"""cocotb test of the generated Verilog (one core or a mesh) against the reference model.

Run by :mod:`neuropaste.verify.rtl` through ``cocotb_tools.runner``; the compiled
directory, step count, output stall probability and result file come in environment variables.
Every step: external events go in through the AER input stream, ``start`` is pulsed, the AER
output is collected (with random back-pressure) until ``done``. The output is watched on every
clock, from reset to well after the last ``done``: a spike outside a step's window (while idle,
while clearing, after the last step) or a ``done`` outside a step fails the test, as does any
difference between the rasters as multisets (every step and neuron, duplicates counted); the
failure names the first differing step and neuron. A mesh speaks global hardware addresses
(``rtl/address_map.csv``); the test maps them to and from the network's indices with the
stored placement.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from neuropaste.addresses import addresses
from neuropaste.compiled import RTL_SPIKES, Compiled
from neuropaste.events import Raster, save_raster_csv
from neuropaste.reference import simulate


@cocotb.test()
async def raster_matches_reference(dut) -> None:
    compiled = Compiled.open(os.environ["NEUROPASTE_DIR"])
    steps = int(os.environ["NEUROPASTE_STEPS"])
    stall = float(os.environ.get("NEUROPASTE_STALL", "0"))
    result_path = Path(os.environ["NEUROPASTE_RESULT"])
    net = compiled.network()
    stim = compiled.stimulus(net.labels)
    reference = simulate(net, steps, stim)
    rng = random.Random(int(os.environ.get("NEUROPASTE_SEED", "0")))
    placement = compiled.placement()
    address = (np.arange(net.n_neurons) if placement is None else addresses(placement)[0])
    index_of = np.empty(net.n_neurons, np.int64)
    index_of[address] = np.arange(net.n_neurons)

    stray: list[str] = []  # output outside any step's window: each one fails the test

    async def drive() -> tuple[list[tuple[int, int]], int]:
        """Reset, every step, and the silence after the last one."""
        Clock(dut.clk, 10, unit="ns").start()

        def label(address: int) -> str:
            if 0 <= address < net.n_neurons:
                return repr(str(net.labels[int(index_of[address])]))
            return f"address {address} (no such neuron)"

        async def idle_clock(where: str) -> None:
            """One clock outside a step: the output must stay silent (taken if offered)."""
            dut.aer_out__ready.value = 1
            if int(dut.aer_out__valid.value):
                stray.append(f"spike of {label(int(dut.aer_out__payload.value))} {where}")
            if int(dut.done.value):
                stray.append(f"done pulse {where}")
            await FallingEdge(dut.clk)

        dut.rst.value = 1
        dut.start.value = 0
        dut.aer_in__valid.value = 0
        dut.aer_out__ready.value = 1
        for _ in range(3):
            await FallingEdge(dut.clk)
        dut.rst.value = 0
        clear_limit = 4 + (net.max_delay << max(1, (net.n_neurons - 1).bit_length()))
        for _ in range(clear_limit):  # the core zeroes its state memories after reset
            await idle_clock("while clearing after reset")
            if not int(dut.busy.value):
                break
        else:
            raise AssertionError(f"busy still high {clear_limit} clocks after reset")

        by_step: dict[int, list[int]] = {}
        for s, j in zip(stim.step.tolist(), stim.neuron.tolist(), strict=True):
            if s < steps:
                by_step.setdefault(s, []).append(j)
        events: list[tuple[int, int]] = []
        cycles = 0
        # every step fits in (synapses + neurons) cycles many times over; past that it is a hang
        limit = 1000 + 8 * (net.n_synapses + net.n_neurons) * steps
        for t in range(steps):
            # values are set and sampled at falling edges; the core acts on the rising edge after
            for j in by_step.get(t, ()):
                dut.aer_in__valid.value = 1  # the core is idle, so aer_in.ready is high
                dut.aer_in__payload.value = int(address[j])
                await idle_clock(f"before step {t} started")
            dut.aer_in__valid.value = 0
            dut.start.value = 1
            await idle_clock(f"before step {t} started")
            dut.start.value = 0
            while True:
                ready = 0 if stall and rng.random() < stall else 1
                dut.aer_out__ready.value = ready
                if ready and int(dut.aer_out__valid.value):
                    payload = int(dut.aer_out__payload.value)
                    if payload >= net.n_neurons:
                        stray.append(f"spike of {label(payload)} in step {t}")
                    else:
                        events.append((t, int(index_of[payload])))
                done = int(dut.done.value)
                await FallingEdge(dut.clk)
                cycles += 1
                if done:
                    break
                if cycles > limit:
                    raise AssertionError(f"step {t} did not finish within {limit} cycles")
            dut.aer_out__ready.value = 1
            if t % 100 == 0:
                dut._log.info(f"step {t}: {len(events)} spikes, {cycles} cycles")
        # after the last done nothing may come out: watch longer than a whole update sweep
        for _ in range(64 + 4 * net.n_neurons):
            await idle_clock(f"after the last step ({steps - 1}) was done")
        return events, cycles

    try:
        events, cycles = await drive()
    except (AssertionError, ValueError) as err:  # a hang, or an X where a bit must be
        why = f"an output is X or Z: {err}" if isinstance(err, ValueError) else str(err)
        result_path.write_text(json.dumps({"passed": False, "steps": steps, "spikes": 0,
                                           "reference_spikes": len(reference),
                                           "error": f"simulation stopped: {why}"}) + "\n")
        raise

    events.sort()
    rtl = Raster(step=np.array([e[0] for e in events], np.int64),
                 neuron=np.array([e[1] for e in events], np.int64), steps=steps,
                 n_neurons=net.n_neurons)
    save_raster_csv(result_path.with_name(RTL_SPIKES), rtl, net.labels)
    first = reference.first_difference(rtl)
    sops = int(dut.sop_count.value)
    deliver = int(dut.deliver_cycles.value)
    mismatch = None
    if first is not None:
        def count(r: Raster) -> int:
            return int(((r.step == first[0]) & (r.neuron == first[1])).sum())

        mismatch = {"step": first[0], "neuron": str(net.labels[first[1]]), "index": first[1],
                    "rtl_count": count(rtl), "reference_count": count(reference),
                    "in_reference": count(reference) > 0}
    result = {
        "passed": first is None and not stray and len(rtl) == len(reference),
        "steps": steps,
        "spikes": len(rtl),
        "reference_spikes": len(reference),
        "first_mismatch": mismatch,
        "stray_outputs": len(stray),
        "first_stray": stray[0] if stray else None,
        "cycles": cycles,
        "cycles_per_step": cycles / steps,
        "synaptic_ops": sops,
        "deliver_cycles": deliver,
        "update_cycles": int(dut.update_cycles.value),
        "sops_per_delivery_cycle": sops / deliver if deliver else None,
        "output_stall_probability": stall,
        "link_stall_probability": float(os.environ.get("NEUROPASTE_LINK_STALL", "0")),
        "cores": 1 if placement is None else placement.n_cores,
    }
    result_path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    if stray:
        raise AssertionError(f"RTL output outside a step: {stray[0]} ({len(stray)} in all)")
    if mismatch is not None:
        raise AssertionError(f"rasters differ first at step {first[0]}, neuron "
                             f"{mismatch['neuron']!r} (index {first[1]}): "
                             f"{mismatch['rtl_count']} spike(s) in the RTL, "
                             f"{mismatch['reference_count']} in the reference")
    assert result["passed"], "spike counts differ"
