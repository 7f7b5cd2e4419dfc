"""``neuropaste imprint``: activity in, an imprinted crossbar directory out.

The directory (written whole or not at all)::

    imprint.json        every parameter and figure: model, scheme, disturb, pulses, energy,
                        scores against the truth, the download of the same map for comparison
    conductances.npz    the imprinted conductances in the tile layout of spice/tiles.npz
                        (even column: the imprinted cell; odd: the column's reference cell, or
                        pcm's second cell), plus the per-cell state and d2d draws
    learned.csv         the connections the crossbar learned: pre,post,weight,delay (labels)
    trajectories.npz    a few cells' conductance after each of their updates
    spikes.npz          the spikes that drove the crossbar (recording seconds, neuron index):
                        what a SPICE re-run of sampled cells replays
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from neuropaste.compiled import IMPRINT_CONDUCTANCES as CONDUCTANCES
from neuropaste.compiled import IMPRINT_JSON, IMPRINT_VERSION, Imprinted
from neuropaste.compiled import IMPRINT_LEARNED as LEARNED
from neuropaste.compiled import IMPRINT_SPIKES as SPIKES
from neuropaste.compiled import IMPRINT_TRAJECTORIES as TRAJECTORIES
from neuropaste.copy.score import score
from neuropaste.errors import InputError
from neuropaste.imprint import engine, readout, vm
from neuropaste.imprint.sources import Activity
from neuropaste.plasticity import (
    DEFAULT_MODEL,
    DeviceModel,
    PulseScheme,
    draw_d2d,
    load_model,
    lone_energy,
)

DRIVES = ("spike", "vm")
#: drivers per neuron of the spike drive (docs/imprint.md, "Several drivers per neuron")
DEFAULT_DRIVERS = 2
MAX_DRIVERS = 8
WINDOWS = ("auto", "given")


@dataclass(frozen=True)
class ImprintOptions:
    model: str = DEFAULT_MODEL
    variation: bool = True
    seed: int = 0
    drive: str = "spike"
    fdr: float = 0.05
    compensation: str = "rescale"
    read_age_s: float = 60.0  # s after the imprint the crossbar is read (pcm drift)
    step_ms: float = 1.0  # ms per time step of the delays
    min_null_pairs: int = 10
    surrogates: int = 16
    calibration_pulses: int = 8  # rescale: pulses that measure each cell's rate
    #: rescale of a differential vm imprint: its pairs share a large common exposure, which a
    #: rate error of one cell turns into a false difference, so each rate is measured longer
    vm_calibration_pulses: int = 256
    track: int = 6
    chance_target: float = 0.3  # the median cell's chance exposure the pulse gain allows
    mirror: bool = False  # also test each cell against its transposed (anti-causal) cell
    vm_scheme: str = "differential"  # --drive vm: differential pairs, or "threshold" (first)
    #: spike drive: round-robin drivers per neuron (a k x k group of cells per synapse);
    #: None: DEFAULT_DRIVERS for the spike drive, 1 for vm
    drivers: int | None = None
    #: "auto": the spike drive's STDP window (a flat tail) and reference (``mirror``) chosen
    #: from the activity's measured pre -> post lags (``neuropaste.imprint.window``); "given":
    #: ``scheme`` and ``mirror`` as they are
    window: str = "auto"
    scheme: PulseScheme = field(default_factory=PulseScheme)

    @property
    def n_drivers(self) -> int:
        if self.drivers is not None:
            return self.drivers
        return DEFAULT_DRIVERS if self.drive == "spike" else 1

    def check(self) -> DeviceModel:
        model = load_model(self.model)
        if self.drive not in DRIVES:
            raise InputError(None, f"--drive must be one of {', '.join(DRIVES)}, got "
                             f"{self.drive!r}")
        if self.window not in WINDOWS:
            raise InputError(None, f"--window must be one of {', '.join(WINDOWS)}, got "
                             f"{self.window!r}")
        if self.vm_scheme not in vm.SCHEMES:
            raise InputError(None, f"--vm-scheme must be one of {', '.join(vm.SCHEMES)}, got "
                             f"{self.vm_scheme!r}")
        if self.compensation not in readout.COMPENSATIONS:
            raise InputError(None, f"--compensate must be one of "
                             f"{', '.join(readout.COMPENSATIONS)}, got {self.compensation!r}")
        k = self.n_drivers
        if not (isinstance(k, int) and 1 <= k <= MAX_DRIVERS):
            raise InputError(None, f"--drivers must be an integer in 1..{MAX_DRIVERS}, got "
                             f"{k!r}")
        if k > 1 and self.drive != "spike":
            raise InputError(None, "--drivers applies to the spike drive only")
        if not 0.0 < self.fdr < 1.0:
            raise InputError(None, f"--fdr must be in (0, 1), got {self.fdr}")
        self.scheme.validate(model.rate)
        return model.variation(self.variation)


@dataclass(frozen=True, eq=False)
class ImprintResult:
    activity: Activity
    model: DeviceModel
    options: ImprintOptions
    out: readout.Readout
    eng: engine.EngineResult
    tracked: np.ndarray  # flat cell indices
    g_lo: np.ndarray
    g_hi: np.ndarray
    rate_factor: np.ndarray
    figures: dict
    #: differential vm: the G- cells of the odd tile columns: x, rate_factor, g_lo, g_hi
    odd: dict | None = None

    def connections(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(pre, post, signed weight, delay steps) of the learned connections."""
        pre, post = np.nonzero(self.out.chosen)
        w = self.out.weight[pre, post]
        lat_ms = np.nan_to_num(self.out.latency_s[pre, post], nan=0.0) * 1e3
        delay = np.maximum(1, np.rint(lat_ms / self.options.step_ms)).astype(np.int64)
        return pre, post, w, delay


