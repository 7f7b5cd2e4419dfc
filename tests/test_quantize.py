"""The quantizer against docs/semantics.md section 1: scale, rounding, widths, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neuropaste.cmap import ConnectivityMap
from neuropaste.generators.quantize import quantize
from neuropaste.ir import signed_range
from neuropaste.neuron import QuantOptions, leak_shift_for_tau


def random_map(n: int = 50, e: int = 600, seed: int = 0) -> ConnectivityMap:
    rng = np.random.default_rng(seed)
    return ConnectivityMap.build([f"x{i}" for i in range(n)], rng.integers(0, n, e),
                                 rng.integers(0, n, e), rng.normal(0, 2, e), rng.integers(1, 4, e))


def test_scale_puts_the_largest_weight_at_full_range() -> None:
    cmap = ConnectivityMap.build(["a", "b", "c"], [0, 1, 2], [1, 2, 0], [2.0, -4.0, 0.5])
    net = quantize(cmap, QuantOptions(w_bits=8))
    assert net.quantization["scale"] == pytest.approx(127 / 4.0)
    # canonical order (pre, post, delay): 0->1 (2.0), 1->2 (-4.0), 2->0 (0.5); rint is half-even
    assert net.weight.tolist() == [64, -127, 16]


def test_rounding_error_bound_and_zeroed_count() -> None:
    cmap = random_map()
    net = quantize(cmap, QuantOptions(w_bits=6))
    q = net.quantization
    assert q["max_abs_error"] <= 0.5 / q["scale"] + 1e-12
    assert np.abs(net.weight).max() == 31
    expected_zero = int(np.count_nonzero(np.rint(cmap.weight * q["scale"]) == 0))
    assert q["zeroed_synapses"] == expected_zero == cmap.n_synapses - net.n_synapses
    assert expected_zero > 0  # the case is not vacuous
    err = np.clip(np.rint(cmap.weight * q["scale"]), -31, 31) / q["scale"] - cmap.weight
    assert q["rms_relative_error"] == pytest.approx(np.linalg.norm(err) / np.linalg.norm(
        cmap.weight))


def test_clip_percentile_saturates_the_largest_weights() -> None:
    cmap = random_map(seed=3)
    net = quantize(cmap, QuantOptions(w_bits=6, clip_percentile=90.0))
    q = net.quantization
    assert np.abs(net.weight).max() == 31
    over = int(np.count_nonzero(np.abs(cmap.weight) * q["scale"] > 31.5))
    assert q["clipped_synapses"] == over > 0
    assert int(np.count_nonzero(np.abs(net.weight) == 31)) >= over


def test_acc_bits_bounds_the_worst_case_and_is_minimal() -> None:
    for seed in range(4):
        net = quantize(random_map(seed=seed), QuantOptions(w_bits=8, bias=1.0))
        worst = int(net.fan_in_bound().max())
        # the worst case is the all-same-sign sum of a neuron's synapses, bias and one event
        w = np.abs(net.weight.astype(np.int64))
        by_hand = np.bincount(net.post, weights=w, minlength=net.n_neurons) + np.abs(net.bias)
        assert worst == int(by_hand.max()) + abs(net.stim_weight)
        assert worst <= signed_range(net.acc_bits)[1]
        assert worst > signed_range(net.acc_bits - 1)[1]


def test_neuron_parameters_from_options_and_from_the_map() -> None:
    cmap = random_map()
    opts = QuantOptions(w_bits=8, threshold=3.0, v_reset=-1.0, bias=0.5, refractory=4, tau=16)
    net = quantize(cmap, opts)
    s = net.quantization["scale"]
    assert np.all(net.threshold == np.rint(3.0 * s))
    assert np.all(net.v_reset == np.rint(-1.0 * s))
    assert np.all(net.bias == np.rint(0.5 * s))
    assert np.all(net.refractory == 4) and np.all(net.leak_shift == 4)
    assert net.stim_weight == net.threshold.max()
    # per-neuron values in the map win over the options; NaN falls back to them
    thr = np.full(cmap.n_neurons, np.nan)
    thr[0] = 1.0
    from dataclasses import replace

    net2 = quantize(replace(cmap, params={"v_threshold": thr}), QuantOptions(w_bits=8))
    med = float(np.median(np.abs(cmap.weight)))
    assert net2.threshold[0] == np.rint(1.0 * net2.quantization["scale"])
    assert net2.threshold[1] == np.rint(16 * med * net2.quantization["scale"])


def test_leak_shift_rule() -> None:
    k = leak_shift_for_tau(np.array([1.0, 2.0, 8.0, 11.0, 12.0, 1e9, math.inf]), v_bits=16)
    assert k.tolist() == [1, 1, 3, 3, 4, 15, 0]


def test_threshold_too_wide_for_membrane() -> None:
    cmap = ConnectivityMap.build(["a", "b"], [0], [1], [1.0])
    with pytest.raises(ValueError, match="v-bits"):
        quantize(cmap, QuantOptions(threshold=1000.0, v_bits=8))
    # scale 511 (w_bits 10): threshold 1.0 -> 511, exactly the top of a 10-bit membrane
    assert quantize(cmap, QuantOptions(threshold=1.0, v_bits=10)).threshold.max() == 511
    with pytest.raises(ValueError, match="does not fit a 10-bit membrane"):
        quantize(cmap, QuantOptions(threshold=1.01, v_bits=10))
