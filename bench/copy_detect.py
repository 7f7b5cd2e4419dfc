"""Copy: connectivity recovered from simulated cultures, against the spike-only baseline.

For each culture (``neuropaste culture``, Brian2; made once and reused from ``--work``):

- ``neuropaste copy`` with both methods as separate processes, timed, with their peak memory
  (the intracellular method is the one with the 10-minute / 4 GB target);
- E and I precision, recall and MCC, sign accuracy, amplitude correlation, recall by PSP size;
- true connections found by the intracellular method at the spike-only method's precision,
  over those the spike-only method finds (target >= 4x; the paper's 304 to 63);
- MCC against recording length (the first 1/8, 1/4, 1/2 and all of the same recording);
- recall and MCC against electrode coupling (postsynaptic pads binned by their gain).

The peer is the spike-train-only method run on the same spikes in the same run.

    .venv/bin/python bench/copy_detect.py                       # default culture, 1,728 x 600 s
    .venv/bin/python bench/copy_detect.py --neurons 500 --seconds 120 --other
"""

# ruff: noqa: E402
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from neuropaste.copy.run import CopyOptions, copy_recording
from neuropaste.copy.score import score
from neuropaste.io.recording import Recording, open_recording, read_truth

_HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable
#: the "other" culture: weaker pads, more recording noise, a higher rate, more inhibition
OTHER = ["--coupling", "0.2", "--record-noise-mv", "0.1", "--rate-hz", "4",
         "--exc-fraction", "0.7", "--psp-mv", "0.4"]


def culture(work: Path, name: str, neurons: int, seconds: float, extra: list[str]) -> Path:
    out = work / name
    if not (out / "recording.nwb").exists():
        t0 = time.perf_counter()
        subprocess.run([PY, "-m", "neuropaste", "culture", "--out", str(out), "--neurons",
                        str(neurons), "--seconds", str(seconds), *extra], check=True)
        print(f"{name}: culture simulated in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def run_cli(rec_dir: Path, out: Path, method: str) -> dict:
    """One ``neuropaste copy`` process: wall time, peak RSS and its JSON."""
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", PY, "-m", "neuropaste", "copy",
                           str(rec_dir / "recording.nwb"), "--out", str(out), "--method",
                           method, "--truth", str(rec_dir / "truth.csv")],
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    peak_kb = int(proc.stderr.strip().splitlines()[-1])
    doc = json.loads(out.with_name(out.stem + ".copy.json").read_text())
    return {"seconds": wall, "peak_MB": peak_kb / 1024, "doc": doc}


def true_at_precision(doc: dict, truth, index: dict, precision: float) -> tuple[int, float]:
    """Most true connections among the intracellular map's, taken in order of q, at a
    precision >= ``precision`` (a lower bound: pairs beyond its FDR are not looked at)."""
    c = doc["connections"]
    true = {(int(a), int(b)): int(s) for a, b, s in zip(truth.pre, truth.post, truth.sign,
                                                         strict=True) if s != 0}
    order = np.argsort(np.array(c["q"]), kind="stable")
    hit = np.array([true.get((index[c["pre"][k]], index[c["post"][k]])) == c["sign"][k]
                    for k in order.tolist()], bool)
    if not len(hit):
        return 0, 0.0
    tp = np.cumsum(hit)
    prec = tp / np.arange(1, len(tp) + 1)
    ok = np.flatnonzero(prec >= precision)
    if not len(ok):
        return 0, 0.0
    k = ok[np.argmax(tp[ok])]
    return int(tp[k]), float(prec[k])


def by_length(rec, truth, fractions: list[float]) -> list[dict]:
    rows = []
    for f in fractions:
        part = dataclasses.replace(rec, n_samples=int(rec.n_samples * f), _handle={})
        r = copy_recording(part, CopyOptions(), truth)
        t = r.figures["truth"]
        rows.append({"seconds": part.n_samples / part.rate,
                     "mcc_e": t["excitatory"]["mcc"], "mcc_i": t["inhibitory"]["mcc"],
                     "recall": t["recall"], "precision": t["precision"]})
    return rows


