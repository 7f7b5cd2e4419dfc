"""The LIF core against the reference model: Amaranth's simulator, then the Verilog in Icarus."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from netgen import hardware_networks
from neuropaste.generators.compile import compile_map, compile_network
from neuropaste.generators.quantize import QuantOptions
from neuropaste.generators.rtl import SingleCoreLimits, build_core, check_fits, synth_stats
from neuropaste.sim.amaranth_run import run_core
from neuropaste.sim.reference import simulate
from neuropaste.sim.stimulus import poisson

from neuropaste.errors import InputError
from neuropaste.io import load_map

needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None, reason="no iverilog")


def _assert_same(net, steps, stim, stall=0.0, seed=0):
    ref = simulate(net, steps, stim)
    hw, counts = run_core(net, steps, stim, out_stall=stall, seed=seed)
    assert ref.first_difference(hw) is None, f"first difference {ref.first_difference(hw)}"
    assert counts["step_count"] == steps
    return ref, counts


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hardware_networks(max_neurons=8, max_steps=15))
def test_amaranth_sim_matches_reference(case) -> None:
    net, steps, stim = case
    _assert_same(net, steps, stim, stall=0.25)


def test_one_synaptic_op_per_clock_when_fan_out_is_long() -> None:
    # one source with 200 targets: delivery must take ~200 cycles, not 400 (ODIN needs 2)
    from neuropaste.cmap import ConnectivityMap

    n = 201
    cmap = ConnectivityMap.build([f"x{i}" for i in range(n)], np.zeros(n - 1, int),
                                 np.arange(1, n), np.ones(n - 1), np.ones(n - 1, int) * 2)
    from neuropaste.generators.quantize import quantize
    from neuropaste.sim.reference import Stimulus

    net = quantize(cmap, QuantOptions(threshold=5.0, refractory=0))
    stim = Stimulus.from_pairs([0, 2], [0, 0])
    _, counts = _assert_same(net, 4, stim)
    assert counts["sop_count"] == 2 * (n - 1)
    assert counts["sop_count"] / counts["deliver_cycles"] > 0.95


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


# ------------------------------------------------------------------ Verilog under Icarus


def _prove_in_icarus(tmp: Path, case) -> None:
    """Compile a generated network and run its Verilog under 30 % output back-pressure."""
    from neuropaste.sim.verify_rtl import run_cocotb

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
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(hardware_networks(max_neurons=16, max_steps=30))
def test_verilog_matches_reference_on_50_generated_maps(tmp_path_factory, case) -> None:
    _prove_in_icarus(tmp_path_factory.mktemp("v"), case)


@needs_iverilog
def test_mismatch_is_reported_with_step_and_neuron(tmp_path: Path) -> None:
    """Tamper with the stored network: the testbench's reference then disagrees."""
    from neuropaste.sim.verify_rtl import run_cocotb

    from neuropaste.ir import load_network, save_network

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
    from neuropaste.sim.verify import verify

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
    assert rtl["synthesis"]["cells"] > 1000


@needs_iverilog
def test_yosys_synthesis_and_verilator_lint(tmp_path: Path) -> None:
    from neuropaste.sim.verify_rtl import verilator_lint

    cmap = load_map("builtin:celegans")
    stim = poisson(cmap.n_neurons, 5, 0.05, seed=1)
    out = tmp_path / "c"
    compile_map(cmap, out, stimulus=stim, steps=5, backends=("rtl",), quiet=True,
                quant=QuantOptions())
    lint = verilator_lint(out / "rtl")
    assert lint["passed"], lint["errors"]
    stats = synth_stats(out / "rtl", target="ice40")
    assert stats["by_type"].get("SB_RAM40_4K", 0) > 0  # memories became block RAM
    assert stats["cells"] > 100


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
