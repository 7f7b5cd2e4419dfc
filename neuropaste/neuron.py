"""The neuron model's options: how a map's real values become the LIF parameters.

Shared by the quantizer (``generators/quantize.py``) and the floating-point models
(``sim/float_model.py``, ``sim/brian_model.py``), so both read the same thresholds, leaks and
refractory periods from one place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuropaste.cmap import ConnectivityMap


@dataclass(frozen=True)
class QuantOptions:
    """How a map becomes integers. Real-valued defaults are in the map's weight units.

    ``threshold=None`` takes the map's per-neuron ``v_threshold``, else ``threshold_factor``
    times the median |weight|. ``stim_weight=None`` makes one external event worth the largest
    threshold, so an event alone fires a resting neuron that is not inhibited or refractory.
    """

    w_bits: int = 10
    v_bits: int = 16
    tau: float = 8.0  # steps; leak shift k = round(log2(tau)), inf -> no leak
    threshold: float | None = None
    threshold_factor: float = 16.0
    v_reset: float = 0.0
    bias: float = 0.0
    refractory: int = 2
    stim_weight: float | None = None
    clip_percentile: float = 100.0  # full scale at this percentile of |w|; larger ones saturate


def leak_shift_for_tau(tau: np.ndarray, v_bits: int) -> np.ndarray:
    """k such that v - v>>k ~ v * exp(-1/tau): 1 - 2**-k ~ 1 - 1/tau, so k = round(log2 tau)."""
    tau = np.asarray(tau, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.rint(np.log2(np.maximum(tau, 1.0)))
    k = np.clip(k, 1, v_bits - 1)
    return np.where(np.isinf(tau), 0, k).astype(np.uint8)


def neuron_params(cmap: ConnectivityMap, opts: QuantOptions) -> dict[str, np.ndarray]:
    """Per-neuron parameters in real (weight) units: shared by the quantizer and float mode."""
    given = cmap.params.get("v_threshold")
    if opts.threshold is not None:
        threshold = np.full(cmap.n_neurons, float(opts.threshold))
    elif given is not None and not np.isnan(given).any():  # no median of |w| needed
        threshold = given.copy()
    else:
        med = float(np.median(np.abs(cmap.weight))) if cmap.n_synapses else 1.0
        threshold = cmap.param("v_threshold", opts.threshold_factor * med)
    return {
        "threshold": threshold,
        "v_reset": cmap.param("v_reset", opts.v_reset),
        "bias": cmap.param("bias", opts.bias),
        "refractory": np.rint(cmap.param("refractory", opts.refractory)).astype(np.int64),
        "leak_shift": leak_shift_for_tau(cmap.param("tau", opts.tau), opts.v_bits),
    }
