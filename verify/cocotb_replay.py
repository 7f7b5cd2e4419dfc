"""cocotb test of cores and routers of a mesh, each alone, against their recorded traffic.

Run by :mod:`neuropaste.verify.replay` through ``cocotb_tools.runner`` on the top
``neuropaste_replay``, which holds a batch of unit harnesses side by side (each around its
unit's module in the compiled mesh Verilog, its ports prefixed ``u<k>_``) so that Icarus and
cocotb start once per batch. ``NEUROPASTE_REPLAY`` names the batch (a JSON list of prefix,
stream and result file); each stream (an ``.npz``) holds, per step, what enters the unit and
what must leave it; inputs come with random gaps and outputs meet random back-pressure
(``NEUROPASTE_STALL``), drawn per unit from the same seed as if it ran alone.

A core: reset and wait for its clearing sweep; per step, its external events go in while it is
idle, ``start`` is pulsed, the packets ejected into it during that step are fed on ``syn_in``
(after ``delivered`` when the core holds for the barrier, else from the first clock), its
``aer_out`` is collected until ``done`` and every packet is in. A router: per step, every input
port is fed its packets at once, every output collected, until all went in and it is idle. Both
compare each step's outputs as a multiset (per port for a router) with the expected ones, watch
for output outside a step, and name the first difference.

It imports nothing of neuropaste: the runner loads it as a top-level module, so each unit's
simulator starts without the package's imports.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge


def _per_step(step: np.ndarray, values: np.ndarray, steps: int) -> list[list[Any]]:
    out: list[list[Any]] = [[] for _ in range(steps)]
    for s, v in zip(step.tolist(), values.tolist(), strict=True):
        out[s].append(v)
    return out


async def _reset(dut) -> None:
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    for _ in range(3):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    await FallingEdge(dut.clk)


async def _core(dut, s: dict[str, np.ndarray], stall: float, rng: random.Random
                ) -> dict[str, Any]:
    steps = int(s["steps"])
    labels = s["labels"].tolist()
    ext = _per_step(s["ext_step"], s["ext_addr"], steps)
    packets = _per_step(s["in_step"], s["in_axon"], steps)
    expected = _per_step(s["out_step"], s["out_addr"], steps)
    stray: list[str] = []
    dut.start.value = 0
    dut.aer_in__valid.value = 0
    dut.syn_in__valid.value = 0
    dut.aer_out__ready.value = 1
    await _reset(dut)
    held = bool(int(dut.held.value))
    clear_limit = 100 + 64 * (len(labels) + 1) * 64
    for _ in range(clear_limit):  # the core zeroes its state memories after reset
        if int(dut.aer_out__valid.value) or int(dut.done.value):
            stray.append("output while clearing after reset")
        await FallingEdge(dut.clk)
        if not int(dut.busy.value):
            break
    else:
        raise AssertionError(f"busy still high {clear_limit} clocks after reset")

    got: list[list[int]] = [[] for _ in range(steps)]
    cycles = 0
    for t in range(steps):
        for a in ext[t]:  # while idle; the core takes them into its ext bits
            dut.aer_in__valid.value = 1
            dut.aer_in__payload.value = int(a)
            while True:
                ready = int(dut.aer_in__ready.value)
                await FallingEdge(dut.clk)
                if ready:
                    break
        dut.aer_in__valid.value = 0
        dut.start.value = 1
        await FallingEdge(dut.clk)
        dut.start.value = 0
        queue = list(packets[t])
        rng.shuffle(queue)
        delivered = not held
        done = False
        limit = 2000 + 16 * (len(queue) + len(labels)) + 64 * len(got[t - 1] if t else [])
        waited = 0
        while not (done and not queue):
            offer = bool(queue) and delivered and rng.random() >= stall
            dut.syn_in__valid.value = int(offer)
            if offer:
                dut.syn_in__payload.value = int(queue[0])
            ready = 0 if stall and rng.random() < stall else 1
            dut.aer_out__ready.value = ready
            out_valid = int(dut.aer_out__valid.value)
            if out_valid and done:
                stray.append(f"spike of local address {int(dut.aer_out__payload.value)} after "
                             f"step {t} was done")
            elif out_valid and ready:
                got[t].append(int(dut.aer_out__payload.value))
            took = offer and int(dut.syn_in__ready.value)
            if int(dut.done.value):
                if done:
                    stray.append(f"a second done pulse in step {t}")
                done = True
            delivered = delivered or bool(int(dut.delivered.value))
            await FallingEdge(dut.clk)
            if took:
                queue.pop(0)
            cycles += 1
            waited += 1
            if waited > limit:
                raise AssertionError(f"step {t} did not finish within {limit} cycles "
                                     f"({len(queue)} packets not taken, done={int(done)})")
        dut.syn_in__valid.value = 0
        dut.aer_out__ready.value = 1
    for _ in range(64 + 4 * len(labels)):  # nothing may come out after the last step
        if int(dut.aer_out__valid.value):
            stray.append(f"spike of local address {int(dut.aer_out__payload.value)} after the "
                         f"last step ({steps - 1})")
        if int(dut.done.value):
            stray.append("done pulse after the last step")
        await FallingEdge(dut.clk)

    first = None
    for t in range(steps):
        a, b = Counter(got[t]), Counter(expected[t])
        if a != b:
            addr = min(k for k in a.keys() | b.keys() if a[k] != b[k])
            label = labels[addr] if 0 <= addr < len(labels) else f"(no neuron at {addr})"
            first = {"step": t, "address": addr, "label": str(label), "rtl_count": a[addr],
                     "expected_count": b[addr]}
            break
    return {"steps": steps, "packets_in": len(s["in_axon"]) + len(s["ext_addr"]),
            "outputs": sum(map(len, got)), "expected_outputs": len(s["out_addr"]),
            "first_mismatch": first, "first_stray": stray[0] if stray else None,
            "cycles": cycles, "sop_count": int(dut.sop_count.value), "held": held}


async def _router(dut, s: dict[str, np.ndarray], stall: float, rng: random.Random
                  ) -> dict[str, Any]:
    steps = int(s["steps"])
    names = s["ports"].tolist()  # hdl.router.PORTS, sent along: no Amaranth in the simulator
    ports = [p for p in names if hasattr(dut, f"i_{p}__valid")]
    outs = [p for p in names if hasattr(dut, f"o_{p}__valid")]
    feed = {p: _per_step(s[f"in_{p}_step"], s[f"in_{p}_word"], steps) for p in names}
    want = {p: _per_step(s[f"out_{p}_step"], s[f"out_{p}_word"], steps) for p in names}
    for p in names:  # traffic due on a port the router does not have is a defect
        if p not in ports and len(s[f"in_{p}_word"]):
            raise AssertionError(f"{len(s[f'in_{p}_word'])} packets are due on input {p}, "
                                 "which this router lacks")
        if p not in outs and len(s[f"out_{p}_word"]):
            raise AssertionError(f"{len(s[f'out_{p}_word'])} packets are due out of {p}, "
                                 "which this router lacks")
    for p in ports:
        getattr(dut, f"i_{p}__valid").value = 0
    for p in outs:
        getattr(dut, f"o_{p}__ready").value = 1
    await _reset(dut)
    got = {p: [[] for _ in range(steps)] for p in names}
    stray: list[str] = []
    cycles = 0
    for t in range(steps):
        queues = {p: list(feed[p][t]) for p in ports}
        for q in queues.values():
            rng.shuffle(q)
        limit = 2000 + 32 * sum(map(len, queues.values()))
        waited = 0
        while True:
            offers = {}
            for p in ports:
                offer = bool(queues[p]) and rng.random() >= stall
                getattr(dut, f"i_{p}__valid").value = int(offer)
                if offer:
                    getattr(dut, f"i_{p}__payload").value = int(queues[p][0], 16)
                offers[p] = offer
            for p in outs:
                ready = 0 if stall and rng.random() < stall else 1
                getattr(dut, f"o_{p}__ready").value = ready
                if ready and int(getattr(dut, f"o_{p}__valid").value):
                    got[p][t].append(f"{int(getattr(dut, f'o_{p}__payload').value):x}")
            took = [p for p in ports if offers[p] and int(getattr(dut, f"i_{p}__ready").value)]
            empty = not any(queues.values()) and int(dut.idle.value)
            await FallingEdge(dut.clk)
            for p in took:
                queues[p].pop(0)
            cycles += 1
            waited += 1
            if empty and not took:
                break
            if waited > limit:
                raise AssertionError(f"step {t}: the router did not drain within {limit} cycles")
        for p in ports:
            getattr(dut, f"i_{p}__valid").value = 0
    for _ in range(16):
        for p in outs:
            if int(getattr(dut, f"o_{p}__valid").value):
                stray.append(f"packet out of {p} after the last step")
        await FallingEdge(dut.clk)
    first = None
    for t in range(steps):
        for p in names:
            a, b = Counter(got[p][t]), Counter(want[p][t])
            if a != b and first is None:
                word = min(k for k in a.keys() | b.keys() if a[k] != b[k])
                value, bits = int(word, 16), int(s["axon_bits"])
                row_bits, width = int(s["row_bits"]), int(s["width"])
                row = value >> bits & ((1 << row_bits) - 1)
                cols = value >> (bits + row_bits)
                first = {"step": t, "port": p, "word": word, "axon": value & ((1 << bits) - 1),
                         "cores": [row * width + k for k in range(cols.bit_length())
                                   if cols >> k & 1],
                         "rtl_count": a[word], "expected_count": b[word]}
    return {"steps": steps, "packets_in": sum(len(s[f"in_{p}_word"]) for p in names),
            "outputs": sum(len(x) for p in names for x in got[p]),
            "expected_outputs": sum(len(s[f"out_{p}_word"]) for p in names),
            "first_mismatch": first, "first_stray": stray[0] if stray else None,
            "cycles": cycles}


class _Unit:
    """One unit's ports in a batch: the top's ports with the unit's prefix."""

    def __init__(self, dut, prefix: str) -> None:
        self._dut, self._prefix = dut, prefix

    def __getattr__(self, name: str):
        return getattr(self._dut, self._prefix + name)


