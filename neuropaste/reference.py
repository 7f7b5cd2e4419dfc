"""The bit-exact reference model: docs/semantics.md section 3, compiled with numba.

It is the oracle for the cocotb and ngspice checks, so it is written to be read against the
semantics page line by line; speed comes from numba, not from cleverness.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from neuropaste.events import Raster, Stimulus
from neuropaste.ir import Network


def _delivery_table(net: Network) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Fan-out grouped by (source, delay): dptr[i, d-1]..dptr[i, d] are i's delay-d entries.

    The step loop then picks the ring slot once per (spike, delay) and streams (target, weight)
    pairs (4 + 2 bytes, 4 + 4 past 16-bit weights), instead of reading a delay and taking a
    modulo per synapse. Also
    returns the largest sum of |weight| into one neuron: the most one ring slot can hold. The
    IR's arrays go in as they are (numba compiles per dtype): no full-size copies.
    """
    n, n_delays = net.n_neurons, int(net.max_delay)
    if len(net.delay) and (net.delay.min() < 1 or net.delay.max() > n_delays):
        raise ValueError(f"synapse delays must be in 1..max_delay = {n_delays}")
    # the table's weights as int16 when they fit (w_bits <= 16): 2 bytes a synapse less
    narrow = not len(net.weight) or max(-int(net.weight.min()), int(net.weight.max())) < 2**15
    e = len(net.pre)
    return _group_by_source_delay(net.pre, net.delay, net.post, net.weight, n, n_delays,
                                  np.empty(e, np.int32), np.empty(e, np.int16 if narrow
                                                                  else np.int32))


@numba.njit(cache=True, nogil=True)
def _group_by_source_delay(pre, delay, post, weight, n, n_delays, target, weight_out):
    """Stable counting sort of the synapses by (pre, delay) into ``target`` and
    ``weight_out``: O(E), no comparison sort."""
    flat = np.zeros(n * n_delays + 1, np.int64)
    fan_in = np.zeros(n, np.int64)
    for e in range(pre.shape[0]):
        flat[np.int64(pre[e]) * n_delays + delay[e]] += 1
        fan_in[post[e]] += abs(np.int64(weight[e]))
    for b in range(n * n_delays):
        flat[b + 1] += flat[b]
    dptr = np.empty((n, n_delays + 1), np.int64)
    for i in range(n):
        for d in range(n_delays + 1):
            dptr[i, d] = flat[i * n_delays + d]
    fill = flat[:-1].copy()
    for e in range(pre.shape[0]):
        b = np.int64(pre[e]) * n_delays + delay[e] - 1
        target[fill[b]] = post[e]
        weight_out[fill[b]] = weight[e]
        fill[b] += 1
    return dptr, target, weight_out, fan_in.max() if n else 0


@numba.njit(cache=True, nogil=True)
def lif_update(v, r, inp, threshold, v_reset, leak_shift, refractory, v_min, v_max):
    """Steps 2-4 of docs/semantics.md section 3 for one neuron with membrane ``v``,
    refractory count ``r`` and input ``inp`` (step 1): returns (v, r, spiked) after the step.

    The one LIF update: the reference run below and the analog loop (``sim/analog.py``) both
    call it, so they compute the same semantics by construction.
    """
    # 2. refractory: input discarded, v held at reset
    if r > 0:
        return v_reset, r - 1, False
    # 3. leak (arithmetic shift, floor) and integrate, then saturate
    u = v - ((v >> leak_shift) if leak_shift > 0 else 0) + inp
    if u < v_min:
        u = v_min
    elif u > v_max:
        u = v_max
    # 4. fire on u >= threshold
    if u >= threshold:
        return v_reset, refractory, True
    return u, r, False


