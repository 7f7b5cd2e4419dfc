"""The LIF core against the reference model: Amaranth's simulator, then the Verilog in Icarus."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from amaranth.hdl import Fragment
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netgen import hardware_networks, run_core

from neuropaste.compile import compile_map, compile_network
from neuropaste.errors import InputError
from neuropaste.events import Stimulus, poisson
from neuropaste.generators.rtl import SingleCoreLimits, build_core, check_fits
from neuropaste.hdl.core import PARAMS, CoreGeometry, CoreImage, LIFCore, memory_images
from neuropaste.io import load_map
from neuropaste.ir import Network, bits_for_signed, fanout_indptr
from neuropaste.neuron import QuantOptions
from neuropaste.reference import simulate
from neuropaste.verify.rtl import synth_stats

needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None, reason="no iverilog")


def _assert_same(net, steps, stim, stall=0.0, seed=0, **core_options):
    ref = simulate(net, steps, stim)
    hw, counts = run_core(net, steps, stim, out_stall=stall, seed=seed, **core_options)
    assert ref.first_difference(hw) is None, f"first difference {ref.first_difference(hw)}"
    assert counts["step_count"] == steps
    return ref, counts


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hardware_networks(max_neurons=8, max_steps=15))
def test_amaranth_sim_matches_reference(case) -> None:
    net, steps, stim = case
    _assert_same(net, steps, stim, stall=0.25)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hardware_networks(max_neurons=8, max_steps=12), st.booleans())
def test_weight_delay_table_core_matches_reference(case, pipelined: bool) -> None:
    """``lut``: each entry holds its target and the index of its (weight, delay) pair in the
    core's ``wd`` table, and the core stays exact, pipelined or not."""
    net, steps, stim = case
    g = CoreGeometry(net, lut=True)
    images = memory_images(CoreImage.from_network(net), g)
    pairs = sorted(set(zip(net.weight.tolist(), net.delay.tolist(), strict=True))) or [(0, 1)]
    weights, delays = np.array([w for w, _ in pairs]), np.array([d for _, d in pairs])
    assert g.pairs == len(weights) and g.entry_bits == g.n_bits + g.l_bits
    wd = np.asarray(images["wd"][0], np.int64)
    assert np.array_equal(wd & ((1 << g.w_bits) - 1), weights & ((1 << g.w_bits) - 1))
    assert np.array_equal(wd >> g.w_bits, delays)
    _assert_same(net, steps, stim, stall=0.25, lut=True, pipelined=pipelined)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hardware_networks(max_neurons=8, max_steps=12))
def test_earlier_core_still_matches_reference(case) -> None:
    """The earlier core (serial fetch, single-clock update and accumulate) stays reachable for
    the bench, so it stays exact."""
    net, steps, stim = case
    _assert_same(net, steps, stim, stall=0.25, prefetch=False, pipelined=False, packed=False,
                 retimed=False)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hardware_networks(max_neurons=8, max_steps=12))
def test_core_before_short_paths_still_matches_reference(case) -> None:
    """The update's saturation by comparisons (main's core before ``short_paths``): bench/fpga.py's
    "main"."""
    net, steps, stim = case
    _assert_same(net, steps, stim, stall=0.25, short_paths=False)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hardware_networks(max_neurons=8, max_steps=12))
def test_pipelined_core_without_retiming_still_matches_reference(case) -> None:
    """The pipelined core of before the UP5K retiming (transparent accumulator port, binary
    phase machine, Amaranth's FIFOs, full param ROM): bench/fpga.py's "before"."""
    net, steps, stim = case
    _assert_same(net, steps, stim, stall=0.25, packed=False, retimed=False)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hardware_networks(max_neurons=8, max_steps=12), st.sets(st.sampled_from(PARAMS)))
