"""``verify DIR --imprint`` for a ``--drive vm`` (differential) imprint: ngspice re-imprints
sampled differential pairs from the recording's binned traces.

The engine (``neuropaste.imprint.vm``) adds, per spike of row i, the exposure of each cell over
i's box with the column drive ``u`` piecewise constant per 1 ms bin, and applies it with the
closed form of the update ODE. Here ngspice integrates that ODE instead: a passive crossbar of
:data:`ROWS` sampled pre neurons (rows) by :data:`POSTS` other sampled neurons, each a column
pair (G+ driven at ``-u``, G- at ``+u``), every cell the behavioural memristor of
:mod:`neuropaste.netlists.memristor`. The sources are built from the directory's inputs
alone: the spikes (``spikes.npz``) open each row's boxes (:func:`vm.boxes`: ``row_v`` from the
bin after a spike until its box ends), and the columns carry the drive of the recording named
in ``imprint.json``, rebuilt from its traces (:func:`vm.driven`: binned, differentiated,
centred, scaled, clipped, held around the column's own spikes), one PWL level per bin with
:data:`EDGE` ramps between. Columns get points only inside the sampled rows' boxes: outside
them every row is at 0 V and a cell sees ``|u| <= clip_v``, below both thresholds, so the
column may wander there. Device-to-device draws are redrawn from the seed (G+: seed, G-:
seed + 4, as the imprint drew them); each box's cycle-to-cycle factors are recomputed from the
engine's counter-based draw (:func:`engine.c2c_normal` of the seed, the spike's index and the
column), a PWL factor per cell. The final ngspice conductances at the read age must equal the
stored ones (even tile columns G+, odd G-) within :data:`TOLERANCE`; a sample in which no cell
moved checked nothing.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from neuropaste.compiled import IMPRINT_CHECK_NETLIST, IMPRINT_CONDUCTANCES, Imprinted
from neuropaste.errors import InputError
from neuropaste.netlists.memristor import factor_wave, final_states, waveform_netlist
from neuropaste.plasticity import draw_d2d, drift
from neuropaste.text import comment

ROWS = 2  # sampled pre neurons
POSTS = 2  # sampled post neurons, two columns each: a ROWS x 2 POSTS sub-crossbar
ATTEMPTS = 5
TOLERANCE = 0.05
MOVED = 1e-6
EDGE = 1e-9  # s (crossbar): a line's ramp between two levels, centred on the bin boundary
ENGINE_SEED = 1  # run.py seeds the differential engine's c2c draws with seed + 1
MINUS_SEED = 4  # ... and the G- cells' d2d draws with seed + 4


def _runs(bins: np.ndarray) -> list[tuple[int, int]]:
    """Sorted unique bins -> (first, last) of each run of consecutive bins."""
    if len(bins) == 0:
        return []
    cut = np.flatnonzero(np.diff(bins) > 1)
    return list(zip(np.r_[bins[0], bins[cut + 1]].tolist(), np.r_[bins[cut], bins[-1]].tolist(),
                    strict=True))


def _row_wave(bins: np.ndarray, level: float, tb: float) -> tuple[np.ndarray, np.ndarray]:
    """A row at ``level`` over its boxes' bins (bin b spans [b, b + 1) tb), 0 elsewhere."""
    t, v = [0.0], [0.0]
    for a, b in _runs(bins):
        t += [a * tb - EDGE / 2, a * tb + EDGE / 2, (b + 1) * tb - EDGE / 2,
              (b + 1) * tb + EDGE / 2]
        v += [0.0, level, level, 0.0]
    return np.array(t), np.array(v)


def _column_wave(bins: np.ndarray, u: np.ndarray, tb: float) -> tuple[np.ndarray, np.ndarray]:
    """A column holding ``u[k]`` over bin ``bins[k]``, settled from before each run of bins
    to after it (the rows rise and fall there)."""
    t, v = [0.0], [0.0]
    start = {a for a, _ in _runs(bins)}
    end = {b for _, b in _runs(bins)}
    for b, x in zip(bins.tolist(), u.tolist(), strict=True):
        if b in start:
            t.append(b * tb - EDGE / 2)
            v.append(x)
        t += [b * tb + EDGE / 2, (b + 1) * tb - EDGE / 2]
        v += [x, x]
        if b in end:
            t.append((b + 1) * tb + EDGE / 2)
            v.append(x)
    return np.array(t), np.array(v)


