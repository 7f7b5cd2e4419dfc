"""``builtin:microcircuit``: the Potjans & Diesmann (2014) tables, drawn at a tiny scale.

Synapses of one (pre, post, delay) are merged in the map, so in-degrees are counted through
weights: the summed weight of a population pair divided by its mean weight is its synapse count.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest

from neuropaste.errors import InputError
from neuropaste.generators.quantize import quantize
from neuropaste.io import load_map
from neuropaste.io import microcircuit as mc
from neuropaste.reference import simulate

SPEC = "builtin:microcircuit?scale=0.005"


@pytest.fixture(scope="module")
def tiny():
    return load_map(SPEC)


def digest(cmap) -> str:
    h = hashlib.sha256()
    for arr in (cmap.pre, cmap.post, cmap.weight, cmap.delay, cmap.kind,
                *(cmap.params[k] for k in sorted(cmap.params))):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update("\0".join(cmap.labels.tolist()).encode())
    return h.hexdigest()


def test_tables_give_the_papers_counts() -> None:
    k = mc.indegrees()
    assert mc.SIZES.sum() == 77_169
    assert round(k[2, 3]) == 795  # K(L4E <- L4I), the paper's table
    assert 2.98e8 < (k * mc.SIZES[:, None]).sum() < 3.0e8  # "about 3 x 10^8 synapses"
    assert mc.psc_amplitude(0.15) == pytest.approx(87.81, abs=0.01)  # the paper's w = 87.8 pA


def test_builds_deterministically(tiny) -> None:
    assert digest(load_map(SPEC)) == digest(tiny)
    assert tiny.n_neurons == int(mc.sizes(0.005).sum()) == 385
    assert tiny.meta["populations"]["L2/3E"] == [0, 103]


def test_indegrees_match_the_paper(tiny) -> None:
    n = mc.sizes(0.005)
    bounds = np.concatenate([[0], np.cumsum(n)])
    pop = np.repeat(np.arange(8), n)
    summed = np.zeros((8, 8))
    np.add.at(summed, (pop[tiny.post], pop[tiny.pre]), tiny.weight)
    k = mc.indegrees()
    drawn = summed / mc.mean_weights() / n[:, None]  # synapses per target neuron
    count = np.maximum(k * n[:, None], 1)
    # weights spread by 10 % each; counts are the paper's K times the target size, rounded
    tolerance = 5 * 0.1 * k / np.sqrt(count) + 0.5 / n[:, None] + 1e-9
    assert np.all(np.abs(drawn - k) <= tolerance), np.abs(drawn - k) / tolerance
    assert np.all((k == 0) == (summed == 0))
    assert np.all(bounds[:-1] < bounds[1:])


def test_delays_and_signs(tiny) -> None:
    assert tiny.delay.min() >= 1
    exc = tiny.kind[tiny.pre] == 1
    assert np.all(tiny.weight[exc] > 0) and np.all(tiny.weight[~exc] < 0)
    assert tiny.kind.tolist() == np.repeat(mc.KIND, mc.sizes(0.005)).tolist()
    assert 14.0 < tiny.delay[exc].mean() < 16.5  # 1.5 ms in 0.1 ms steps (merged multapses)
    assert 7.0 < tiny.delay[~exc].mean() < 9.0  # 0.75 ms, truncated below at one step


def test_active_without_external_events(tiny) -> None:
    net = quantize(tiny)
    steps = 2000
    raster = simulate(net, steps)
    late = raster.step >= 1000  # after the start-up transient (all neurons start at rest)
    rate_hz = late.sum() / tiny.n_neurons / ((steps - 1000) * mc.DT_MS * 1e-3)
    assert 0.5 < rate_hz < 30.0
    fired = np.unique(raster.neuron[late])
    assert set(tiny.kind[fired].tolist()) == {-1, 1}


@pytest.mark.parametrize("scale", ["0", "-0.1", "1.5", "nan", "inf", ""])
def test_bad_scale_is_refused(scale: str) -> None:
    with pytest.raises(InputError, match="scale must be a number in"):
        load_map(f"builtin:microcircuit?scale={scale}")


def test_bad_scale_exits_2_with_one_line() -> None:
    res = subprocess.run([sys.executable, "-m", "neuropaste", "info",
                          "builtin:microcircuit?scale=abc"], capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert "scale must be a number in (0, 1], got 'abc'" in res.stderr
    with pytest.raises(InputError, match="unknown parameter 'seed'"):
        load_map("builtin:microcircuit?seed=3")


def test_weights_are_the_papers() -> None:
    """At S = 0.05 most synapses are single: medians give J, 2J (L4E -> L2/3E) and gJ, g = -4,
    with J the charge of an 87.8 pA, 0.5 ms current on 250 pF, times the 100/128 leak gain."""
    m = load_map("builtin:microcircuit?scale=0.05")
    pop = np.repeat(np.arange(8), mc.sizes(0.05))
    j = 87.81 * 0.5 / 250 * 100 / 128
    for target, source, factor in [(0, 0, 1), (1, 0, 1), (0, 2, 2), (2, 2, 1), (0, 1, -4),
                                   (2, 3, -4), (6, 7, -4)]:
        sel = (pop[m.post] == target) & (pop[m.pre] == source)
        ratio = np.median(m.weight[sel]) / (factor * j)
        assert 0.98 < ratio < 1.1, (target, source, ratio)  # merged multapses only add