def test_shared_parameters_become_constants_and_stay_exact(case, shared) -> None:
    """Packed, a parameter that every neuron shares leaves the ``param`` ROM for a constant;
    the others stay in it, and the core stays exact either way."""
    net, steps, stim = case
    net = dataclasses.replace(net, **{f: np.full_like(getattr(net, f), getattr(net, f)[0])
                                      for f in shared})
    g, full = CoreGeometry(net), CoreGeometry(net, packed=False)
    widths = {"threshold": g.v_bits, "v_reset": g.v_bits, "bias": g.b_bits,
              "leak_shift": g.k_bits, "refractory": g.r_bits}
    assert full.param_bits == sum(widths.values())
    same = {f for f in PARAMS if np.all(getattr(net, f) == getattr(net, f)[0])}
    assert shared <= same and g.param_bits == sum(w for f, w in widths.items() if f not in same)
    assert ("param" in memory_images(CoreImage.from_network(net), g)) == (g.param_bits > 0)
    _assert_same(net, steps, stim, stall=0.25)


@pytest.mark.parametrize("prefetch,clocks_per_source,pipelined,retimed",
                         [(True, 1, True, True), (True, 1, True, False), (True, 1, False, True),
                          (False, 3, False, True)])
def test_sources_of_one_entry_stream_at_one_op_per_clock(prefetch: bool, clocks_per_source: int,
                                                         pipelined: bool, retimed: bool) -> None:
    """64 sources of one target each (a mesh core's usual share of a source): the pipelined
    pointer fetch issues one operation a clock, the serial fetch one every 3 clocks."""
    n = 65
    net = _net(n, np.arange(n - 1), np.full(n - 1, n - 1), np.ones(n - 1), np.ones(n - 1),
               threshold=[1] * (n - 1) + [1000])
    stim = Stimulus.from_pairs(np.zeros(n - 1, int), np.arange(n - 1))
    _, counts = _assert_same(net, 2, stim, prefetch=prefetch, pipelined=pipelined,
                             retimed=retimed)
    assert counts["sop_count"] == n - 1
    # step 0 delivers nothing (empty_delivery_clocks); step 1: the first fetch, then one source
    # every clocks_per_source, then the pipeline drain
    core = LIFCore(net, pipelined=pipelined)
    assert (core.fetch_clocks, core.drain_clocks) == ((5, 6) if pipelined else (3, 2))
    assert counts["deliver_cycles"] == (core.empty_delivery_clocks + core.fetch_clocks
                                        + clocks_per_source * (n - 2) + 1 + core.drain_clocks)


def test_one_synaptic_op_per_clock_when_fan_out_is_long() -> None:
    # one source with 200 targets: delivery must take ~200 cycles, not 400 (ODIN needs 2)
    from neuropaste.cmap import ConnectivityMap

    n = 201
    cmap = ConnectivityMap.build([f"x{i}" for i in range(n)], np.zeros(n - 1, int),
                                 np.arange(1, n), np.ones(n - 1), np.ones(n - 1, int) * 2)
    from neuropaste.events import Stimulus
    from neuropaste.generators.quantize import quantize

    net = quantize(cmap, QuantOptions(threshold=5.0, refractory=0))
    stim = Stimulus.from_pairs([0, 2], [0, 0])
    _, counts = _assert_same(net, 4, stim)
    assert counts["sop_count"] == 2 * (n - 1)
    # one clock per operation; per step only the pipeline's fill and drain on top
    core = LIFCore(net)
    assert counts["deliver_cycles"] == (2 * core.empty_delivery_clocks + 2 * (
        core.fetch_clocks + (n - 1) + core.drain_clocks))


def test_too_large_for_one_core_says_what_to_change() -> None:
    cmap = load_map("builtin:celegans")
    from neuropaste.generators.quantize import quantize

    big = quantize(cmap)
    with pytest.raises(InputError, match="302 neurons exceed one core's 100"):
        check_fits(big, SingleCoreLimits(neurons=100))
    with pytest.raises(InputError, match="fan-out entries: prune"):
        check_fits(big, SingleCoreLimits(fanout_entries=1000))


def test_component_api_exposes_streams() -> None:
    from neuropaste.generators.quantize import quantize

    core = build_core(quantize(load_map("builtin:celegans")))
    names = {name for name, _ in core.signature.members.items()}
    assert {"aer_in", "aer_out", "start", "done", "busy"} <= names
    assert core.geometry.n == 302
    assert len(core.aer_in.payload) == 9 and core.geometry.acc_depth == core.image.max_delay << 9
    Fragment.get(core, None)  # elaborates on its own, as inside a user's design


