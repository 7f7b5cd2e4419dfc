"""Hypothesis strategy for integer networks that stress the hardware's corner cases, and the
two ways the tests run an array in Amaranth's simulator."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from neuropaste import ConnectivityMap
from neuropaste.events import Stimulus
from neuropaste.generators.quantize import quantize
from neuropaste.ir import Network, bits_for_signed, signed_range


@st.composite
def hardware_networks(draw, max_neurons: int = 12, max_steps: int = 25, min_neurons: int = 2):
    """A network plus stimulus with, by construction: signed weights, every delay 1..D,
    refractory periods, inputs that overrun both membrane rails, a neuron with no inputs
    (index 0) and a source with no targets (the last index)."""
    n = draw(st.integers(min_neurons, max_neurons))
    d_max = draw(st.integers(1, 5))
    w_bits = draw(st.integers(4, 9))
    v_bits = draw(st.integers(5, 10))
    w_lo, w_hi = signed_range(w_bits)
    v_lo, v_hi = signed_range(v_bits)
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    e = draw(st.integers(d_max, 6 * n))
    pre = rng.integers(0, n - 1, e)  # never the last neuron: a source with no targets
    post = rng.integers(1, n, e)  # never neuron 0: a neuron with no synaptic input
    delay = rng.integers(1, d_max + 1, e)
    delay[:d_max] = np.arange(1, d_max + 1)  # every delay up to the maximum appears
    weight = rng.integers(w_lo + 1, w_hi + 1, e)
    weight[weight == 0] = 1
    weight[0], weight[-1] = w_hi, w_lo + 1  # both signs at full scale
    key = np.unique(np.stack([pre, post, delay], 1), axis=0, return_index=True)[1]
    pre, post, delay, weight = pre[key], post[key], delay[key], weight[key]
    threshold = rng.integers(1, v_hi + 1, n)
    v_reset = rng.integers(v_lo, 1, n)
    bias = rng.integers(-(v_hi // 2), v_hi // 4 + 1, n)
    bias[rng.random(n) < 0.5] = 0
    leak = rng.integers(0, min(v_bits - 1, 5) + 1, n)
    refractory = rng.integers(0, 4, n)
    stim_weight = int(draw(st.sampled_from([1, v_hi // 2, v_hi, 2 * v_hi])))
    net = Network(
        labels=np.array([f"h{i}" for i in range(n)]), pre=pre.astype(np.int32),
        post=post.astype(np.int32), weight=weight.astype(np.int32), delay=delay.astype(np.int16),
        threshold=threshold, v_reset=v_reset, bias=bias, leak_shift=leak.astype(np.uint8),
        refractory=refractory, stim_weight=stim_weight, w_bits=w_bits, v_bits=v_bits,
        acc_bits=2, max_delay=d_max)
    net = net.replace(acc_bits=bits_for_signed(int(net.fan_in_bound().max())))
    steps = draw(st.integers(5, max_steps))
    k = draw(st.integers(0, 3 * n * steps // 4))
    stim = Stimulus.from_pairs(rng.integers(0, steps, k), rng.integers(0, n, k))
    return net, steps, stim


def clustered_network(n: int = 600, e: int = 12000, clusters: int = 8, p_in: float = 0.9,
                      seed: int = 0):
    """Synapses mostly inside clusters scattered over the index order: placement has work."""
    rng = np.random.default_rng(seed)
    cluster = rng.permutation(n) % clusters  # clusters scattered over the index order
    pre = rng.integers(0, n, e)
    members = [np.flatnonzero(cluster == c) for c in range(clusters)]
    inside = rng.random(e) < p_in
    post = rng.integers(0, n, e)
    pick = rng.integers(0, n, e)
    for c in range(clusters):
        sel = inside & (cluster[pre] == c)
        post[sel] = members[c][pick[sel] % len(members[c])]
    cmap = ConnectivityMap.build([f"n{i}" for i in range(n)], pre, post,
                                 rng.normal(0.3, 1.0, e), rng.integers(1, 4, e))
    return quantize(cmap)


def run_core(net: Network, steps: int, stimulus: Stimulus, out_stall: float = 0.0,
             seed: int = 0, reset_after: int = 0, **core_options):
    """One :class:`LIFCore` holding ``net`` (``core_options``: its design switches) in
    Amaranth's simulator (``sim.amaranth_run``)."""
    from neuropaste.hdl.core import LIFCore
    from neuropaste.sim.amaranth_run import run_array

    return run_array(LIFCore(net, **core_options), net.n_neurons, steps, stimulus,
                     out_stall=out_stall, seed=seed, reset_after=reset_after)


def run_mesh(net: Network, placement, steps: int, stimulus: Stimulus, *, stall: float = 0.0,
             out_stall: float = 0.0, seed: int = 0, **mesh_options):
    """The mesh of ``placement`` (links stalled with probability ``stall``) in Amaranth's
    simulator."""
    from neuropaste.addresses import addresses
    from neuropaste.generators.placement import mesh_plan
    from neuropaste.hdl.mesh import NeuronMesh
    from neuropaste.sim.amaranth_run import run_array

    dut = NeuronMesh(mesh_plan(net, placement), stall=stall, seed=seed, **mesh_options)
    return run_array(dut, net.n_neurons, steps, stimulus, address=addresses(placement)[0],
                     out_stall=out_stall, seed=seed)


def chain_network(n: int = 5, delays: tuple[int, ...] = (1, 2, 1, 2)) -> Network:
    """0 -> 1 -> ... -> n-1, every weight equal to the threshold (4): each neuron fires exactly
    when its predecessor's spike lands, and only because ``v >= threshold`` is inclusive."""
    m = n - 1
    net = Network(labels=np.array([f"n{i}" for i in range(n)]),
                  pre=np.arange(m, dtype=np.int32), post=np.arange(1, n, dtype=np.int32),
                  weight=np.full(m, 4, np.int32), delay=np.array(delays[:m], np.int16),
                  threshold=np.full(n, 4, np.int64), v_reset=np.zeros(n, np.int64),
                  bias=np.zeros(n, np.int64), leak_shift=np.zeros(n, np.uint8),
                  refractory=np.zeros(n, np.int64), stim_weight=100, w_bits=8, v_bits=12,
                  acc_bits=2, max_delay=max(delays[:m]))
    return net.replace(acc_bits=bits_for_signed(int(net.fan_in_bound().max())))
