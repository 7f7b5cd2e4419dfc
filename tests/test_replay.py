"""verify --rtl --replay: each core and router of the written mesh alone, on recorded traffic.

Tampers edit what ``compile`` wrote (a memory image, one core's Verilog, a multicast table) and
never the oracle; each must FAIL naming the unit and the step. The cross-checks run the whole
array too: both proofs must agree.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from netgen import chain_network, clustered_network

from neuropaste.compile import compile_network
from neuropaste.compiled import REPLAY, Compiled
from neuropaste.events import Stimulus, poisson
from neuropaste.generators.placement import mesh_plan
from neuropaste.generators.rtl import RTLOptions
from neuropaste.hdl.core import CoreGeometry
from neuropaste.hdl.router import split
from neuropaste.verify import replay
from neuropaste.verify.rtl import verify as verify_whole

needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None, reason="no iverilog")


def _chain_mesh(tmp: Path, stimulus: Stimulus | None = None) -> Path:
    """The chain n0 -> ... -> n5 on two cores: one spike a neuron, every packet known."""
    out = tmp / "c"
    net = chain_network(6, (1, 2) * 6)
    # n3's threshold differs (3: it still fires when its input lands), so its core keeps the
    # thresholds as a ROM column (param.hex) rather than a constant of the packed core
    net = net.replace(threshold=np.where(np.arange(6) == 3, 3, net.threshold))
    compile_network(net, out,
                    stimulus=Stimulus.from_pairs([0], [0]) if stimulus is None else stimulus,
                    steps=10, backends=("rtl",), backend_options={"rtl": RTLOptions(cores=2)},
                    quiet=True)
    return out


def _set_word(path: Path, line: int, change) -> None:
    words = path.read_text().split()
    words[line] = f"{change(int(words[line], 16)):0{len(words[line])}x}"
    path.write_text("\n".join(words) + "\n")


def _where(out: Path, label: str) -> tuple[int, int, int]:
    """(core, local address, first spike step) of a neuron of the compiled chain."""
    cd = Compiled.open(out)
    net, pl = cd.network(), cd.placement()
    i = int(np.flatnonzero(net.labels == label)[0])
    ref = cd.reference(net.labels)
    return int(pl.core[i]), int(pl.local[i]), int(ref.step[ref.neuron == i].min())


def test_row_multicast_ejects_once_at_every_destination_in_yx_order() -> None:
    rng = np.random.default_rng(1)
    width = 3  # a 3 x 4 mesh
    for _ in range(50):
        source = int(rng.integers(12))
        dest = sorted({int(k) for k in rng.integers(0, 12, int(rng.integers(1, 8)))})
        hops = replay._paths(source, dest, width)
        ejected = [r for r, _, _, _, outs in hops for q, _ in outs if q == "local"]
        assert sorted(ejected) == dest  # each destination once
        for r, port, row, cols, outs in hops:
            assert dict(outs) == split(r % width, r // width, row, cols)
            if port in ("east", "west"):  # once moving along x, never back to y (deadlock)
                assert all(q not in ("north", "south") for q, _ in outs)
            vertical = [c for q, c in outs if q in ("north", "south")]
            flat = [c for q, c in outs if q not in ("north", "south")]
            assert vertical in ([], [cols]) and not (vertical and flat)
            assert sum(flat) == (cols if flat else 0)  # split, nothing lost or doubled


def _modules(extra: bool) -> dict[str, str]:
    """A mesh top with one router instance of a class module, in the shape Yosys writes them;
    ``extra``: the module has an input the replay knows no role for."""
    more = ",\n    .extra(stray_net)" if extra else ""
    return replay.split_modules(
        "module top(clk);\n  input clk;\n  neuropaste_router #(\n    .IMAGE(\"core_0/\")\n"
        f"  ) router_0 (\n    .clk(clk),\n    .x(2'h1),\n    .idle(idle_0){more}\n  );\n"
        "endmodule\n"
        f"module neuropaste_router#(parameter IMAGE = \"core_0/\") (clk, x, idle"
        f"{', extra' if extra else ''});\n  input clk;\n  input [1:0] x;\n  output idle;\n"
        f"{'  input extra;' if extra else ''}\n  function [1:0] \\$pmux ;\n    input [1:0] a;\n"
        "  endfunction\nendmodule\n")


def test_harness_instantiates_the_class_with_the_instance_parameters_and_constants() -> None:
    text = replay.harness(_modules(False), "top", "router_0", "router", held=False)
    assert 'neuropaste_router #(.IMAGE("core_0/")) dut (' in text
    assert ".x(2'h1)" in text and ".idle(idle)" in text and "output idle;" in text
    assert " a;" not in text  # a function's inputs are not ports
    with pytest.raises(ValueError, match=r"port extra of neuropaste_router \(instance router_0, "
                       r"connected to stray_net\) has no role"):
        replay.harness(_modules(True), "top", "router_0", "router", held=False)


@needs_iverilog
def test_replay_passes_resumes_and_reruns_only_what_changed(tmp_path: Path) -> None:
    out = _chain_mesh(tmp_path)
    some = ["core_0", "router_1"]  # every unit: the slow C. elegans test below
    first = replay.verify(out, workers=0, progress=False, only=some)
    assert first["passed"], first["summary"]
    assert (first["cores"], first["routers"], first["kept"]) == (1, 1, 0)
    assert first["packets"] > 0
    again = replay.verify(out, workers=0, progress=False, only=some)
    assert again["passed"] and again["kept"] == 2
    # a stale result is never reused: another step count is another key
    shorter = replay.verify(out, steps=6, workers=0, progress=False, only=["router_0"])
    assert shorter["kept"] == 0 and shorter["steps"] == 6
    stored = json.loads((out / REPLAY / "router_0.json").read_text())
    assert stored["result"]["steps"] == 6


@needs_iverilog
def test_tampered_image_fails_replay_and_whole_array_naming_the_core(tmp_path: Path) -> None:
    out = _chain_mesh(tmp_path)
    core, local, step = _where(out, "n3")
    _set_word(out / "rtl" / "mem" / f"core_{core}" / "param.hex", local, lambda w: w | 0x7FF)
    result = replay.verify(out, workers=0, progress=False, only=[f"core_{core}"])
    assert not result["passed"] and result["failed"] == [f"core_{core}"]
    assert result["summary"].startswith(f"core_{core}: outputs differ first at step {step}, "
                                        "neuron 'n3'")
    whole = verify_whole(out, synth=False, lint=False)
    assert not whole["passed"]
    assert f"step {step}, neuron 'n3' (core_{core})" in whole["summary"]


@needs_iverilog
def test_tampered_verilog_of_one_core_fails_naming_it(tmp_path: Path) -> None:
    """``u >= threshold`` becomes ``u > threshold`` in one core's module only."""
    out = _chain_mesh(tmp_path)
    core, _, step = _where(out, "n1")
    path = out / "rtl" / "neuropaste_mesh.v"
    text = path.read_text()
    modules = replay.split_modules(text)
    name = replay.instance(modules, "neuropaste_mesh", f"core_{core}").module
    module = modules[name]  # the module of core's class
    # (the pipelined core compares the unsaturated sum: docs/hardware.md)
    changed, hits = re.subn(r"(\$signed\(u5_u\)) >= (\$signed\(u5_thr\))", r"\1 > \2",
                            module)
    assert hits == 1
    path.write_text(text.replace(module, changed))
    result = replay.verify(out, workers=0, progress=False, only=["core_0", "core_1"])
    same = [f"core_{c}" for c in (0, 1)
            if replay.instance(modules, "neuropaste_mesh", f"core_{c}").module == name]
    assert f"core_{core}" in result["failed"] and set(result["failed"]) <= set(same)
    assert f"core_{core}: outputs differ first at step {step}, neuron 'n1'" in result["summary"]