def _net(n, pre, post, weight, delay, threshold, **kw) -> Network:
    """A hand-written network in canonical (pre, post, delay) order."""
    pre, post = np.asarray(pre, np.int32), np.asarray(post, np.int32)
    weight, delay = np.asarray(weight, np.int32), np.asarray(delay, np.int16)
    order = np.lexsort((delay, post, pre))
    full = {"v_reset": 0, "bias": 0, "leak_shift": 0, "refractory": 0, **kw}
    net = Network(labels=np.array([f"n{i}" for i in range(n)]), pre=pre[order],
                  post=post[order], weight=weight[order], delay=delay[order],
                  threshold=np.broadcast_to(np.asarray(threshold, np.int64), n).copy(),
                  **{k: np.full(n, v, np.uint8 if k == "leak_shift" else np.int64)
                     for k, v in full.items()},
                  stim_weight=100, w_bits=8, v_bits=12, acc_bits=2, max_delay=int(delay.max()))
    return net.replace(acc_bits=bits_for_signed(int(net.fan_in_bound().max())))


@pytest.mark.parametrize("pipelined", [True, False])
def test_back_to_back_updates_of_one_accumulator_are_forwarded(pipelined: bool) -> None:
    """Read-modify-writes of acc[slot][T] 1, 2 and 3 clocks apart (across source boundaries):
    the pipelined core reads T again before the previous sum is written, so each must be
    forwarded. T fires at step 1 only if all six +5 contributions land (threshold 30)."""
    t = 8
    posts = [[4, 5, t], [t, 9, 10], [4, t, 9], [t, 10], [t, 9], [4, t]]  # gaps 1, 2, 3
    pre = [i for i, p in enumerate(posts) for _ in p]
    post = [q for p in posts for q in p]
    net = _net(16, pre, post, [5 if q == t else 1 for q in post],
               [1 if q == t else 2 for q in post], threshold=30)
    stim = Stimulus.from_pairs([0] * len(posts), list(range(len(posts))))
    ref, counts = _assert_same(net, 2, stim, pipelined=pipelined)
    assert (1, t) in set(zip(ref.step.tolist(), ref.neuron.tolist(), strict=True))
    # step 0 delivers nothing; step 1: 15 operations on consecutive clocks plus the first
    # pointer fetch and the pipeline drain
    core = LIFCore(net, pipelined=pipelined)
    assert counts["sop_count"] == 15
    assert counts["deliver_cycles"] == (core.empty_delivery_clocks + 15 + core.fetch_clocks
                                        + core.drain_clocks)


@pytest.mark.parametrize("short_paths", [True, False])
def test_saturation_at_both_rails_and_refractory_in_the_core(short_paths: bool) -> None:
    """Huge inputs clip at +-2^(v_bits-1); refractory neurons discard input; no-leak k = 0.
    ``short_paths`` tests the rails on the sum's top bits, False compares (the earlier core)."""
    # neuron 1 gets -3 x 100 each step from neuron 0 (driven every step): clamps at -2048
    # neuron 2 is driven by external events far above threshold with refractory 3
    net = _net(4, [0, 0, 0], [1, 3, 3], [-100, 100, 100], [1, 1, 2], threshold=[1, 2047, 5, 2047],
               refractory=3)
    net = net.replace(stim_weight=2047, bias=np.array([0, -2000, 0, 1500], np.int64))
    steps = 24
    stim = Stimulus.from_pairs(list(range(steps)) * 2, [0] * steps + [2] * steps)
    ref, _ = _assert_same(net, steps, stim, stall=0.5, seed=3, short_paths=short_paths)
    spikes = set(zip(ref.step.tolist(), ref.neuron.tolist(), strict=True))
    assert {s for s, j in spikes if j == 2} == set(range(0, steps, 4))  # fires every R+1
    assert any(j == 3 for _, j in spikes)


