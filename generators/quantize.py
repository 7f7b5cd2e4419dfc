"""ConnectivityMap (real weights) -> Network IR (integers), with the error reported."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from neuropaste.cmap import ConnectivityMap
from neuropaste.ir import Network, bits_for_signed, signed_range


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
    med = float(np.median(np.abs(cmap.weight))) if cmap.n_synapses else 1.0
    if opts.threshold is not None:
        threshold = np.full(cmap.n_neurons, float(opts.threshold))
    else:
        threshold = cmap.param("v_threshold", opts.threshold_factor * med)
    return {
        "threshold": threshold,
        "v_reset": cmap.param("v_reset", opts.v_reset),
        "bias": cmap.param("bias", opts.bias),
        "refractory": np.rint(cmap.param("refractory", opts.refractory)).astype(np.int64),
        "leak_shift": leak_shift_for_tau(cmap.param("tau", opts.tau), opts.v_bits),
    }


def quantize(cmap: ConnectivityMap, opts: QuantOptions | None = None) -> Network:
    """Scale weights so the largest |w| uses the full signed range, round half to even."""
    opts = opts or QuantOptions()
    if opts.w_bits < 2 or opts.v_bits < 4:
        raise ValueError("w_bits must be >= 2 and v_bits >= 4")
    w = cmap.weight
    w_max_int = signed_range(opts.w_bits)[1]
    if not 0 < opts.clip_percentile <= 100:
        raise ValueError("clip_percentile must be in (0, 100]")
    peak = float(np.percentile(np.abs(w), opts.clip_percentile)) if cmap.n_synapses else 1.0
    scale = w_max_int / (peak or 1.0)
    wq = np.clip(np.rint(w * scale), -w_max_int, w_max_int).astype(np.int64)
    err = wq / scale - w
    keep = wq != 0
    norm = float(np.linalg.norm(w)) or 1.0
    quant = {
        "scale": scale,
        "w_bits": opts.w_bits,
        "max_abs_error": float(np.abs(err).max()) if len(err) else 0.0,
        "rms_relative_error": float(np.linalg.norm(err) / norm),
        "zeroed_synapses": int(np.count_nonzero(~keep)),
        "clipped_synapses": int(np.count_nonzero(np.abs(w * scale) > w_max_int + 0.5)),
        "clip_percentile": opts.clip_percentile,
        "rounding": "half to even (numpy.rint)",
    }

    real = neuron_params(cmap, opts)
    threshold = np.maximum(np.rint(real["threshold"] * scale), 1).astype(np.int64)
    v_reset = np.rint(real["v_reset"] * scale).astype(np.int64)
    bias = np.rint(real["bias"] * scale).astype(np.int64)
    refractory = real["refractory"]
    leak = real["leak_shift"]
    stim = (
        int(threshold.max(initial=1))
        if opts.stim_weight is None
        else int(np.rint(opts.stim_weight * scale))
    )

    v_lo, v_hi = signed_range(opts.v_bits)
    for name, arr in (("threshold", threshold), ("v_reset", v_reset)):
        if arr.size and (arr.max() > v_hi or arr.min() < v_lo):
            raise ValueError(
                f"{name} {int(np.abs(arr).max())} (at weight scale {scale:.4g}) does not fit a "
                f"{opts.v_bits}-bit membrane: raise --v-bits or lower --w-bits"
            )
    if refractory.min(initial=0) < 0:
        raise ValueError("refractory periods must be >= 0 steps")

    pre, post, delay = cmap.pre[keep], cmap.post[keep], cmap.delay[keep]
    weight = wq[keep].astype(np.int32)
    net = Network(
        labels=cmap.labels,
        pre=pre,
        post=post,
        weight=weight,
        delay=delay,
        threshold=threshold,
        v_reset=v_reset,
        bias=bias,
        leak_shift=leak,
        refractory=refractory,
        stim_weight=stim,
        w_bits=opts.w_bits,
        v_bits=opts.v_bits,
        acc_bits=2,
        max_delay=int(delay.max()) if len(delay) else 1,
        quantization=quant,
        meta={"source": cmap.meta.get("source"), "options": asdict(opts)},
    )
    acc_bits = bits_for_signed(int(net.fan_in_bound().max(initial=0)))
    return net.replace(acc_bits=acc_bits)
