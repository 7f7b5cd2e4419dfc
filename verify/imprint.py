"""``neuropaste verify DIR --imprint``: ngspice re-imprints sampled cells of an imprint directory.

The event-driven engine (``neuropaste.imprint``) applies each overlapping pair's exposure with
the closed form of the update ODE. This proof runs the physics instead: a passive crossbar of
the sampled neurons (:data:`SAMPLE` rows = their pre waveforms, the same neurons' post
waveforms on the columns), every cell an ngspice behavioural memristor that integrates the
device model's ODE (:mod:`neuropaste.netlists.memristor`), driven by PWL sources built from
the spike times recorded in the directory (``spikes.npz``) with the pulse scheme of
``imprint.json``. Each cell starts RESET, as the engine starts it, with the device-to-device
rate factor and bounds drawn from the imprint's seed as the imprint drew them; the final
ngspice conductances, read at the imprint's read age (PCM drift), must equal the stored
imprinted ones (the even columns of ``conductances.npz``) within :data:`TOLERANCE`. The
netlist is written to the directory (``verify_imprint.cir``) and run as written. Only the
``--drive vm`` imprint (differential scheme) is proven by :mod:`imprint_vm` instead, from the
recording's binned traces. With k round-robin
drivers per neuron (``imprint --drivers K``) the crossbar has k lines per neuron; the sample
is then every driver of ceil(4 / k) (at least 2) neurons, so whole k x k synapse groups, and
each line is driven by its own share of the neuron's spikes.

The oracle is the directory's inputs (spikes, model, scheme, seed) and ngspice, never the
stored conductances: a tampered conductance fails, named by its cell (pre, post). A sample in
which no pulse pair crossed the threshold checks nothing; the check then draws another
sample of active neurons (up to :data:`ATTEMPTS`) and fails if every one is idle.

Cycle-to-cycle spread is one lognormal draw per update from one seeded stream in event order;
the check replays the engine on every spike to learn which draw belonged to which sampled
cell and when, and gives ngspice each cell's draws as a PWL factor on its rate. The
proof takes nothing else from the engine: the exposures, windows, bounds and clipping are
ngspice's. ``change_error`` reports the largest difference as a fraction of the largest
change of the sample.
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuropaste.compiled import IMPRINT_CHECK_NETLIST, IMPRINT_CONDUCTANCES, VERIFY, Imprinted
from neuropaste.errors import InputError
from neuropaste.netlists.memristor import final_states, netlist_text
from neuropaste.outputs import write_json
from neuropaste.plasticity import DeviceModel, PulseScheme, draw_d2d, drift
from neuropaste.text import comment

SAMPLE = 4  # neurons per sample: a SAMPLE x SAMPLE sub-crossbar
ATTEMPTS = 5  # samples drawn before the check gives up on an idle imprint
TOLERANCE = 0.05  # final conductance, relative
MOVED = 1e-6  # a cell whose state moved less than this (of its range) saw no overlap
MAX_DEFECTS = 20
ENGINE_SEED = 1  # neuropaste.imprint.run seeds the engine's c2c stream with seed + 1


@dataclass(frozen=True, eq=False)
class Inputs:
    """What the imprint was made from, read from its directory: the oracle's side."""

    labels: list[str]
    model: DeviceModel
    scheme: PulseScheme
    seed: int
    read_age_s: float
    times_s: np.ndarray
    neuron: np.ndarray
    drivers: int = 1  # round-robin drivers per neuron: the crossbar has n k lines
    line: np.ndarray | None = None  # the line each spike drove

    @classmethod
    def read(cls, imp: Imprinted) -> Inputs:
        from neuropaste.imprint.engine import drivers

        t, nrn = imp.spikes()
        k = int(imp.options.get("drivers") or 1)
        return cls(imp.labels, imp.model(), imp.scheme(), int(imp.options["seed"]),
                   float(imp.options.get("read_age_s", 0.0)), t, nrn, k, drivers(t, nrn, k))

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def lines(self) -> int:
        return self.n * self.drivers

    def name(self, line: int) -> str:
        """A line's neuron label, with its driver when a neuron has several."""
        k = self.drivers
        lab = comment(self.labels[line // k])
        return lab if k == 1 else f"{lab} driver {line % k}"


def sample(inp: Inputs, attempt: int, size: int = SAMPLE) -> np.ndarray:
    """The lines of active neurons (with spikes), drawn from the imprint's seed and the
    attempt: ``size`` neurons, or with k drivers each, every driver of ceil(size / k) (at
    least 2) neurons, so whole k x k synapse groups are checked."""
    active = np.unique(inp.neuron)
    rng = np.random.default_rng([inp.seed, 14, attempt])
    k = inp.drivers
    m = size if k == 1 else max(2, -(-size // k))
    chosen = np.sort(rng.choice(active, min(m, len(active)), replace=False))
    return (chosen[:, None] * k + np.arange(k)[None, :]).ravel()


def c2c_draws(inp: Inputs, nodes: np.ndarray, rate_f: np.ndarray) -> np.ndarray | None:
    """Per sampled cell, (spike time of each update, its cycle-to-cycle factor): the engine
    replayed on every spike with the imprint's seed, following the sample's cells (its draws
    are one stream in event order, so only a full replay knows which draw was a cell's).
    Only the draws are taken from it; what they do to the cells is ngspice's."""
    from neuropaste.imprint import engine

    if inp.model.c2c_sigma == 0.0:
        return None
    k = len(nodes)
    cells = (nodes[:, None] * inp.lines + nodes[None, :]).ravel()
    points = int(2 * np.bincount(inp.line, minlength=inp.lines)[nodes].max()) + 1
    eng = engine.run(inp.times_s, inp.line, inp.lines, inp.model, inp.scheme,
                     rate_f if inp.model.d2d_sigma > 0 else None, inp.seed + ENGINE_SEED,
                     cells, points)
    out = np.empty((k, k), object)
    for q, m in enumerate(eng.track_n):
        out[q // k, q % k] = (eng.track_t[q, :m], eng.track_f[q, :m])
    return out


def crossbar(inp: Inputs, nodes: np.ndarray, header: dict[str, Any]) -> tuple[str, np.ndarray,
                                                                              np.ndarray]:
    """The netlist of the sub-crossbar of ``nodes`` (rows: their pre waveforms, columns: their
    post waveforms), every cell RESET (state 0, as the engine starts it) with its own
    device-to-device rate factor and bounds, drawn from the imprint's seed as the imprint drew
    them, and its cycle-to-cycle draws (:func:`c2c_draws`); and the bounds (g_lo, g_hi) of
    the sample's cells."""
    spikes = [np.sort(inp.times_s[inp.line == k]) for k in nodes]
    rate_f, g_lo, g_hi = draw_d2d(inp.model, (inp.lines, inp.lines), inp.seed)
    cell = np.ix_(nodes, nodes)
    text = netlist_text(inp.model, inp.scheme, spikes, spikes, np.zeros((len(nodes),) * 2),
                        rate_factor=rate_f[cell], g_min=g_lo[cell], g_max=g_hi[cell],
                        c2c=c2c_draws(inp, nodes, rate_f), header=header)
    return text, g_lo[cell], g_hi[cell]


def check(directory: Path, options: Any) -> dict[str, Any]:
    from neuropaste.imprint.readout import from_tiles
    from neuropaste.sim.ngspice import run_text

    imp = Imprinted.open(directory)
    drive = imp.doc.get("drive", "spike")
    if drive == "vm":
        from neuropaste.verify import imprint_vm

        return imprint_vm.check(imp)
    if drive != "spike":
        return {"passed": False, "summary": f"this imprint was driven by {drive!r}: the SPICE "
                "proof knows the spike and vm drives only, so nothing was checked"}
    inp = Inputs.read(imp)
    try:
        stored, _ = from_tiles(imp.conductances(), inp.n, inp.drivers)
    except (KeyError, IndexError, ValueError) as err:
        raise InputError(imp.path(IMPRINT_CONDUCTANCES), f"not a tile store of {inp.n} "
                         f"neurons: {err!r}") from None
    path = imp.path(IMPRINT_CHECK_NETLIST)
    t0 = time.perf_counter()
    tried: list[list[str]] = []
    for attempt in range(ATTEMPTS):
        nodes = sample(inp, attempt)
        tried.append([inp.name(k) for k in nodes])
        text, g_lo, g_hi = crossbar(inp, nodes, {"imprint": imp.root.name, "sample": attempt,
                                                 "neurons": tried[-1]})
        path.write_text(text)
        k = len(nodes)
        x = final_states(run_text(path.read_text()), k, k)  # the file as written
        moved = np.abs(x) > MOVED
        if moved.any():
            break
    else:
        return {"passed": False, "samples": tried,
                "summary": f"no pulse pair crossed the threshold in {ATTEMPTS} samples of "
                f"{SAMPLE} active neurons: nothing checked"}
    seconds = time.perf_counter() - t0
    got = drift(g_lo + x * (g_hi - g_lo), inp.model, inp.read_age_s)
    want = stored[np.ix_(nodes, nodes)]
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(got - want) / np.abs(want)
    defects = [f"cell (pre {inp.name(nodes[i])}, post {inp.name(nodes[j])}): ngspice "
               f"{got[i, j] * 1e6:.4f} uS, stored {want[i, j] * 1e6:.4f} uS ({rel[i, j]:.1%} off)"
               for i, j in np.argwhere(~(rel <= TOLERANCE))]
    start = drift(g_lo, inp.model, inp.read_age_s)
    scale = float(np.abs(want - start).max())
    change_error = float(np.abs(got - want).max()) / scale if scale > 0 else None
    worst = float(np.nanmax(np.where(np.isfinite(rel), rel, np.inf)))
    names = ", ".join(tried[-1])
    summary = (f"ngspice re-imprinted the {k} x {k} cells of neurons {names} "
               f"({int(moved.sum())} moved): final conductances within {worst:.2%} of the "
               f"stored ones (tolerance {TOLERANCE:.0%})" if not defects else
               f"{len(defects)} of {k * k} cells differ from ngspice by more than "
               f"{TOLERANCE:.0%}; first: {defects[0]}")
    return {"passed": not defects, "summary": summary, "neurons": tried[-1], "samples": tried,
            "cells": k * k, "cells_moved": int(moved.sum()), "max_relative_error": worst,
            "change_error": change_error, "c2c_sigma": inp.model.c2c_sigma,
            "tolerance": TOLERANCE, "defects": defects[:MAX_DEFECTS],
            "ngspice_seconds": round(seconds, 2), "netlist": IMPRINT_CHECK_NETLIST,
            "ngspice_G_S": got.tolist(), "stored_G_S": want.tolist()}


def run(directory: Path, options: Any = None) -> dict[str, Any]:
    """``verify DIR --imprint``: the check, its result kept in the directory's verify.json."""
    imp = Imprinted.open(directory)
    result = check(imp.root, options)
    report = {"checks": {"imprint": result}, "requested": ["imprint"],
              "passed": bool(result["passed"])}
    write_json(imp.path(VERIFY), report)
    return report


def report_html(directory: Path) -> str:
    """Report section: the SPICE proof's result, if the check ran."""
    try:
        result = json.loads((Path(directory) / VERIFY).read_text())["checks"]["imprint"]
    except (OSError, ValueError, KeyError):
        return ""
    status = "PASS" if result.get("passed") else "FAIL"
    return (f"<h2>SPICE proof of the imprint</h2><p>{status}: "
            f"{html.escape(str(result.get('summary', '')))}</p>")