@pytest.mark.parametrize("short_paths", [True, False])
def test_membrane_held_at_the_lower_rail_sets_the_next_spike(short_paths: bool) -> None:
    """Eight -128 synapses per step drive the target below -2048 (v_bits 12) three times,
    then eight +127 ones lift it: from the rail it reaches 900 at step 9. A membrane that
    wrapped (-3072 -> +1024) or took the wrong rail would fire at step 3 or 4."""
    n, t = 17, 16
    net = _net(n, range(16), [t] * 16, [-128] * 8 + [127] * 8, [1] * 16,
               threshold=[1] * 16 + [900])
    stim = Stimulus.from_pairs([s for s in range(4) for _ in range(8)]
                               + [s for s in range(6, 9) for _ in range(8)],
                               list(range(8)) * 4 + list(range(8, 16)) * 3)
    ref, _ = _assert_same(net, 12, stim, short_paths=short_paths)
    assert ref.step[ref.neuron == t].tolist() == [9]


def test_reset_mid_step_clears_membranes_and_accumulators() -> None:
    """Reset during a busy delivery phase, then run from step 0: the raster is the reference's,
    so nothing of the first run (membranes, refractory counters, spikes in flight in the delay
    ring, pending events) survives. Without the post-reset clear this fails."""
    net = _random_net()
    stim = poisson(net.n_neurons, 12, 0.1, seed=4)
    ref = simulate(net, 12, stim)
    hw, counts = run_core(net, 12, stim, reset_after=7)
    assert ref.first_difference(hw) is None and counts["step_count"] == 12


def _random_net() -> Network:
    from neuropaste.cmap import ConnectivityMap
    from neuropaste.generators.quantize import quantize

    rng = np.random.default_rng(0)
    pre, post = rng.integers(0, 24, 120), rng.integers(0, 24, 120)
    cmap = ConnectivityMap.build([f"n{i}" for i in range(24)], pre, post,
                                 rng.normal(1.0, 1.5, 120), rng.integers(1, 4, 120))
    return quantize(cmap, QuantOptions(threshold=3.0, refractory=1))


def test_emit_is_deterministic_and_keeps_labels_out_of_verilog(tmp_path: Path) -> None:
    from neuropaste.generators.rtl import RTLOptions, emit
    from neuropaste.reference import reference_run

    net = _net(5, [0, 1, 2], [1, 2, 3], [3, -4, 5], [1, 2, 3], threshold=4)
    evil = ["*/ module x; endmodule /*", "a\nb", "\\esc ", "`define Z", "n4"]
    net = net.replace(labels=np.array(evil))
    stim = Stimulus.from_pairs([0], [0])
    outs = []
    for name in ("a", "b"):
        manifest = emit(net, tmp_path / name, reference_run(net, 5, stim), RTLOptions())
        outs.append({f: (tmp_path / name / f).read_bytes() for f in manifest["files"]})
    assert outs[0] == outs[1]
    verilog = outs[0]["rtl/neuropaste_core.v"].decode()
    for label in evil[:4]:
        assert label not in verilog
    assert "module neuropaste_core(" in verilog.replace(" (", "(")
    assert manifest["geometry"]["n"] == 5 and manifest["yosys"]
    assert manifest["cycle_estimate"]["synaptic_ops"] >= 1


# ------------------------------------------------------------------ Verilog under Icarus


def _prove_in_icarus(tmp: Path, case) -> None:
    """Compile a generated network and run its Verilog under 30 % output back-pressure."""
    from neuropaste.verify.rtl import run_cocotb

    net, steps, stim = case
    out = tmp / "c"
    compile_network(net, out, stimulus=stim, steps=steps, backends=("rtl",), quiet=True)
    result = run_cocotb(out, steps, stall=0.3)
    assert result["passed"], result["first_mismatch"]


@needs_iverilog
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(hardware_networks(max_neurons=10, max_steps=20))
def test_verilog_matches_reference_quick(tmp_path_factory, case) -> None:
    _prove_in_icarus(tmp_path_factory.mktemp("v"), case)


