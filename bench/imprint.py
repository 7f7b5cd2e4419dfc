"""Imprint: STDP on an N x N crossbar against copy's spike-only baseline and against download.

For each culture (``neuropaste culture``, Brian2; made once and reused from ``--work``, or
given with ``--culture DIR``):

- spikes detected once (``copy``'s detector); the spike-only baseline (cross-correlograms
  against a slow Poisson null, ``neuropaste.copy.baseline``) run on the same spikes;
- the imprint with each device model (linear, soft-bounds, exponential +-3, pcm), with and
  without variation, and with read-verify-rescale compensation: connections found, precision,
  MCC per sign, true connections found at the baseline's precision (both methods ranked by
  their own statistic), Pearson r between the imprinted weights (G - G_ref) and the true PSP
  amplitudes of the recovered connections;
- imprint against download of the same (true) map: fidelity, time to paste, write energy.

``--big DIR`` times ``neuropaste imprint`` on a large recording (spike detection included) as a
separate process: wall, CPU and peak memory (target: 1,728 neurons x 600 s in <= 5 min, < 4 GB).

    .venv/bin/python bench/imprint.py --culture /tmp/bench-copy/default-500x600 \
        --culture /tmp/bench-copy/other-500x300 --big /tmp/bench-copy/default-1728x600
"""

# ruff: noqa: E402
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from neuropaste.copy.baseline import BaselineOptions, ccg_test
from neuropaste.copy.fdr import bh_qvalues
from neuropaste.copy.responses import bin_size
from neuropaste.copy.score import score
from neuropaste.imprint.run import DEFAULT_DRIVERS, ImprintOptions, imprint
from neuropaste.imprint.sources import Activity, from_recording
from neuropaste.io.recording import read_truth
from neuropaste.plasticity import MODELS, PulseScheme

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import copy_detect  # the same cultures as the copy bench

PY = sys.executable
OTHER = copy_detect.OTHER


def culture(work: Path, name: str, neurons: int, seconds: float, extra: list[str]) -> Path:
    """copy_detect's culture (simulated once, then reused), named by its size."""
    return copy_detect.culture(work, f"{name}-{neurons}x{seconds:g}", neurons, seconds, extra)


def activity(rec_dir: Path, work: Path) -> tuple[Activity, float]:
    """Detected spikes, cached beside the bench's other outputs."""
    cache = work / f"{rec_dir.name}-spikes.npz"
    truth_path = str(rec_dir / "truth.csv")
    if cache.is_file():
        with np.load(cache) as d:
            labels = tuple(str(x) for x in d["labels"])
            t = read_truth(truth_path, labels)
            tw = np.full((len(labels),) * 2, np.nan)
            c = t.sign != 0
            tw[t.pre[c], t.post[c]] = t.sign[c] * np.abs(np.nan_to_num(t.psp_mV[c], nan=1.0))
            return Activity(labels, d["t"], d["n"], float(d["seconds"]), t, tw,
                            json.loads(str(d["spec"])), str(rec_dir / "recording.nwb")
                            ), float(d["rate"])
    t0 = time.perf_counter()
    act = from_recording(rec_dir / "recording.nwb", truth_path)
    print(f"{rec_dir.name}: spikes detected in {time.perf_counter() - t0:.0f} s", flush=True)
    np.savez(cache, t=act.times_s, n=act.neuron, labels=np.array(act.labels),
             seconds=act.seconds, spec=json.dumps(act.spec), rate=act.spec["rate_hz"])
    return act, float(act.spec["rate_hz"])


def at_precision(stat: np.ndarray, sign_pred: np.ndarray, truth_sign: np.ndarray,
                 precision: float) -> int:
    """True connections (right sign) among the top-k pairs by ``stat``, for the largest k whose
    precision is at least ``precision``."""
    n = stat.shape[0]
    off = ~np.eye(n, dtype=bool)
    order = np.argsort(-stat[off], kind="stable")
    ok = (sign_pred[off] == truth_sign[off])[order] & (truth_sign[off][order] != 0)
    tp = np.cumsum(ok)
    prec = tp / np.arange(1, len(tp) + 1)
    good = np.nonzero(prec >= precision)[0]
    return int(tp[good[-1]]) if len(good) else 0


