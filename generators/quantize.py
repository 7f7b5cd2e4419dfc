"""ConnectivityMap (real weights) -> Network IR (integers), with the error reported."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from neuropaste.cmap import ConnectivityMap
from neuropaste.ir import Network, bits_for_signed, signed_range
from neuropaste.neuron import QuantOptions, neuron_params


def quantize(cmap: ConnectivityMap, opts: QuantOptions | None = None) -> Network:
    """Scale weights so the largest |w| uses the full signed range, round half to even."""
    opts = opts or QuantOptions()
    if opts.w_bits < 2 or opts.v_bits < 4:
        raise ValueError("w_bits must be >= 2 and v_bits >= 4")
    w = cmap.weight
    w_max_int = signed_range(opts.w_bits)[1]
    if not 0 < opts.clip_percentile <= 100:
        raise ValueError("clip_percentile must be in (0, 100]")
    if not cmap.n_synapses:
        peak = 1.0
    elif opts.clip_percentile == 100:  # the largest |w|, without a full-size |w| copy
        peak = max(-float(w.min()), float(w.max()))
    else:
        peak = float(np.percentile(np.abs(w), opts.clip_percentile))
    scale = w_max_int / (peak or 1.0)
    wq, stats = _rounded(w, scale, w_max_int)
    quant = {
        "scale": scale,
        "w_bits": opts.w_bits,
        "max_abs_error": stats["max_abs_error"],
        "rms_relative_error": float(np.sqrt(stats["err_sq"]) / (np.sqrt(stats["w_sq"]) or 1.0)),
        "zeroed_synapses": stats["zeroed"],
        "clipped_synapses": stats["clipped"],
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

    if stats["zeroed"]:
        keep = wq != 0
        pre, post, delay, weight = cmap.pre[keep], cmap.post[keep], cmap.delay[keep], wq[keep]
    else:  # the usual case: the IR shares the map's synapse arrays
        pre, post, delay, weight = cmap.pre, cmap.post, cmap.delay, wq
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


def _rounded(w: np.ndarray, scale: float, w_max_int: int, block: int = 1 << 22
             ) -> tuple[np.ndarray, dict]:
    """int32 weights round(w * scale), clipped to +-w_max_int, and the error figures, computed
    in blocks: a 3e8-synapse map needs its 1.2 GB of int32 weights and a few tens of MB more."""
    wq = np.empty(len(w), np.int32)
    stats = {"max_abs_error": 0.0, "err_sq": 0.0, "w_sq": 0.0, "zeroed": 0, "clipped": 0}
    for lo in range(0, len(w), block):
        part = w[lo:lo + block]
        scaled = part * scale
        stats["clipped"] += int(np.count_nonzero(np.abs(scaled) > w_max_int + 0.5))
        q = np.clip(np.rint(scaled), -w_max_int, w_max_int)
        wq[lo:lo + block] = q
        err = q / scale - part
        stats["max_abs_error"] = max(stats["max_abs_error"], float(np.abs(err).max()))
        stats["err_sq"] += float(err @ err)
        stats["w_sq"] += float(part @ part)
        stats["zeroed"] += int(np.count_nonzero(q == 0))
    return wq, stats
