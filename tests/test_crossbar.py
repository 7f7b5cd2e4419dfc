"""Crossbar tiles: mapping, packing, netlists that ngspice runs, the solver against ngspice."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from neuropaste.cmap import ConnectivityMap
from neuropaste.compile import compile_map
from neuropaste.devices import Electrical, conductances, load_device
from neuropaste.errors import InputError
from neuropaste.events import poisson
from neuropaste.generators.crossbar import CrossbarOptions, pack
from neuropaste.generators.quantize import quantize
from neuropaste.io import load_map
from neuropaste.sim.solver import ideal_currents, solve_tile
from neuropaste.verify.spice import column_currents

needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="no ngspice")


def test_differential_pairs_recover_signed_weights() -> None:
    dev = load_device("rram")
    w = np.array([[-127, -3, 0, 5, 127]])
    gp, gn = conductances(w, 127, dev)
    step = (dev.g_max - dev.g_min) / (dev.levels - 1)
    levels = np.rint((gp - gn) / step)
    assert np.all(np.sign(levels) == np.sign(w))
    assert levels[0, 0] == -(dev.weight_levels - 1) and levels[0, -1] == dev.weight_levels - 1
    assert gp.min() >= dev.g_min and gp.max() <= dev.g_max + 1e-18


def test_mram_uses_several_binary_cells_per_weight() -> None:
    dev = load_device("mram")
    assert dev.levels == 2 and dev.weight_levels == dev.cells_per_weight + 1
    gp, _ = conductances(np.array([127]), 127, dev)
    assert gp[0] == pytest.approx(dev.cells_per_weight * dev.g_max)


def test_user_preset_file_and_bad_presets(tmp_path: Path) -> None:
    good = tmp_path / "mydev.json"
    good.write_text(json.dumps({"g_min": 2e-6, "g_max": 40e-6, "levels": 32}))
    dev = load_device(str(good))
    assert dev.name == "mydev" and dev.weight_levels == 32
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"g_min": 2e-6, "g_max": 1e-6, "levels": 32}))
    with pytest.raises(InputError, match="g_max must exceed g_min"):
        load_device(str(bad))
    (tmp_path / "typo.json").write_text(json.dumps({"gmin": 1}))
    with pytest.raises(InputError, match="unknown device field 'gmin'"):
        load_device(str(tmp_path / "typo.json"))
    with pytest.raises(InputError, match="not a device preset"):
        load_device("unobtainium")


def test_packing_holds_every_synapse_once_and_beats_in_order_on_a_banded_map() -> None:
    rng = np.random.default_rng(0)
    n = 400
    pre = rng.integers(0, n, 4000)
    post = np.clip(pre + rng.integers(-10, 11, 4000), 0, n - 1)  # a band...
    perm = rng.permutation(n)  # ...hidden by a random labelling
    cmap = ConnectivityMap.build([f"x{i}" for i in range(n)], perm[pre], perm[post],
                                 rng.normal(0, 1, 4000), rng.integers(1, 3, 4000))
    net = quantize(cmap)
    opts = CrossbarOptions(tile_rows=32, tile_cols=32)
    ts = pack(net, opts)
    dense = ts.store.dense(opts.device, opts.enc)
    placed = {(int(p), int(d), int(q)): int(dense["weight"][t][i, j])
              for t in range(ts.store.n_tiles)
              for i, (p, d) in enumerate(zip(dense["row_pre"][t], dense["row_delay"][t],
                                             strict=True))
              for j, q in enumerate(dense["col_post"][t])
              if p >= 0 and q >= 0 and dense["weight"][t][i, j] != 0}
    expected = {(int(a), int(d), int(b)): int(w)
                for a, b, d, w in zip(net.pre, net.post, net.delay, net.weight, strict=True)}
    assert placed == expected
    assert ts.stats["reordering"] != "none"
    plain = dict(tile_rows=32, tile_cols=32, reorder=False, compact_rows=False)
    in_order = pack(net, CrossbarOptions(**plain), build=False).stats
    bands = pack(net, CrossbarOptions(**{**plain, "reorder": True}), build=False).stats
    assert ts.stats["tiles"] < 0.2 * in_order["tiles"]  # measured 58 vs 618
    assert ts.stats["tiles"] < 0.7 * bands["tiles"]  # row compaction: 58 vs 106
    assert ts.stats["utilisation"] > 4 * ts.stats["utilisation_naive_NxN"]


def test_solver_matches_ideal_without_wires_and_with_strong_transistors() -> None:
    rng = np.random.default_rng(1)
    g = rng.uniform(1e-6, 20e-6, (16, 16))
    active = rng.random(16) < 0.5
    el = Electrical(r_wire=1e-6, w=1e-3)  # ~ideal wires and switches
    assert np.allclose(solve_tile(g, active, el), ideal_currents(g, active, el), rtol=2e-4)


@needs_ngspice
@pytest.mark.parametrize("size", [8, 24])
def test_solver_agrees_with_ngspice_within_0_1_percent(size: int) -> None:
    rng = np.random.default_rng(size)
    dev = load_device("rram")
    g = rng.uniform(dev.g_min, dev.g_max, (size, size))
    el = Electrical(r_wire=5.0)
    fs = el.v_read * dev.g_max * size
    for active in (np.ones(size, bool), rng.random(size) < 0.4):
        ours = solve_tile(g, active, el)
        theirs = column_currents(g, active, el)
        assert np.abs(ours - theirs).max() <= 1e-3 * fs
        assert np.abs(ours - theirs).max() <= 1e-6 * np.abs(theirs).max()
    # the ideal misses the transistor and the wires: visibly, so the check can fail
    assert np.abs(ideal_currents(g, active, el) - theirs).max() > 1e-3 * np.abs(theirs).max()


@needs_ngspice
def test_compiled_netlist_runs_as_is_in_batch_ngspice(tmp_path: Path) -> None:
    cmap = ConnectivityMap.build(['a"; .end', "b\nR1 x y 0", "c"], [0, 1, 2], [1, 2, 0],
                                 [1.0, -2.0, 0.5], [1, 1, 2])
    out = tmp_path / "c"
    compile_map(cmap, out, stimulus=poisson(3, 5, 0.2, 0), steps=5, backends=("spice",),
                quiet=True, backend_options={"spice": CrossbarOptions(
                    tile_rows=8, tile_cols=8)})
    netlist = out / "spice" / "tile_0000.cir"
    text = netlist.read_text()
    assert ".end" in text and "a\"" not in text and "R1 x y" not in text  # labels never appear
    proc = subprocess.run(["ngspice", "-b", str(netlist)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0
    printed = [line for line in proc.stdout.splitlines() if line.strip().startswith("i(vs")]
    assert len(printed) == 8
    from neuropaste.compiled import Compiled

    tiles = Compiled.open(out).tiles()
    _, el, _ = Compiled.open(out).tile_params()
    ours = solve_tile(tiles["g"][0], tiles["patterns"][0][0], el)
    values = np.array([float(line.split("=")[1]) for line in printed])
    assert np.allclose(values, ours, rtol=1e-5, atol=1e-12)
    from neuropaste.verify.spice import verify as verify_spice

    report = verify_spice(out, tiles=1, workers=1, patterns=6, progress=False)
    assert report["passed"] and report["patterns_per_tile"] == 6
    assert report["tiles_ngspice"] == 1 and report["max_err_solver_fs"] < 1e-3


@needs_ngspice
def test_verify_spice_on_celegans_every_tile_by_solver_a_sample_in_ngspice(tmp_path) -> None:
    from neuropaste.verify import verify

    cmap = load_map("builtin:celegans")
    out = tmp_path / "c"
    compile_map(cmap, out, stimulus=poisson(cmap.n_neurons, 5, 0.02, 0), steps=5,
                backends=("spice",), quiet=True,
                backend_options={"spice": CrossbarOptions(tile_rows=32, tile_cols=32)})
    report = verify(out, spice=True, tiles=2, workers=2, mc_runs=3, drift_time=3600.0)
    s = report["checks"]["spice"]
    assert report["passed"]
    assert s["tiles_solver"] == s["tiles_total"] > 100
    assert s["tiles_ngspice"] == 2
    assert s["max_err_solver_fs"] < 1e-3
    assert s["monte_carlo"]["max_synaptic_current_error_fs"] > 0
    manifest = json.loads((out / "manifest.json").read_text())["backends"]["spice"]
    assert manifest["programming"]["pulses"] > cmap.n_synapses * 0.5
    from neuropaste.verify.spice import report_html

    page = report_html(out)
    assert page.count("<img") == 2 and "tiles in ngspice</td>" in page.replace("<th>", "<td>")


@pytest.mark.parametrize("size", [4, 16, 48])
def test_line_relaxation_equals_full_newton(size: int) -> None:
    from neuropaste.sim.solver import solve_tile_direct

    rng = np.random.default_rng(size + 100)
    g = rng.uniform(1e-6, 100e-6, (size, size))
    active = rng.random(size) < 0.6
    for el in (Electrical(), Electrical(r_wire=20.0, v_read=0.3)):
        fast, full = solve_tile(g, active, el), solve_tile_direct(g, active, el)
        assert np.allclose(fast, full, rtol=1e-9, atol=1e-15)


def test_solver_with_no_row_on_gives_zero_and_one_row_gives_its_cells() -> None:
    rng = np.random.default_rng(7)
    g = rng.uniform(1e-6, 100e-6, (12, 10))
    el = Electrical()
    assert np.all(solve_tile(g, np.zeros(12, bool), el) == 0.0)
    one = np.zeros(12, bool)
    one[5] = True
    from neuropaste.sim.solver import solve_tile_direct

    assert np.allclose(solve_tile(g, one, el), solve_tile_direct(g, one, el), rtol=1e-9)
    assert np.all(solve_tile(g, one, el) < ideal_currents(g, one, el))  # drops only lose current


def test_emit_is_byte_identical_across_runs(tmp_path: Path) -> None:
    from neuropaste.events import Stimulus
    from neuropaste.generators.crossbar import emit
    from neuropaste.reference import reference_run

    rng = np.random.default_rng(3)
    n, k = 120, 900
    cmap = ConnectivityMap.build([f"n{i}" for i in range(n)], rng.integers(0, n, k),
                                 rng.integers(0, n, k), rng.normal(0, 1, k),
                                 rng.integers(1, 4, k))
    net = quantize(cmap)
    opts = CrossbarOptions(tile_rows=16, tile_cols=16)
    ref = reference_run(net, 0, Stimulus.empty())
    first = emit(net, tmp_path / "a", ref, opts)
    second = emit(net, tmp_path / "b", ref, opts)
    assert first == second
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                   if p.is_file())
    assert len(files) == first["tiles"] + 2
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


@pytest.mark.parametrize("cpw", [1, 7])
def test_fast_writer_matches_pyspice(cpw: int) -> None:
    from neuropaste.netlists.tile import elements_text, tile_circuit

    rng = np.random.default_rng(cpw)
    g = rng.uniform(1e-6, 100e-6, (5, 6)) * cpw
    active = rng.random(5) < 0.5
    el = Electrical(r_wire=2.5, v_read=0.15)
    body = str(tile_circuit(g, active, el, "t", cpw)).strip().splitlines()[1:]
    assert elements_text(g, active, el, cpw) == body


def test_program_and_verify_counts_pulses_per_physical_cell() -> None:
    from dataclasses import replace

    from neuropaste.devices import weight_levels
    from neuropaste.generators.crossbar import program_and_verify

    rng = np.random.default_rng(5)
    n, k = 60, 400
    cmap = ConnectivityMap.build([f"n{i}" for i in range(n)], rng.integers(0, n, k),
                                 rng.integers(0, n, k), rng.lognormal(0, 1.5, k) *
                                 rng.choice([-1, 1], k), np.ones(k, int))
    net = quantize(cmap)
    w_max = int(np.abs(net.weight).max())
    for name in ("rram", "mram"):
        dev = replace(load_device(name), pulse_sigma=0.0)
        opts = CrossbarOptions(tile_rows=16, tile_cols=16, device=dev)
        levels = np.abs(weight_levels(net.weight, w_max, dev))
        assert levels.min() >= 1  # no synapse rounds away
        prog = program_and_verify(pack(net, opts), dev, opts.enc)
        assert prog["cells_failed"] == 0
        # noiseless: one pulse per level step of every cell; MRAM: one per cell switched on
        assert prog["pulses"] == levels.sum()
        assert prog["cells_programmed"] == (levels.sum() if name == "mram" else len(levels))
    opts = CrossbarOptions(tile_rows=16, tile_cols=16)
    noisy = program_and_verify(pack(net, opts), opts.device, opts.enc)
    rram_steps = np.abs(weight_levels(net.weight, w_max, load_device("rram"))).sum()
    assert noisy["cells_failed"] == 0 and noisy["pulses"] > rram_steps


@pytest.mark.parametrize("v_body", [0.0, -0.3])
def test_fast_writer_matches_pyspice_with_substrate_bias(v_body: float) -> None:
    from neuropaste.netlists.tile import elements_text, tile_circuit

    rng = np.random.default_rng(11)
    g = rng.uniform(1e-6, 100e-6, (4, 6))
    active = rng.random(4) < 0.5
    el = Electrical(v_body=v_body, tox=3e-9)
    lines = elements_text(g, active, el)
    assert lines == str(tile_circuit(g, active, el, "t")).strip().splitlines()[1:]
    body = "0" if v_body == 0 else "sub"
    assert all(line.split()[4] == body for line in lines if line.startswith("M"))
    assert ("Vsub sub 0 -0.3" in lines) == (v_body != 0)
    assert "tox=3e-09" in lines[-1] and "gamma=0" in lines[-1]  # gate capacitance, no body effect


@needs_ngspice
def test_junctions_reverse_biased_and_substrate_bias_leaves_dc_alone() -> None:
    """Body on the substrate, not the source: with gamma = 0 the DC currents do not move when
    the substrate is biased, and every source and drain sits above the substrate, so both
    junctions of every access transistor are reverse biased (ngspice's node voltages)."""
    from neuropaste.netlists.tile import bench_text, netlist_text
    from neuropaste.sim.ngspice import run_text
    from neuropaste.sim.solver import cell_sources

    rng = np.random.default_rng(4)
    size = 8
    g = rng.uniform(1e-6, 100e-6, (size, size))
    active = rng.random(size) < 0.6
    fs = 0.2 * 100e-6 * size
    currents = {}
    for v_body in (0.0, -0.3):
        el = Electrical(v_body=v_body)
        text = netlist_text(g, active, el, {"tile": 0})
        vec = run_text(bench_text(text, active, el.v_gate))
        currents[v_body] = np.array([vec[f"vs{j}#branch"][0] for j in range(size)])
        sources = np.array([[vec[f"m{i}_{j}"][0] for j in range(size)] for i in range(size)])
        drains = np.array([[vec[f"r{i}_{j}"][0] for j in range(size)] for i in range(size)])
        assert sources.min() - v_body >= -1e-9 and drains.min() - v_body > 0.1
        assert np.abs(sources[active] - cell_sources(g, active, el)[active]).max() < 1e-6
        assert np.abs(solve_tile(g, active, el) - currents[v_body]).max() <= 1e-6 * fs
    assert np.abs(currents[0.0] - currents[-0.3]).max() <= 1e-6 * fs


def test_program_and_verify_pool_matches_cell_by_cell(monkeypatch) -> None:
    """Past EXACT_CELLS cells the outcomes are drawn from a pool simulated per level: the
    pulse count stays within 2 % of simulating every cell, and per tile too."""
    import neuropaste.generators.crossbar as cb

    rng = np.random.default_rng(6)
    n, k = 200, 6000
    cmap = ConnectivityMap.build([f"n{i}" for i in range(n)], rng.integers(0, n, k),
                                 rng.integers(0, n, k), rng.normal(0, 1, k), np.ones(k, int))
    opts = CrossbarOptions()
    ts = pack(quantize(cmap), opts)
    exact = cb.program_and_verify(ts, opts.device, opts.enc)
    monkeypatch.setattr(cb, "EXACT_CELLS", 100)
    monkeypatch.setattr(cb, "POOL_CELLS", 512)
    pooled = cb.program_and_verify(ts, opts.device, opts.enc)
    assert exact["simulated"] == "every cell" and pooled["simulated"].startswith("512 cells")
    assert pooled["cells_programmed"] == exact["cells_programmed"]
    assert pooled["pulses"] == pytest.approx(exact["pulses"], rel=0.02)
    assert pooled["time_tiles_parallel_s"] == pytest.approx(exact["time_tiles_parallel_s"],
                                                            rel=0.1)
    assert pooled == cb.program_and_verify(ts, opts.device, opts.enc)  # deterministic


def test_manifest_times_the_backend_steps(tmp_path: Path) -> None:
    """resources.stage_seconds holds each spice step under its stage (substage), and the peak
    memory after every stage; nothing else in the manifest depends on the run."""
    from neuropaste.events import Stimulus

    rng = np.random.default_rng(7)
    n, k = 80, 500
    cmap = ConnectivityMap.build([f"n{i}" for i in range(n)], rng.integers(0, n, k),
                                 rng.integers(0, n, k), rng.normal(0, 1, k), np.ones(k, int))
    m = compile_map(cmap, tmp_path / "c", stimulus=Stimulus.empty(), steps=2,
                    backends=("spice",), quiet=True)
    st = m["resources"]["stage_seconds"]
    steps = {"spice backend / packing", "spice backend / packing / tiles in none order",
             "spice backend / tile store", "spice backend / program and verify"}
    assert steps <= set(st)
    assert st["spice backend"] >= max(st[s] for s in steps)
    assert set(m["resources"]["peak_rss_MB_after_stage"]) == set(st)
