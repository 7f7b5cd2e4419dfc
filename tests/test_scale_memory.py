"""The compiler's memory savings at scale give the bytes the plain computations gave: packing
walked in groups of column blocks, narrow tables at their bounds, weight errors from the
weight histogram, die nets by flag tables, npz written in chunks, fan-in bound in blocks."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace

import numpy as np
import pytest

import neuropaste.generators.crossbar as crossbar
from neuropaste.cmap import ConnectivityMap
from neuropaste.devices import Encoding, load_device, weight_levels, weight_per_level
from neuropaste.generators.crossbar import CrossbarOptions, pack
from neuropaste.generators.die_partition import Nets, coarsen, tile_hyperedges
from neuropaste.generators.quantize import quantize
from neuropaste.ir import Network, write_npz
from neuropaste.netlists.stack_netlist import die_nets


def _net(seed: int, n: int = 300, e: int = 6000, max_delay: int = 5, w_bits: int = 8
         ) -> Network:
    rng = np.random.default_rng(seed)
    pre = rng.integers(0, n, e)
    post = np.clip(pre + rng.integers(-20, 21, e), 0, n - 1)
    cmap = ConnectivityMap.build([f"x{i}" for i in range(n)], pre, post, rng.normal(0, 1, e),
                                 rng.integers(1, max_delay + 1, e))
    from neuropaste.neuron import QuantOptions
    return quantize(cmap, QuantOptions(w_bits=w_bits))


def _store_arrays(ts) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in ts.store.arrays().items()}


@pytest.mark.parametrize("compact", [True, False])
def test_packing_in_groups_of_blocks_is_the_packing_in_one(monkeypatch, compact: bool) -> None:
    net = _net(1)
    opts = CrossbarOptions(tile_rows=16, tile_cols=20, compact_rows=compact)
    whole = pack(net, opts)
    monkeypatch.setattr(crossbar, "GATHER", 7)  # a group per few blocks: many walks
    grouped = pack(net, opts)
    assert whole.stats == grouped.stats
    a, b = _store_arrays(whole), _store_arrays(grouped)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k
    # every synapse once, where the records say, with its weight
    st = whole.store
    held = {(int(st.row_pre[t, r]), int(st.row_delay[t, r]),
             int(st.col_post[t, p * st.slices])): int(w)
            for t, r, p, w in zip(st.syn_tile, st.syn_row, st.syn_post, st.syn_weight,
                                  strict=True)}
    assert held == {(int(p), int(d), int(q)): int(w) for p, q, d, w in
                    zip(net.pre, net.post, net.delay, net.weight, strict=True)}
    order = np.lexsort((st.syn_post, st.syn_row, st.syn_tile))
    assert np.array_equal(order, np.arange(len(order)))  # tile, row, column order


def test_the_longest_delay_and_the_widest_weight_fit_the_narrow_tables() -> None:
    """Delay 32767 (the int16 bound of delays) in row_delay, 2^15 - 1 weights in int32 records,
    and row keys pre * 32768 + delay computed wide: nothing wraps."""
    n, d_max = 40, np.iinfo(np.int16).max
    rng = np.random.default_rng(2)
    pre, post = rng.integers(0, n, 400), rng.integers(0, n, 400)
    delay = np.where(np.arange(400) % 2, d_max, 1)
    from neuropaste.neuron import QuantOptions
    net = quantize(ConnectivityMap.build([f"x{i}" for i in range(n)], pre, post,
                                         rng.normal(0, 1, 400), delay),
                   QuantOptions(w_bits=16, v_bits=32))
    assert net.max_delay == d_max and np.abs(net.weight).max() == 2**15 - 1
    st = pack(net, CrossbarOptions(tile_rows=8, tile_cols=8)).store
    assert st.row_delay.dtype == np.int16 and st.row_delay.max() == d_max
    held = sorted(zip(st.row_pre[st.syn_tile, st.syn_row].tolist(),
                      st.row_delay[st.syn_tile, st.syn_row].tolist(),
                      st.syn_weight.tolist(), strict=True))
    assert held == sorted(zip(net.pre.tolist(), net.delay.tolist(), net.weight.tolist(),
                              strict=True))
    wl, _ = die_nets(st.row_pre, st.row_delay, st.col_post, list(range(st.n_tiles)),
                     st.col_slice)
    assert set(map(tuple, wl.tolist())) == set(zip(net.pre.tolist(), net.delay.tolist(),
                                                   strict=True))


@pytest.mark.parametrize("histogram", [True, False])
def test_weight_errors_are_the_bytes_of_the_full_array(monkeypatch, histogram: bool) -> None:
    dev, enc = load_device("pcm"), Encoding(1, 0)  # lossy: 2^12 weights on fewer levels
    rng = np.random.default_rng(3)
    w = rng.integers(-2047, 2048, 50_001).astype(np.int32)
    w_max = int(np.abs(w).max())
    k = weight_levels(w, w_max, dev, enc)
    per = weight_per_level(w_max, dev, enc)
    err = np.abs(k * per - w)
    if not histogram:
        monkeypatch.setattr(crossbar, "HISTOGRAM_VALUES", 1)
    got = crossbar._level_errors(w, w_max, dev, enc, block=3 * np.getbufsize())
    assert got["max"] == float(err.max()) > 0
    assert got["mean"] == float(err.mean())  # bit for bit, blocks or not
    assert got["raised"] == int(((k != 0) & (np.rint(np.abs(w) / per) == 0)).sum())


def test_tile_weights_by_synapse_ranges_match_the_mask() -> None:
    st = pack(_net(4), CrossbarOptions(tile_rows=16, tile_cols=16)).store
    assert st.tile_ordered
    every = st.weights()
    pick = np.array([3, 0, st.n_tiles - 1, 3])
    assert np.array_equal(st.weights(pick), every[pick])
    perm = np.random.default_rng(0).permutation(len(st.syn_tile))
    shuffled = replace(st, **{k: getattr(st, k)[perm] for k in
                              ("syn_tile", "syn_row", "syn_post", "syn_weight")})
    assert not shuffled.tile_ordered
    assert np.array_equal(shuffled.weights(pick), every[pick])


def test_die_nets_and_tile_nets_match_sets_of_the_table() -> None:
    st = pack(_net(5), CrossbarOptions(tile_rows=16, tile_cols=16)).store
    tiles = list(range(1, st.n_tiles, 2))
    wl, cl = die_nets(st.row_pre, st.row_delay, st.col_post, tiles, st.col_slice)
    rows = {(int(p), int(d)) for t in tiles for p, d in zip(st.row_pre[t], st.row_delay[t],
                                                           strict=True) if p >= 0}
    cols = {(int(p), 2 * int(s) + side) for t in tiles
            for p, s in zip(st.col_post[t], st.col_slice[t], strict=True) if p >= 0
            for side in (0, 1)}
    assert [tuple(x) for x in wl.tolist()] == sorted(rows)
    assert [tuple(x) for x in cl.tolist()] == sorted(cols)
    src, _ = tile_hyperedges(st.row_pre, st.col_post, 300)
    used = np.flatnonzero(st.row_pre.ravel() >= 0)
    plain = Nets.of_pairs(st.row_pre.ravel()[used], used // st.rows, 300)
    assert np.array_equal(src.ptr, plain.ptr) and np.array_equal(src.pins, plain.pins)
    fine, _ = coarsen(src, st.n_tiles, 5)
    ref = Nets.of_pairs(src.owner(), src.pins // 5, src.n)
    assert np.array_equal(fine.ptr, ref.ptr) and np.array_equal(fine.pins, ref.pins)
    part = np.arange(st.n_tiles) % 3
    assert np.array_equal(src.pins_per_part(part, 3), np.bincount(
        src.owner() * 3 + part[src.pins], minlength=src.n * 3).reshape(src.n, 3))


def test_npz_written_in_chunks_is_the_one_shot_file(monkeypatch, tmp_path) -> None:
    rng = np.random.default_rng(6)
    arrays = {"a": rng.integers(0, 9, 10_000).astype(np.int32), "b": np.zeros((0, 4), np.int16),
              "c": np.asfortranarray(rng.random((30, 7))), "s": np.array("x" * 50),
              "d": rng.random((50, 3, 8)) < 0.5}
    one_shot = io.BytesIO()
    with zipfile.ZipFile(one_shot, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            zf.writestr(info, buf.getbuffer(), compresslevel=1)
    import neuropaste.ir as ir
    monkeypatch.setattr(ir, "NPZ_CHUNK", 999)
    write_npz(tmp_path / "x.npz", arrays)
    assert (tmp_path / "x.npz").read_bytes() == one_shot.getvalue()


def test_fan_in_bound_in_blocks_is_the_whole_sum() -> None:
    net = _net(7, w_bits=12)
    whole = np.bincount(net.post, weights=np.abs(net.weight).astype(np.float64),
                        minlength=net.n_neurons).astype(np.int64) + np.abs(net.bias) \
        + abs(int(net.stim_weight))
    assert np.array_equal(net.fan_in_bound(block=97), whole)


def test_reference_tables_past_16_bit_weights_run_the_same_network() -> None:
    """The delivery table holds int16 weights when they fit, int32 past them: a network and
    its copy with every quantity x8 (no leak, so the dynamics scale exactly; weights now
    past 2^15) spike alike."""
    from neuropaste.events import poisson
    from neuropaste.reference import simulate

    net = _net(8, w_bits=14)
    net = net.replace(leak_shift=np.zeros(net.n_neurons, np.uint8))
    wide = net.replace(weight=net.weight * 8, threshold=net.threshold * 8,
                       v_reset=net.v_reset * 8, bias=net.bias * 8,
                       stim_weight=net.stim_weight * 8, w_bits=net.w_bits + 3,
                       v_bits=net.v_bits + 3, acc_bits=net.acc_bits + 3)
    assert np.abs(wide.weight).max() >= 2**15 > np.abs(net.weight).max()
    stim = poisson(net.n_neurons, 60, 0.05, 1)
    a, b = simulate(net, 60, stim), simulate(wide, 60, stim)
    assert len(a.step) > 20
    assert np.array_equal(a.step, b.step) and np.array_equal(a.neuron, b.neuron)
