"""The reference model against docs/semantics.md: hand-checked rules and an independent oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuropaste.events import Raster, Stimulus
from neuropaste.generators.quantize import quantize
from neuropaste.ir import Network, signed_range
from neuropaste.reference import simulate


def net_of(n: int, syn: list[tuple[int, int, int, int]], *, threshold=10, v_reset=0, bias=0,
           leak=0, refractory=0, stim=10, v_bits=8) -> Network:
    """A Network built by hand: syn = (pre, post, weight, delay)."""
    arr = np.array(syn, np.int64).reshape(-1, 4)
    full = lambda x: np.broadcast_to(np.asarray(x, np.int64), (n,)).copy()  # noqa: E731
    net = Network(
        labels=np.array([f"n{i}" for i in range(n)]), pre=arr[:, 0].astype(np.int32),
        post=arr[:, 1].astype(np.int32), weight=arr[:, 2].astype(np.int32),
        delay=arr[:, 3].astype(np.int16), threshold=full(threshold), v_reset=full(v_reset),
        bias=full(bias), leak_shift=full(leak).astype(np.uint8), refractory=full(refractory),
        stim_weight=stim, w_bits=8, v_bits=v_bits, acc_bits=16,
        max_delay=int(arr[:, 3].max()) if len(arr) else 1)
    return net


def spikes(r: Raster) -> list[tuple[int, int]]:
    return list(zip(r.step.tolist(), r.neuron.tolist(), strict=True))


def test_threshold_equality_fires_and_resets() -> None:
    net = net_of(1, [], threshold=10, stim=10, v_reset=-3)
    r = simulate(net, 3, Stimulus.from_pairs([0], [0]))
    assert spikes(r) == [(0, 0)]
    below = net_of(1, [], threshold=10, stim=9)
    assert len(simulate(below, 3, Stimulus.from_pairs([0], [0]))) == 0


def test_bias_without_leak_fires_periodically() -> None:
    # v grows by 3 per step: 3, 6, 9, 12 >= 10 -> spike at step 3, then every 4 steps
    net = net_of(1, [], threshold=10, bias=3)
    assert [s for s, _ in spikes(simulate(net, 12))] == [3, 7, 11]


def test_leak_is_an_arithmetic_shift() -> None:
    # bias 8, k = 1: v <- v - (v >> 1) + 8: 8, 12, 14, 15, 16 -> fixed point 16
    net = net_of(1, [], threshold=17, bias=8, leak=1)
    assert len(simulate(net, 50)) == 0
    net = net_of(1, [], threshold=16, bias=8, leak=1)
    assert [s for s, _ in spikes(simulate(net, 5))] == [4]
    # negative: bias -5: -5, -7, -8, -9, -9 ... the floor shift (-9 >> 1 = -5) holds -9;
    # a shift truncating toward zero (-9 / 2 = -4) would settle at -10
    net = net_of(1, [], threshold=100, bias=-5, leak=1, v_bits=8)
    state = (np.zeros(1, np.int64), np.zeros(1, np.int64))
    simulate(net, 40, state=state)
    assert state[0][0] == -9


def test_saturation_at_both_rails() -> None:
    lo, hi = signed_range(8)
    state = (np.zeros(1, np.int64), np.zeros(1, np.int64))
    simulate(net_of(1, [], threshold=127, bias=-100), 5, state=state)
    assert state[0][0] == lo
    # a threshold above the top rail can never be reached: v sticks at the rail
    state = (np.zeros(1, np.int64), np.zeros(1, np.int64))
    r = simulate(net_of(1, [], threshold=200, bias=100, v_bits=8), 5, state=state)
    assert len(r) == 0 and state[0][0] == hi


def test_refractory_timing() -> None:
    # R = 2: spike at t, input ignored at t+1 and t+2, can fire again at t+3
    net = net_of(1, [], threshold=10, refractory=2, stim=10)
    stim = Stimulus.from_pairs(range(8), [0] * 8)
    assert [s for s, _ in spikes(simulate(net, 8, stim))] == [0, 3, 6]


def test_every_delay_arrives_on_time() -> None:
    syn = [(0, d, 10, d) for d in range(1, 6)]
    net = net_of(6, syn, threshold=10)
    r = simulate(net, 10, Stimulus.from_pairs([2], [0]))
    assert spikes(r) == [(2, 0)] + [(2 + d, d) for d in range(1, 6)]


def test_events_count_once_per_step_and_self_connection() -> None:
    net = net_of(1, [(0, 0, 10, 3)], threshold=10, stim=5)
    once = simulate(net, 10, Stimulus.from_pairs([0, 0, 0], [0, 0, 0]))
    assert len(once) == 0  # three events in one step are one event of weight 5
    net = net_of(1, [(0, 0, 10, 3)], threshold=10, stim=10)
    assert [s for s, _ in spikes(simulate(net, 10, Stimulus.from_pairs([0], [0])))] == [0, 3, 6, 9]


def test_refractory_discards_synaptic_input() -> None:
    # n0 drives n1 with delay 1; n1 fired at step 0 and is refractory at step 1
    net = net_of(2, [(0, 1, 10, 1)], threshold=10, refractory=1)
    r = simulate(net, 4, Stimulus.from_pairs([0, 0], [0, 1]))
    assert spikes(r) == [(0, 0), (0, 1)]


# ---------------------------------------------------------------- independent oracle


def oracle(net: Network, steps: int, stim: Stimulus) -> list[tuple[int, int]]:
    """docs/semantics.md section 3, written plainly with Python ints and a spike history."""
    n = net.n_neurons
    lo, hi = signed_range(net.v_bits)
    v, r = [0] * n, [0] * n
    fired: dict[int, list[int]] = {}
    events = set(zip(stim.step.tolist(), stim.neuron.tolist(), strict=True))
    syn = list(zip(net.pre.tolist(), net.post.tolist(), net.weight.tolist(),
                   net.delay.tolist(), strict=True))
    out = []
    for t in range(steps):
        now = []
        for j in range(n):
            total = int(net.bias[j]) + (net.stim_weight if (t, j) in events else 0)
            total += sum(w for i, p, w, d in syn if p == j and i in fired.get(t - d, ()))
            if r[j] > 0:
                r[j] -= 1
                v[j] = int(net.v_reset[j])
                continue
            k = int(net.leak_shift[j])
            u = v[j] - ((v[j] >> k) if k else 0) + total
            u = min(max(u, lo), hi)
            if u >= net.threshold[j]:
                v[j], r[j] = int(net.v_reset[j]), int(net.refractory[j])
                now.append(j)
                out.append((t, j))
            else:
                v[j] = u
        fired[t] = now
    return out


@st.composite
def small_networks(draw):
    n = draw(st.integers(1, 7))
    e = draw(st.integers(0, 25))
    syn = [(draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1)),
            draw(st.integers(-127, 127).filter(bool)), draw(st.integers(1, 4))) for _ in range(e)]
    syn = list({(a, b, d): (a, b, w, d) for a, b, w, d in syn}.values())
    thr = draw(st.integers(1, 120))
    net = net_of(n, syn, threshold=thr, v_reset=draw(st.integers(-30, 0)),
                 bias=draw(st.integers(-20, 20)), leak=draw(st.integers(0, 4)),
                 refractory=draw(st.integers(0, 3)), stim=draw(st.integers(0, 127)), v_bits=8)
    steps = draw(st.integers(1, 30))
    events = draw(st.lists(st.tuples(st.integers(0, steps - 1), st.integers(0, n - 1)),
                           max_size=40))
    stim = Stimulus.from_pairs([a for a, _ in events], [b for _, b in events])
    return net, steps, stim


@settings(max_examples=150, deadline=None)
@given(small_networks())
def test_matches_independent_oracle(case) -> None:
    net, steps, stim = case
    assert spikes(simulate(net, steps, stim)) == oracle(net, steps, stim)


@settings(max_examples=40, deadline=None)
@given(small_networks(), st.randoms(use_true_random=False))
def test_synapse_order_never_changes_the_result(case, rnd) -> None:
    net, steps, stim = case
    perm = np.array(rnd.sample(range(net.n_synapses), net.n_synapses), np.int64)
    shuffled = net.replace(pre=net.pre[perm], post=net.post[perm], weight=net.weight[perm],
                           delay=net.delay[perm])
    assert spikes(simulate(shuffled, steps, stim)) == spikes(simulate(net, steps, stim))


def test_deterministic_on_a_real_map() -> None:
    from neuropaste.events import poisson
    from neuropaste.io import load_map

    cmap = load_map("builtin:celegans")
    net = quantize(cmap)
    stim = poisson(cmap.n_neurons, 300, 0.02, seed=3)
    a, b = simulate(net, 300, stim), simulate(net, 300, stim)
    assert spikes(a) == spikes(b) and len(a) > 0


# ---------------------------------------------------------------- stimulus and raster files


def test_poisson_is_seeded_bernoulli_on_the_driven_neurons() -> None:
    from neuropaste.events import poisson

    a = poisson(2000, 500, 0.02, seed=7)
    b = poisson(2000, 500, 0.02, seed=7)
    assert np.array_equal(a.step, b.step) and np.array_equal(a.neuron, b.neuron)
    assert not np.array_equal(a.neuron, poisson(2000, 500, 0.02, seed=8).neuron)
    n = 2000 * 500
    assert abs(len(a) - 0.02 * n) < 5 * np.sqrt(n * 0.02 * 0.98)  # within 5 sigma
    # same draws as one explicit default_rng(seed) array, block by block
    ref = np.random.default_rng(7).random((500, 2000)) < 0.02
    assert np.array_equal(np.stack(np.nonzero(ref)), np.stack([a.step, a.neuron]))
    sub = poisson(50, 100, 0.5, seed=1, neurons=np.array([3, 9]))
    assert set(sub.neuron.tolist()) == {3, 9}
    with pytest.raises(ValueError):
        poisson(5, 5, 1.5, seed=0)


def test_csv_round_trip_with_hostile_labels(tmp_path) -> None:
    from neuropaste.events import (
        load_raster_csv,
        load_stimulus_csv,
        save_raster_csv,
        save_stimulus_csv,
    )

    labels = np.array(['a,b', 'q"uote', "new\nline", " sp ", "plain"])
    stim = Stimulus.from_pairs([0, 0, 3, 2, 7], [4, 1, 2, 0, 3])
    save_stimulus_csv(tmp_path / "s.csv", stim, labels)
    back = load_stimulus_csv(tmp_path / "s.csv", labels)
    assert np.array_equal(back.step, stim.step) and np.array_equal(back.neuron, stim.neuron)
    raster = Raster(step=np.array([5, 1, 1]), neuron=np.array([0, 4, 2]), steps=9, n_neurons=5)
    save_raster_csv(tmp_path / "r.csv", raster, labels)
    text = (tmp_path / "r.csv").read_text()
    assert text.startswith('step,neuron\n1,"new\nline"\n1,plain\n5,"a,b"\n')
    r2 = load_raster_csv(tmp_path / "r.csv", labels, 9)
    assert spikes(r2) == [(1, 2), (1, 4), (5, 0)]


@pytest.mark.parametrize("body, line, fragment", [
    ("", None, "empty file"),
    ("step,cell\n1,a\n", "line 1", "missing column 'neuron'"),
    ("step,neuron\n0,a\nx,b\n", "line 3", "not an integer"),
    ("step,neuron\n0,a\n-1,b\n", "line 3", "negative"),
    ('step,neuron\n0,"a\nb"\n2,zz\n', "line 4", "unknown neuron 'zz'"),
    ("step,neuron\n0,a,3\n", "line 2", "3 fields"),
])
def test_stimulus_csv_errors_name_file_and_line(tmp_path, body, line, fragment) -> None:
    from neuropaste.errors import InputError
    from neuropaste.events import load_stimulus_csv

    path = tmp_path / "stim.csv"
    path.write_text(body)
    with pytest.raises(InputError) as info:
        load_stimulus_csv(path, np.array(["a", "b", "a\nb"]))
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg and fragment in msg
    if line:
        assert line in msg
