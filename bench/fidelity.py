"""Which memory to paste into: the crossbar-in-the-loop figures of docs/fidelity.md, swept.

For each device (rram; pcm at 1 s, 1 day, 1 year; 3-bit flash; mram), weight encoding (one
pair per weight, and bit slicing), tile size, wire resistance (the preset's and x4) and
compensation (in-array program-and-verify plus the drift reference column, or neither), the
bundled C. elegans network is compiled with the spice backend and run with its tiles in the
loop on its stored stimulus (``neuropaste.verify.analog.fidelity``). The peer is the reference
model itself: every figure is agreement with it (open-loop LSB-exact inputs and unflipped
decisions, closed-loop spikes at the same step).

    .venv/bin/python bench/fidelity.py                 # the table of docs/fidelity.md (~15 min)
    .venv/bin/python bench/fidelity.py --full          # every combination (~1 h)
    .venv/bin/python bench/fidelity.py --plot out.png  # exactness vs tile size and vs age
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from neuropaste.cli import main as cli
from neuropaste.compile import compile_network
from neuropaste.compiled import Compiled
from neuropaste.devices import Electrical, Encoding, load_device
from neuropaste.generators.crossbar import CrossbarOptions
from neuropaste.sim.analog import ReadPath
from neuropaste.verify.analog import fidelity

#: device (age label, seconds) and its encodings: one pair per weight, and the slicing that
#: docs/fidelity.md found best for it
DEVICES = {
    "rram": ([("0", 0.0)], [Encoding(1, 0), Encoding(5, 4)]),
    "pcm": ([("1s", 1.0), ("1d", 86400.0), ("1y", 365.25 * 86400.0)],
            [Encoding(), Encoding(9, 2)]),
    "flash": ([("0", 0.0)], [Encoding(), Encoding(9, 2)]),
    "mram": ([("0", 0.0)], [Encoding(), Encoding(9, 2)]),
}
TILES = (32, 64, 128, 256)
SHIPPED = Path(__file__).resolve().parents[1] / "neuropaste" / "data" / "fidelity_sweep.json"
WIRES = (1.0, 4.0)


def run(base: Compiled, device: str, enc: Encoding, tile: int, wire: float, compensate: bool,
        age: tuple[str, float], work: Path) -> dict:
    net, dev = base.network(), load_device(device)
    opts = CrossbarOptions(tile_rows=tile, tile_cols=tile, device=dev, encoding=enc.check(dev),
                           electrical=replace(Electrical(), r_wire=wire),
                           programming="in-array" if compensate else "cell")
    out = work / f"{device}-{enc.slices}x{enc.digits(dev)}-{tile}-{wire}-{compensate}"
    if not out.exists():
        compile_network(net, out, stimulus=base.stimulus(net.labels), steps=base.steps,
                        backends=("spice",), backend_options={"spice": opts}, quiet=True)
    cd = Compiled.open(out)
    t0 = time.perf_counter()
    _, fig = fidelity(cd, ReadPath(age_s=age[1], drift_reference=compensate), cd.steps,
                      cd.stimulus(net.labels))
    o, c = fig["open_loop"], fig["closed_loop"]
    return {"device": device, "age": age[0], "encoding": f"{enc.slices}x{enc.digits(dev)}",
            "cells_per_synapse": 2 * enc.slices * dev.cells_per_weight, "tile": tile,
            "tiles": fig["tiles"], "r_wire": wire, "compensation": compensate,
            "lsb_exact": o["lsb_exact_fraction"],
            "unflipped": 1.0 - o["decisions_flipped_fraction"],
            "recall_same_step": c["recall_same_step"],
            "precision_same_step": c["precision_same_step"],
            "alpha": fig["scaling"]["programming"].get("alpha"),
            "seconds": round(time.perf_counter() - t0, 2)}


def configs(full: bool):
    for device, (ages, encs) in DEVICES.items():
        for enc, age in itertools.product(encs, ages):
            best = enc.slices > 1
            for tile, wire, comp in itertools.product(TILES, WIRES, (True, False)):
                default = tile == 64 and wire == 1.0 and comp
                sweep = best and ((wire == 1.0 and comp) or tile == 64)
                if full or default or sweep:
                    yield device, enc, tile, wire, comp, age


def table(rows: list[dict]) -> str:
    head = ("| device | age | encoding | cells/syn | tile | tiles | R wire | comp. | LSB-exact "
            "| unflipped | recall same step | precision |\n|---|---|---|---:|---:|---:|---:|---|"
            "---:|---:|---:|---:|")
    lines = [head]
    for r in rows:
        lines.append(f"| {r['device']} | {r['age']} | {r['encoding']} | {r['cells_per_synapse']}"
                     f" | {r['tile']} | {r['tiles']} | {r['r_wire']:g} | "
                     f"{'on' if r['compensation'] else 'off'} | {r['lsb_exact']:.2%} | "
                     f"{r['unflipped']:.2%} | {r['recall_same_step']:.2%} | "
                     f"{r['precision_same_step']:.2%} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for dev in DEVICES:
        pts = sorted((r["tile"], r["lsb_exact"], r["recall_same_step"]) for r in rows
                     if r["device"] == dev and not r["encoding"].startswith("1x")
                     and r["r_wire"] == 1.0 and r["compensation"] and r["age"] in ("0", "1s"))
        if pts:
            a.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"{dev} open loop")
            a.plot([p[0] for p in pts], [p[2] for p in pts], "x--", label=f"{dev} closed loop")
    a.set(xscale="log", xlabel="tile size", ylabel="agreement", title="best encoding vs tile")
    a.legend(fontsize=7)
    ages = [r for r in rows if r["device"] == "pcm" and r["tile"] == 64 and r["r_wire"] == 1.0]
    for comp in (True, False):
        for enc in sorted({r["encoding"] for r in ages}):
            pts = [r for r in ages if r["compensation"] == comp and r["encoding"] == enc]
            b.plot([r["age"] for r in pts], [r["lsb_exact"] for r in pts], "o-",
                   label=f"pcm {enc} comp {'on' if comp else 'off'}")
    b.set(xlabel="age", ylabel="open-loop LSB-exact", title="pcm vs age")
    b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="every combination")
    ap.add_argument("--json", type=Path, default=SHIPPED,
                    help="write the rows here (default: the copy every report reads)")
    ap.add_argument("--plot", type=Path, default=None, help="write the two plots here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = work / "celegans"
        if cli(["compile", "builtin:celegans", "--backends", "spice", "--out", str(base)]):
            return 1
        base_cd = Compiled.open(base)
        rows = []
        for device, enc, tile, wire, comp, age in configs(args.full):
            rows.append(run(base_cd, device, enc, tile, wire, comp, age, work))
            r = rows[-1]
            print(f"{device:5} {r['age']:>3} {r['encoding']:>5} tile {tile:3} R {wire:g} comp "
                  f"{comp!s:5} exact {r['lsb_exact']:.4f} unflipped {r['unflipped']:.4f} "
                  f"recall {r['recall_same_step']:.4f} ({r['seconds']} s)", file=sys.stderr)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    if args.plot:
        plot(rows, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
