"""Tamper tests of ``verify --spice``: each mutates the artifact (a tile netlist or tiles.npz,
never network.npz), and the proof must FAIL with a message that points at the defect."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from neuropaste.cmap import ConnectivityMap
from neuropaste.compile import compile_map
from neuropaste.compiled import TILES, Compiled, tile_netlist
from neuropaste.errors import InputError
from neuropaste.events import poisson
from neuropaste.generators.crossbar import CrossbarOptions
from neuropaste.verify.spice import verify

pytestmark = pytest.mark.skipif(shutil.which("ngspice") is None, reason="no ngspice")


def _compile(out: Path, n: int = 40, k: int = 200) -> Path:
    rng = np.random.default_rng(0)
    cmap = ConnectivityMap.build([f"n{i}" for i in range(n)], rng.integers(0, n, k),
                                 rng.integers(0, n, k), rng.normal(0, 1, k),
                                 rng.integers(1, 3, k))
    compile_map(cmap, out, stimulus=poisson(n, 5, 0.2, 0), steps=5, backends=("spice",),
                quiet=True, backend_options={"spice": CrossbarOptions(tile_rows=8, tile_cols=8)})
    return out


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _compile(tmp_path_factory.mktemp("spice") / "c")


@pytest.fixture
def compiled(pristine: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "c"))


def _verify(path: Path, tiles: int | None = None) -> dict:
    return verify(path, tiles=tiles, workers=1, progress=False)


def _store(path: Path) -> dict[str, np.ndarray]:
    return Compiled.open(path).tiles()


def _save_store(path: Path, data: dict[str, np.ndarray]) -> None:
    np.savez(path / TILES, **data)


def _set_cell(path: Path, t: int, i: int, j: int, ohms: float) -> None:
    f = path / tile_netlist(t)
    text, count = re.subn(rf"(?m)^(Rg{i}_{j} m{i}_{j} c{i}_{j}) \S+$",
                          rf"\g<1> {float(ohms)!r}", f.read_text())
    assert count == 1
    f.write_text(text)


def _busiest_pair(data: dict[str, np.ndarray]) -> tuple[int, int, int]:
    """(tile, row, pair) of the strongest G+ cell."""
    t, i, c = np.unravel_index(int(np.argmax(data["g"][..., 0::2])), data["g"][..., 0::2].shape)
    return int(t), int(i), int(c)


def test_untouched_artifact_passes(compiled: Path) -> None:
    r = _verify(compiled)
    assert r["passed"], r["summary"]
    assert r["defects_total"] == 0 and r["tiles_ngspice"] == r["tiles_total"] > 5
    assert r["weights"]["synapses_equal"] == r["weights"]["synapses_network"] > 100
    assert r["max_err_network_fs"] < 1e-6
    assert r["min_source_bulk_reverse_bias_V"] >= 0  # junctions reverse biased
    assert "not representable" in r["summary"]


def test_netlist_cell_three_times_weaker_fails(compiled: Path) -> None:
    data = _store(compiled)
    t, i, j = _busiest_pair(data)
    _set_cell(compiled, t, i, 2 * j, 3.0 / data["g"][t, i, 2 * j])
    r = _verify(compiled)
    assert not r["passed"]
    assert f"{tile_netlist(t)}: memory cell rg{i}_{2 * j} is" in r["summary"]
    # ngspice on the file sees it too, independently of the text comparison
    assert any("ngspice column" in d and tile_netlist(t) in d for d in r["defects"])


def test_netlist_pair_swapped_fails(compiled: Path) -> None:
    data = _store(compiled)
    t, i, j = _busiest_pair(data)
    gp, gn = data["g"][t, i, 2 * j], data["g"][t, i, 2 * j + 1]
    _set_cell(compiled, t, i, 2 * j, 1.0 / gn)
    _set_cell(compiled, t, i, 2 * j + 1, 1.0 / gp)
    r = _verify(compiled)
    assert not r["passed"]
    assert f"memory cell rg{i}_{2 * j} is" in r["summary"]
    assert any(f"rg{i}_{2 * j + 1}" in d for d in r["defects"])
    assert any("ngspice column" in d for d in r["defects"])


def test_store_every_pair_swapped_fails_as_sign_flips(compiled: Path) -> None:
    data = _store(compiled)
    g = data["g"].copy()
    g[..., 0::2], g[..., 1::2] = data["g"][..., 1::2], data["g"][..., 0::2]
    _save_store(compiled, {**data, "g": g})
    r = _verify(compiled)
    assert not r["passed"]
    assert re.search(r"synapse n\d+ -> n\d+ delay \d: tile \d+ row \d+ pair \d+ holds level "
                     r"-?\d+, the network's weight -?\d+ maps to level -?\d+ \(sign flipped\)",
                     r["summary"]), r["summary"]
    assert r["weights"]["wrong_level"] == r["weights"]["synapses_network"]
    # the netlists (untouched) no longer agree with the store either
    assert any("memory cell" in d for d in r["defects"])


def test_netlist_replaced_by_garbage_fails(compiled: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    (compiled / tile_netlist(3)).write_text("garbage\n")
    r = _verify(compiled)
    assert not r["passed"]
    assert r["summary"].startswith(f"{tile_netlist(3)}: first line 'garbage' is not")
    assert any(f"{tile_netlist(3)}: " in d and "elements missing" in d for d in r["defects"])
    assert any(f"{tile_netlist(3)}: not run in ngspice" in d for d in r["defects"])
    from neuropaste.cli import main

    assert main(["verify", str(compiled), "--spice", "--workers", "1"]) == 1
    assert f"FAIL  spice: {tile_netlist(3)}: first line 'garbage'" in capsys.readouterr().out


def test_netlist_extra_element_fails(compiled: Path) -> None:
    f = compiled / tile_netlist(1)
    f.write_text(f.read_text().replace("\n.model", "\nRshunt c0_0 0 1000\n.model"))
    r = _verify(compiled)
    assert not r["passed"]
    assert f"{tile_netlist(1)}: 1 elements not in a tile netlist (first rshunt" in r["summary"]


def test_store_weight_moved_to_another_column_fails(compiled: Path) -> None:
    data = _store(compiled)
    g, post = data["g"].copy(), data["col_post"]
    level = np.abs(g[..., 0::2] - g[..., 1::2]) > 1e-9
    # a row with a synapse in pair j and an empty, mapped pair k
    t, i, j, k = next((t, i, j, empty[0]) for t, i, j in np.argwhere(level).tolist()
                      if (empty := [k for k in range(level.shape[2])
                                    if not level[t, i, k] and post[t, k] >= 0]))
    g[t, i, 2 * k:2 * k + 2] = data["g"][t, i, 2 * j:2 * j + 2]
    g[t, i, 2 * j:2 * j + 2] = data["g"].min()  # G_min on both sides: no synapse left there
    _save_store(compiled, {**data, "g": g})
    r = _verify(compiled)
    assert not r["passed"]
    net = Compiled.open(compiled).network()
    src = net.labels[post[t, j]]
    assert f"tiles.npz: tile {t} row {i} pair {k} holds level" in r["summary"]
    assert f"(moved from post {src}?)" in r["summary"]
    assert any("is missing from the tiles" in d and f"-> {src} delay" in d
               for d in r["defects"])


def test_tiles_zero_is_a_usage_error(compiled: Path) -> None:
    with pytest.raises(InputError, match="--tiles must be >= 1"):
        _verify(compiled, tiles=0)
    from neuropaste.cli import main

    assert main(["verify", str(compiled), "--spice", "--tiles", "0"]) == 2


def test_map_without_tiles_checks_nothing_and_fails(tmp_path: Path) -> None:
    cmap = ConnectivityMap.build(["a", "b", "c"], np.zeros(0, int), np.zeros(0, int),
                                 np.zeros(0), np.zeros(0, int))
    out = tmp_path / "e"
    compile_map(cmap, out, stimulus=poisson(3, 5, 0.2, 0), steps=5, backends=("spice",),
                quiet=True, backend_options={"spice": CrossbarOptions(tile_rows=8, tile_cols=8)})
    r = _verify(out)
    assert not r["passed"] and r["summary"].startswith("nothing to check: the map has no tiles")


def test_sampled_tiles_still_check_every_netlist_and_weight(compiled: Path) -> None:
    (compiled / tile_netlist(2)).write_text("garbage\n")
    r = _verify(compiled, tiles=1)
    assert not r["passed"] and r["tiles_ngspice"] <= 1
    assert any(f"{tile_netlist(2)}: first line" in d for d in r["defects"])


def test_netlist_extra_control_card_fails(compiled: Path) -> None:
    f = compiled / tile_netlist(0)
    f.write_text(f.read_text().replace("\n.model", "\n.options gmin=1e-3\n.model"))
    r = _verify(compiled)
    assert not r["passed"]
    assert f"{tile_netlist(0)}: line " in r["summary"]
    assert "unexpected control card '.options gmin=1e-3'" in r["summary"]


def test_equivalent_spelling_of_the_same_netlist_passes(compiled: Path) -> None:
    """The comparison is of circuits, not bytes: SPICE suffixes, case, continuation lines,
    inline comments and extra comment lines read the same in ngspice, so they pass."""
    data = _store(compiled)
    t, i, j = _busiest_pair(data)
    f = compiled / tile_netlist(t)
    text = f.read_text()
    ohms = 1.0 / data["g"][t, i, 2 * j]
    text, n = re.subn(rf"(?m)^Rg{i}_{j * 2} m{i}_{j * 2} c{i}_{j * 2} \S+$",
                      f"RG{i}_{2 * j} M{i}_{2 * j}\n+ c{i}_{2 * j} {float(ohms) / 1e3!r}k ; cell",
                      text)
    assert n == 1
    f.write_text(text.replace("\n.model", "\n* a reviewer's note\n.model"))
    r = _verify(compiled)
    assert r["passed"], r["summary"]


def test_device_record_edited_fails(compiled: Path) -> None:
    import json

    from neuropaste.compiled import TILES_INFO

    info = json.loads((compiled / TILES_INFO).read_text())
    info["params"]["device"]["g_max"] *= 2
    (compiled / TILES_INFO).write_text(json.dumps(info))
    r = _verify(compiled)
    assert not r["passed"]
    assert r["summary"].startswith("spice/tiles.json: its device differs from the one the "
                                   "manifest records")
    # the store's conductances follow from its weights through the device: the netlists,
    # written with the true device, no longer match what the edited record programs
    assert any("tiles.npz programs" in d for d in r["defects"])


def test_sparse_weight_record_edited_fails_naming_the_synapse(compiled: Path) -> None:
    """The store keeps per-synapse weights and derives conductances from them: one weight
    record moved by a unit in tiles.npz fails against the network, naming its place."""
    from dataclasses import replace

    from neuropaste.ir import write_npz

    store = Compiled.open(compiled).tile_store()
    w = store.syn_weight.copy()
    w[0] += 1 if w[0] > 0 else -1
    write_npz(compiled / TILES, replace(store, syn_weight=w).arrays())
    r = _verify(compiled, tiles=1)
    assert not r["passed"]
    t, row, p = int(store.syn_tile[0]), int(store.syn_row[0]), int(store.syn_post[0])
    assert any(re.match(rf"tiles\.npz: weight table tile {t} row {row} pair "
                        rf"{p * store.slices} says {w[0]}, the network has {store.syn_weight[0]}",
                        d) for d in r["defects"]), r["defects"]