def _sample(active: np.ndarray, n: int, seed: int, attempt: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 15, attempt])
    rows = rng.choice(active, min(ROWS, len(active)), replace=False)
    rest = np.setdiff1d(np.arange(n), rows)
    return np.sort(rows), np.sort(rng.choice(rest, min(POSTS, len(rest)), replace=False))


def check(imp: Imprinted) -> dict[str, Any]:
    from neuropaste.copy.responses import bin_size
    from neuropaste.imprint import vm
    from neuropaste.imprint.engine import c2c_normal
    from neuropaste.imprint.readout import from_tiles
    from neuropaste.io.recording import open_recording
    from neuropaste.sim.ngspice import run_text

    doc, opts = imp.doc, imp.options
    if opts.get("vm_scheme", "differential") != "differential":
        return {"passed": False, "summary": "a --vm-scheme threshold imprint: the SPICE proof "
                "covers the spike drive and the differential vm scheme only; nothing checked"}
    if not doc.get("recording_path"):
        raise InputError(imp.path("imprint.json"), "a vm imprint without recording_path: "
                         "the proof rebuilds the column drive from the recording")
    rec = open_recording(doc["recording_path"])
    labels = imp.labels
    n = len(labels)
    if rec.n_channels != n:
        raise InputError(doc["recording_path"], f"{rec.n_channels} channels, the imprint has "
                         f"{n}")
    model, scheme, seed = imp.model(), imp.scheme(), int(opts["seed"])
    age = float(opts.get("read_age_s", 0.0))
    t_s, neuron = imp.spikes()
    spb = bin_size(rec.rate, 1.0)
    tb = spb / rec.rate / scheme.speedup  # one bin in crossbar seconds
    n_bins = rec.n_samples // spb
    w = max(1, int(round(vm.WINDOW_MS * 1e-3 / (spb / rec.rate))))
    sample = np.rint(t_s * rec.rate).astype(np.int64)
    sbin, sch, box, gidx, all_bin, all_ch = vm.boxes(sample, neuron, spb, n_bins, w)
    try:
        gp, gm = from_tiles(imp.conductances(), n)
    except (KeyError, IndexError, ValueError) as err:
        raise InputError(imp.path(IMPRINT_CONDUCTANCES), f"not a tile store of {n} "
                         f"neurons: {err!r}") from None
    var = model.d2d_sigma > 0
    rf_p, lo_p, hi_p = draw_d2d(model, (n, n), seed)
    rf_m, lo_m, hi_m = draw_d2d(model, (n, n), seed + MINUS_SEED)
    c2c = model.c2c_sigma
    level = vm.row_v(model)
    path = imp.path(IMPRINT_CHECK_NETLIST)
    active = np.unique(sch[box > 0])
    t0 = time.perf_counter()
    tried: list[list[str]] = []
    for attempt in range(ATTEMPTS):
        rows, posts = _sample(active, n, seed, attempt)
        tried.append([labels[k] for k in rows] + ["->"] + [labels[k] for k in posts])
        mine = np.isin(sch, rows) & (box > 0)
        drive: dict[int, np.ndarray] = {}  # bin -> u of the sampled posts
        for b0, u, (sb, sc, bx, _) in vm.driven(rec, (sbin, sch, box, gidx), all_bin, all_ch,
                                                spb, n_bins, w):
            for b, k in zip(sb[np.isin(sc, rows)].tolist(), bx[np.isin(sc, rows)].tolist(),
                            strict=True):
                for q in range(b + 1, b + 1 + k):
                    drive[q] = u[q - b0, posts]
        row_waves, factors = [], np.empty((len(rows), 2 * len(posts)), object)
        for r, i in enumerate(rows):
            own = mine & (sch == i)
            bins = np.unique(np.concatenate([np.arange(b + 1, b + 1 + k) for b, k in zip(
                sbin[own].tolist(), box[own].tolist(), strict=True)]))
            row_waves.append(_row_wave(bins, level, tb))
            starts = (sbin[own] + 1) * tb  # each box's first bin, crossbar s
            for c, j in enumerate(posts):
                for side in range(2):
                    f = (np.exp([c2c * c2c_normal((seed + ENGINE_SEED) % 2**32, g,
                                                  2 * j + side)
                                 - 0.5 * c2c * c2c for g in gidx[own].tolist()])
                         if c2c > 0 else np.ones(own.sum()))
                    factors[r, 2 * c + side] = factor_wave(starts, f)
        bins = np.array(sorted(drive), np.int64)
        u = np.array([drive[b] for b in bins.tolist()]).reshape(len(bins), len(posts))
        col_waves = []
        for c in range(len(posts)):
            col_waves += [_column_wave(bins, -u[:, c], tb), _column_wave(bins, u[:, c], tb)]
        cells = (np.repeat(rows, 2 * len(posts)).reshape(len(rows), -1),
                 np.tile(np.repeat(posts, 2), (len(rows), 1)))
        plus = np.tile([True, False], (len(rows), len(posts)))
        kf = np.where(plus, rf_p[cells], rf_m[cells]) if var else None
        g_lo = np.where(plus, lo_p[cells], lo_m[cells])
        g_hi = np.where(plus, hi_p[cells], hi_m[cells])
        t_stop = (int(bins[-1]) + 3) * tb if len(bins) else 3 * tb
        text = waveform_netlist(
            model, row_waves, col_waves, t_stop, rate_factor=kf, g_min=g_lo, g_max=g_hi,
            factors=factors if c2c > 0 else None,
            header={"imprint": imp.root.name, "drive": "vm differential", "sample": attempt,
                    "rows": [labels[k] for k in rows], "posts": [labels[k] for k in posts],
                    "columns": "post j: G+ column at -u_j, G- column at +u_j",
                    "row_v": level, "bin_s_crossbar": tb, "edge_s": EDGE})
        path.write_text(text)
        x = final_states(run_text(path.read_text()), len(rows), 2 * len(posts))
        moved = np.abs(x) > MOVED
        if moved.any():
            break
    else:
        return {"passed": False, "samples": tried,
                "summary": f"no cell moved in {ATTEMPTS} samples of {ROWS} rows x {POSTS} "
                "column pairs: nothing checked"}
    seconds = time.perf_counter() - t0
    got = drift(g_lo + x * (g_hi - g_lo), model, age)
    want = np.where(plus, gp[cells], gm[cells])
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(got - want) / np.abs(want)
    defects = [f"cell (pre {comment(labels[cells[0][a, b]])}, post "
               f"{comment(labels[cells[1][a, b]])} {'G+' if plus[a, b] else 'G-'}): ngspice "
               f"{got[a, b] * 1e6:.4f} uS, stored {want[a, b] * 1e6:.4f} uS ({rel[a, b]:.1%} off)"
               for a, b in np.argwhere(~(rel <= TOLERANCE))]
    worst = float(np.nanmax(np.where(np.isfinite(rel), rel, np.inf)))
    start = drift(g_lo, model, age)
    scale = float(np.abs(want - start).max())
    k = x.size
    names = ", ".join(tried[-1])
    summary = (f"ngspice re-imprinted {k} cells (rows {names} column pairs; "
               f"{int(moved.sum())} moved) from the recording's binned traces: final "
               f"conductances within {worst:.2%} of the stored ones (tolerance "
               f"{TOLERANCE:.0%})" if not defects else
               f"{len(defects)} of {k} cells differ from ngspice by more than "
               f"{TOLERANCE:.0%}; first: {defects[0]}")
    return {"passed": not defects, "summary": summary, "neurons": tried[-1], "samples": tried,
            "drive": "vm", "cells": k, "cells_moved": int(moved.sum()),
            "active_bins": len(bins), "max_relative_error": worst,
            "change_error": float(np.abs(got - want).max()) / scale if scale > 0 else None,
            "c2c_sigma": c2c, "tolerance": TOLERANCE, "defects": defects[:20],
            "ngspice_seconds": round(seconds, 2), "netlist": IMPRINT_CHECK_NETLIST,
            "ngspice_G_S": got.tolist(), "stored_G_S": want.tolist()}

