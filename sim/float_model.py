"""Floating-point mode: the reference model's structure on the map's real values.

Same step as docs/semantics.md section 3 with real weights and parameters, leak
``v · 2^-k`` instead of an arithmetic shift, no rounding and no saturation. Other simulators
(Brian2, NEST, snnTorch) can reproduce it exactly, and its distance from the integer model is
the cost of quantization.
"""

from __future__ import annotations

import numba
import numpy as np

from neuropaste.cmap import ConnectivityMap
from neuropaste.events import Raster, Stimulus
from neuropaste.neuron import QuantOptions, neuron_params


@numba.njit(cache=True, nogil=True)
def _run_float(steps, indptr, target, weight, delay, n_slots, threshold, v_reset, bias, decay,
               refractory, stim_weight, stim_ptr, stim_neuron):
    n = threshold.shape[0]
    v = np.zeros(n)
    r = np.zeros(n, np.int64)
    ring = np.zeros((n_slots, n))
    ext = np.zeros(n)
    out_step = []
    out_neuron = []
    fired = np.empty(n, np.int64)
    for t in range(steps):
        slot = t % n_slots
        for e in range(stim_ptr[t], stim_ptr[t + 1]):
            ext[stim_neuron[e]] = stim_weight
        n_fired = 0
        for j in range(n):
            inp = ring[slot, j] + bias[j] + ext[j]
            ring[slot, j] = 0.0
            ext[j] = 0.0
            if r[j] > 0:
                r[j] -= 1
                v[j] = v_reset[j]
                continue
            u = v[j] * decay[j] + inp
            if u >= threshold[j]:
                v[j] = v_reset[j]
                r[j] = refractory[j]
                out_step.append(t)
                out_neuron.append(j)
                fired[n_fired] = j
                n_fired += 1
            else:
                v[j] = u
        for s in range(n_fired):  # after the sweep: a delay of D lands in this very slot
            i = fired[s]
            for e in range(indptr[i], indptr[i + 1]):
                ring[(t + delay[e]) % n_slots, target[e]] += weight[e]
    return np.array(out_step, np.int64), np.array(out_neuron, np.int64)


def float_params(cmap: ConnectivityMap, opts: QuantOptions) -> dict[str, np.ndarray]:
    """Real parameters plus the per-step decay factor 1 - 2^-k (1 when k = 0, no leak)."""
    p = neuron_params(cmap, opts)
    k = p["leak_shift"].astype(np.float64)
    p["decay"] = np.where(k > 0, 1.0 - np.exp2(-k), 1.0)
    p["stim_weight"] = (float(p["threshold"].max(initial=1.0)) if opts.stim_weight is None
                        else float(opts.stim_weight))
    return p


def simulate_float(cmap: ConnectivityMap, opts: QuantOptions | None, steps: int,
                   stimulus: Stimulus | None = None) -> Raster:
    opts = opts or QuantOptions()
    stimulus = stimulus or Stimulus.empty()
    p = float_params(cmap, opts)
    keep = stimulus.step < steps
    stim_ptr = np.searchsorted(stimulus.step[keep], np.arange(steps + 1)).astype(np.int64)
    order = np.argsort(cmap.pre, kind="stable")
    indptr = np.zeros(cmap.n_neurons + 1, np.int64)
    np.cumsum(np.bincount(cmap.pre, minlength=cmap.n_neurons), out=indptr[1:])
    step, neuron = _run_float(
        int(steps), indptr, cmap.post[order].astype(np.int64), cmap.weight[order],
        cmap.delay[order].astype(np.int64), cmap.max_delay, p["threshold"], p["v_reset"],
        p["bias"], p["decay"], p["refractory"], p["stim_weight"], stim_ptr,
        stimulus.neuron[keep].astype(np.int64))
    return Raster(step=step, neuron=neuron, steps=int(steps), n_neurons=cmap.n_neurons)
