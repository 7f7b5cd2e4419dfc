"""The network with the crossbar in the loop (sim/analog.py, ``simulate DIR --analog``).

Identity: with ideal reads of tiles programmed on a device with one level per weight unit,
the analog loop reproduces the reference raster bit for bit. Then the figures of the
realistic path, and the bad options.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from neuropaste.cli import main
from neuropaste.compile import compile_network
from neuropaste.compiled import TILES, Compiled
from neuropaste.devices import Device, Electrical
from neuropaste.events import Stimulus, load_raster_csv
from neuropaste.generators.crossbar import CrossbarOptions
from neuropaste.reference import simulate
from neuropaste.sim import analog
from neuropaste.verify import default_checks, verify
from tests.netgen import hardware_networks

CELEGANS_W_MAX = 511  # the bundled connectome's largest integer weight (10-bit IR)


def exact_device(w_max: int, **kw) -> Device:
    """A device with one level per weight unit: the level map is then lossless."""
    return Device("exact", 1e-6, 100e-6, int(w_max) + 1, 1, 0.0, **kw)


def _compile(net, stim, steps, out, dev, el=None):
    opts = CrossbarOptions(tile_rows=8, tile_cols=8, device=dev, electrical=el or Electrical())
    compile_network(net, out, stimulus=stim, steps=steps, backends=("spice",), quiet=True,
                    backend_options={"spice": opts})
    return Compiled.open(out)


def _readout(c: Compiled, path: analog.ReadPath) -> analog.Readout:
    net = c.network()
    dev, el, _ = c.tile_params()
    return analog.prepare(c.tiles(), dev, el, int(np.abs(net.weight).max()), path)


def test_identity_celegans_cli(tmp_path):
    dev = tmp_path / "exact.json"
    dev.write_text(json.dumps({"name": "exact", "g_min": 1e-6, "g_max": 100e-6,
                               "levels": CELEGANS_W_MAX + 1, "d2d_sigma": 0.0}))
    comp = tmp_path / "ce"
    assert main(["compile", "builtin:celegans", "--backends", "spice", "--device", str(dev),
                 "--steps", "300", "--out", str(comp)]) == 0
    out = tmp_path / "a"
    assert main(["simulate", str(comp), "--analog", "--ideal", "--out", str(out)]) == 0
    c = Compiled.open(comp)
    net = c.network()
    assert int(np.abs(net.weight).max()) == CELEGANS_W_MAX
    ref = c.reference(net.labels)
    got = load_raster_csv(out / "spikes.csv", net.labels, c.steps)
    assert len(ref) > 1000 and ref.first_difference(got) is None
    fid = json.loads((out / "fidelity.json").read_text())
    assert fid["closed_loop"]["identical"] and fid["closed_loop"]["recall_same_step"] == 1.0
    assert fid["open_loop"]["lsb_exact_fraction"] == 1.0
    assert fid["open_loop"]["decisions_flipped"] == 0
    assert fid["scaling"]["lsb_digit_steps"] == 1 and fid["level_map_lossless"]
    rram = Device("rram", 1e-6, 100e-6, 64)
    assert not analog.level_map_lossless(net.weight, CELEGANS_W_MAX, rram)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hardware_networks(max_neurons=12, max_steps=25))
def test_identity_hypothesis(case):
    net, steps, stim = case
    with tempfile.TemporaryDirectory() as tmp:
        dev = exact_device(np.abs(net.weight).max())
        assert analog.level_map_lossless(net.weight, np.abs(net.weight).max(), dev)
        c = _compile(net, stim, steps, Path(tmp) / "c", dev)
        rd = _readout(c, analog.ReadPath(ideal=True))
        ref = simulate(net, steps, stim)
        got = analog.run_closed(net, rd, steps, stim)
        assert ref.first_difference(got) is None
        assert len(got) == len(ref)
        assert analog.open_loop(net, rd, ref, stim)["lsb_exact_fraction"] == 1.0


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 40-neuron random network on 8 x 8 tiles of an exact device, wires of 0 ohm."""
    rng = np.random.default_rng(3)
    n, e, steps = 40, 400, 200
    from neuropaste.ir import Network

    pre, post = rng.integers(0, n, e), rng.integers(0, n, e)
    delay = rng.integers(1, 3, e)
    key = np.unique(np.stack([pre, post, delay], 1), axis=0, return_index=True)[1]
    pre, post, delay = pre[key], post[key], delay[key]
    weight = rng.integers(-20, 60, len(pre))
    weight[weight == 0] = 7
    net = Network(labels=np.array([f"n{i}" for i in range(n)]), pre=pre.astype(np.int32),
                  post=post.astype(np.int32), weight=weight.astype(np.int32),
                  delay=delay.astype(np.int16), threshold=np.full(n, 100),
                  v_reset=np.zeros(n, np.int64), bias=np.zeros(n, np.int64),
                  leak_shift=np.full(n, 3, np.uint8), refractory=np.full(n, 2),
                  stim_weight=100, w_bits=8, v_bits=12, acc_bits=16, max_delay=2)
    stim = Stimulus.from_pairs(rng.integers(0, steps, 600), rng.integers(0, n, 600))
    dev = exact_device(np.abs(net.weight).max(), drift_nu=0.1, drift_t0=1.0)
    c = _compile(net, stim, steps, tmp_path_factory.mktemp("an") / "c", dev,
                 Electrical(r_wire=0.0))
    return c, net, stim, steps


