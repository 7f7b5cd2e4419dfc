"""Many cores: the mesh's raster equals the reference bit for bit, under link back-pressure."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netgen import clustered_network, hardware_networks, run_mesh

from neuropaste import ConnectivityMap
from neuropaste.addresses import addresses
from neuropaste.compile import compile_map, compile_network
from neuropaste.events import poisson
from neuropaste.generators.placement import CoreLimits, mesh_plan, place
from neuropaste.generators.quantize import quantize
from neuropaste.generators.rtl import (
    RTL_PROFILES,
    RTLOptions,
    build_design,
    profile_options,
)
from neuropaste.hdl import core
from neuropaste.hdl.core import SWEEP_OVERLAP_MAX_DELAY
from neuropaste.hdl.mesh import MeshPlan, _senders, mask_table, mesh_shape
from neuropaste.hdl.router import split
from neuropaste.io import load_map
from neuropaste.neuron import QuantOptions
from neuropaste.reference import simulate

needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None, reason="no iverilog")


@pytest.mark.parametrize("width,height", [(1, 1), (2, 1), (2, 2), (4, 4), (3, 2)])
def test_routers_split_every_column_once_and_send_other_rows_along_y(width: int,
                                                                    height: int) -> None:
    full = (1 << width) - 1
    for y in range(height):
        for x in range(width):
            for row in range(height):
                for cols in range(1, full + 1):
                    out = split(x, y, row, cols)
                    if row != y:
                        assert out == {"north" if row > y else "south": cols}
                        continue
                    assert sum(out.values()) == cols  # disjoint parts of the mask
                    assert out.get("local", 0) == cols & (1 << x)
                    assert all(c >> (x + 1) << (x + 1) == c for q, c in out.items()
                               if q == "east")
                    assert all(c < (1 << x) for q, c in out.items() if q == "west")


def test_mesh_shape_is_as_square_as_it_factors() -> None:
    assert [mesh_shape(c) for c in (1, 2, 4, 6, 7, 16)] == [(1, 1), (2, 1), (2, 2), (3, 2),
                                                             (7, 1), (4, 4)]


def test_multicast_tables_name_exactly_the_cores_of_the_targets() -> None:
    net = clustered_network(n=120, e=1500, seed=3)
    pl = place(net, 4, CoreLimits(neurons=40))
    plan = mesh_plan(net, pl)
    addr, base = addresses(pl)
    assert sorted(addr.tolist()) == list(range(net.n_neurons))
    for c in range(4):
        for j, i in enumerate(pl.members(c)):
            want = {int(pl.core[t]) for t in net.post[net.pre == i]}
            got = set(plan.routes[c][j].indices.tolist())
            assert got == want
        # every synapse onto core c is in its image, under the source's global address
        img = plan.images[c]
        assert len(img.target) == int((pl.core[net.post] == c).sum())
        assert base[c + 1] - base[c] == img.n_neurons


@pytest.mark.parametrize("width", [5, 67])
def test_sender_words_are_one_per_destination_row(width: int) -> None:
    """The vectorised sender table against the rule written out with Python integers: per
    neuron one word ``row | columns << row_bits`` per row of the mesh that holds a destination,
    rows in order; a mesh wider than 64 bits of word (67 columns) takes the limb path."""
    height, n = 3, 40
    rng = np.random.default_rng(width)
    dest = sp.random(n, width * height, density=0.15, format="csr", random_state=rng)
    dest.sort_indices()
    plan = MeshPlan(images=[], base=np.zeros(1, np.int64), routes=[dest], width=width,
                    height=height, axons=[])
    heads, words = _senders(plan, 0)
    row_bits = max(1, (height - 1).bit_length())
    want_heads, want = [], []
    for i in range(n):
        start = len(want)
        for r in range(height):
            cols = sum(1 << (int(c) % width) for c in dest[i].indices if int(c) // width == r)
            if cols:
                want.append(r | cols << row_bits)
        want_heads.append((start, len(want)))
    assert len(want) > n
    assert [int(w) for w in words] == want and heads.tolist() == [list(h) for h in want_heads]
    assert words.dtype == (np.uint64 if width + row_bits <= 64 else object)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=hardware_networks(max_neurons=14, max_steps=15), cores=st.sampled_from([2, 3, 4]),
       seed=st.integers(0, 1000), balance=st.sampled_from(["work", "steps"]),
       order=st.sampled_from(["index", "sends"]), lut=st.booleans(), short_paths=st.booleans(),
       split=st.booleans())
def test_mesh_matches_reference_with_stalled_links(case, cores: int, seed: int, balance: str,
                                                    order: str, lut: bool,
                                                    short_paths: bool, split: bool) -> None:
    """``lut``: the cores' entries index their (weight, delay) tables (RTLOptions default);
    ``short_paths``: ``start`` and the ejection links registered (False: main's); ``order``:
    each core's sweep order (remote senders first, or the map's); ``split``: the cores defer
    their entries of delay 2 and more (every delay 1..D appears in the map)."""
    net, steps, stim = case
    cores = min(cores, net.n_neurons)
    reference = simulate(net, steps, stim)
    rates = np.bincount(reference.neuron, minlength=net.n_neurons) / max(steps, 1)
    pl = place(net, cores, CoreLimits(neurons=-(-net.n_neurons // cores) + 2), seed=seed,
               balance=balance, raster=reference, rates=rates, order=order)
    raster, counts = run_mesh(net, pl, steps, stim, stall=0.35, out_stall=0.3, seed=seed,
                              lut=lut, short_paths=short_paths, split_delays=split)
    assert reference.first_difference(raster) is None
    assert counts["step_count"] == steps


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=hardware_networks(max_neurons=12, max_steps=12), seed=st.integers(0, 1000))
def test_earlier_mesh_stays_reachable_and_exact(case, seed: int) -> None:
    """The configuration before issue 15 (serial fetch, phase barrier), kept for the bench."""
    net, steps, stim = case
    cores = min(3, net.n_neurons)
    pl = place(net, cores, CoreLimits(neurons=-(-net.n_neurons // cores) + 2), seed=seed,
               balance="neurons")
    raster, counts = run_mesh(net, pl, steps, stim, stall=0.35, out_stall=0.3, seed=seed,
                              prefetch=False, early_update=False)
    assert simulate(net, steps, stim).first_difference(raster) is None
    assert counts["step_count"] == steps


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=hardware_networks(max_neurons=14, max_steps=12), cores=st.sampled_from([3, 4]),
       seed=st.integers(0, 1000))
def test_small_profile_mesh_is_exact_with_stalled_links(case, cores: int, seed: int) -> None:
    """``compile --rtl-profile small``: the serial fetch of end pointers (``ptr_ends``) and
    one-word sender tables (``mask_routes``, a row walk per spike) on 3 x 1 and 2 x 2 meshes."""
    net, steps, stim = case
    cores = min(cores, net.n_neurons)
    pl = place(net, cores, CoreLimits(neurons=-(-net.n_neurons // cores) + 2), seed=seed)
    small = {k: v for k, v in RTL_PROFILES["small"].items() if k != "mask_routes"}
    raster, counts = run_mesh(net, pl, steps, stim, stall=0.35, out_stall=0.3, seed=seed,
                              mask_routes=True, **small)
    assert simulate(net, steps, stim).first_difference(raster) is None
    assert counts["step_count"] == steps


def test_a_manifest_before_the_small_profile_builds_the_earlier_memories() -> None:
    """A ``design`` without ``mask_routes``, ``ptr_ends`` or ``ext_in_r`` (written before they
    existed) builds the two-ROM sender tables, start | end pointers and a flag memory."""
    net = clustered_network(n=40, e=300, clusters=4, seed=3)
    pl = place(net, 4, CoreLimits(neurons=12), seed=0)
    old = {k: v for k, v in RTLOptions(prefetch=False).design().items()
           if k not in ("mask_routes", "ptr_ends", "ext_in_r")}
    mesh = build_design(net, pl, design=old)
    assert not (mesh.mask_routes or mesh.ptr_ends or mesh.ext_in_r)
    small = build_design(net, pl, design=profile_options("small").design())
    assert small.mask_routes and small.ptr_ends and small.ext_in_r


def test_mask_table_names_the_target_cores_of_each_neuron() -> None:
    """One word a neuron: ``axon | cores``, the cores bit for bit those of its targets."""
    net = clustered_network(n=40, e=300, clusters=4, seed=3)
    plan = mesh_plan(net, place(net, 4, CoreLimits(neurons=12), seed=0))
    for c in range(plan.n_cores):
        (words, width), = mask_table(plan, c).values()
        assert width == plan.axon_bits + plan.n_cores
        dest = plan.routes[c].tocsr()
        for i in range(dest.shape[0]):
            want = sum(1 << int(k) for k in dest.indices[dest.indptr[i]:dest.indptr[i + 1]])
            assert int(words[i]) >> plan.axon_bits == want
            assert int(words[i]) & ((1 << plan.axon_bits) - 1) == int(plan.axons[c][i])


def test_a_core_updates_while_another_still_delivers() -> None:
    """Core 0 holds the targets of every synapse (long deliveries, few neurons), core 1 most
    neurons (a long update sweep): without the phase barrier a step costs about the larger of
    the two cores' delivery + update, not the sum of the slowest delivery and slowest update."""
    from neuropaste.addresses import Placement

    net = clustered_network(n=60, e=900, clusters=1, seed=9)
    core = np.ones(net.n_neurons, np.int64)
    hubs = np.argsort(np.bincount(net.post, minlength=net.n_neurons))[-6:]
    core[hubs] = 0
    keep = core[net.post] == 0  # only synapses onto core 0
    net = net.replace(pre=net.pre[keep], post=net.post[keep], weight=net.weight[keep],
                      delay=net.delay[keep])
    local = np.zeros(net.n_neurons, np.int64)
    for c in (0, 1):
        local[core == c] = np.arange(int((core == c).sum()))
    pl = Placement(core=core, local=local, n_cores=2)
    steps = 12
    stim = poisson(net.n_neurons, steps, 0.3, seed=1)
    reference = simulate(net, steps, stim)
    runs = {early: run_mesh(net, pl, steps, stim, early_update=early, run_ahead=False)
            for early in (True, False)}
    for raster, _ in runs.values():
        assert reference.first_difference(raster) is None
    early, barrier = (runs[k][1] for k in (True, False))
    assert early["sop_count"] == barrier["sop_count"] > 20 * steps
    total = {k: c["deliver_cycles"] + c["update_cycles"] for k, c in ((1, early), (0, barrier))}
    # the barrier pays core 0's delivery and then core 1's 54-neuron sweep; early, core 1 sweeps
    # while core 0 delivers
    assert total[1] < total[0] - 0.5 * early["sop_count"]