@pytest.mark.slow
@needs_iverilog
@pytest.mark.parametrize("half", [0, 1])  # 2 x 25 maps: each half can run on its own worker
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(hardware_networks(max_neurons=16, max_steps=30))
def test_verilog_matches_reference_on_50_generated_maps(tmp_path_factory, half, case) -> None:
    _prove_in_icarus(tmp_path_factory.mktemp(f"v{half}"), case)


@needs_iverilog
def test_mismatch_is_reported_with_step_and_neuron(tmp_path: Path) -> None:
    """Tamper with the stored network: the testbench's reference then disagrees."""
    from neuropaste.ir import load_network, save_network
    from neuropaste.verify.rtl import run_cocotb

    cmap = load_map("builtin:celegans")
    stim = poisson(cmap.n_neurons, 20, 0.05, seed=1)
    out = tmp_path / "c"
    compile_map(cmap, out, stimulus=stim, steps=20, backends=("rtl",), quiet=True)
    net = load_network(out / "network.npz")
    save_network(net.replace(threshold=net.threshold + 1), out / "network.npz")
    expected = simulate(net, 20, stim).first_difference(
        simulate(load_network(out / "network.npz"), 20, stim))
    result = run_cocotb(out, 20)
    assert not result["passed"]
    first = result["first_mismatch"]
    assert (first["step"], first["index"]) == expected
    assert first["neuron"] == str(net.labels[expected[1]])


@pytest.mark.slow
@needs_iverilog
def test_celegans_1000_steps_bit_exact_and_synthesizable(tmp_path: Path) -> None:
    from neuropaste.verify import verify

    cmap = load_map("builtin:celegans")
    stim = poisson(cmap.n_neurons, 1000, 0.02, seed=0)
    out = tmp_path / "c"
    compile_map(cmap, out, stimulus=stim, steps=1000, backends=("rtl",), quiet=True)
    report = verify(out, rtl=True)
    rtl = report["checks"]["rtl"]
    assert report["passed"] and rtl["first_mismatch"] is None
    assert rtl["spikes"] > 10_000
    active = np.unique(np.loadtxt(out / "verify_rtl_spikes.csv", delimiter=",", skiprows=1,
                                  dtype=str)[:, 1])
    assert len(active) > 0.5 * cmap.n_neurons  # a large share of the neurons fire
    assert rtl["sops_per_delivery_cycle"] > 0.95
    assert rtl["verilator_lint"]["passed"]
    assert rtl["synthesis"]["cells"] > 1000 and rtl["synthesis"]["memories"] >= 7
    ice40 = synth_stats(out / "rtl", target="ice40")
    assert ice40["block_rams"] > 0 and ice40["memories"] == 0  # every memory became block RAM


@needs_iverilog
def test_yosys_synthesis_and_verilator_lint(tmp_path: Path) -> None:
    from neuropaste.verify.rtl import verilator_lint

    cmap = load_map("builtin:celegans")
    stim = poisson(cmap.n_neurons, 5, 0.05, seed=1)
    out = tmp_path / "c"
    compile_map(cmap, out, stimulus=stim, steps=5, backends=("rtl",), quiet=True,
                quant=QuantOptions())
    lint = verilator_lint(out / "rtl")
    assert lint["passed"], lint["errors"]
    stats = synth_stats(out / "rtl")  # Yosys synth; check -assert: no loops, no multi-drivers
    assert stats["memories"] >= 7 and stats["flip_flops"] > 100 and stats["cells"] > 500


