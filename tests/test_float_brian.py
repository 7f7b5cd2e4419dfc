"""Float mode against an independent simulator (Brian2) and against closed-form cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neuropaste.cmap import ConnectivityMap
from neuropaste.events import Stimulus, poisson
from neuropaste.generators.quantize import quantize
from neuropaste.io import load_map
from neuropaste.neuron import QuantOptions
from neuropaste.reference import simulate
from neuropaste.sim.float_model import simulate_float

brian2 = pytest.importorskip("brian2")


def test_float_mode_equals_brian2_on_the_bundled_connectome() -> None:
    from neuropaste.sim.brian_model import simulate_brian

    cmap = load_map("builtin:celegans")
    stim = poisson(cmap.n_neurons, 300, 0.02, seed=4)
    ours = simulate_float(cmap, None, 300, stim)
    theirs = simulate_brian(cmap, None, 300, stim)
    assert len(ours) > 1000  # a large share of the network is active
    assert np.array_equal(ours.counts(), theirs.counts())
    assert ours.first_difference(theirs) is None


def test_float_mode_equals_brian2_with_leak_delays_and_inhibition() -> None:
    from neuropaste.sim.brian_model import simulate_brian

    rng = np.random.default_rng(11)
    n, e = 60, 700
    # dyadic weights keep float sums exact, so any difference is a semantic one
    w = rng.integers(-8, 12, e) / 4.0
    cmap = ConnectivityMap.build([f"c{i}" for i in range(n)], rng.integers(0, n, e),
                                 rng.integers(0, n, e), np.where(w == 0, 0.25, w),
                                 rng.integers(1, 6, e))
    opts = QuantOptions(tau=4.0, threshold=6.0, refractory=3, bias=0.25, v_reset=-1.0)
    stim = poisson(n, 400, 0.03, seed=2)
    ours = simulate_float(cmap, opts, 400, stim)
    theirs = simulate_brian(cmap, opts, 400, stim)
    assert len(ours) > 100
    assert ours.first_difference(theirs) is None


def test_constant_bias_gives_the_closed_form_period() -> None:
    # no leak, bias b, threshold th, reset 0, refractory R: period = ceil(th / b) + R
    cmap = ConnectivityMap.build(["a"], [], [], [])
    for b, th, refr in [(0.3, 1.0, 0), (0.25, 2.0, 2), (1.5, 4.0, 1)]:
        opts = QuantOptions(tau=math.inf, threshold=th, bias=b, refractory=refr)
        r = simulate_float(cmap, opts, 200, Stimulus.empty())
        period = math.ceil(th / b - 1e-12) + refr
        assert np.all(np.diff(r.step) == period)
        assert r.step[0] == math.ceil(th / b - 1e-12) - 1


def test_integer_mode_tracks_float_mode_on_spike_counts() -> None:
    cmap = load_map("builtin:celegans")
    stim = poisson(cmap.n_neurons, 500, 0.02, seed=5)
    f = simulate_float(cmap, None, 500, stim).counts()
    q = simulate(quantize(cmap), 500, stim).counts()
    # 10-bit weights and a floor-shift leak: total activity within 10 % (5.7 % measured),
    # per-neuron counts strongly correlated
    assert abs(q.sum() - f.sum()) <= 0.10 * f.sum()
    assert np.corrcoef(q, f)[0, 1] > 0.9


def test_brian2_keeps_a_reset_above_threshold_refractory() -> None:
    # v_reset >= threshold: refractory steps hold v at reset without firing (section 3, rule 2)
    from neuropaste.sim.brian_model import simulate_brian

    cmap = ConnectivityMap.build(["a"], [], [], [])
    opts = QuantOptions(tau=math.inf, threshold=2.0, bias=1.0, v_reset=5.0, refractory=2)
    ours = simulate_float(cmap, opts, 12, Stimulus.empty())
    assert ours.step.tolist() == [1, 4, 7, 10]
    assert simulate_brian(cmap, opts, 12, Stimulus.empty()).step.tolist() == [1, 4, 7, 10]
