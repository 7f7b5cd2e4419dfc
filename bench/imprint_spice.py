"""The SPICE proof of the imprint, measured: ngspice against the event-driven engine.

For each device model, with and without the preset's variation: the four-neuron pattern of the
paper's Fig. 3c (a -> c, b -> c, d -| c, a -> d) is run by the reference model, imprinted
(``neuropaste.imprint``, written as ``neuropaste imprint`` writes it) and checked by
``verify --imprint`` (``neuropaste.verify.imprint``: ngspice re-imprints the 4 x 4 crossbar
from the recorded spikes). Printed per row: cells that moved, the largest relative difference of
the final conductances (the issue's target: 5 %), the largest difference as a fraction of the
largest change, overlaps, ngspice seconds. ``--recording FILE`` adds a row per model for a
recording (copy's spike detection; a 4-neuron sample of it).

    .venv/bin/python bench/imprint_spice.py [--steps 20000] [--recording rec.nwb]
"""

# ruff: noqa: E402
from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))  # keep bench/copy.py off the path
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse
import tempfile
from pathlib import Path

from neuropaste.events import poisson
from neuropaste.imprint.run import ImprintOptions, imprint, write_outputs
from neuropaste.imprint.sources import from_map, from_recording
from neuropaste.neuron import QuantOptions
from neuropaste.plasticity import MODELS
from neuropaste.verify.imprint import check

PATTERN = [("a", "c", 15.0, 1), ("b", "c", 15.0, 2), ("d", "c", -30.0, 1), ("a", "d", 15.0, 1)]


def four(steps: int):
    from neuropaste.cmap import ConnectivityMap

    labels = ["a", "b", "c", "d"]
    idx = {x: k for k, x in enumerate(labels)}
    cmap = ConnectivityMap.build(labels, [idx[p[0]] for p in PATTERN],
                                 [idx[p[1]] for p in PATTERN], [p[2] for p in PATTERN],
                                 [p[3] for p in PATTERN])
    return from_map(cmap, QuantOptions(threshold=20), steps, poisson(4, steps, 0.01, 0), {},
                    1.0, "fig3")


def row(act, name: str, variation: bool, work: Path, tag: str) -> str:
    out = work / f"{tag}-{name}-{int(variation)}"
    res = imprint(act, ImprintOptions(model=name, variation=variation))
    write_outputs(res, out)
    r = check(out, None)
    if "max_relative_error" not in r:
        return f"| {tag} | {name} | {variation} | - | {r['summary']} | | | |"
    return (f"| {tag} | {name} | {'yes' if variation else 'no'} | {r['cells_moved']}/16 | "
            f"{r['max_relative_error']:.3%} | {r['change_error']:.3%} | {res.eng.overlaps} | "
            f"{r['ngspice_seconds']:.1f} | {'PASS' if r['passed'] else 'FAIL'} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20000, help="reference-model steps (1 ms)")
    ap.add_argument("--recording", default=None, help="also a recording (NWB)")
    args = ap.parse_args()
    print("| activity | model | variation | cells moved | max rel. error G | error / largest "
          "change | overlaps (all cells) | ngspice s | verify |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        act = four(args.steps)
        for name in MODELS:
            for variation in (False, True):
                print(row(act, name, variation, Path(tmp), "fig3"), flush=True)
        if args.recording:
            act = from_recording(args.recording)
            for name in MODELS:
                print(row(act, name, True, Path(tmp), Path(args.recording).parent.name),
                      flush=True)


if __name__ == "__main__":
    main()