@numba.njit(cache=True, nogil=True)
def _run(steps, dptr, target, weight, ring, threshold, v_reset, bias, leak_shift,
         refractory, stim_weight, v_min, v_max, stim_ptr, stim_neuron, v, r):
    n = threshold.shape[0]
    n_slots = ring.shape[0]
    ext = np.zeros(n, np.int64)
    spiked = np.empty(n, np.int64)
    out_step = np.empty(1024, np.int64)
    out_neuron = np.empty(1024, np.int64)
    n_out = 0
    for t in range(steps):
        slot = t % n_slots
        # 1. input: synaptic sum (ring slot t), bias, external events counted once
        for e in range(stim_ptr[t], stim_ptr[t + 1]):
            ext[stim_neuron[e]] = stim_weight
        n_spk = 0
        for j in range(n):
            inp = np.int64(ring[slot, j]) + bias[j] + ext[j]
            ring[slot, j] = 0
            ext[j] = 0
            v[j], r[j], fired = lif_update(v[j], r[j], inp, threshold[j], v_reset[j],
                                           leak_shift[j], refractory[j], v_min, v_max)
            if fired:
                spiked[n_spk] = j
                n_spk += 1
        if n_out + n_spk > out_step.shape[0]:
            grow = max(2 * out_step.shape[0], n_out + n_spk)
            s2 = np.empty(grow, np.int64)
            n2 = np.empty(grow, np.int64)
            s2[:n_out] = out_step[:n_out]
            n2[:n_out] = out_neuron[:n_out]
            out_step, out_neuron = s2, n2
        # delivery after the sweep: a delay of D lands in slot t, already read and cleared
        for s in range(n_spk):
            i = spiked[s]
            out_step[n_out] = t
            out_neuron[n_out] = i
            n_out += 1
            for d in range(1, n_slots + 1):
                lo, hi = dptr[i, d - 1], dptr[i, d]
                if lo == hi:
                    continue
                row = slot + d
                if row >= n_slots:
                    row -= n_slots
                for e in range(lo, hi):
                    ring[row, target[e]] += weight[e]
    return out_step[:n_out], out_neuron[:n_out]


def simulate(net: Network, steps: int, stimulus: Stimulus | None = None,
             state: tuple[np.ndarray, np.ndarray] | None = None) -> Raster:
    """Run the integer network for ``steps`` steps from rest (or from ``state`` = (v, r)).

    ``state`` arrays (int64, one entry per neuron) are updated in place, so a run can be
    continued or inspected; synaptic events still in flight are not part of the state.
    """
    stimulus = stimulus or Stimulus.empty()
    keep = stimulus.step < steps
    stim_step, stim_neuron = stimulus.step[keep], stimulus.neuron[keep]
    if len(stim_neuron) and (stim_neuron.min() < 0 or stim_neuron.max() >= net.n_neurons):
        raise ValueError("stimulus names a neuron outside the network")
    stim_ptr = np.searchsorted(stim_step, np.arange(steps + 1)).astype(np.int64)
    if state is None:
        v = np.zeros(net.n_neurons, np.int64)
        r = np.zeros(net.n_neurons, np.int64)
    else:
        v, r = state
        for a in (v, r):
            if a.dtype != np.int64 or a.shape != (net.n_neurons,):
                raise ValueError("state must be two int64 arrays with one entry per neuron")
    if len(net.weight) and max(-int(net.weight.min()), int(net.weight.max())) >= 2**31:
        raise ValueError("weights must fit 32 bits")
    dptr, target, weight, fan_in = _delivery_table(net)
    # the ring holds one step's synaptic sum per neuron, at most its summed |weight| in (a
    # neuron fires once per step): 32 bits whenever the map allows
    ring = np.zeros((int(net.max_delay), net.n_neurons), np.int64 if fan_in >= 2**31 else np.int32)
    step, neuron = _run(
        int(steps), dptr, target, weight, ring,
        net.threshold.astype(np.int64), net.v_reset.astype(np.int64), net.bias.astype(np.int64),
        net.leak_shift.astype(np.int64), net.refractory.astype(np.int64), int(net.stim_weight),
        int(net.v_min), int(net.v_max), stim_ptr, stim_neuron.astype(np.int64), v, r,
    )
    return Raster(step=step, neuron=neuron, steps=int(steps), n_neurons=net.n_neurons)


@dataclass(frozen=True, eq=False)
class ReferenceRun:
    """The compile's one run of the reference model: what every backend may need from it."""

    stimulus: Stimulus
    steps: int
    raster: Raster

    @property
    def rates(self) -> np.ndarray:
        """Spikes per step of every neuron."""
        return self.raster.counts() / float(max(self.steps, 1))


def reference_run(net: Network, steps: int, stimulus: Stimulus) -> ReferenceRun:
    return ReferenceRun(stimulus=stimulus, steps=int(steps), raster=simulate(net, steps, stimulus))
