"""``builtin:microcircuit?scale=S``: the Potjans & Diesmann (2014) cortical microcircuit.

Built from the paper's parameter tables (Cereb. Cortex 24:785-806; the same numbers as NEST's
``Potjans_2014`` example): 8 populations, 77,169 neurons and 2.99e8 synapses at S = 1. At scale S
the neuron counts scale and the in-degrees stay (each target draws the paper's K from every
source population), so there are about S x 3e8 synapses. The network is drawn pair by pair
with the paper's rule (a fixed total number of synapses, pre and post uniform, multapses
allowed) from one fixed seed, in chunks of presynaptic neurons that are already in canonical
order: no loop over synapses, and the map's arrays are the only full-size allocation.

Units, for the reference LIF (docs/formats.md says what differs from the paper's model): one
step is 0.1 ms; potentials are mV above rest; a synapse adds the charge its exponential
current carries (``w tau_syn / C_m``) at once; the external drive is the paper's DC
equivalent, as a per-step bias. The leak ``v -= v >> 7`` decays with 128 steps where the paper
has 100, so weights and biases are scaled by 100/128 to keep the paper's mean potentials.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr, ndtri

from neuropaste.cmap import EXCITATORY, INHIBITORY, ConnectivityMap
from neuropaste.errors import InputError
from neuropaste.neuron import leak_shift_for_tau

POPULATIONS = ("L2/3E", "L2/3I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I")
#: full-scale population sizes
SIZES = np.array([20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948])
#: connection probabilities, [target, source]
CONN_PROB = np.array([
    [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
    [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
    [0.0077, 0.0059, 0.0497, 0.1350, 0.0067, 0.0003, 0.0453, 0.0],
    [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
    [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
    [0.0548, 0.0269, 0.0257, 0.0022, 0.0600, 0.3158, 0.0086, 0.0],
    [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
    [0.0364, 0.0010, 0.0034, 0.0005, 0.0277, 0.0080, 0.0658, 0.1443],
])
#: external (background) in-degrees, Poisson at BG_RATE_HZ each
K_EXT = np.array([1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100])
KIND = np.array([EXCITATORY, INHIBITORY] * 4, np.int8)

DT_MS = 0.1  # one step (NEST's resolution for this model)
TAU_M_MS, TAU_SYN_MS, C_M_PF = 10.0, 0.5, 250.0
THRESHOLD_MV = 15.0  # V_th - E_L = -50 - (-65); reset to rest
REFRACTORY_MS = 2.0
PSP_E_MV, WEIGHT_REL_SD, G = 0.15, 0.1, -4.0
BG_RATE_HZ = 8.0
DELAY_MS = {EXCITATORY: (1.5, 0.75), INHIBITORY: (0.75, 0.375)}  # mean, sd (truncated)
SEED = 2014
CHUNK = 1 << 22  # synapses drawn per block of presynaptic neurons


def psc_amplitude(psp_mv: float) -> float:
    """The exponential-current amplitude (pA) whose PSP peaks at ``psp_mv`` (87.8 pA for 0.15)."""
    tm, ts = TAU_M_MS, TAU_SYN_MS
    t_peak = tm * ts / (tm - ts) * math.log(tm / ts)
    peak_per_pa = ts * tm / (C_M_PF * (tm - ts)) * (math.exp(-t_peak / tm) - math.exp(-t_peak / ts))
    return psp_mv / peak_per_pa


def indegrees() -> np.ndarray:
    """K[target, source] of the full model: total synapses (the paper's eq. 1) / target size."""
    pairs = np.outer(SIZES, SIZES).astype(np.float64)
    total = np.log1p(-CONN_PROB) / np.log1p(-1.0 / pairs)
    return total / SIZES[:, None]


def sizes(scale: float) -> np.ndarray:
    """Population sizes at ``scale``: rounded, at least one neuron each."""
    return np.maximum(np.rint(SIZES * scale), 1).astype(np.int64)


def model_units() -> dict[str, float]:
    """The LIF in map units: steps, and mV scaled by tau_m / 2^k (see the module docstring)."""
    tau_steps = TAU_M_MS / DT_MS
    k = int(leak_shift_for_tau(np.array([tau_steps]), 32)[0])
    gain = tau_steps / 2.0**k  # the shift leak decays with 2^k steps, not tau_m
    return {"tau_steps": tau_steps, "leak_shift": k, "gain": gain,
            "jump_mv": psc_amplitude(PSP_E_MV) * TAU_SYN_MS / C_M_PF * gain}


def mean_weights() -> np.ndarray:
    """Mean synaptic jump [target, source] in map units: J, 2J for L4E -> L2/3E, gJ inhibitory."""
    j = model_units()["jump_mv"]
    w = np.where(KIND[None, :] == EXCITATORY, j, G * j) * np.ones((8, 1))
    w[0, 2] *= 2.0
    return w


def dc_bias() -> np.ndarray:
    """Per-step bias per population: the paper's DC drive K_ext nu_bg tau_syn w, as charge/C_m."""
    current_pa = K_EXT * BG_RATE_HZ * 1e-3 * TAU_SYN_MS * psc_amplitude(PSP_E_MV)
    return current_pa * DT_MS / C_M_PF * model_units()["gain"]


def _delays(rng: np.random.Generator, count: int, kind: int) -> np.ndarray:
    """Gaussian delays truncated below at one step (inverse CDF), rounded to steps."""
    mean, sd = DELAY_MS[kind]
    lo = ndtr((DT_MS - mean) / sd)
    ms = mean + sd * ndtri(rng.uniform(lo, 1.0, count))
    return np.maximum(np.rint(ms / DT_MS), 1).astype(np.int16)


def build(scale: float = 1.0, seed: int = SEED) -> ConnectivityMap:
    """The microcircuit at ``scale`` (0 < scale <= 1), drawn from ``seed``."""
    n = sizes(scale)
    start = np.concatenate([[0], np.cumsum(n)])
    total = int(start[-1])
    pairs = np.rint(indegrees() * n[:, None]).astype(np.int64)  # synapses [target, source]
    w_mean = mean_weights()
    rng = np.random.default_rng(seed)
    cap = int(pairs.sum())
    pre_out = np.empty(cap, np.int32)
    post_out = np.empty(cap, np.int32)
    weight_out = np.empty(cap, np.float64)
    delay_out = np.empty(cap, np.int16)
    filled = 0
    for src in range(8):
        targets = [a for a in range(8) if pairs[a, src]]
        # the paper's rule: each synapse picks pre and post uniformly, so a source neuron's
        # out-degree into each target population is multinomial
        outdeg = {a: rng.multinomial(pairs[a, src], np.full(n[src], 1.0 / n[src]))
                  for a in targets}
        per_pre = sum(outdeg.values(), np.zeros(n[src], np.int64))
        cuts = np.searchsorted(np.cumsum(per_pre), np.arange(CHUNK, per_pre.sum(), CHUNK))
        bounds = np.unique(np.concatenate([[0], cuts, [n[src]]]))
        for p0, p1 in zip(bounds[:-1], bounds[1:], strict=True):
            parts = [_draw(rng, outdeg[a][p0:p1], start[src] + p0, a, src, n, start, w_mean)
                     for a in targets]
            if not parts:
                continue
            pre, post, weight, delay = (np.concatenate(x) for x in zip(*parts, strict=True))
            key = ((pre.astype(np.int64) * total + post) << 16) + delay
            order = np.argsort(key, kind="stable")
            key = key[order]
            first = np.ones(len(key), bool)
            first[1:] = key[1:] != key[:-1]
            heads = np.flatnonzero(first)  # multapses with one delay merge (summed weights)
            m = len(heads)
            pre_out[filled:filled + m] = pre[order[heads]]
            post_out[filled:filled + m] = post[order[heads]]
            delay_out[filled:filled + m] = delay[order[heads]]
            weight_out[filled:filled + m] = np.add.reduceat(weight[order], heads)
            filled += m
    for arr in (pre_out, post_out, weight_out, delay_out):
        arr.resize(filled, refcheck=False)  # shrink in place: merged multapses
    labels = [f"{pop.replace('/', '')}[{i}]" for pop, size in zip(POPULATIONS, n, strict=True)
              for i in range(size)]
    units = model_units()
    pop = np.repeat(np.arange(8), n)
    params = {"tau": units["tau_steps"], "v_threshold": THRESHOLD_MV,
              "v_reset": 0.0, "bias": dc_bias()[pop], "refractory": REFRACTORY_MS / DT_MS}
    meta = {
        "rules": [
            f"Potjans & Diesmann 2014 cortical microcircuit at scale {scale:g} (seed {seed}): "
            "in-degrees of the full model, neuron counts scaled",
            "fixed total number of synapses per population pair, multapses allowed; multapses "
            "with equal delays summed",
            f"step {DT_MS} ms; weights in mV of charge-equivalent jumps x {units['gain']:.4g} "
            f"(leak v -= v >> {units['leak_shift']}); external drive as DC bias",
        ],
        "populations": {p: [int(start[i]), int(start[i + 1])] for i, p in enumerate(POPULATIONS)},
        "step_ms": DT_MS,
    }
    return ConnectivityMap.build(labels, pre_out, post_out, weight_out, delay_out,
                                 kind=KIND[pop], params=params, meta=meta)


def _draw(rng, counts, first, tgt, src, n, start, w_mean):
    """Synapses from neurons ``first``.. of population ``src`` (counts each) into ``tgt``."""
    m = int(counts.sum())
    pre = np.repeat(np.arange(first, first + len(counts), dtype=np.int32), counts)
    post = (start[tgt] + rng.integers(0, n[tgt], m)).astype(np.int32)
    mean = w_mean[tgt, src]
    weight = rng.normal(mean, abs(mean) * WEIGHT_REL_SD, m)
    weight = np.maximum(weight, 0.0) if mean > 0 else np.minimum(weight, 0.0)  # keep the sign
    return pre, post, weight, _delays(rng, m, int(KIND[src]))


def read_microcircuit(spec: str, params: dict[str, str]) -> ConnectivityMap:
    """``builtin:microcircuit[?scale=S]``: checks the one parameter, then builds."""
    unknown = [k for k in params if k != "scale"]
    if unknown:
        raise InputError(spec, f"unknown parameter {unknown[0]!r}: this source takes scale",
                         record=unknown[0])
    text = params.get("scale", "1")
    try:
        scale = float(text)
    except ValueError:
        scale = math.nan
    if not (math.isfinite(scale) and 0.0 < scale <= 1.0):
        raise InputError(spec, f"scale must be a number in (0, 1], got {text!r}", record="scale")
    return build(scale)