def by_coupling(doc: dict, truth, index: dict, gains: np.ndarray, bins: int = 4) -> list[dict]:
    """Chemical recall/MCC for the postsynaptic pads in each quantile of pad gain."""
    n = len(gains)
    c = doc["connections"]
    pre = np.array([index[x] for x in c["pre"]], np.int64)
    post = np.array([index[x] for x in c["post"]], np.int64)
    sign, weight = np.array(c["sign"], np.int64), np.array(c["weight"])
    edges = np.quantile(gains, np.linspace(0, 1, bins + 1))
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        posts = (gains >= lo) & (gains <= hi)
        keep = posts[post]
        tk = posts[truth.post]
        sub = dataclasses.replace(truth, pre=truth.pre[tk], post=truth.post[tk],
                                  sign=truth.sign[tk], psp_mV=truth.psp_mV[tk],
                                  delay_ms=truth.delay_ms[tk])
        t = score(n, pre[keep], post[keep], sign[keep], weight[keep], sub)
        rows.append({"gain": [float(lo), float(hi)], "recall": t["recall"],
                     "precision": t["precision"], "mcc_e": t["excitatory"]["mcc"],
                     "mcc_i": t["inhibitory"]["mcc"]})
    return rows


def bench(work: Path, name: str, neurons: int, seconds: float, extra: list[str],
          lengths: bool) -> dict:
    rec_dir = culture(work, name, neurons, seconds, extra)
    runs = {m: run_cli(rec_dir, work / f"{name}-{m}.csv", m) for m in ("intracellular",
                                                                         "spikes")}
    rec = open_recording(rec_dir / "recording.nwb")
    truth = read_truth(rec_dir / "truth.csv", rec.labels)
    index = {lab: i for i, lab in enumerate(rec.labels)}
    intra = runs["intracellular"]["doc"]
    base = runs["spikes"]["doc"]["figures"]["truth"]
    base_tp = base["excitatory"]["true_positives"] + base["inhibitory"]["true_positives"]
    tp, prec = true_at_precision(intra, truth, index, base["precision"])
    gains = np.array(json.loads((rec_dir / "culture.json").read_text())["pad_gain"])
    out = {
        "culture": name, "neurons": rec.n_channels, "seconds": rec.duration,
        "arguments": extra,
        "methods": {m: {"seconds": r["seconds"], "peak_MB": r["peak_MB"],
                        "figures": r["doc"]["figures"]} for m, r in runs.items()},
        "at_spike_precision": {"spike_precision": base["precision"], "spike_true": base_tp,
                               "intracellular_true": tp, "intracellular_precision": prec,
                               "ratio": tp / base_tp if base_tp else None},
        "by_coupling": by_coupling(intra, truth, index, gains),
    }
    if lengths:
        full = intra["figures"]["truth"]
        out["by_length"] = by_length(rec, truth, [0.125, 0.25, 0.5]) + [{
            "seconds": rec.duration, "mcc_e": full["excitatory"]["mcc"],
            "mcc_i": full["inhibitory"]["mcc"], "recall": full["recall"],
            "precision": full["precision"]}]
    return out


def report(r: dict) -> None:
    print(f"\n== {r['culture']}: {r['neurons']} neurons x {r['seconds']:g} s "
          f"{' '.join(r['arguments'])}")
    for m, x in r["methods"].items():
        t = x["figures"]["truth"]
        e, i = t["excitatory"], t["inhibitory"]
        print(f"{m:13s} {x['seconds']:7.1f} s {x['peak_MB']:7.0f} MB | "
              f"E P {e['precision']:.3f} R {e['recall']:.3f} MCC {e['mcc']:.3f} | "
              f"I P {i['precision']:.3f} R {i['recall']:.3f} MCC {i['mcc']:.3f} | "
              f"true found {e['true_positives'] + i['true_positives']}/{t['true_connections']}"
              f" sign acc {t['sign_accuracy']:.3f} amp r "
              + ("n/a" if t["amplitude_correlation"] is None
                 else f"{t['amplitude_correlation']:.3f}"))
        print("              recall by PSP: " + ", ".join(
            f"{b['psp_mV'][0]}-{b['psp_mV'][1] or ''} mV {b['recall']:.2f}"
            for b in t["recall_by_psp"] if b["true"]))
    a = r["at_spike_precision"]
    ratio = "inf (spike-only finds none)" if a["ratio"] is None else f"{a['ratio']:.1f}x"
    print(f"at the spike-only precision {a['spike_precision']:.3f}: intracellular "
          f"{a['intracellular_true']} true vs spike-only {a['spike_true']} -> {ratio}")
    for row in r.get("by_length", []):
        print(f"  length {row['seconds']:6.0f} s: MCC E {row['mcc_e']:.3f} I {row['mcc_i']:.3f}"
              f" recall {row['recall']:.3f} precision {row['precision']:.3f}")
    for row in r["by_coupling"]:
        print(f"  pad gain {row['gain'][0]:.2f}-{row['gain'][1]:.2f}: MCC E {row['mcc_e']:.3f}"
              f" I {row['mcc_i']:.3f} recall {row['recall']:.3f}")