@needs_iverilog
def test_tampered_multicast_table_fails_naming_the_router(tmp_path: Path) -> None:
    out = _chain_mesh(tmp_path)
    core, local, step = _where(out, "n2")
    folder = out / "rtl" / "mem" / f"core_{core}"
    p_bits = len((folder / "routes.hex").read_text().split()).bit_length()
    first = int((folder / "rptr.hex").read_text().split()[local], 16) & ((1 << p_bits) - 1)
    _set_word(folder / "routes.hex", first, lambda w: w ^ 0b110)  # its first packet's columns
    result = replay.verify(out, workers=0, progress=False, only=[f"router_{core}"])
    assert not result["passed"]
    assert result["summary"].startswith(f"router_{core}: outputs differ first at step {step}")


@needs_iverilog
def test_replay_refuses_to_pass_when_nothing_was_checked(tmp_path: Path) -> None:
    out = _chain_mesh(tmp_path, stimulus=Stimulus.from_pairs([], []))
    result = replay.verify(out, workers=0, progress=False, only=["router_0"])
    assert not result["passed"]
    assert "nothing was checked" in result["summary"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "neuropaste", *args], capture_output=True,
                          text=True)


def test_cli_refuses_replay_without_rtl_or_on_one_core(tmp_path: Path) -> None:
    out = tmp_path / "one"
    compile_network(chain_network(4), out, stimulus=Stimulus.from_pairs([0], [0]), steps=5,
                    backends=("rtl",), quiet=True)
    proc = _cli("verify", str(out), "--replay")
    assert proc.returncode == 2 and "--replay is a way to run --rtl" in proc.stderr
    proc = _cli("verify", str(out), "--rtl", "--replay")
    assert proc.returncode == 2 and "holds one core" in proc.stderr


