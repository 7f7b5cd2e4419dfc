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
from neuropaste.hdl.router import port_masks
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


def test_xy_multicast_tree_ejects_once_at_every_destination() -> None:
    rng = np.random.default_rng(1)
    width, height = 3, 2
    for _ in range(50):
        source, mask = int(rng.integers(6)), int(rng.integers(1, 64))
        ejected = [r for r, _, m, outs in replay._tree(source, mask, width, height)
                   for q, qm in outs if q == "local"]
        assert sorted(ejected) == [k for k in range(6) if mask >> k & 1]
        for r, _, m, outs in replay._tree(source, mask, width, height):
            masks = port_masks(r % width, r // width, width, height)
            assert sum(qm for _, qm in outs) == m  # split, nothing lost or doubled
            assert all(qm & ~masks[q] == 0 for q, qm in outs)


def _modules(connections: str, ports: str) -> dict[str, str]:
    """A mesh top with one core instance, in the shape Yosys writes them."""
    return replay.split_modules(
        f"module top(clk);\n  input clk;\n  \\top.core_0  core_0 (\n{connections}\n  );\n"
        f"endmodule\nmodule \\top.core_0 (clk);\n{ports}\nendmodule\n")


def test_harness_names_renamed_ports_by_their_net_and_refuses_unknown_ones() -> None:
    ports = "  input clk;\n  input [7:0] \\w_data$56 ;\n  input \\w_en$54 ;"
    text = replay.harness(_modules("    .clk(clk),\n    .\\w_data$56 (eject_0__payload[7:0]),"
                                   "\n    .\\w_en$54 (eject_0__valid)", ports),
                          "top", "core_0", "core")
    assert "input [7:0] syn_in__payload;" in text and ".\\w_en$54 (syn_in__valid)" in text
    with pytest.raises(ValueError, match=r"port w_en\$54 of top.core_0 \(to stray_net\) has no "
                       "role"):
        replay.harness(_modules("    .clk(clk),\n    .\\w_en$54 (stray_net)", ports), "top",
                       "core_0", "core")


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
    module = replay.split_modules(text)[f"neuropaste_mesh.core_{core}"]
    # (the pipelined core compares the unsaturated sum: docs/hardware.md)
    changed, hits = re.subn(r"(\$signed\(u5_u\)) >= (\$signed\(u5_thr\))", r"\1 > \2",
                            module)
    assert hits == 1
    path.write_text(text.replace(module, changed))
    result = replay.verify(out, workers=0, progress=False, only=["core_0", "core_1"])
    assert result["failed"] == [f"core_{core}"], result["summary"]
    assert f"core_{core}: outputs differ first at step {step}, neuron 'n1'" in result["summary"]


@needs_iverilog
def test_tampered_multicast_table_fails_naming_the_router(tmp_path: Path) -> None:
    out = _chain_mesh(tmp_path)
    core, local, step = _where(out, "n2")
    _set_word(out / "rtl" / "mem" / f"core_{core}" / "routes.hex", local, lambda w: w ^ 0b11)
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
    """Both proofs pass on the written files, over Dask workers; one core's fan-out image
    tampered fails both, naming that core."""
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
    g = CoreGeometry(mesh_plan(net, pl).images[2])
    field = ((1 << g.w_bits) - 1) << g.n_bits
    top = ((1 << (g.w_bits - 1)) - 1) << g.n_bits
    image = out / "rtl" / "mem" / "core_2" / "fanout.hex"
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