def test_run_ahead_takes_deliveries_out_of_the_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """A core that has updated delivers the spikes reaching it before the next start (with
    ``sweep_overlap`` during its own sweep already, on D + 1 slot banks; delays up to 3 here;
    ``slow``: without the quick start and the fast network),
    so the next delivery phase has only stragglers left: same raster, fewer clocks a step.
    The spikes of the last step are delivered after its ``done`` too, so the SOP count can
    only grow."""
    net = clustered_network(n=48, e=700, clusters=2, seed=4)
    assert net.max_delay == 3
    pl = place(net, 4, CoreLimits(neurons=14), seed=1)
    steps = 12
    stim = poisson(net.n_neurons, steps, 0.25, seed=3)
    reference = simulate(net, steps, stim)
    modes = {"off": {"run_ahead": False}, "ahead": {"sweep_overlap": False},
             "sweep": {"split_delays": False},
             "slow": {"quick_start": False, "fast_network": False, "split_delays": False},
             "split": {}}
    runs = {k: run_mesh(net, pl, steps, stim, stall=0.2, out_stall=0.2, seed=5, **opts)
            for k, opts in modes.items()}
    for raster, counts in runs.values():
        assert reference.first_difference(raster) is None
        assert counts["step_count"] == steps
    off = runs["off"][1]
    assert off["sop_count"] > 20 * steps
    for k in ("ahead", "sweep"):
        c = runs[k][1]
        assert c["sop_count"] >= off["sop_count"]
        assert c["deliver_cycles"] < 0.5 * off["deliver_cycles"]
        total = c["deliver_cycles"] + c["update_cycles"]
        assert total < 0.9 * (off["deliver_cycles"] + off["update_cycles"])
    # the quick start, the queued exit stages and one-clock hops: the same raster, fewer clocks
    # (the SOP counts differ by what the last step delivers after its done)
    sweep, slow = runs["sweep"][1], runs["slow"][1]
    assert sweep["deliver_cycles"] + sweep["update_cycles"] \
        < slow["deliver_cycles"] + slow["update_cycles"] - steps
    # split delays: the delivery phases wait only for the delay-1 entries (and the deferred
    # ones of the step before); with a deferred queue of one range, most spikes find it full
    # and deliver their whole range at once: the same raster either way
    assert runs["split"][1]["deliver_cycles"] < 0.9 * sweep["deliver_cycles"]
    monkeypatch.setattr(core, "DEFERRED_DEPTH", 1)
    raster, counts = run_mesh(net, pl, steps, stim, stall=0.2, out_stall=0.2, seed=5,
                              split_delays=True)
    assert reference.first_difference(raster) is None