def baseline(act: Activity, rate: float) -> dict:
    n = act.n
    spb = bin_size(rate, 1.0)
    sbin = np.rint(act.times_s * rate).astype(np.int64) // spb
    n_bins = int(act.seconds * rate) // spb
    keep = sbin < n_bins
    t0 = time.perf_counter()
    c = ccg_test(sbin[keep], act.neuron[keep], n, n_bins + 1, BaselineOptions())
    off = ~np.eye(n, dtype=bool)
    sign = np.where(c.p_up <= c.p_down, 1, -1)
    chosen = np.zeros((n, n), bool)
    for s, p in ((1, c.p_up), (-1, c.p_down)):
        q = np.ones((n, n))
        q[off] = bh_qvalues(p[off])
        chosen |= (q <= 0.05) & (sign == s) & off
    pre, post = np.nonzero(chosen)
    w = (c.observed - c.expected)[pre, post]
    fig = score(n, pre, post, sign[pre, post], w, act.truth)
    fig["seconds"] = time.perf_counter() - t0
    fig["stat"] = -np.log10(np.maximum(np.minimum(c.p_up, c.p_down), 1e-300))
    fig["sign"] = sign
    return fig


def truth_sign(act: Activity) -> np.ndarray:
    ts = np.zeros((act.n, act.n), np.int8)
    c = act.truth.sign != 0
    ts[act.truth.pre[c], act.truth.post[c]] = act.truth.sign[c]
    return ts


def run_culture(rec_dir: Path, work: Path, variants: list[tuple]) -> dict:
    act, rate = activity(rec_dir, work)
    base = baseline(act, rate)
    ts = truth_sign(act)
    base_prec = base["precision"]
    out = {"culture": rec_dir.name, "neurons": act.n, "seconds": act.seconds,
           "spikes": len(act.times_s),
           "baseline": {k: base[k] for k in ("found_connections", "true_found_any_sign",
                                             "precision", "recall", "seconds")}
           | {"mcc_e": base["excitatory"]["mcc"], "mcc_i": base["inhibitory"]["mcc"],
              "true_found": base["excitatory"]["true_positives"]
              + base["inhibitory"]["true_positives"],
              "true_at_own_precision": at_precision(base["stat"], base["sign"], ts,
                                                    base_prec)},
           "imprint": []}
    b = out["baseline"]
    print(f"  spike-only baseline: found {b['found_connections']:5d} true {b['true_found']:5d} "
          f"prec {b['precision']:.3f} MCC E {b['mcc_e']:.3f} I {b['mcc_i']:.3f}", flush=True)
    for model, var, comp, *more in variants:
        extra = more[0] if more else {}
        t0 = time.perf_counter()
        res = imprint(act, ImprintOptions(model=model, variation=var, compensation=comp,
                                          **({"window": "given"} | extra)))
        dt = time.perf_counter() - t0
        f = res.figures["truth"]
        z = res.out.z
        row = {"model": model, "variation": var, "compensation": comp, "seconds": dt,
               "window": window_label(extra, res.figures["window"]),
               "found": f["found_connections"],
               "true_found": int(((res.out.sign == ts) & res.out.chosen & (ts != 0)).sum()),
               "precision": f["precision"], "mcc_e": f["excitatory"]["mcc"],
               "mcc_i": f["inhibitory"]["mcc"],
               "true_at_baseline_precision": at_precision(np.abs(z), res.out.sign, ts,
                                                          base_prec),
               "pearson_r": f["pearson_weight"],
               "overlaps": res.figures["overlaps"],
               "write_energy_j": res.figures["write_energy_j"]["total"],
               "time_to_paste_s": res.figures["time_to_paste_s"],
               "download": res.figures["download"]}
        out["imprint"].append(row)
        print(f"  {model:12s} var={var!s:5s} {comp:7s} {row['window']:18s} found "
              f"{row['found']:5d} true "
              f"{row['true_found']:5d} prec {row['precision']:.3f} MCC E {row['mcc_e']:.3f} "
              f"I {row['mcc_i']:.3f}; true at the baseline's precision "
              f"{row['true_at_baseline_precision']} (baseline {b['true_found']}); r "
              + ("n/a" if row["pearson_r"] is None else f"{row['pearson_r']:.3f}")
              + f" ({dt:.1f} s)", flush=True)
    return out


def window_label(extra: dict, chosen: dict | None = None) -> str:
    """How a variant's window, chance level and drivers read in the tables (``chosen``: what
    ``--window auto`` picked)."""
    k = f", K={extra.get('drivers', DEFAULT_DRIVERS)}"
    if chosen and chosen.get("chosen"):
        return (f"auto: flat {chosen['tail_ms']:g} ms" + (", mirror" if chosen["mirror"]
                                                          else "") + k)
    s = extra.get("scheme", PulseScheme())
    return (("auto (fell back): " if extra.get("window") == "auto" else "")
            + f"{s.tail} {s.tau * s.speedup * 1e3:g} ms"
            + (", mirror" if extra.get("mirror") else "") + k)


