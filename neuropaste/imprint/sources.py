"""Where the imprint's spikes come from: a recording (detected as ``copy`` detects them) or a
map run through the reference model (the map is then the ground truth)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from neuropaste.copy.detect import DetectOptions, detect
from neuropaste.errors import InputError
from neuropaste.io.recording import Truth


@dataclass(frozen=True, eq=False)
class Activity:
    """Spike times (recording seconds) per neuron, with what the truth is, if any."""

    labels: tuple[str, ...]
    times_s: np.ndarray
    neuron: np.ndarray
    seconds: float
    truth: Truth | None
    true_weight: np.ndarray | None  # (n, n) signed true strengths (NaN where unknown), or None
    spec: dict  # what made the activity, for imprint.json
    recording: str | None = None  # the recording's path (for --drive vm)

    @property
    def n(self) -> int:
        return len(self.labels)


def _check(act: Activity, source: str) -> Activity:
    if len(act.times_s) == 0:
        raise InputError(source, "no spikes: nothing to imprint")
    return act


def from_recording(path: str | os.PathLike, truth_path: str | None = None,
                   opts: DetectOptions | None = None, workers: int | None = None) -> Activity:
    """The recording's spikes, detected by copy's detector; ``workers`` processes share the
    channels (default: the cores this process may use, at most 2 per the issue's budget)."""
    from neuropaste.io.recording import open_recording, read_truth

    rec = open_recording(path)
    if workers is None:
        workers = min(2, len(os.sched_getaffinity(0)))
    spikes = detect(rec, opts or DetectOptions(), workers)
    truth = read_truth(truth_path, rec.labels) if truth_path else None
    tw = None
    if truth is not None:
        n = rec.n_channels
        tw = np.full((n, n), np.nan)
        chem = truth.sign != 0
        tw[truth.pre[chem], truth.post[chem]] = truth.sign[chem] * np.abs(
            np.nan_to_num(truth.psp_mV[chem], nan=1.0))
    spec = {"kind": "recording", "file": os.path.basename(str(path)), "rate_hz": rec.rate,
            "channels": rec.n_channels, "spikes": int(len(spikes.sample)),
            "truth": None if truth_path is None else os.path.basename(truth_path)}
    return _check(Activity(tuple(rec.labels), spikes.sample / rec.rate, spikes.channel,
                           rec.n_samples / rec.rate, truth, tw, spec, str(path)), str(path))


def from_map(cmap, quant, steps: int, stimulus, stimulus_spec: dict, step_ms: float,
             source: str) -> Activity:
    """The reference model's raster of ``cmap``; the map's synapses are the truth."""
    from neuropaste.generators.quantize import quantize
    from neuropaste.reference import simulate

    net = quantize(cmap, quant)
    raster = simulate(net, steps, stimulus)
    n = cmap.n_neurons
    w = np.full((n, n), np.nan)
    off = cmap.pre != cmap.post
    pre, post, wt = cmap.pre[off], cmap.post[off], cmap.weight[off]
    acc = np.zeros((n, n))
    np.add.at(acc, (pre, post), wt)
    has = np.zeros((n, n), bool)
    has[pre, post] = True
    w[has] = acc[has]
    tp, tq = np.nonzero(has & (acc != 0))
    truth = Truth(tp.astype(np.int64), tq.astype(np.int64),
                  np.sign(acc[tp, tq]).astype(np.int8), np.abs(acc[tp, tq]),
                  np.full(len(tp), np.nan))
    spec = {"kind": "map", "map": source, "steps": int(steps), "step_ms": step_ms,
            "stimulus": stimulus_spec, "spikes": int(len(raster)),
            "quantization": net.quantization}
    return _check(Activity(tuple(str(x) for x in cmap.labels), raster.step * step_ms * 1e-3,
                           raster.neuron, steps * step_ms * 1e-3, truth, w, spec), source)