@pytest.mark.parametrize("max_delay", [SWEEP_OVERLAP_MAX_DELAY, SWEEP_OVERLAP_MAX_DELAY + 3])
def test_sweep_overlap_switches_itself_off_past_a_small_delay(tmp_path: Path,
                                                             max_delay: int) -> None:
    """``sweep_overlap`` costs a memory bank per delay slot: a map whose longest delay exceeds
    ``SWEEP_OVERLAP_MAX_DELAY`` is built without it, and the manifest says so; the per-core
    accumulator figure counts the D + 1 slots when it is on."""
    rng = np.random.default_rng(max_delay)
    n, e = 24, 150
    delay = rng.integers(1, max_delay + 1, e)
    delay[0] = max_delay
    net = quantize(ConnectivityMap.build([f"n{i}" for i in range(n)], rng.integers(0, n, e),
                                         rng.integers(0, n, e), rng.normal(0.3, 1.0, e), delay))
    assert net.max_delay == max_delay
    out = tmp_path / "out"
    compile_network(net, out, stimulus=poisson(n, 5, 0.2, seed=1), steps=5, backends=("rtl",),
                    backend_options={"rtl": RTLOptions(cores=2)}, quiet=True)
    part = json.loads((out / "manifest.json").read_text())["backends"]["rtl"]
    on = max_delay <= SWEEP_OVERLAP_MAX_DELAY
    assert part["design"]["sweep_overlap"] is on
    assert part["sweep_overlap"] == {"asked": True, "on": on, "max_delay": max_delay,
                                     "up_to_max_delay": SWEEP_OVERLAP_MAX_DELAY}
    g = part["geometry"]
    assert g["acc_depth"] == (max_delay + on) << g["n_bits"]
    verilog = (out / "rtl" / "neuropaste_mesh.v").read_text()
    assert (f"acc{max_delay}" in verilog) is on


