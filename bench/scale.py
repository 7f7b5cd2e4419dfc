"""The whole compile at scale: wall time and peak memory of ``neuropaste compile MAP
--memory-dies 4`` (issue 16's targets), and their growth with the synapse count.

The stack is ``bench/scale_stack.toml`` (4 dies, 2 um via pitch): with the default 10 um pitch
the TSV budget of a die interface (250,000) is far below what 10^5 neurons need. Each case runs
the real command in its own process (so peak memory is that compile's alone),
on a map file written beforehand (generation is not timed; reading it is). The growth rows
fit time = a * synapses^b and memory likewise by least squares on log-log axes.

    cd bench && ../.venv/bin/python scale.py                  # the targets table
    cd bench && ../.venv/bin/python scale.py --growth         # 1e6 .. 1e8 only (slow)
    cd bench && ../.venv/bin/python scale.py --growth microcircuit --backends spice
    cd bench && ../.venv/bin/python scale.py --case clustered-1e5 --backends spice

With both backends (the default) ``compile`` runs them at the same time, the RTL backend in a
forked process (``neuropaste.compile.run_backends``), when their predicted memory fits 2/3 of
the machine's (else in turn, the RTL one still forked: S = 1); the manifest's peak is then the
compile's plus what the forked one grew (at the same time) or the larger of the two (in turn).
The table gives each backend's own time beside the whole compile's.

Clustered maps: ``k`` distinct-ish targets per neuron, 90 % inside the source's cluster of
1,000 neurons, the rest anywhere, weights N(0.2, 1), delay 1, labels hidden behind a random
permutation (so the compiler has to find the structure).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from neuropaste.cmap import ConnectivityMap
from neuropaste.io import save_map

ROOT = Path(__file__).resolve().parent.parent
NEUROPASTE = str(Path(sys.executable).parent / "neuropaste")
STACK = Path(__file__).with_name("scale_stack.toml")  # fine-pitch vias: docs/scale.md


def clustered(n: int, k: int, cluster: int = 1000, local: float = 0.9, seed: int = 1
              ) -> ConnectivityMap:
    """A spatially clustered random map, vectorised (duplicates merge in the map)."""
    rng = np.random.default_rng(seed)
    inside = int(round(k * local))
    base = (np.arange(n) // cluster * cluster)[:, None]
    size = np.minimum(cluster, n - base)
    post = np.concatenate([base + rng.integers(0, 1 << 30, (n, inside)) % size,
                           rng.integers(0, n, (n, k - inside))], axis=1).ravel()
    pre = np.repeat(np.arange(n), k)
    perm = rng.permutation(n)
    return ConnectivityMap.build([f"z{i}" for i in range(n)], perm[pre], perm[post],
                                 rng.normal(0.2, 1, n * k).astype(np.float32),
                                 np.ones(n * k, np.int8))


#: name -> (map source or a clustered map's (n, k)), the issue's limits (s, GB)
CASES = {
    "microcircuit-0.1": ("builtin:microcircuit?scale=0.1", 120, 4),
    "microcircuit-1": ("builtin:microcircuit?scale=1", 1800, 16),
    "clustered-1e5": ((100_000, 100), 180, 4),
}
GROWTH = {"clustered": {"1e6": (10_000, 100), "1e7": (100_000, 100), "1e8": (100_000, 1000)},
          "microcircuit": {f"S={s}": f"builtin:microcircuit?scale={s}"
                           for s in (0.03, 0.1, 0.3)}}


def compile_case(source: str, out: Path, backends: str, steps: int) -> dict:
    """One compile in its own process: wall time, peak RSS and the manifest's figures."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    spice = ["--memory-dies", "4", "--stack", str(STACK)] if "spice" in backends else []
    proc = subprocess.run([NEUROPASTE, "compile", source, "--out", str(out), "--backends",
                           backends, "--steps", str(steps), *spice],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # its forked backend's included
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if proc.returncode:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1], "wall_s": wall}
    m = json.loads((out / "manifest.json").read_text())
    spice = m["backends"].get("spice", {})
    rtl = m["backends"].get("rtl", {})
    stages = m["resources"]["stage_seconds"]
    mesh = rtl.get("mesh") if isinstance(rtl.get("mesh"), dict) else {}
    return {"wall_s": wall, "cpu_s": cpu, "load": (load, os.getloadavg()[0]),
            "peak_GB": m["resources"]["peak_rss_MB"] / 1024,
            "stages": stages, "backend_s": {b: stages.get(f"{b} backend")
                                            for b in m["backends"]},
            "mesh": f"{mesh['width']} x {mesh['height']}" if mesh else None,
            "placement": (rtl.get("placement") or {}).get("objectives"),
            "placement_neuron_balanced": (rtl.get("placement") or {}).get(
                "objectives_neuron_balanced"),
            "neurons": m["network"]["neurons"], "synapses": m["network"]["synapses"],
            "cores": rtl.get("cores"), "tiles": spice.get("tiles"),
            "netlists": spice.get("netlists"),
            "tsvs": (spice.get("stack") or {}).get("tsv_signals"),
            "disk_MB": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20}