def test_realistic_path_switched_off_is_the_identity(small):
    c, net, stim, steps = small
    path = analog.ReadPath(spread=False, read_sigma=0.0, age_s=0.0)
    rd = _readout(c, path)
    ref = simulate(net, steps, stim)
    assert len(ref) > 100
    assert ref.first_difference(analog.run_closed(net, rd, steps, stim)) is None
    fig = analog.closed_loop_figures(ref, ref)
    assert fig["identical"] and fig["first_divergent_step"] is None
    assert fig["precision_within_1_step"] == 1.0
    assert fig["van_rossum"].get("mean", 0.0) < 1e-6  # Elephant: float round-off only
    other = analog.run_closed(net, _readout(c, analog.ReadPath(read_sigma=0.2, seed=4)), steps,
                              stim)
    fig = analog.closed_loop_figures(ref, other)
    assert not fig["identical"] and fig["recall_same_step"] < 1.0
    a, b = set(zip(ref.step.tolist(), ref.neuron.tolist(), strict=True)), \
        set(zip(other.step.tolist(), other.neuron.tolist(), strict=True))
    assert fig["recall_same_step"] == len(a & b) / len(a)
    assert fig["precision_same_step"] == len(a & b) / len(b)
    assert fig["first_divergent_step"] == min(s for s, _ in a ^ b)


def test_tampered_weight_shows_at_its_neuron(small, tmp_path):
    c, net, stim, steps = small
    tiles = c.tiles()
    dev, el, _ = c.tile_params()
    t, r = np.argwhere(tiles["row_pre"] >= 0)[0]
    p = int(np.flatnonzero(tiles["col_post"][t] >= 0)[0])
    d_g = (dev.g_max - dev.g_min) / (dev.levels - 1)
    tiles["g"][t, r, 2 * p] += 3 * d_g  # three weight units more on the G+ side
    rd = analog.prepare(tiles, dev, el, int(np.abs(net.weight).max()),
                        analog.ReadPath(ideal=True))
    ref = simulate(net, steps, stim)
    fig = analog.open_loop(net, rd, ref, stim)
    by_neuron = fig["error_by_neuron"]
    post = int(tiles["col_post"][t, p])
    assert np.flatnonzero(by_neuron).tolist() == [post]
    pre, d = int(tiles["row_pre"][t, r]), int(tiles["row_delay"][t, r])
    fires = int(np.sum((ref.neuron == pre) & (ref.step < steps - d)))
    assert fires > 0 and by_neuron[post] == 3 * fires
    assert fig["error_lsb"]["max_abs"] == 3 and fig["lsb_exact_fraction"] < 1.0
    assert fig["first_error"]["neuron"] == post and fig["first_error"]["error"] == 3


