"""Tiles onto a TSV stack: capacity holds, and the partitioner beats random and in-order."""

from __future__ import annotations

import numpy as np
import pytest

from neuropaste.errors import InputError
from neuropaste.generators.crossbar import CrossbarOptions, pack
from neuropaste.generators.die_partition import stack_tiles
from neuropaste.generators.quantize import quantize
from neuropaste.generators.stack_spec import StackSpec
from neuropaste.io import load_map


@pytest.fixture(scope="module")
def celegans_tiles():
    net = quantize(load_map("builtin:celegans"))
    ts = pack(net, CrossbarOptions())
    return ts.store.row_pre, ts.store.col_post, net.n_neurons


@pytest.mark.parametrize("dies", [2, 4])
def test_partition_beats_random_and_in_order(celegans_tiles, dies: int) -> None:
    row_pre, col_post, n = celegans_tiles
    st = stack_tiles(row_pre, col_post, n, StackSpec(memory_dies=dies))
    assert max(st["tiles_per_die"]) <= st["tiles_per_die_capacity"]
    assert sum(st["tiles_per_die"]) == len(row_pre)
    for base in ("random", "in_order"):
        assert st["tsv_signals"] < st["baselines"][base]["tsv_signals"]
        assert st["tsv_segments"] < st["baselines"][base]["tsv_segments"]
    # the die with the most signals sits next to the logic die: interface 0 carries everything
    assert st["tsvs_per_interface"][0] == st["tsv_signals"]
    assert st["signals_per_die"] == sorted(st["signals_per_die"], reverse=True)
    again = stack_tiles(row_pre, col_post, n, StackSpec(memory_dies=dies))
    assert again["die_of_tile"] == st["die_of_tile"]  # deterministic


def test_limits_are_named(celegans_tiles) -> None:
    row_pre, col_post, n = celegans_tiles
    with pytest.raises(InputError, match="add memory dies or layers"):
        stack_tiles(row_pre, col_post, n, StackSpec(memory_dies=2, die_mm=0.02,
                                                    tsv_budget=10**6))
    with pytest.raises(InputError, match="budget is 10 per die"):  # noqa: PT012
        stack_tiles(row_pre, col_post, n, StackSpec(memory_dies=2, tsv_budget=10))


def test_stack_files_round_trip(tmp_path) -> None:
    import json

    from neuropaste.generators.stack_spec import load_stack, stack_to_dict

    toml = tmp_path / "stack.toml"
    toml.write_text('memory_dies = 4\nlayers = 8\ndie_area_mm2 = 144\ntsv_budget = 50000\n'
                    '[tsv]\ndiameter_um = 3\nheight_um = 30\npitch_um = 6\nliner_um = 0.2\n')
    spec = load_stack(toml)
    assert (spec.memory_dies, spec.layers, spec.die_mm, spec.tsv_budget) == (4, 8, 12.0, 50000)
    assert spec.tsv.diameter == pytest.approx(3e-6) and spec.tsv.pitch == pytest.approx(6e-6)
    assert spec.logic_dies == 1 and spec.tsv.liner == pytest.approx(0.2e-6)
    js = tmp_path / "stack.json"
    js.write_text(json.dumps(stack_to_dict(spec)))
    again = load_stack(js)
    assert again.tsv.pitch == pytest.approx(spec.tsv.pitch) and again.die_mm == spec.die_mm
    assert load_stack(js).budget() == 50000
    assert StackSpec().budget() == 250_000  # a quarter of a 10 mm die at 10 um pitch


