"""``neuropaste culture``: a simulated culture written as an icephys NWB recording plus its truth.

Runs :mod:`neuropaste.sim.culture` (Brian2) segment by segment and streams each segment, as the
array would record it (pad gain, noise, int16 counts), into :class:`IcephysWriter`; only one
segment is ever in memory. The output directory appears whole or not at all:

- ``recording.nwb``: one ``CurrentClampSeries`` per neuron (label ``n0000`` ...), 5 kHz, int16
  with ``conversion`` volts per count;
- ``truth.csv``: ``pre,post,sign,psp_mV,delay_ms``, one row per chemical synapse (sign +1 or
  -1, PSP amplitude at rest at the membrane, synaptic delay) and two rows per gap junction
  (sign 0, one per direction, psp_mV the approximate spikelet);
- ``culture.json``: every parameter, the pad gains, the action-potential height at the
  membrane, the rates reached (no timings: the directory is byte-identical for a seed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from neuropaste.io.recording import IcephysWriter
from neuropaste.outputs import atomic_dir, write_json
from neuropaste.sim.culture import (
    RECORD_HZ,
    Array,
    Culture,
    CultureParams,
    Simulation,
    draw_culture,
)

RECORDING = "recording.nwb"
TRUTH = "truth.csv"
INFO = "culture.json"
#: fixed session start: the file must not depend on the clock
SESSION_START = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def identifier(p: CultureParams) -> str:
    """The NWB identifier: a digest of every parameter, so equal runs give equal files."""
    text = json.dumps(p.as_dict(), sort_keys=True)
    return "neuropaste-culture-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def write_truth(c: Culture, path: str | os.PathLike) -> int:
    """truth.csv: chemical synapses sorted by (pre, post), then the gap junctions; row count."""
    labels = np.array(c.labels)
    order = np.lexsort((c.post, c.pre))
    pre, post = c.pre[order], c.post[order]
    sign = np.where(c.psp_mV[order] > 0, 1, -1)
    rows = [f"{labels[a]},{labels[b]},{s:+d},{abs(w):.4f},{d:.1f}" for a, b, s, w, d in
            zip(pre.tolist(), post.tolist(), sign.tolist(), c.psp_mV[order].tolist(),
                c.delay_ms[order].tolist(), strict=True)]
    spikelet = c.gap_psp_mV()
    for a, b in zip(c.gap_a.tolist(), c.gap_b.tolist(), strict=True):
        rows.append(f"{labels[a]},{labels[b]},0,{spikelet:.4f},0.0")
        rows.append(f"{labels[b]},{labels[a]},0,{spikelet:.4f},0.0")
    Path(path).write_text("pre,post,sign,psp_mV,delay_ms\n" + "".join(r + "\n" for r in rows))
    return len(rows)


def run_culture(out: str | os.PathLike, p: CultureParams, *, target: str = "cython",
                quiet: bool = False) -> dict:
    """Simulate the culture and write the output directory; returns culture.json's content."""
    t0 = time.perf_counter()
    c = draw_culture(p)
    t_draw = time.perf_counter() - t0
    with atomic_dir(out) as tmp:
        array = Array(c)
        t1 = time.perf_counter()
        writer = IcephysWriter(tmp / RECORDING, c.labels, RECORD_HZ, p.n_samples,
                               conversion=array.conversion, identifier=identifier(p),
                               session_start_time=SESSION_START,
                               description="neuropaste culture: simulated CNEA recording "
                                           f"(Brian2), seed {p.seed}")
        t_layout = time.perf_counter() - t1
        sim = Simulation(c, target)
        clock = {"sim": 0.0, "write": 0.0, "mark": time.perf_counter()}

        def write(start: int, block: np.ndarray) -> None:
            t = time.perf_counter()
            clock["sim"] += t - clock["mark"]
            writer.write(start, array.counts(block))
            done = start + block.shape[0]
            if not quiet and 10 * done // p.n_samples > 10 * start // p.n_samples:
                print(f"neuropaste: culture: {done / RECORD_HZ:g} of {p.seconds:g} s "
                      "simulated", flush=True, file=_stderr())
            clock["mark"] = time.perf_counter()
            clock["write"] += clock["mark"] - t

        with writer:
            sim.run(write)
        t_sim, t_write = clock["sim"], clock["write"]
        counts = sim.spike_counts()
        n_rows = write_truth(c, tmp / TRUTH)
        info = {
            "params": p.as_dict(),
            "identifier": identifier(p),
            "simulator": "brian2 " + _brian_version() + f" ({target})",
            "storage": {"dtype": "int16", "conversion_V_per_count": array.conversion,
                        "rate_hz": RECORD_HZ, "samples": p.n_samples},
            "ap_height_mV": p.ap_peak_mV - p.v_rest_mV,
            "pad_gain": np.round(c.pad_gain, 6).tolist(),
            "excitatory": c.excitatory.astype(int).tolist(),
            "silent": c.silent.astype(int).tolist(),
            "connections": {"excitatory": int((c.psp_mV > 0).sum()),
                            "inhibitory": int((c.psp_mV < 0).sum()),
                            "gap_pairs": int(c.gap_a.size), "truth_rows": n_rows},
            "rate_hz": {"mean": float(counts.mean() / p.seconds),
                        "median": float(np.median(counts) / p.seconds),
                        "silent_neurons": int((counts == 0).sum())},
        }
        write_json(tmp / INFO, info)
    figures = {"draw_s": t_draw, "nwb_layout_s": t_layout, "simulate_s": t_sim,
               "write_s": t_write, "nwb_bytes": (Path(out) / RECORDING).stat().st_size}
    return info | {"figures": figures}


def _brian_version() -> str:
    import brian2

    return brian2.__version__


def _stderr():
    import sys

    return sys.stderr
