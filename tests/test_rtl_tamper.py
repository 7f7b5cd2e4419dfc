"""Proofs that can fail: mutate the compiled RTL artifact (never the oracle) and expect FAIL.

Each tamper edits what ``compile`` wrote (the Verilog, a memory image, a routing table) and
leaves ``network.npz``, ``stimulus.csv`` and ``reference_spikes.csv`` alone, so a FAIL can only
come from the simulation of the files on disk. The networks are chains whose weights equal the
threshold, so each tamper changes the raster deterministically at a known step and neuron.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from netgen import chain_network

from neuropaste.compile import compile_network
from neuropaste.compiled import Compiled
from neuropaste.errors import InputError
from neuropaste.events import Raster, Stimulus
from neuropaste.generators.rtl import profile_options

needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None, reason="no iverilog")
ORACLE = ("network.npz", "stimulus.csv", "reference_spikes.csv")


def _compile(tmp: Path, cores: int | None = None, n: int = 5, profile: str = "default",
             **options) -> Path:
    out = tmp / "c"
    opts = {"rtl": profile_options(profile, cores=cores, **options)} if cores else {}
    net = chain_network(n, (1, 2) * n)
    # the last neuron's threshold differs (3: it still fires when its input lands), so the
    # thresholds stay a ROM column (param.hex) rather than a constant of the packed core
    net = net.replace(threshold=np.r_[net.threshold[:-1], 3])
    compile_network(net, out, stimulus=Stimulus.from_pairs([0], [0]),
                    steps=10, backends=("rtl",), backend_options=opts, quiet=True)
    return out


def _oracle(out: Path) -> dict[str, bytes]:
    return {f: (out / f).read_bytes() for f in ORACLE}


def _rewrite_word(path: Path, line: int, change) -> None:
    words = path.read_text().splitlines()
    old = words[line]
    words[line] = f"{change(int(old, 16)) & ((1 << 4 * len(old)) - 1):0{len(old)}x}"
    path.write_text("\n".join(words) + "\n")


def _prove(out: Path, **kw):
    from neuropaste.verify.rtl import verify

    before = _oracle(out)
    result = verify(out, synth=False, lint=False, **kw)
    assert _oracle(out) == before  # the oracle was never touched
    return result


# ------------------------------------------------------------------ the comparison itself


def test_first_difference_counts_duplicates() -> None:
    def r(steps, neurons):
        return Raster(np.array(steps, np.int64), np.array(neurons, np.int64), 5, 4)

    ref = r([0, 1, 2], [1, 2, 3])
    assert ref.first_difference(r([0, 1, 2], [1, 2, 3])) is None
    assert ref.first_difference(r([0, 1, 1, 2], [1, 2, 2, 3])) == (1, 2)  # a duplicate
    assert r([0, 1, 1, 2], [1, 2, 2, 3]).first_difference(ref) == (1, 2)
    assert ref.first_difference(r([0, 2], [1, 3])) == (1, 2)  # a missing spike
    assert ref.first_difference(r([0, 1, 2, 2], [1, 2, 0, 3])) == (2, 0)  # an extra one


# ------------------------------------------------------------------ tampered artifacts


@needs_iverilog
def test_untampered_chain_passes(tmp_path: Path) -> None:
    out = _compile(tmp_path)
    result = _prove(out, stall=0.3)
    assert result["passed"], result["summary"]
    assert result["spikes"] == result["reference_spikes"] == 5
    assert set(result["simulated_files"]) == {"rtl/neuropaste_core.v", "rtl/mem/fanout.hex",
                                              "rtl/mem/param.hex", "rtl/mem/ptr.hex",
                                              "rtl/mem/wd.hex"}


@needs_iverilog
def test_tampered_threshold_comparison_in_verilog_fails(tmp_path: Path) -> None:
    """``u >= threshold`` becomes ``u > threshold``: neuron 1, driven to exactly 4, stays
    silent."""
    out = _compile(tmp_path)
    verilog = out / "rtl" / "neuropaste_core.v"
    # (the pipelined core compares the unsaturated sum: docs/hardware.md)
    text, hits = re.subn(r"(\$signed\(u5_u\)) >= (\$signed\(u5_thr\))", r"\1 > \2",
                         verilog.read_text())
    assert hits == 1
    verilog.write_text(text)
    result = _prove(out)
    assert not result["passed"]
    assert result["first_mismatch"]["step"] == 1 and result["first_mismatch"]["neuron"] == "n1"
    assert "rasters differ first at step 1, neuron 'n1': 0 spike(s) in the RTL, 1 in the " \
        "reference" in result["summary"]


@needs_iverilog
def test_verilog_that_skips_an_image_fails(tmp_path: Path) -> None:
    """The ``$readmemh`` of ptr.hex deleted: the ROM is X in Icarus, and that is a FAIL with a
    reason, not a crash or a pass."""
    out = _compile(tmp_path)
    verilog = out / "rtl" / "neuropaste_core.v"
    lines = verilog.read_text().splitlines(keepends=True)
    kept = [x for x in lines if '"ptr.hex"' not in x]
    assert len(kept) == len(lines) - 1
    verilog.write_text("".join(kept))
    result = _prove(out)
    assert not result["passed"]
    assert result["summary"].startswith("simulation stopped: an output is X or Z")


@needs_iverilog
@pytest.mark.parametrize("image,line,change,where", [
    ("fanout.hex", 0, lambda w: w ^ 1, (1, "n0")),  # target 1 -> 0: n0 fires again, not n1
    ("param.hex", 1, lambda w: w ^ 1, (1, "n1")),  # n1's threshold 4 -> 5
    ("ptr.hex", 0, lambda w: 0, (1, "n1")),  # n0's fan-out range emptied
    # the (weight, delay) table: pair 0 is (4, 1), n0 -> n1's; its weight 4 -> 0
    ("wd.hex", 0, lambda w: w ^ 4, (1, "n1")),
], ids=["fanout", "param", "ptr", "wd"])
def test_one_flipped_word_of_a_memory_image_fails(tmp_path: Path, image, line, change,
                                                  where) -> None:
    out = _compile(tmp_path)
    _rewrite_word(out / "rtl" / "mem" / image, line, change)
    result = _prove(out)
    assert not result["passed"], image
    first = result["first_mismatch"]
    assert (first["step"], first["neuron"]) == where
    assert f"rasters differ first at step {where[0]}, neuron '{where[1]}'" in result["summary"]


@pytest.mark.slow
@needs_iverilog
def test_every_image_word_with_its_low_bit_flipped_fails(tmp_path: Path) -> None:
    """The case of issue 11: every word of fanout.hex with bit 0 flipped used to pass."""
    out = _compile(tmp_path)
    image = out / "rtl" / "mem" / "fanout.hex"
    for i in range(len(image.read_text().splitlines())):
        _rewrite_word(image, i, lambda w: w ^ 1)
    assert not _prove(out)["passed"]


@needs_iverilog
def test_missing_memory_image_fails_simulation_and_synthesis(tmp_path: Path) -> None:
    from neuropaste.verify.rtl import synth_stats

    out = _compile(tmp_path)
    (out / "rtl" / "mem" / "param.hex").unlink()
    stats = synth_stats(out / "rtl")
    assert not stats["passed"] and "param.hex" in " ".join(stats["errors"])
    result = _prove(out)
    assert not result["passed"]
    assert result["summary"].startswith("memory image rtl/mem/param.hex is missing")


@needs_iverilog
def test_cleared_routing_entry_of_a_mesh_fails(tmp_path: Path) -> None:
    """Neuron 0's sender-table entry cleared (no packets): its spike reaches no core, the
    chain stops."""
    out = _compile(tmp_path, cores=2, n=6)
    placement = Compiled.open(out).placement()
    assert placement is not None and placement.n_cores == 2
    core, local = int(placement.core[0]), int(placement.local[0])
    _rewrite_word(out / "rtl" / "mem" / f"core_{core}" / "rptr.hex", local, lambda w: 0)
    result = _prove(out, link_stall=0.2)
    assert not result["passed"]
    assert (result["first_mismatch"]["step"], result["first_mismatch"]["neuron"]) == (1, "n1")
    assert "rasters differ first at step 1, neuron 'n1'" in result["summary"]


@needs_iverilog
def test_remapped_axon_of_a_mesh_fails(tmp_path: Path) -> None:
    """Neuron 0's packets carry another axon index (the field above the packet range in its
    ``rptr`` word): its destination delivers some other fan-out, n1 never fires."""
    import json

    out = _compile(tmp_path, cores=2, n=6)
    axon_bits = json.loads((out / "manifest.json").read_text())["backends"]["rtl"]["mesh"][
        "axon_bits"]
    placement = Compiled.open(out).placement()
    core, local = int(placement.core[0]), int(placement.local[0])
    folder = out / "rtl" / "mem" / f"core_{core}"
    low = 2 * len((folder / "routes.hex").read_text().split()).bit_length()  # first | end
    path = folder / "rptr.hex"
    axon = int(path.read_text().splitlines()[local], 16) >> low
    other = axon ^ 1 if axon ^ 1 < 1 << axon_bits else axon ^ (1 << axon_bits) >> 1
    _rewrite_word(path, local, lambda w: (w & ((1 << low) - 1)) | (other << low))
    result = _prove(out, link_stall=0.2)
    assert not result["passed"]
    assert (result["first_mismatch"]["step"], result["first_mismatch"]["neuron"]) == (1, "n1")


@needs_iverilog
@pytest.mark.parametrize("image", ["rmask", pytest.param("ptr", marks=pytest.mark.slow)])
def test_small_profile_images_of_a_mesh_are_proved(tmp_path: Path, image: str) -> None:
    """The small RTL profile's images: untampered, the written mesh is exact under stalled
    links; neuron 0's destination cores cleared in its ``rmask`` word (``axon | cores``), or the
    end pointer of the axon it reaches set to its start (``ptr``, ends only), and n1 never
    fires."""
    out = _compile(tmp_path, cores=2, n=6, profile="small")
    assert _prove(out, link_stall=0.3)["passed"]
    placement = Compiled.open(out).placement()
    core, local = int(placement.core[0]), int(placement.local[0])
    if image == "rmask":
        folder = out / "rtl" / "mem" / f"core_{core}"
        assert not (folder / "rptr.hex").exists() and not (folder / "routes.hex").exists()
        axon_bits = Compiled.open(out).manifest["backends"]["rtl"]["mesh"]["axon_bits"]
        _rewrite_word(folder / "rmask.hex", local, lambda w: w & ((1 << axon_bits) - 1))
    else:  # the axon that reaches n1 on its core: its end set to its start (no entries)
        target = int(placement.core[1])
        path = out / "rtl" / "mem" / f"core_{target}" / "ptr.hex"
        ends = [int(w, 16) for w in path.read_text().split()]
        axon = next(a for a in range(len(ends))
                    if _reaches(out, target, a, int(placement.local[1])))
        _rewrite_word(path, axon, lambda w: ends[axon - 1] if axon else 0)
    result = _prove(out, link_stall=0.3)
    assert not result["passed"]
    assert (result["first_mismatch"]["step"], result["first_mismatch"]["neuron"]) == (1, "n1")


def _reaches(out: Path, core: int, axon: int, local: int) -> bool:
    """Whether an entry of ``axon``'s fan-out on mesh core ``core`` targets its local neuron
    ``local`` (read from the IR, not from the images under test)."""
    from neuropaste.generators.placement import mesh_plan

    cd = Compiled.open(out)
    image = mesh_plan(cd.network(), cd.placement()).images[core]
    lo, hi = image.indptr[axon], image.indptr[axon + 1]
    return local in image.target[lo:hi].tolist()


@needs_iverilog
def test_split_point_moved_past_an_axon_end_fails(tmp_path: Path) -> None:
    """``split_delays``: in one ``ptr`` word, where the axon's delay-1 entries end (``mid``,
    the middle field) moved one entry on, past the axon's end: the axon delivers the next
    axon's first entry with its own, and its deferred range runs from beyond its end. The
    raster differs and the proof names the core."""
    from neuropaste.generators.placement import mesh_plan
    from neuropaste.hdl.core import CoreGeometry

    out = _compile(tmp_path, cores=2, n=6, split_delays=True)
    assert _prove(out, link_stall=0.2)["passed"]  # untampered, it is exact
    cd = Compiled.open(out)
    plan = mesh_plan(cd.network(), cd.placement())
    for c, image in enumerate(plan.images):  # an axon of delay-1 entries only, not the last
        eb = CoreGeometry(image, plan.shape(c), split=True).e_bits
        path = out / "rtl" / "mem" / f"core_{c}" / "ptr.hex"
        words = [int(w, 16) for w in path.read_text().split()]
        fields = [[w >> (k * eb) & ((1 << eb) - 1) for k in range(3)] for w in words]
        hits = [a for a, (start, mid, end) in enumerate(fields)
                if start < mid == end < len(image.target)]
        if hits:
            break
    assert hits, "no axon to tamper with"
    _rewrite_word(path, hits[0], lambda w: w + (1 << eb))
    result = _prove(out, link_stall=0.2)
    assert not result["passed"]
    assert f"(core_{c})" in result["summary"], result["summary"]


@needs_iverilog
def test_swapped_sweep_order_of_a_mesh_fails(tmp_path: Path) -> None:
    """Two neurons of one core trade local addresses in ``rtl/placement.npz`` (the sweep
    order the images were written for): the proof maps the hardware's addresses through the
    table, so the stimulus reaches the wrong neuron and the spikes carry the wrong labels."""
    out = _compile(tmp_path, cores=2, n=6)
    path = out / "rtl" / "placement.npz"
    with np.load(path) as z:
        core, local = z["core"].copy(), z["local"].copy()
    mates = np.flatnonzero(core == core[0])
    assert len(mates) > 1
    other = int(mates[mates != 0][0])
    local[0], local[other] = local[other], local[0]
    np.savez(path, core=core, local=local)
    result = _prove(out, link_stall=0.2)
    assert not result["passed"]
    assert result["summary"].startswith("rasters differ first at step")


@pytest.mark.slow
@needs_iverilog
def test_mesh_simulates_the_written_verilog_with_stalled_links(tmp_path: Path) -> None:
    """The mesh file compile wrote is the one simulated; --link-stall only sets a define."""
    out = _compile(tmp_path, cores=2, n=6)
    verilog = out / "rtl" / "neuropaste_mesh.v"
    assert "`ifdef NEUROPASTE_SIM_STALL" in verilog.read_text()
    stalled = _prove(out, link_stall=0.4)
    plain = _prove(out)
    assert stalled["passed"] and plain["passed"], (stalled["summary"], plain["summary"])
    assert stalled["link_stall_threshold"] == 102 and plain["link_stall_threshold"] == 0
    assert stalled["cycles"] > plain["cycles"]  # the links really stalled
    assert list(stalled["simulated_files"])[0] == "rtl/neuropaste_mesh.v"


# A wrapper put around the compiled core (the top renamed): the Verilog on disk now emits what
# the core emits plus one output the testbench must catch.
WRAPPER = """
module neuropaste_core(input clk, input rst, input start, output busy, output done,
  input aer_in__valid, input [2:0] aer_in__payload, output aer_in__ready,
  output aer_out__valid, output [2:0] aer_out__payload, input aer_out__ready,
  output [31:0] step_count, output [31:0] sop_count, output [31:0] deliver_cycles,
  output [31:0] update_cycles);
  wire inner_valid, inner_ready;
  wire [2:0] inner_payload;
  neuropaste_core_inner inner(.clk(clk), .rst(rst), .start(start), .busy(busy), .done(done),
    .aer_in__valid(aer_in__valid), .aer_in__payload(aer_in__payload),
    .aer_in__ready(aer_in__ready), .aer_out__valid(inner_valid),
    .aer_out__payload(inner_payload), .aer_out__ready(inner_ready), .step_count(step_count),
    .sop_count(sop_count), .deliver_cycles(deliver_cycles), .update_cycles(update_cycles));
  reg used = 0, pending = 0;
  reg [2:0] held = 0;
  wire extra = EXTRA;
  always @(posedge clk) begin
    if (extra && aer_out__ready) used <= 1;
    if (DUPLICATE && !used && inner_valid && aer_out__ready) begin
      used <= 1; pending <= 1; held <= inner_payload;
    end
    if (pending && aer_out__ready) pending <= 0;
  end
  assign inner_ready = aer_out__ready && !pending && !extra;
  assign aer_out__valid = inner_valid || extra || pending;
  assign aer_out__payload = extra ? 3'd0 : pending ? held : inner_payload;