@pytest.mark.slow
@needs_iverilog
def test_verify_cli_keeps_a_vcd_and_writes_verify_json(tmp_path: Path) -> None:
    import subprocess
    import sys

    cmap = load_map("builtin:celegans")
    out = tmp_path / "c"
    compile_map(cmap, out, stimulus=poisson(cmap.n_neurons, 30, 0.05, seed=2), steps=30,
                backends=("rtl",), quiet=True)
    res = subprocess.run([sys.executable, "-m", "neuropaste", "verify", str(out), "--rtl",
                          "--steps", "10", "--vcd"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads((out / "verify.json").read_text())
    rtl = report["checks"]["rtl"]
    assert report["passed"] and rtl["steps"] == 10
    vcd = out / rtl["waveform"]
    assert vcd.suffix == ".vcd" and vcd.read_text()[:200].lstrip().startswith("$date")
    from neuropaste.verify.rtl import report_html

    page = report_html(out)
    assert page.count("data:image/png;base64,") == 1 and "PASS, bit-exact" in page
    assert "Yosys generic synth" in page and "<script" not in page


@pytest.mark.parametrize("depth", [2, 3, 7])
def test_flag_fifo_behaves_as_amaranths_buffered_fifo(depth: int) -> None:
    """The FIFO with registered flags (hdl/fifo.py) against ``SyncFIFOBuffered``, clock for
    clock, under random writes and reads."""
    from amaranth import Module
    from amaranth.lib.fifo import SyncFIFOBuffered
    from amaranth.sim import Simulator

    from neuropaste.hdl.fifo import FlagFIFO

    m = Module()
    m.submodules.a = a = FlagFIFO(width=8, depth=depth)
    m.submodules.b = b = SyncFIFOBuffered(width=8, depth=depth)
    rng = np.random.default_rng(depth)
    seen = []

    async def bench(ctx):
        for t in range(400):
            w, r, d = bool(rng.random() < 0.6), bool(rng.random() < 0.5), int(rng.integers(256))
            for f in (a, b):
                ctx.set(f.w_en, w)
                ctx.set(f.r_en, r)
                ctx.set(f.w_data, d)
            got = [tuple(ctx.get(s) for s in (f.w_rdy, f.r_rdy, f.level)) for f in (a, b)]
            assert got[0] == got[1], (t, got)
            if got[1][1]:
                assert ctx.get(a.r_data) == ctx.get(b.r_data), t
                seen.append(r)
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert sum(seen) > 50  # words did flow through


def test_skid_buffer_passes_every_word_once_in_order_with_registered_flags() -> None:
    """The mesh's ejection register (hdl/fifo.py ``SkidBuffer``) under random valid and ready:
    every word comes out once, in order, ``empty`` exactly when it holds none, and one word
    a clock flows when nothing stalls."""
    from amaranth.sim import Simulator

    from neuropaste.hdl.fifo import SkidBuffer

    dut = SkidBuffer(8)
    rng = np.random.default_rng(1)
    sent, got = [], []

    async def bench(ctx):
        word, held, clocks = 0, 0, 0
        for t in range(600):
            free = t >= 500  # the last 100 clocks: no stalls at all
            valid = free or bool(rng.random() < 0.6)
            ready = free or bool(rng.random() < 0.5)
            ctx.set(dut.i.valid, valid)
            ctx.set(dut.i.payload, word & 0xFF)
            ctx.set(dut.o.ready, ready)
            assert ctx.get(dut.empty) == (held == 0), t
            i_go = valid and ctx.get(dut.i.ready)
            o_go = ready and ctx.get(dut.o.valid)
            if o_go:
                got.append(ctx.get(dut.o.payload))
            if i_go:
                sent.append(word & 0xFF)
                word += 1
            held += i_go - o_go
            clocks += free and o_go
            await ctx.tick()
        assert clocks >= 99

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(got) > 300 and got == sent[:len(got)]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hardware_networks(max_neurons=8, max_steps=12), st.booleans())
def test_core_with_end_pointers_matches_reference(case, pipelined: bool) -> None:
    """The small RTL profile's core: ``ptr_ends``, a pointer word holds its axon's end only and
    the serial fetch reads the start from the word before (axon 0 starts at 0); ``ext_in_r``,
    the input flags are the top bits of the refractory words (set by read-modify-write)."""
    net, steps, stim = case
    g = CoreGeometry(net, ptr_ends=True)
    words, width = memory_images(CoreImage.from_network(net), g)["ptr"]
    assert width == g.e_bits and np.array_equal(np.asarray(words, np.int64),
                                                fanout_indptr(net)[1:])
    _assert_same(net, steps, stim, stall=0.25, prefetch=False, pipelined=pipelined,
                 ptr_ends=True, ext_in_r=True)