async def _one(dut, entry: dict[str, str], stall: float, seed: int) -> bool:
    """Run one unit of the batch and write its result; whether it passed."""
    with np.load(entry["stream"], allow_pickle=False) as z:
        s = {k: z[k] for k in z.files}
    result_path = Path(entry["result"])
    rng = random.Random(seed)  # as if alone: a unit's run does not depend on its batch
    kind = str(s["kind"])
    try:
        result = await (_core if kind == "core" else _router)(_Unit(dut, entry["prefix"]), s,
                                                               stall, rng)
    except (AssertionError, ValueError) as err:  # a hang, or an X where a bit must be
        why = f"an output is X or Z: {err}" if isinstance(err, ValueError) else str(err)
        result_path.write_text(json.dumps({"steps": int(s["steps"]), "passed": False,
                                           "error": f"simulation stopped: {why}"}) + "\n")
        return False
    result["passed"] = (result["first_mismatch"] is None and result["first_stray"] is None
                        and result["outputs"] == result["expected_outputs"])
    result["stall_probability"] = stall
    result_path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return result["passed"]


@cocotb.test()
async def replay(dut) -> None:
    batch = json.loads(Path(os.environ["NEUROPASTE_REPLAY"]).read_text())
    stall = float(os.environ.get("NEUROPASTE_STALL", "0"))
    seed = int(os.environ.get("NEUROPASTE_SEED", "0"))
    tasks = [cocotb.start_soon(_one(dut, entry, stall, seed)) for entry in batch]
    passed = [await task for task in tasks]
    assert all(passed), f"{passed.count(False)} of {len(batch)} units failed"
