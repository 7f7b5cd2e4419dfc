"""Bit slicing (devices.Encoding) through the level map, the backend, the spice proof's decoding
and the analog loop: docs/fidelity.md "Encodings"."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuropaste.cli import main
from neuropaste.compiled import TILES, Compiled
from neuropaste.devices import Encoding, digits_of, load_device, weight_levels, weight_per_level
from neuropaste.sim import analog
from neuropaste.verify.spice import Defects, check_weights, combine_slices, decode_levels

RRAM = load_device("rram")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-511, 511), min_size=1, max_size=40),
       st.sampled_from([(5, 4), (3, 8), (2, 64), (9, 2)]))
def test_sliced_level_map_is_lossless_and_decodes(weights, shape):
    w = np.array(weights, np.int64)
    w_max = max(int(np.abs(w).max()), 1)
    enc = Encoding(*shape).check(RRAM)
    k = weight_levels(w, w_max, RRAM, enc)
    assert np.array_equal(k * weight_per_level(w_max, RRAM, enc), w)  # lossless
    cells = digits_of(k, RRAM, enc)  # device levels per slice
    assert cells.max(initial=0) <= RRAM.weight_levels - 1
    assert np.all(cells % enc.step(RRAM) == 0)
    signed = np.sign(k)[:, None] * cells
    assert np.array_equal(np.rint(combine_slices(signed.reshape(1, -1), RRAM, enc)).ravel(), k)


def test_digit_levels_must_divide_the_device_steps(capsys):
    with pytest.raises(Exception, match="whole number"):
        Encoding(2, 16).check(RRAM)  # 63 steps are not a multiple of 15
    assert main(["compile", "builtin:celegans", "--backends", "spice", "--slices", "3",
                 "--digit-levels", "5", "--out", "/tmp/never"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--digit-levels 5" in err[0]
    assert main(["compile", "builtin:celegans", "--backends", "rtl", "--slices", "3",
                 "--out", "/tmp/never"]) == 2


@pytest.fixture(scope="module")
def sliced(tmp_path_factory):
    out = tmp_path_factory.mktemp("sliced") / "ce"
    assert main(["compile", "builtin:celegans", "--backends", "spice", "--slices", "5",
                 "--digit-levels", "4", "--steps", "300", "--out", str(out)]) == 0
    return out


def test_sliced_tiles_decode_to_the_network(sliced):
    cd = Compiled.open(sliced)
    enc, (dev, _, info) = cd.encoding(), cd.tile_params()
    assert (enc.slices, enc.digits(dev)) == (5, 4)
    tiles = cd.tiles()
    assert np.array_equal(tiles["col_slice"][0][:10], np.arange(10) % 5)
    level, bad = decode_levels(tiles["g"], dev, enc)
    assert not bad.any()
    net = cd.network()
    w_max = int(np.abs(net.weight).max())
    assert sorted(np.abs(level[level != 0]).tolist()) == sorted(
        np.abs(weight_levels(net.weight, w_max, dev, enc)).tolist())
    assert info["stats"]["encoding"]["lossless"] and info["stats"]["encoding"][
        "cells_per_synapse"] == 10


def test_identity_and_realistic_path_on_sliced_rram(sliced, tmp_path):
    """Ideal reads reproduce the reference (verify --analog passes on the rram preset itself),
    and the default realistic path stays LSB-exact: the issue's rram 64 x 64 target."""
    assert main(["verify", str(sliced), "--analog"]) == 0
    out = tmp_path / "a"
    assert main(["simulate", str(sliced), "--analog", "--out", str(out)]) == 0
    fid = json.loads((out / "fidelity.json").read_text())
    assert fid["open_loop"]["lsb_exact_fraction"] >= 0.999
    assert fid["closed_loop"]["recall_same_step"] >= 0.99
    assert fid["scaling"]["programming"]["mode"] == "in-array"


def test_in_array_programming_is_what_keeps_it_exact(sliced):
    cd = Compiled.open(sliced)
    net, stim = cd.network(), cd.stimulus(cd.network().labels)
    dev, el, _ = cd.tile_params()
    ref = cd.reference(net.labels, 300)
    w_max = int(np.abs(net.weight).max())
    figs = {}
    for mode in ("in-array", "cell"):
        rd = analog.prepare(cd.tiles(), dev, el, w_max, analog.ReadPath(spread=False,
                            read_sigma=0.0), cd.encoding(), mode)
        figs[mode] = analog.open_loop(net, rd, ref, stim)["lsb_exact_fraction"]
    assert figs["in-array"] == 1.0 and figs["cell"] < 0.99


def test_a_high_slice_cell_one_digit_off_fails_both_proofs(sliced, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(sliced, bad)
    cd = Compiled.open(bad)
    dev, enc = cd.tile_params()[0], cd.encoding()
    data = cd.tiles()
    t, r, p = np.argwhere((data["g"][:, :, 0::2] > dev.g_min * 1.5)
                          & (data["col_slice"][:, None, :] == 2))[0]
    step = (dev.g_max - dev.g_min) / (dev.levels - 1) * enc.step(dev)
    data["g"][t, r, 2 * p] += step * (1 if data["g"][t, r, 2 * p] + step <= dev.g_max else -1)
    np.savez(bad / TILES, **data)
    assert main(["verify", str(bad), "--analog"]) == 1
    summary = json.loads((bad / "verify.json").read_text())["checks"]["analog"]["summary"]
    assert "8 weight units" in summary  # 4 ** 2 levels of slice 2, m = 2 levels per unit
    defects = Defects()
    check_weights(cd.network(), dev, cd.tiles(), defects, enc)
    assert any("holds level" in m and "maps to level" in m for m in defects.messages)


def test_report_section_names_this_run_and_the_sweep(sliced):
    from neuropaste.verify.analog import fidelity, fidelity_html

    cd = Compiled.open(sliced)
    _, fid = fidelity(cd, analog.ReadPath(), 100, cd.stimulus(cd.network().labels))
    page = fidelity_html(fid)
    assert f"{fid['open_loop']['lsb_exact_fraction']:.4%}" in page
    assert "bit slicing: 5 slices of 4 levels" in page
    assert "Which memory to paste into" in page and "pcm 1y" in page  # the shipped sweep


def test_a_swapped_slice_map_fails_the_decoding(sliced):
    """tiles.npz's col_slice is part of the artifact: two pairs' slices swapped is a defect."""
    cd = Compiled.open(sliced)
    dev, enc, data = cd.tile_params()[0], cd.encoding(), cd.tiles()
    data["col_slice"] = data["col_slice"].copy()
    data["col_slice"][0, [0, 1]] = data["col_slice"][0, [1, 0]]
    defects = Defects()
    check_weights(cd.network(), dev, data, defects, enc)
    assert any("tile 0 pair 0 holds slice 1" in m for m in defects.messages)