endmodule
"""


@needs_iverilog
@pytest.mark.parametrize("extra,duplicate,message", [
    ("!used && !busy && step_count == 10", "0",
     "RTL output outside a step: spike of 'n0' after the last step (9) was done"),
    ("!used && !busy && step_count == 3", "0",
     "RTL output outside a step: spike of 'n0' before step 3 started"),
    ("0", "1", "rasters differ first at step 0, neuron 'n0': 2 spike(s) in the RTL, 1 in the "
     "reference"),
], ids=["after-last-done", "between-steps", "duplicate"])
def test_spikes_outside_a_step_or_duplicated_fail(tmp_path: Path, extra: str, duplicate: str,
                                                  message: str) -> None:
    out = _compile(tmp_path)
    verilog = out / "rtl" / "neuropaste_core.v"
    text, hits = re.subn(r"^module neuropaste_core\(", "module neuropaste_core_inner(",
                         verilog.read_text(), flags=re.M)
    assert hits == 1
    verilog.write_text(text + WRAPPER.replace("EXTRA", extra).replace("DUPLICATE", duplicate))
    result = _prove(out)
    assert not result["passed"]
    assert message in result["summary"], result["summary"]


def test_link_stall_on_one_core_is_refused(tmp_path: Path) -> None:
    from neuropaste.verify.rtl import check_options

    out = _compile(tmp_path)
    with pytest.raises(InputError, match="--link-stall applies to a mesh"):
        check_options(out, link_stall=0.3)
    proc = subprocess.run([sys.executable, "-m", "neuropaste", "verify", str(out), "--rtl",
                           "--link-stall", "0.3"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].endswith("holds one core: compile with "
                                                         "--cores 2 or more, or drop it")
    assert not (out / "verify.json").exists()


# ------------------------------------------------------------------ lint and synthesis


UNDRIVEN = """module t(input clk, input a, output reg q);
  wire w;
  always @(posedge clk) q <= a & w;
endmodule
"""

LOOP = """module t(input clk, input a, output reg q);
  wire x, z;
  assign x = z ^ a;
  assign z = x & a;
  always @(posedge clk) q <= z;
endmodule
"""


@pytest.mark.parametrize("text,finding", [(UNDRIVEN, "is used but has no driver"),
                                          (LOOP, "logic loop")], ids=["undriven", "loop"])
def test_synthesis_reports_undriven_nets_and_loops(tmp_path: Path, text: str,
                                                   finding: str) -> None:
    from neuropaste.verify.rtl import synth_stats

    (tmp_path / "t.v").write_text(text)
    stats = synth_stats(tmp_path, top="t", verilog="t.v")
    assert not stats["passed"] and finding in " ".join(stats["errors"])


@pytest.mark.skipif(shutil.which("verilator") is None, reason="no verilator")
def test_lint_reports_a_combinational_loop(tmp_path: Path) -> None:
    from neuropaste.verify.rtl import verilator_lint

    (tmp_path / "t.v").write_text(LOOP)
    lint = verilator_lint(tmp_path, top="t", verilog="t.v")
    assert not lint["passed"] and "UNOPTFLAT" in lint["errors"][0]
