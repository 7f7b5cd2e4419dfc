"""Tiles onto a TSV stack: capacity holds, and the partitioner beats random and in-order."""

from __future__ import annotations

import numpy as np
import pytest
from neuropaste.generators.crossbar import CrossbarOptions, pack
from neuropaste.generators.quantize import quantize
from neuropaste.generators.stack import StackSpec, stack_tiles

from neuropaste.errors import InputError
from neuropaste.io import load_map


@pytest.fixture(scope="module")
def celegans_tiles():
    net = quantize(load_map("builtin:celegans"))
    ts = pack(net, CrossbarOptions())
    return np.stack(ts.row_pre), np.stack(ts.col_post), net.n_neurons


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
