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