class Tiled:
    """A recording played ``times`` times end to end: the data volume and spike density of a
    recording ``times`` as long, for timing and memory when simulating one is too slow."""

    def __init__(self, rec, times: int):
        self.rec, self.times = rec, times
        self.labels, self.rate = rec.labels, rec.rate
        self.n_channels, self.n_samples = rec.n_channels, rec.n_samples * times

    def read(self, start: int, stop: int, channels=None) -> np.ndarray:
        n = self.rec.n_samples
        parts, t = [], start
        while t < min(stop, self.n_samples):
            a = t % n
            b = min(n, a + min(stop, self.n_samples) - t)
            parts.append(self.rec.read(a, b, channels))
            t += b - a
        return np.concatenate(parts) if parts else self.rec.read(0, 0, channels)

    chunks = Recording.chunks  # the reader's own blocks, over read() above


def tiled_timing(path: str, times: int) -> dict:
    """copy (intracellular) of ``path`` played ``times`` times, in a fresh process."""
    code = ("import sys, time, resource, json; sys.argv = ['x']; "
            f"sys.path[:0] = [{_HERE!r}]; "
            "import importlib.util as u; s = u.spec_from_file_location('benchcopy', "
            f"{os.path.join(_HERE, 'copy_detect.py')!r}); m = u.module_from_spec(s); "
            "s.loader.exec_module(m); "
            "from neuropaste.io.recording import open_recording; "
            "from neuropaste.copy.run import CopyOptions, copy_recording; "
            f"rec = m.Tiled(open_recording({path!r}), {times}); t = time.perf_counter(); "
            "r = copy_recording(rec, CopyOptions()); w = time.perf_counter() - t; "
            "ru = resource.getrusage(resource.RUSAGE_SELF); "
            "print(json.dumps({'wall_s': w, 'cpu_s': ru.ru_utime + ru.ru_stime, "
            "'peak_MB': ru.ru_maxrss / 1024, 'seconds': rec.n_samples / rec.rate, "
            "'channels': rec.n_channels, 'spikes': r.figures['spikes']}))")
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurons", type=int, default=1728)
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--work", default="bench-copy", help="cultures and maps (reused)")
    ap.add_argument("--other", action="store_true",
                    help="also the culture with other parameters (" + " ".join(OTHER) + ")")
    ap.add_argument("--other-only", action="store_true", help="only that culture")
    ap.add_argument("--other-seconds", type=float, default=None,
                    help="length of the other culture (default --seconds)")
    ap.add_argument("--no-lengths", action="store_true", help="skip MCC vs length")
    ap.add_argument("--json", default=None, help="write the figures here")
    ap.add_argument("--tiled", nargs=2, metavar=("RECORDING", "TIMES"), default=None,
                    help="only: time copy on RECORDING played TIMES times end to end")
    args = ap.parse_args()
    if args.tiled:
        r = tiled_timing(args.tiled[0], int(args.tiled[1]))
        print(f"tiled {r['channels']} channels x {r['seconds']:g} s ({r['spikes']} spikes): "
              f"wall {r['wall_s']:.0f} s, cpu {r['cpu_s']:.0f} s, peak {r['peak_MB']:.0f} MB")
        return
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results = []
    if not args.other_only:
        results.append(bench(work, f"default-{args.neurons}x{args.seconds:g}", args.neurons,
                             args.seconds, [], not args.no_lengths))
        report(results[-1])
    if args.other or args.other_only:
        sec = args.other_seconds or args.seconds
        results.append(bench(work, f"other-{args.neurons}x{sec:g}", args.neurons, sec, OTHER,
                             not args.no_lengths))
        report(results[-1])
    print(f"\nbench peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