def source_of(spec, tmp: Path, name: str) -> str:
    if isinstance(spec, str):
        return spec
    path = tmp / f"{name}.npz"
    if not path.exists():
        save_map(clustered(*spec), path)
    return str(path)


def fit(x: list[float], y: list[float]) -> float:
    """Exponent b of y = a x^b."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def at(x: list[float], y: list[float], x0: float) -> float:
    """y = a x^b (least squares on log-log axes) extrapolated to x0."""
    b, log_a = np.polyfit(np.log(x), np.log(y), 1)
    return float(np.exp(log_a) * x0 ** b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", choices=list(CASES),
                    help="default: all (none with --growth)")
    ap.add_argument("--growth", nargs="?", const="clustered", choices=list(GROWTH),
                    help="also the growth rows: clustered maps of 1e6 .. 1e8 synapses "
                         "(default) or the microcircuit at S = 0.03 .. 0.3")
    ap.add_argument("--backends", default="rtl,spice")
    ap.add_argument("--steps", type=int, default=100, help="reference-run steps")
    ap.add_argument("--keep", type=Path, help="keep the compiled directories here")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=a.keep) as tmp_name:
        tmp = a.keep or Path(tmp_name)
        print("| case | neurons / synapses | compile (s) | CPU (s) | limit | backends (s) | "
              "peak (GB) | limit | cores | tiles | netlists | TSVs | on disk (MB) | "
              "slowest stages |")
        print("|---|---|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---:|---|")
        for name in a.case or ([] if a.growth else list(CASES)):
            spec, t_max, gb_max = CASES[name]
            r = compile_case(source_of(spec, tmp, name), tmp / f"out-{name}", a.backends,
                             a.steps)
            row(name, r, t_max, gb_max)
        if a.growth:
            xs, ts, cs, ms = [], [], [], []
            for name, spec in GROWTH[a.growth].items():
                r = compile_case(source_of(spec, tmp, f"g{name}"), tmp / f"out-g{name}",
                                 a.backends, a.steps)
                row(f"{a.growth} {name}", r, None, None)
                if "error" not in r:
                    xs.append(r["synapses"])
                    ts.append(r["wall_s"])
                    cs.append(r["cpu_s"])
                    ms.append(r["peak_GB"])
            if len(xs) >= 2:
                print(f"\ngrowth exponent: time {fit(xs, ts):.2f}, CPU {fit(xs, cs):.2f}, "
                      f"memory {fit(xs, ms):.2f} (over {xs[0]:.2g} .. {xs[-1]:.2g} synapses); "
                      f"at 3e8 synapses: {at(xs, ts, 3e8):.0f} s, {at(xs, cs, 3e8):.0f} CPU s, "
                      f"{at(xs, ms, 3e8):.1f} GB")


def row(name: str, r: dict, t_max: float | None, gb_max: float | None) -> None:
    if "error" in r:
        print(f"| {name} | - | failed after {r['wall_s']:.0f} s: {r['error']} |")
        return
    leaves = {k: v for k, v in r["stages"].items()  # a stage's steps, not the stage again
              if not any(o.startswith(f"{k} / ") for o in r["stages"])}
    slow = ", ".join(f"{k} {v:.0f} s" for k, v in sorted(leaves.items(),
                                                         key=lambda kv: -kv[1])[:3])
    nl = r["netlists"] or {}
    backends = ", ".join(f"{b} {v:.0f}" for b, v in r["backend_s"].items() if v is not None)
    cores = f"{r['cores']} ({r['mesh']})" if r["mesh"] else (r["cores"] or "-")
    print(f"| {name} | {r['neurons']:,} / {r['synapses']:,} | {r['wall_s']:.0f} | "
          f"{r['cpu_s']:.0f} | {t_max or '-'} | {backends} | {r['peak_GB']:.2f} | "
          f"{gb_max or '-'} | {cores} | "
          f"{r['tiles'] or '-'} | {nl.get('written', '-')} {nl.get('count', '')} | "
          f"{r['tsvs'] or '-'} | {r['disk_MB']:.0f} | {slow} |", flush=True)
    print(f"<!-- {name}: CPU time {r['cpu_s']:.0f} s (user + system, every process); load "
          f"average {r['load'][0]:.1f} at the start, {r['load'][1]:.1f} at the end -->",
          flush=True)
    for key in ("placement", "placement_neuron_balanced"):
        if isinstance(r.get(key), dict):  # the baseline is skipped on large maps
            o = r[key]
            print(f"<!-- {name} {key}: {o['intercore_packets_per_step']:.0f} inter-core packets "
                  f"a step, busiest core {o['max_core_work']:.1f} SOPs a step, work balance "
                  f"{o['work_balance']:.3f} -->", flush=True)


if __name__ == "__main__":
    main()
