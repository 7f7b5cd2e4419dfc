"""Wall time of the per-core replay proof (``verify --rtl --replay``) against Dask workers.

Compiles a map onto a mesh once, then runs the replay from scratch (no kept results) with each
worker count in turn, through the command line as a user would, and reports the wall time, the
units proven and the packets and spikes checked. The whole-array proof of the same directory
(``verify --rtl``, without synthesis and lint) is timed once for comparison.

    cd bench && ../.venv/bin/python replay.py [--map builtin:celegans] [--cores 16] [--steps 20]
                                              [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from neuropaste.compiled import REPLAY, SIM_BUILD, Compiled


def cli(*args: str) -> float:
    """Run ``neuropaste ARGS``; its wall time in seconds (it must succeed)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "neuropaste", *args], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(f"neuropaste {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--map", default="builtin:celegans")
    ap.add_argument("--cores", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-whole", action="store_true", help="skip the whole-array proof")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "compiled"
        seconds = cli("compile", args.map, "--out", str(out), "--backends", "rtl", "--cores",
                      str(args.cores), "--steps", str(args.steps))
        print(f"compile {args.map} on {args.cores} cores, {args.steps} steps: {seconds:.1f} s")
        rows = []
        for w in args.workers:
            shutil.rmtree(out / REPLAY, ignore_errors=True)
            shutil.rmtree(out / SIM_BUILD, ignore_errors=True)
            seconds = cli("verify", str(out), "--rtl", "--replay", "--workers", str(w))
            r = Compiled.open(out).checks()["replay"]
            rows.append({"workers": w, "wall_s": round(seconds, 1), "cores": r["cores"],
                         "routers": r["routers"], "packets": r["packets"],
                         "spikes": r["spikes"], "passed": r["passed"]})
            print(json.dumps(rows[-1]))
        if not args.no_whole:
            from neuropaste.verify.rtl import verify

            t0 = time.perf_counter()
            whole = verify(out, synth=False, lint=False)
            print(json.dumps({"whole_array": True, "wall_s": round(time.perf_counter() - t0, 1),
                              "passed": whole["passed"], "spikes": whole["spikes"]}))


if __name__ == "__main__":
    main()