@pytest.mark.slow
@needs_iverilog
def test_celegans_on_four_cores_replay_agrees_with_the_whole_array(tmp_path: Path) -> None:
    """Both proofs pass on the written files, over Dask workers; one core's (weight, delay)
    table tampered fails both, naming that core."""
    out = tmp_path / "ce"
    proc = _cli("compile", "builtin:celegans", "--out", str(out), "--backends", "rtl",
                "--cores", "4", "--steps", "10")
    assert proc.returncode == 0, proc.stderr
    proc = _cli("verify", str(out), "--rtl", "--replay", "--workers", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.count("replay [") == 8  # a progress line per unit
    assert verify_whole(out, synth=False, lint=False)["passed"]
    cd = Compiled.open(out)
    net, pl = cd.network(), cd.placement()
    # every synapse of core 2 at the largest weight: any spike that reaches it fires its target
    # (each of its (weight, delay) pairs, ``weight | delay``, in the table its entries index)
    plan = mesh_plan(net, pl)
    g = CoreGeometry(plan.images[2], plan.shape(2), packed=False, lut=True)  # the emitted one
    field = (1 << g.w_bits) - 1
    top = (1 << (g.w_bits - 1)) - 1
    image = out / "rtl" / "mem" / "core_2" / "wd.hex"
    for line in range(len(image.read_text().split())):
        _set_word(image, line, lambda w: (w & ~field) | top)
    whole = verify_whole(out, synth=False, lint=False)
    assert not whole["passed"] and "(core_2)" in whole["summary"]
    proc = _cli("verify", str(out), "--rtl", "--replay", "--workers", "2")
    assert proc.returncode == 1
    assert "FAIL  replay: core_2: outputs differ first at step" in proc.stdout
    assert proc.stderr.count("(kept from an earlier run)") == 7  # only core_2 ran again


@pytest.mark.slow
@needs_iverilog
def test_generated_map_replay_agrees_with_the_whole_array(tmp_path: Path) -> None:
    """A clustered random map on three cores (a 3 x 1 mesh: routers with east and west)."""
    net = clustered_network(n=60, e=500, clusters=4, seed=5)
    out = tmp_path / "g"
    compile_network(net, out, stimulus=poisson(net.n_neurons, 10, 0.1, seed=5), steps=10,
                    backends=("rtl",), backend_options={"rtl": RTLOptions(cores=3)}, quiet=True)
    whole = verify_whole(out, synth=False, lint=False, stall=0.3)
    parts = replay.verify(out, workers=0, progress=False)
    assert whole["passed"], whole["summary"]
    assert parts["passed"], parts["summary"]
    assert parts["spikes"] == whole["spikes"] > 0 and parts["routers"] == 3