def test_drift_lowers_every_read(small):
    c, net, stim, steps = small
    ref = simulate(net, steps, stim)
    aged = analog.open_loop(net, _readout(c, analog.ReadPath(
        spread=False, read_sigma=0.0, age_s=86400.0, drift_reference=False)), ref, stim)
    # (1 day / 1 s) ** -0.1 = 0.32: every excitatory sum shrinks, every inhibitory one too
    assert aged["lsb_exact_fraction"] < 1.0 and aged["error_lsb"]["max_abs"] > 10
    assert aged["error_lsb"]["mean"] * np.sign(net.weight.sum()) < 0
    # a reference column rescales the reads: drift compensated up to its read noise
    fresh = analog.open_loop(net, _readout(c, analog.ReadPath(spread=False, read_sigma=0.0)),
                             ref, stim)
    compensated = analog.open_loop(net, _readout(c, analog.ReadPath(
        spread=False, read_sigma=0.0, age_s=86400.0)), ref, stim)
    assert compensated["lsb_exact_fraction"] == fresh["lsb_exact_fraction"]
    noisy = analog.open_loop(net, _readout(c, analog.ReadPath(read_sigma=0.05, seed=1)), ref,
                             stim)
    assert 0 < noisy["error_lsb"]["mean_abs"] and noisy["decisions_flipped"] >= 0
    with pytest.raises(ValueError, match="at least 1 bit"):
        _readout(c, analog.ReadPath(adc_bits=0))
    coarse = _readout(c, analog.ReadPath(spread=False, read_sigma=0.0, adc_bits=3))
    assert coarse.lsb > 1 and coarse.adc_bits == 3


@pytest.mark.parametrize("args, message", [
    (["--age", "1w"], "--age '1w'"),
    (["--age=-3d"], "--age '-3d'"),
    (["--adc-bits", "0"], "--adc-bits must be >= 1"),
])
def test_bad_options(small, tmp_path, capsys, args, message):
    c = small[0]
    assert main(["simulate", str(c.root), "--analog", *args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_directory_without_tiles(small, tmp_path, capsys):
    c, net, stim, steps = small
    bare = tmp_path / "bare"
    compile_network(net, bare, stimulus=stim, steps=steps, backends=(), quiet=True)
    assert main(["simulate", str(bare), "--analog", "--out", str(tmp_path / "o")]) == 2
    assert "has no crossbar tiles" in capsys.readouterr().err
    (c.root / "nothing").mkdir(exist_ok=True)
    assert main(["simulate", str(c.root / "nothing"), "--analog", "--out",
                 str(tmp_path / "o")]) == 2
    assert main(["verify", str(c.root), "--spice", "--age", "soon"]) == 2
    assert (c.root / TILES).is_file()


def test_verify_analog_passes_and_names_a_tampered_cell(small, tmp_path, capsys):
    c, net, stim, steps = small
    assert main(["verify", str(c.root), "--analog"]) == 0
    assert "PASS  analog: " in capsys.readouterr().out
    tampered = tmp_path / "t"
    shutil.copytree(c.root, tampered)
    tiles = Compiled.open(tampered).tiles()
    dev, _, _ = c.tile_params()
    t, r = np.argwhere(tiles["row_pre"] >= 0)[0]
    p = int(np.flatnonzero(tiles["col_post"][t] >= 0)[0])
    tiles["g"][t, r, 2 * p] += 2 * (dev.g_max - dev.g_min) / (dev.levels - 1)
    np.savez(tampered / TILES, **tiles)
    report = verify(tampered, analog=True)
    post = net.labels[int(tiles["col_post"][t, p])]
    assert not report["passed"]
    summary = report["checks"]["analog"]["summary"]
    assert f"neuron {post} (+2 weight units)" in summary, summary
    # not a default check: plain verify of a spice directory does not run it
    assert "analog" not in default_checks(Compiled.open(c.root))


def test_verify_analog_fails_on_a_lossy_level_map(small, tmp_path):
    _, net, stim, steps = small
    c = _compile(net, stim, steps, tmp_path / "rram", Device("rram", 1e-6, 100e-6, 16))
    report = verify(c.root, analog=True)
    assert not report["passed"]
    assert "lossy" in report["checks"]["analog"]["summary"]


@pytest.mark.skipif(shutil.which("ngspice") is None, reason="no ngspice")
def test_ngspice_crosscheck(small, tmp_path):
    _, net, stim, steps = small
    c = _compile(net, stim, steps, tmp_path / "w", exact_device(np.abs(net.weight).max()))
    out = tmp_path / "o"
    assert main(["simulate", str(c.root), "--analog", "--ngspice", "3", "--steps", "60",
                 "--out", str(out)]) == 0
    cross = json.loads((out / "fidelity.json").read_text())["ngspice_crosscheck"]
    assert cross["reads"] == 3 and all(rows >= 1 for _, _, rows in
                                       cross["read_step_tile_rows_on"])
    assert cross["max_error_solve_tile_digit_steps"] < 1e-3  # the solver is ngspice's DC
    assert cross["max_error_linear_model_digit_steps"] < 1.0
    assert main(["simulate", "builtin:celegans", "--steps", "5", "--ngspice", "2",
                 "--out", str(tmp_path / "m")]) == 2