def map_source(work: Path, n: int = 100, steps: int = 300_000) -> list[dict]:
    """A random map (5 % connected, lognormal weights, 20 % inhibitory) run by the reference
    model: Pearson r of the imprinted weights against the map's, per model."""
    from neuropaste.cmap import ConnectivityMap
    from neuropaste.events import poisson
    from neuropaste.imprint.sources import from_map
    from neuropaste.neuron import QuantOptions

    rng = np.random.default_rng(1)
    pre, post, w, d = [], [], [], []
    for i in range(n):
        for j in range(n):
            if i != j and rng.random() < 0.05:
                pre.append(i)
                post.append(j)
                w.append(rng.lognormal(np.log(6), 0.5) * (1 if rng.random() < 0.8 else -1.5))
                d.append(int(rng.integers(1, 4)))
    cmap = ConnectivityMap.build([f"n{i}" for i in range(n)], pre, post, w, d)
    act = from_map(cmap, QuantOptions(threshold=20), steps, poisson(n, steps, 0.005, 0), {},
                   1.0, "random100")
    rows = []
    for model, var, comp in [("linear", False, "none"), ("soft-bounds", True, "none"),
                             ("exponential", False, "none"), ("exponential", True, "none"),
                             ("exponential", True, "rescale"), ("pcm", True, "rescale")]:
        f = imprint(act, ImprintOptions(model=model, variation=var, compensation=comp,
                                        window="given")).figures["truth"]
        rows.append({"model": model, "variation": var, "compensation": comp,
                     "pearson_r": f["pearson_weight"], "precision": f["precision"],
                     "recall": f["recall"], "found": f["found_connections"]})
        print(f"  map source: {model:12s} var={var!s:5s} {comp:7s} r {f['pearson_weight']:.3f} "
              f"prec {f['precision']:.3f} recall {f['recall']:.3f}", flush=True)
    return rows


def vm_vs_copy(rec_dir: Path, work: Path) -> dict:
    """--drive vm (each scheme) against copy's intracellular method on the same recording."""
    from neuropaste.copy.run import CopyOptions, copy_recording
    from neuropaste.imprint.vm import SCHEMES
    from neuropaste.io.recording import open_recording

    act, _ = activity(rec_dir, work)
    row: dict = {"culture": rec_dir.name}
    for scheme in SCHEMES:
        t0 = time.perf_counter()
        res = imprint(act, ImprintOptions(drive="vm", vm_scheme=scheme))
        t_vm = time.perf_counter() - t0
        f = res.figures["truth"]
        row[f"vm_{scheme}"] = v = {
            "mcc_e": f["excitatory"]["mcc"], "mcc_i": f["inhibitory"]["mcc"],
            "found": f["found_connections"], "precision": f["precision"],
            "recall": f["recall"], "pearson_r": f["pearson_weight"], "seconds": t_vm}
        print(f"  vm {scheme:12s}: MCC E {v['mcc_e']:.3f} I {v['mcc_i']:.3f} prec "
              f"{v['precision']:.3f} recall {v['recall']:.3f} r "
              + ("n/a" if v["pearson_r"] is None else f"{v['pearson_r']:.3f}")
              + f" ({t_vm:.0f} s)", flush=True)
    t0 = time.perf_counter()
    cp = copy_recording(open_recording(rec_dir / "recording.nwb"), CopyOptions(), act.truth)
    t_cp = time.perf_counter() - t0
    g = cp.figures["truth"]
    row["intracellular"] = {"mcc_e": g["excitatory"]["mcc"], "mcc_i": g["inhibitory"]["mcc"],
                            "found": g["found_connections"], "precision": g["precision"],
                            "seconds": t_cp}
    print(f"  intracellular copy: MCC E {row['intracellular']['mcc_e']:.3f} I "
          f"{row['intracellular']['mcc_i']:.3f} ({t_cp:.0f} s)", flush=True)
    return row


def big(rec_dir: Path, work: Path) -> dict:
    out = work / f"{rec_dir.name}-imprint"
    cmd = [PY, "-m", "neuropaste", "imprint", str(rec_dir / "recording.nwb"), "--truth",
           str(rec_dir / "truth.csv"), "--out", str(out)]
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter() - t0
    f = json.loads((out / "imprint.json").read_text())["figures"]
    return {"culture": rec_dir.name, "wall_s": wall,
            "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "peak_MB": after.ru_maxrss / 1024, "spikes": f["spikes"], "neurons": f["neurons"],
            "seconds": f["seconds"], "overlaps": f["overlaps"],
            "found": f["truth"]["found_connections"],
            "true_found": f["truth"]["true_found_any_sign"],
            "precision": f["truth"]["precision"]}


#: the device-model table, on the CLI's default window (chosen from the recording's lags)
VARIANTS = [(m, v, "none", {"window": "auto"}) for m in MODELS for v in (False, True)] + [
    (m, True, "rescale", {"window": "auto"}) for m in ("exponential", "pcm", "linear")]