@pytest.mark.parametrize("text, record", [
    ('memory_dies = 0', "memory_dies"),
    ('layers = "8"', "layers"),
    ('die_mm = -3', "die_mm"),
    ('die_mm = 10\ndie_area_mm2 = 100', "die_area_mm2"),
    ('wafer = 1', "wafer"),
    ('tsv_budget = 2000000', "tsv_budget"),
    ('[tsv]\npitch_um = 5', "tsv.pitch"),
    ('[tsv]\ndiameter = 5', "tsv.diameter"),
    ('[tsv]\nheight_um = true', "tsv.height_um"),
    ('memory_dies = [', None),
])
def test_bad_stack_files_name_file_and_record(tmp_path, text: str, record: str | None) -> None:
    from neuropaste.generators.stack_spec import load_stack

    path = tmp_path / "bad.toml"
    path.write_text(text + "\n")
    with pytest.raises(InputError) as err:
        load_stack(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    if record:
        assert err.value.record == record
    with pytest.raises(InputError, match=".json or .toml"):
        load_stack(path.rename(tmp_path / "bad.yaml"))


def test_rate_weighting_moves_traffic_off_the_interfaces(celegans_tiles) -> None:
    from neuropaste.generators.die_partition import TileFootprint, evaluate, hyperedges

    row_pre, col_post, n = celegans_tiles
    rates = np.random.default_rng(0).gamma(0.5, 0.2, n)  # a few fast neurons, many slow
    flat = stack_tiles(row_pre, col_post, n, StackSpec(memory_dies=4))
    weighted = stack_tiles(row_pre, col_post, n, StackSpec(memory_dies=4), rates)
    tiles = [TileFootprint(rows=r[r >= 0], cols=c[c >= 0], cells=0)
             for r, c in zip(row_pre, col_post, strict=True)]
    src, dst = hyperedges(tiles, n)
    flat_traffic = evaluate(np.array(flat["die_of_tile"]), 4, src, dst, rates, 2)
    assert weighted["traffic_weighted_by"] == "firing rates"
    assert weighted["spike_traffic_per_step"] < flat_traffic["spike_traffic_per_step"]
    for base in ("random", "in_order"):
        assert (weighted["spike_traffic_per_step"]
                < weighted["baselines"][base]["spike_traffic_per_step"])


def test_neurons_onto_two_logic_dies_cut_fewer_synapses_than_in_order() -> None:
    from neuropaste.generators.die_partition import assign_logic_dies

    net = quantize(load_map("builtin:celegans"))
    out = assign_logic_dies(net.pre, net.post, net.n_neurons, 2)
    assert sum(out["neurons_per_logic_die"]) == net.n_neurons
    assert min(out["neurons_per_logic_die"]) >= 0.45 * net.n_neurons  # balanced
    assert out["cut_synapses"] < out["baselines"]["in_order"]["cut_synapses"]
    assert out == assign_logic_dies(net.pre, net.post, net.n_neurons, 2)  # deterministic


def test_word_line_delay_uses_the_gates_and_old_files_still_load(celegans_tiles,
                                                                 tmp_path) -> None:
    """The manifest's word-line delay is vias + the tile's distributed line (r_wire per cell,
    one gate per cell); a stack file with the old c_load_fF key still loads, as extra load."""
    from neuropaste.devices import Electrical
    from neuropaste.generators.stack_spec import load_stack
    from neuropaste.netlists.tsv import elmore_delay, parasitics

    row_pre, col_post, n = celegans_tiles
    el = Electrical()
    line = (el.r_wire, el.c_gate, 64)
    got = stack_tiles(row_pre, col_post, n, StackSpec(memory_dies=2), word_line=line)
    tsv = parasitics()
    assert got["word_line_elmore_s_top_die"] == pytest.approx(
        elmore_delay(tsv, 2, 1000.0, 0.0, r_wire=el.r_wire, c_cell=el.c_gate, cells=64))
    assert got["word_line_elmore_s_top_die"] > 1.3 * elmore_delay(tsv, 2, 1000.0, 0.0)
    old = tmp_path / "old.toml"
    old.write_text("memory_dies = 2\nr_driver_ohm = 1000\nc_load_fF = 10\n")
    spec = load_stack(old)
    assert spec.c_load == pytest.approx(10e-15) and StackSpec().c_load == 0.0
    more = stack_tiles(row_pre, col_post, n, spec, word_line=line)
    assert more["word_line_elmore_s_top_die"] == pytest.approx(
        got["word_line_elmore_s_top_die"] + (1000.0 + 2 * tsv.r + 64 * el.r_wire) * 10e-15)


def test_tsv_counts_are_exact_on_a_small_stack() -> None:
    """evaluate's counts against a count by hand, net by net."""
    from neuropaste.generators.die_partition import Nets, evaluate

    rng = np.random.default_rng(4)
    src = Nets.of_pairs(rng.integers(0, 9, 60), rng.integers(0, 20, 60), 9)
    dst = Nets.of_pairs(rng.integers(0, 9, 30), rng.integers(0, 20, 30), 9)
    die = rng.integers(0, 3, 20)
    rates = rng.random(9)
    got = evaluate(die, 3, src, dst, rates, columns_per_target=2)
    up = [sum(1 for i in range(9) if (die[src[i]] == d).any()) for d in range(3)]
    down = [2 * sum(1 for i in range(9) if (die[dst[i]] == d).any()) for d in range(3)]
    assert got["signals_per_die"] == [u + v for u, v in zip(up, down, strict=True)]
    assert got["spike_traffic_per_step"] == pytest.approx(
        sum(rates[i] * len(set(die[src[i]].tolist())) for i in range(9)))


def test_refinement_sees_only_the_nets_it_can_improve() -> None:
    """One-pin nets and nets spread over every die of the start are left out; identical short
    nets become one, their weights summed."""
    from neuropaste.generators.die_partition import SPREAD_PINS, Nets, informative

    start = np.repeat(np.arange(4), 2 * SPREAD_PINS)  # 4 dies of 2 * SPREAD_PINS nodes
    spread = np.arange(len(start))  # every node: SPREAD_PINS or more on every die
    nets = [[3], [1, 9], spread, [1, 9], [0, 1, 2]]
    owner = np.concatenate([np.full(len(p), i) for i, p in enumerate(nets)])
    kept, w = informative(Nets.of_pairs(owner, np.concatenate(nets), len(nets)),
                          np.array([5, 1, 7, 2, 3]), start, 4)
    assert sorted((kept[i].tolist(), int(w[i])) for i in range(kept.n)) == [
        ([0, 1, 2], 3), ([1, 9], 3)]


def test_coarse_partition_is_deterministic_and_no_worse_than_in_order(celegans_tiles,
                                                                       monkeypatch) -> None:
    """Past COARSE_NODES tiles the partition runs on clusters of consecutive tiles and on the
    informative nets only; the TSVs are still counted on every net."""
    import neuropaste.generators.die_partition as dp

    row_pre, col_post, n = celegans_tiles
    fine = stack_tiles(row_pre, col_post, n, StackSpec(memory_dies=4))
    monkeypatch.setattr(dp, "COARSE_NODES", 13)
    coarse = stack_tiles(row_pre, col_post, n, StackSpec(memory_dies=4))
    assert coarse["tsv_signals"] <= coarse["baselines"]["in_order"]["tsv_signals"]
    assert coarse["tsv_signals"] <= 1.1 * fine["tsv_signals"]
    assert max(coarse["tiles_per_die"]) <= coarse["tiles_per_die_capacity"]
    assert stack_tiles(row_pre, col_post, n, StackSpec(memory_dies=4)) == coarse