def _tracked(act: Activity, k: int) -> np.ndarray:
    """A few cells to follow: the strongest true connections of each sign and unconnected
    pairs (without a truth: the first off-diagonal cells)."""
    n = act.n
    cells: list[int] = []
    if act.true_weight is not None:
        tw = np.nan_to_num(act.true_weight, nan=0.0)
        order = np.argsort(tw, axis=None)
        cells += [int(c) for c in order[::-1][: k // 2] if tw.flat[c] > 0]
        cells += [int(c) for c in order[: max(1, k // 3)] if tw.flat[c] < 0]
        free = np.flatnonzero((tw == 0) & ~np.eye(n, dtype=bool))
        cells += [int(c) for c in free[: k - len(cells)]]
    else:
        cells = [int(c) for c in np.flatnonzero(~np.eye(n, dtype=bool))[:k]]
    return np.array(sorted(set(cells))[:k], np.int64)


def imprint(act: Activity, opts: ImprintOptions = ImprintOptions()) -> ImprintResult:
    model = opts.check()
    opts = replace(opts, drivers=opts.n_drivers)  # imprint.json records the count used
    differential = opts.drive == "vm" and opts.vm_scheme == "differential"
    if differential:
        return _imprint_differential(act, model, opts)
    opts, chosen = _auto_window(act, opts, model)
    n, scheme = act.n, opts.scheme
    k = opts.drivers
    lines = n * k
    line = engine.drivers(act.times_s, act.neuron, k)
    gain = pulse_gain(act.times_s, line, lines, model, scheme, opts.chance_target)
    model = _scaled(model, gain)
    rate_f, g_lo, g_hi = draw_d2d(model, (lines, lines), opts.seed)
    tracked = _tracked(act, opts.track)
    vm_fig = None
    if opts.drive == "vm":
        eng, vm_fig = _vm(act, model, scheme, rate_f, opts, tracked)
    else:
        eng = engine.run(act.times_s, line, lines, model, scheme,
                         rate_f if model.d2d_sigma > 0 else None, opts.seed + 1,
                         _line_cells(tracked, n, k))
    rate_est = None
    if opts.compensation == "rescale":
        rng = np.random.default_rng(opts.seed + 3)
        noise = model.c2c_sigma / math.sqrt(opts.calibration_pulses)
        rate_est = rate_f * np.exp(noise * rng.standard_normal((lines, lines)))
    surrogate = None
    if n - 1 < opts.min_null_pairs and opts.drive == "vm":
        raise InputError(act.recording, f"--drive vm needs at least {opts.min_null_pairs + 1} "
                         "channels (its null is empirical)")
    if n - 1 < opts.min_null_pairs:
        rng = np.random.default_rng(opts.seed + 2)
        surrogate = []
        for s in range(opts.surrogates):
            shift = rng.uniform(0.0, act.seconds, n)
            ts = (act.times_s + shift[act.neuron]) % max(act.seconds, 1e-9)
            e = engine.run(ts, engine.drivers(ts, act.neuron, k), lines, model, scheme,
                           rate_f if model.d2d_sigma > 0 else None, opts.seed + 10 + s)
            g = readout.conductances(e.x, g_lo, g_hi, model, opts.read_age_s)
            surrogate.append(readout.group(
                readout.value_of(e.x, g, model, opts.compensation, rate_est), k))
    out = readout.read(eng.x, g_lo, g_hi, model, opts.read_age_s,
                       opts.compensation, rate_est, eng.lag_sum, eng.exposure_sum, opts.fdr,
                       opts.min_null_pairs, surrogate, np.bincount(act.neuron, minlength=n),
                       opts.mirror, k)
    res = ImprintResult(act, model, opts, out, eng, tracked, g_lo, g_hi, rate_f, {})
    fig = _figures(res)
    fig["pulse_gain"] = gain
    fig["window"] = chosen
    if vm_fig is not None:
        fig["vm"] = vm_fig
    return replace(res, figures=fig)


def _auto_window(act: Activity, opts: ImprintOptions, model: DeviceModel
                 ) -> tuple[ImprintOptions, dict]:
    """``window="auto"`` with the spike drive: a flat tail as long as the measured pre -> post
    lags and the mirror reference where co-activity sets the chance counts
    (``neuropaste.imprint.window``); the options and what was chosen (for imprint.json)."""
    from neuropaste.imprint import window

    if opts.window != "auto" or opts.drive != "spike":
        return opts, {"chosen": False, "why": "given" if opts.window != "auto" else
                      "the vm drive has its own window"}
    w = window.choose(act.times_s, act.neuron, act.n)
    if w is None:
        return opts, {"chosen": False, "why": "too few directed pairs to measure the lags"}
    scheme = replace(opts.scheme, tail="flat", tau=w.tail_ms * 1e-3 / opts.scheme.speedup)
    scheme.validate(model.rate)
    mirror = opts.mirror or (w.mirror and act.n - 1 >= opts.min_null_pairs)
    return replace(opts, scheme=scheme, mirror=mirror), {"chosen": True, **w.table(),
                                                         "mirror": mirror}


def _line_cells(cells: np.ndarray, n: int, k: int) -> np.ndarray:
    """Flat cells of neuron pairs -> the cells of their first drivers (row and column 0)."""
    return (cells // n) * k * (n * k) + (cells % n) * k


def _scaled(model: DeviceModel, gain: float) -> DeviceModel:
    """The model with its rates scaled by the pulse gain (a shorter SET overlap), if below 1."""
    if gain >= 1.0:
        return model
    r = model.rate
    return replace(model, rate=replace(r, k_pot=r.k_pot * gain, k_dep=r.k_dep * gain))


def _imprint_differential(act: Activity, model: DeviceModel, opts: ImprintOptions
                          ) -> ImprintResult:
    """``--drive vm`` with differential pairs (``neuropaste.imprint.vm``)."""
    from neuropaste.io.recording import open_recording

    n, scheme = act.n, opts.scheme
    if act.recording is None:
        raise InputError(None, "--drive vm needs a recording (membrane traces), not a map")
    if n - 1 < opts.min_null_pairs:
        raise InputError(act.recording, f"--drive vm needs at least {opts.min_null_pairs + 1} "
                         "channels (its null is empirical)")
    rec = open_recording(act.recording)
    sample = np.rint(act.times_s * rec.rate).astype(np.int64)
    spb = vm.bin_size(rec.rate, 1.0)
    bin_s = spb / rec.rate
    gain = vm.pedestal_gain(sample // spb, act.neuron, n, model, bin_s, scheme.speedup)
    model = _scaled(model, gain)
    rate_f, g_lo, g_hi = draw_d2d(model, (n, n), opts.seed)
    rate_m, lo_m, hi_m = draw_d2d(model, (n, n), opts.seed + 4)
    var = model.d2d_sigma > 0
    xp, xm, lag, es, events, vm_fig = vm.run_differential(
        rec, sample, act.neuron, model, scheme, rate_f if var else None,
        rate_m if var else None, opts.seed + 1)
    est = est_m = None
    if opts.compensation == "rescale":
        rng = np.random.default_rng(opts.seed + 3)
        noise = model.c2c_sigma / math.sqrt(opts.vm_calibration_pulses)
        est = rate_f * np.exp(noise * rng.standard_normal((n, n)))
        est_m = rate_m * np.exp(noise * rng.standard_normal((n, n)))
    out = readout.read_differential(xp, xm, g_lo, g_hi, lo_m, hi_m, model, opts.read_age_s,
                                    opts.compensation, est, est_m, lag, es, opts.fdr,
                                    np.bincount(act.neuron, minlength=n), bin_s)
    tracked = _tracked(act, opts.track)
    k = len(tracked)
    eng = engine.EngineResult(xp, lag, es, events, 0.0, 0, np.zeros((k, 1)),
                              xp.ravel()[tracked][:, None], np.ones(k, np.int64))
    res = ImprintResult(act, model, opts, out, eng, tracked, g_lo, g_hi, rate_f, {},
                        {"x": xm, "rate_factor": rate_m, "g_lo": lo_m, "g_hi": hi_m})
    fig = _figures(res)
    fig["pulse_gain"] = gain
    fig["vm"] = vm_fig
    return replace(res, figures=fig)


def pulse_gain(times_s: np.ndarray, line: np.ndarray, lines: int, model: DeviceModel,
               scheme: PulseScheme, target: float, sample: int = 64) -> float:
    """Dense activity would push every cell toward its bound by chance alone, where the
    connections' excess is lost. Before the imprint, the chance exposure is measured on a
    sub-crossbar of ``sample`` evenly spaced lines (ideal linear cells, the same scheme); if
    its median exceeds ``target`` (of the range), the rates are scaled down to meet it (a
    shorter SET overlap). Never above 1: sparse activity is imprinted as the device is."""
    idx = np.unique(np.linspace(0, lines - 1, min(sample, lines)).astype(np.int64))
    sel = np.isin(line, idx)
    if len(idx) < 3 or not sel.any():
        return 1.0
    remap = np.full(lines, -1, np.int64)
    remap[idx] = np.arange(len(idx))
    probe = replace(model.variation(False), kind="linear")
    e = engine.run(times_s[sel], remap[line[sel]], len(idx), probe, scheme, None, 0)
    med = float(np.median(e.exposure_sum[~np.eye(len(idx), dtype=bool)]))
    return 1.0 if med <= target else target / med


def _vm(act: Activity, model: DeviceModel, scheme: PulseScheme, rate_f: np.ndarray,
        opts: ImprintOptions, tracked: np.ndarray) -> tuple[engine.EngineResult, dict]:
    from neuropaste.io.recording import open_recording

    if act.recording is None:
        raise InputError(None, "--drive vm needs a recording (membrane traces), not a map")
    rec = open_recording(act.recording)
    sample = np.rint(act.times_s * rec.rate).astype(np.int64)
    x, lag, es, events, fig = vm.run(rec, sample, act.neuron, model, scheme,
                                     rate_f if model.d2d_sigma > 0 else None, opts.seed + 1)
    k = len(tracked)
    eng = engine.EngineResult(x, lag, es, events, 0.0, 0, np.zeros((k, 1)),
                              x.ravel()[tracked][:, None], np.ones(k, np.int64))
    return eng, fig


def _figures(res: ImprintResult) -> dict:
    act, model, opts, out, eng = res.activity, res.model, res.options, res.out, res.eng
    n, scheme = act.n, opts.scheme
    pot, dep = scheme.window(model.rate)
    spikes = int(len(act.times_s))
    g_mean = float(out.g.mean())
    k = opts.drivers
    half = spikes * 2 * (n * k - 1) * lone_energy(scheme, g_mean)
    pre, post, w, delay = res.connections()
    fig: dict = {
        "neurons": n, "spikes": spikes, "seconds": act.seconds,
        "drivers_per_neuron": k, "crossbar_lines": n * k, "cells_per_synapse": k * k,
        "mean_rate_hz": spikes / max(n * act.seconds, 1e-12),
        "stdp_window_ms": {"potentiation": pot * scheme.speedup * 1e3,
                           "depression": dep * scheme.speedup * 1e3},
        "disturb": scheme.disturb(model.rate, model.d2d_sigma),
        "overlaps": eng.overlaps, "pcm_resets": eng.resets,
        "write_energy_j": {"overlaps": eng.overlap_energy_j, "half_selected": half,
                           "total": eng.overlap_energy_j + half},
        "time_to_paste_s": act.seconds / scheme.speedup,
        "null": out.null,
        "found": {"excitatory": int((out.sign[pre, post] > 0).sum()),
                  "inhibitory": int((out.sign[pre, post] < 0).sum())},
        "conductance_S_percentiles_5_50_95": [float(v) for v in np.percentile(
            out.g, [5, 50, 95])],
        "delays_from": "excess-weighted lag of the potentiating overlaps",
    }
    if act.truth is not None:
        s = score(n, pre, post, out.sign[pre, post], w, act.truth)
        tw = act.true_weight
        hit = out.chosen & np.isfinite(tw)
        s["pearson_weight"] = readout.pearson(out.weight[hit], tw[hit])
        s["pearson_conductance"] = readout.pearson(readout.group(out.g, k)[hit], tw[hit])
        fig["truth"] = s
        fig["download"] = download(tw, model)
    return fig


def download(true_weight: np.ndarray, model: DeviceModel, levels: int = 64) -> dict:
    """The same map pasted the other way: each true synapse programmed cell by cell from g_min
    by program-and-verify (one pulse and one verify read per level step), its |weight| on
    ``levels`` levels; energy from the device table's pulse."""
    tw = np.nan_to_num(true_weight, nan=0.0)
    has = tw != 0
    if not has.any():
        return {"synapses": 0}
    mag = np.abs(tw[has])
    k = np.maximum(1, np.rint(mag / mag.max() * (levels - 1))).astype(np.int64)
    pulses = int(k.sum())
    q = np.sign(tw[has]) * k / (levels - 1) * mag.max()
    per_pulse = model.t_write + 50e-9
    rows = np.zeros(tw.shape[0], np.int64)
    np.maximum.at(rows, np.nonzero(has)[0], k)
    return {"synapses": int(has.sum()), "levels": levels, "pulses": pulses,
            "energy_j": pulses * model.pulse_energy(),
            "time_s_serial": pulses * per_pulse,
            "time_s_row_parallel": int(rows.sum()) * per_pulse,
            "pearson_weight": readout.pearson(q, tw[has])}


def write_outputs(res: ImprintResult, out: str | os.PathLike,
                  extra: Callable[[Path], None] | None = None) -> Path:
    """The directory, whole or not at all; ``extra(tmp)`` adds files from a higher layer (the
    CLI's report.html) before it is renamed into place."""
    from neuropaste.ir import write_npz
    from neuropaste.outputs import atomic_dir, write_json

    act, opts, model = res.activity, res.options, res.model
    pre, post, w, delay = res.connections()
    labels = act.labels
    differential = opts.drive == "vm" and opts.vm_scheme == "differential"
    with atomic_dir(out) as tmp:
        store = readout.tile_store(res.out.g, res.out.g_ref, drivers=opts.drivers)
        store.update(x=res.eng.x, g_lo=res.g_lo, g_hi=res.g_hi, rate_factor=res.rate_factor,
                     weight=res.out.weight, chosen=res.out.chosen, sign=res.out.sign,
                     latency_s=res.out.latency_s)
        if res.odd is not None:  # the differential pairs' G- cells (odd tile columns)
            store.update({f"odd_{k}": v for k, v in res.odd.items()})
        if act.true_weight is not None:
            store["target"] = np.nan_to_num(act.true_weight, nan=0.0)
        write_npz(tmp / CONDUCTANCES, store)
        cells = _line_cells(res.tracked, act.n, opts.drivers)  # followed on driver 0 of each
        write_npz(tmp / TRAJECTORIES, {"cell": res.tracked, "t_s": res.eng.track_t,
                                       "state": res.eng.track_x, "updates": res.eng.track_n,
                                       "g_lo": res.g_lo.flat[cells],
                                       "g_hi": res.g_hi.flat[cells]})
        write_npz(tmp / SPIKES, {"t_s": act.times_s, "neuron": act.neuron})
        buf = io.StringIO()
        wr = csv.writer(buf, lineterminator="\n")
        wr.writerow(["pre", "post", "weight", "delay"])
        wr.writerows((labels[a], labels[b], repr(float(x)), int(d)) for a, b, x, d in zip(
            pre.tolist(), post.tolist(), w.tolist(), delay.tolist(), strict=True))
        (tmp / LEARNED).write_text(buf.getvalue(), encoding="utf-8")
        doc = {
            "neuropaste_imprint": IMPRINT_VERSION,
            "labels": list(labels),
            "source": act.spec,
            # what the vm proof rebuilds the column drive from
            "recording_path": str(Path(act.recording).resolve()) if act.recording else None,
            "drive": opts.drive,
            "options": {k: v for k, v in asdict(opts).items() if k != "scheme"},
            "model": model.table(),
            "scheme": {**opts.scheme.table(), "breakpoints_s_V": [
                a.tolist() for a in opts.scheme.breakpoints()]},
            "initial_state": "RESET (g_min)",
            "signed_scheme": (
                "differential pair per synapse: G+ (even tile column, column driven at -u) "
                "and G- (odd, at +u); weight = (G+ - G-) per row spike minus the row's median"
                if differential else
                "reference per cell: weight = (G - G_ref)/dG, G_ref the chance level from row "
                "and column medians (odd tile column)"
                + (f"; each synapse the sum of the {opts.drivers} x {opts.drivers} cells of "
                   "its neurons' round-robin drivers (tile rows and columns name neuron and "
                   "driver: row_pre/row_driver, col_post/col_driver)"
                   if opts.drivers > 1 else "")),
            "weight_unit": (
                ("(G+ - G-) / (g_max - g_min)" if opts.compensation == "none" else
                 "net exposure difference in full-range pulse equivalents (rescale)")
                + " per row spike minus the row's median, at the median spike count"
                if differential else
                ("(G - G_ref) / (g_max - g_min)" if opts.compensation == "none" else
                 "net exposure in full-range pulse equivalents (rescale)")
                + ", normalised to the median spike count (x m / sqrt(n_pre n_post)),"
                " signed square root"),
            "figures": res.figures,
            "files": [IMPRINT_JSON, CONDUCTANCES, LEARNED, TRAJECTORIES, SPIKES],
        }
        write_json(tmp / IMPRINT_JSON, doc)
        if extra is not None:
            extra(tmp)
    return Path(out)


def is_imprint(path: str | os.PathLike) -> bool:
    return Path(path).is_dir() and (Path(path) / IMPRINT_JSON).is_file()


def learned_map(path: str | os.PathLike):
    """The map an imprint directory learned (labels from its source, signed weights in units
    of the conductance range, delays from the measured latencies)."""
    from neuropaste.cmap import ConnectivityMap

    root = Path(path)
    try:
        doc = Imprinted.open(root).doc
        labels = doc["labels"]
        with open(root / LEARNED, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, ValueError, KeyError) as err:
        raise InputError(root, f"not a readable imprint directory: {err}") from None
    index = {lab: i for i, lab in enumerate(labels)}
    try:
        pre = [index[r["pre"]] for r in rows]
        post = [index[r["post"]] for r in rows]
        weight = [float(r["weight"]) for r in rows]
        delay = [int(r["delay"]) for r in rows]
    except (KeyError, ValueError) as err:
        raise InputError(root / LEARNED, f"bad row: {err}") from None
    if not rows:
        raise InputError(root, "the imprint learned no connections: nothing to compile or "
                               "export")
    return ConnectivityMap.build(
        labels, pre, post, weight, delay,
        meta={"source": f"imprint:{root.name}", "reader": "neuropaste.imprint",
              "weight_unit": doc.get("weight_unit"), "model": doc["model"]["name"]})