#: the STDP window on the defaults (soft-bounds, variation, rescale) and on ideal linear
#: devices: the ramp tail of 30 ms (the default) against a flat 9 ms box, each with and without
#: --mirror
FLAT9 = PulseScheme(tail="flat", tau=9e-6)
FLAT15 = PulseScheme(tail="flat", tau=15e-6)
#: the issue's nonlinear case: exponential +-3 with 10 % device-to-device spread
MODELS["exponential-d2d10"] = replace(MODELS["exponential"], name="exponential-d2d10",
                                      d2d_sigma=0.10)
#: --drivers: K round-robin drivers per neuron (1, 2, 3) on the defaults and on the windows
#: that matter on the dense culture
DRIVERS = [(m, v, c, {**extra, "drivers": k}) for k in (1, 2, 3) for m, v, c, extra in (
    ("soft-bounds", True, "rescale", {}),
    ("soft-bounds", True, "rescale", {"scheme": FLAT9, "mirror": True}),
    ("soft-bounds", True, "rescale", {"scheme": FLAT15, "mirror": True}),
    ("soft-bounds", True, "rescale", {"scheme": FLAT15}))]
#: --pearson: the r targets (ideal linear >= 0.9; exponential +-3 with 10 % d2d >= 0.8)
PEARSON = [(m, v, c, {"scheme": sch, "drivers": k}) for sch in (FLAT9, FLAT15) for k in (1, 2)
           for m, v, c in (("linear", False, "none"), ("exponential-d2d10", True, "none"),
                           ("exponential-d2d10", True, "rescale"))]
#: --auto: the CLI default (--window auto: window and reference from the measured lags) on
#: the default devices and on the r targets' devices
AUTO = [("soft-bounds", True, "rescale", {"window": "auto"}),
        ("linear", False, "none", {"window": "auto"}),
        ("exponential-d2d10", True, "rescale", {"window": "auto"})]
WINDOWS = [("soft-bounds", True, "rescale", {}),
           ("soft-bounds", True, "rescale", {"scheme": FLAT9}),
           ("soft-bounds", True, "rescale", {"mirror": True}),
           ("soft-bounds", True, "rescale", {"scheme": FLAT9, "mirror": True}),
           ("linear", False, "none", {}),
           ("linear", False, "none", {"scheme": FLAT9})]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default="bench-imprint", help="cultures, spikes, outputs (reused)")
    ap.add_argument("--culture", action="append", default=[], help="an existing culture dir")
    ap.add_argument("--neurons", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--big", default=None, help="a large culture dir to time imprint on")
    ap.add_argument("--json", default=None, help="write the figures here")
    ap.add_argument("--vm", action="store_true",
                    help="also --drive vm against the intracellular copy on each culture")
    ap.add_argument("--no-models", action="store_true", help="skip the device-model table")
    ap.add_argument("--windows", action="store_true",
                    help="only the window/reference variants (WINDOWS), not the model table")
    ap.add_argument("--dense", action="append", default=[],
                    help="a dense culture dir: the WINDOWS variants on it (spikes cached)")
    ap.add_argument("--drivers", action="store_true",
                    help="only the DRIVERS variants (K drivers per neuron), on every culture "
                         "and --dense culture")
    ap.add_argument("--pearson", action="store_true",
                    help="only the PEARSON variants (the r targets) on the --culture dirs")
    ap.add_argument("--auto", action="store_true",
                    help="only the AUTO variants (the default --window auto) on every culture "
                         "and --dense culture (the dense one: the default devices only)")
    ap.add_argument("--map-source", action="store_true",
                    help="also Pearson r on a random map run by the reference model")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    dirs = [Path(c) for c in args.culture] or [
        culture(work, "default", args.neurons, args.seconds, []),
        culture(work, "other", args.neurons, args.seconds, OTHER)]
    results = {"cultures": [], "vm": [], "big": None, "map_source": None}
    if args.map_source:
        print("== random 100-neuron map, reference model", flush=True)
        results["map_source"] = map_source(work)
    for d in dirs:
        print(f"== {d.name}", flush=True)
        if not args.no_models:
            results["cultures"].append(run_culture(
                d, work, AUTO if args.auto else DRIVERS if args.drivers else PEARSON
                if args.pearson else WINDOWS if args.windows else VARIANTS + WINDOWS[1:]))
        if args.vm:
            results["vm"].append(vm_vs_copy(d, work))
    for d in args.dense:
        print(f"== {Path(d).name} (dense)", flush=True)
        results["cultures"].append(run_culture(Path(d), work, AUTO[:1] if args.auto else
                                               DRIVERS if args.drivers else WINDOWS))
    if args.big:
        results["big"] = big(Path(args.big), work)
        b = results["big"]
        print(f"== big: {b['neurons']} neurons x {b['seconds']:g} s, {b['spikes']} spikes: "
              f"wall {b['wall_s']:.0f} s, CPU {b['cpu_s']:.0f} s, peak {b['peak_MB']:.0f} MB; "
              f"{b['true_found']} true of {b['found']} found")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