def _compile(tmp_path: Path, spec: str, cores: int, steps: int, rate: float = 0.05) -> Path:
    cmap = load_map(spec)
    out = tmp_path / f"mesh{cores}"
    compile_map(cmap, out, stimulus=poisson(cmap.n_neurons, steps, rate, seed=2), steps=steps,
                backends=("rtl",), backend_options={"rtl": RTLOptions(cores=cores)}, quiet=True,
                quant=QuantOptions())
    return out


@needs_iverilog
@pytest.mark.parametrize("cores", [2, 4, pytest.param(16, marks=pytest.mark.slow)])
def test_celegans_on_many_cores_in_icarus(tmp_path: Path, cores: int) -> None:
    from neuropaste.verify.rtl import verify

    steps = 500 if cores == 16 else 60
    out = _compile(tmp_path, "builtin:celegans", cores, steps)
    part = json.loads((out / "manifest.json").read_text())["backends"]["rtl"]
    assert part["top"] == "neuropaste_mesh" and part["cores"] == cores
    assert part["placement"]["intercore_packets_per_step"] <= \
        part["placement"]["intercore_packets_in_order"]
    result = verify(out, stall=0.3, link_stall=0.3, synth=False, lint=cores == 4)
    assert result["passed"], result["summary"]
    assert result["spikes"] == result["reference_spikes"] > 0
    assert result["cores"] == cores and result["link_stall_probability"] == 0.3


@needs_iverilog
@pytest.mark.slow
def test_celegans_small_profile_on_4_cores_in_icarus(tmp_path: Path) -> None:
    """``--rtl-profile small``, the mesh that fits the UP5K: the written Verilog and images
    (one-word sender tables, end pointers, flags in the refractory words) are exact in Icarus
    with stalled links and outputs, and lint clean."""
    from neuropaste.verify.rtl import verify

    cmap = load_map("builtin:celegans")
    out = tmp_path / "small4"
    compile_map(cmap, out, stimulus=poisson(cmap.n_neurons, 40, 0.02, seed=2), steps=40,
                backends=("rtl",), backend_options={"rtl": profile_options("small", cores=4)},
                quiet=True, quant=QuantOptions())
    design = json.loads((out / "manifest.json").read_text())["backends"]["rtl"]["design"]
    assert design["mask_routes"] and design["ptr_ends"] and design["ext_in_r"]
    names = {p.name for p in (out / "rtl" / "mem" / "core_0").iterdir()}
    assert "rmask.hex" in names and not names & {"rptr.hex", "routes.hex"}
    result = verify(out, stall=0.3, link_stall=0.3, synth=False, lint=True)
    assert result["passed"], result["summary"]
    assert result["spikes"] == result["reference_spikes"] > 0


@needs_iverilog
@pytest.mark.slow
def test_large_generated_map_on_16_cores(tmp_path: Path) -> None:
    """2,000 neurons, 100,000 synapses, 500 steps, 16 cores, stalled links: bit-exact."""
    from neuropaste.verify.rtl import verify

    net = clustered_network(n=2000, e=107_000, clusters=16, seed=5)
    assert net.n_neurons == 2000 and net.n_synapses >= 100_000
    steps = 500
    out = tmp_path / "big"
    compile_network(net, out, stimulus=poisson(net.n_neurons, steps, 0.01, seed=4), steps=steps,
                    backends=("rtl",), backend_options={"rtl": RTLOptions(cores=16)}, quiet=True)
    result = verify(out, stall=0.2, link_stall=0.2, synth=False, lint=False)
    assert result["passed"], result["summary"]
    assert result["spikes"] > 1000


def test_mesh_compile_is_deterministic(tmp_path: Path) -> None:
    a, b = (_compile(tmp_path / k, "builtin:celegans", 4, 10) for k in "ab")
    files = sorted(p.relative_to(a) for p in (a / "rtl").rglob("*") if p.is_file())
    assert len(files) > 10
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_too_few_cores_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "neuropaste", "compile", "builtin:celegans",
                           "--out", str(tmp_path / "x"), "--backends", "rtl", "--cores", "2",
                           "--core-neurons", "100", "--steps", "5"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("neuropaste: error: builtin:celegans:") and \
        "need at least 4 cores of 100 neurons" in last and "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()


def test_address_map_names_every_neuron(tmp_path: Path) -> None:
    out = _compile(tmp_path, "builtin:celegans", 4, 5)
    rows = (out / "rtl" / "address_map.csv").read_text().splitlines()
    assert rows[0] == "address,index,core,label" and len(rows) == 303
    addr = np.array([int(r.split(",")[0]) for r in rows[1:]])
    assert (addr == np.arange(302)).all()


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=hardware_networks(min_neurons=22, max_neurons=22, max_steps=10),
       seed=st.integers(0, 1000))
def test_padded_cores_keep_a_shared_threshold_as_a_constant(case, seed: int) -> None:
    """A class pads a core with neurons that must never spike (a class is as large as its
    largest member; here both cores of 11 are put in one class of 12). With bias 0 and one
    threshold above 0 for all (C. elegans) they cannot (no input reaches them, v stays 0), so
    the packed core keeps every parameter as a constant, no ``param`` ROM, and stays exact."""
    from neuropaste.hdl.core import CoreGeometry
    from neuropaste.hdl.mesh import NeuronMesh
    from neuropaste.sim.amaranth_run import run_array

    net, steps, stim = case
    net = net.replace(bias=np.zeros_like(net.bias), threshold=np.full_like(net.threshold, 3),
                      **{f: np.full_like(getattr(net, f), getattr(net, f)[0])
                         for f in ("v_reset", "leak_shift", "refractory")})
    pl = place(net, 2, CoreLimits(neurons=11), seed=seed, balance="neurons")
    plan = mesh_plan(net, pl)
    shapes, _ = plan.classes
    one = {k: max(int(sh[k]) for sh in shapes) for k in shapes[0]} | {"n": 12}
    plan.__dict__["classes"] = ([one], np.zeros(2, np.int64))  # one class, padded
    for c, img in enumerate(plan.images):
        assert (img.n_neurons, plan.shape(c)["n"]) == (11, 12)  # one padded neuron each
        assert CoreGeometry(img, plan.shape(c)).param_bits == 0
    dut = NeuronMesh(plan, stall=0.2, seed=seed)
    raster, _ = run_array(dut, net.n_neurons, steps, stim, address=addresses(pl)[0],
                          out_stall=0.2, seed=seed)
    assert simulate(net, steps, stim).first_difference(raster) is None
