"""Brain-scale estimator: memories, area, dies, TSVs, programming time, recording size.

Conventions follow the source paper (DESIGN.md, "Scale check"): one memory per synapse in the
"1,000 N" memory network, a cell of F x F (F = ``cell_nm``), monolithic layers dividing the
footprint, and the N x N crossbar as the alternative. Every figure is computed from its inputs;
``check_paper()`` recomputes the paper's own figures and says which follow from their inputs.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from neuropaste.generators.devices import PRESETS

from neuropaste.errors import InputError

#: the recording the map came from (DESIGN.md): CMOS nanoelectrode array, 4,096 channels,
#: 1,728 neurons recorded intracellularly in one 19-minute recording of about 80 GB
RECORDING = {"channels": 4096, "neurons": 1728, "seconds": 19 * 60, "bytes": 80e9}
BITS_PER_CELL = {"rram": 6, "pcm": 4, "flash": 3, "mram": 1}


def estimate(neurons: float = 1e11, synapses_per_neuron: float = 1000, cell_nm: float = 30,
             layers: int = 1, memory: str = "flash", weight_bits: int = 3,
             write_bytes_per_s: float = 100e6, die_mm: float = 26.0, tile: int = 64,
             utilisation: float = 1.0) -> dict[str, Any]:
    """Figures for a map of ``neurons`` x ``synapses_per_neuron`` pasted into ``memory``."""
    for name, value in (("neurons", neurons), ("synapses_per_neuron", synapses_per_neuron),
                        ("cell_nm", cell_nm), ("layers", layers), ("die_mm", die_mm),
                        ("write_bytes_per_s", write_bytes_per_s), ("utilisation", utilisation)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise InputError(None, f"--{name.replace('_', '-')} must be a positive number")
    if memory not in PRESETS:
        raise InputError(None, f"--memory must be one of {', '.join(PRESETS)}")
    synapses = neurons * synapses_per_neuron
    cells_per_weight = max(1, math.ceil(weight_bits / BITS_PER_CELL[memory]))
    cells = synapses * cells_per_weight / utilisation
    cell_area = (cell_nm * 1e-9) ** 2
    planar = cells * cell_area
    stacked = planar / layers
    die_area = (die_mm * 1e-3) ** 2
    crossbar_cells = neurons ** 2
    crossbar_stacked = crossbar_cells * cell_area / layers
    dies = math.ceil(stacked / die_area)
    # TSVs: each memory die receives the word lines of every source with a synapse on it and
    # returns one column output per target it holds. Targets split evenly over the dies; with
    # unstructured connectivity a die needs min(N, its synapses) word lines.
    per_die_syn = synapses / max(dies, 1)
    word_lines_per_die = min(neurons, per_die_syn)
    columns_per_die = neurons / max(dies, 1)
    tsvs = dies * (word_lines_per_die + columns_per_die)
    bits = synapses * weight_bits
    record_per_neuron = RECORDING["bytes"] / RECORDING["neurons"]
    return {
        "inputs": {"neurons": neurons, "synapses_per_neuron": synapses_per_neuron,
                   "cell_nm": cell_nm, "layers": layers, "memory": memory,
                   "weight_bits": weight_bits, "write_bytes_per_s": write_bytes_per_s,
                   "die_mm": die_mm, "utilisation": utilisation},
        "synapses": synapses,
        "memory_cells": cells,
        "cells_per_weight": cells_per_weight,
        "planar_area_m2": planar,
        "planar_side_m": math.sqrt(planar),
        "stacked_area_m2": stacked,
        "stacked_side_m": math.sqrt(stacked),
        "dies": dies,
        "tsvs": tsvs,
        "tsv_model": "per die: min(N, synapses on the die) word lines + N/dies column outputs",
        "crossbar_cells": crossbar_cells,
        "crossbar_stacked_area_m2": crossbar_stacked,
        "crossbar_max_neurons_per_die": math.sqrt(layers * die_area / cell_area),
        "programming_s": bits / 8 / write_bytes_per_s,
        "recording_bytes": neurons * record_per_neuron,
        "recording_bytes_per_channel_second": RECORDING["bytes"] / (
            RECORDING["channels"] * RECORDING["seconds"]),
    }


def check_paper() -> list[dict[str, Any]]:
    """The source paper's figures, recomputed from their own inputs."""
    one = estimate(1e11, 1000, 30, 1, weight_bits=1, memory="mram")
    stacked = estimate(1e11, 1000, 30, 128, weight_bits=1, memory="mram")
    rows = [
        ("1,000 N memories of 30x30 nm^2, one layer", "about 30 x 30 cm^2",
         one["planar_side_m"], 0.30),
        ("the same with 128 layers", "about 26 x 26 mm^2", stacked["stacked_side_m"], 0.026),
        ("N x N crossbar, 128 layers, in 26 x 26 mm^2", "N up to about 1e7",
         stacked["crossbar_max_neurons_per_die"], 1e7),
    ]
    out = []
    for claim, published, ours, value in rows:
        ratio = ours / value
        out.append({"claim": claim, "published": published, "recomputed": ours,
                    "consistent": 0.8 <= ratio <= 1.25, "ratio": ratio})
    return out


def estimate_from_compiled(compiled: Path, **kwargs: Any) -> dict[str, Any]:
    """Extrapolate with a compiled map's measured tile utilisation."""
    manifest_path = Path(compiled) / "manifest.json"
    if not manifest_path.is_file():
        raise InputError(compiled, "not a compiled directory (no manifest.json)")
    spice = json.loads(manifest_path.read_text())["backends"].get("spice")
    if not spice or "utilisation" not in spice:
        raise InputError(compiled, "was compiled without the spice backend: no tile utilisation")
    result = estimate(utilisation=spice["utilisation"], **kwargs)
    result["from"] = {"dir": str(compiled), "utilisation": spice["utilisation"],
                      "tiles": spice["tiles"], "tile": f"{spice['tile_rows']}x"
                      f"{spice['tile_cols']}"}
    return result


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("estimate", help="brain-scale memory, area, die, TSV and time figures")
    s.add_argument("--neurons", type=float, default=1e11)
    s.add_argument("--synapses-per-neuron", type=float, default=1000)
    s.add_argument("--cell-nm", type=float, default=30.0, help="cell pitch F (cell = F x F)")
    s.add_argument("--layers", type=int, default=1, help="monolithic layers per die")
    s.add_argument("--memory", default="flash", choices=sorted(PRESETS))
    s.add_argument("--weight-bits", type=int, default=3)
    s.add_argument("--write-bandwidth", type=float, default=100e6, help="bytes per second")
    s.add_argument("--die-mm", type=float, default=26.0, help="die side in mm")
    s.add_argument("--from", dest="source", default=None,
                   help="a compiled directory: use its measured tile utilisation")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_estimate)


def cmd_estimate(args: argparse.Namespace) -> int:
    kwargs = {"neurons": args.neurons, "synapses_per_neuron": args.synapses_per_neuron,
              "cell_nm": args.cell_nm, "layers": args.layers, "memory": args.memory,
              "weight_bits": args.weight_bits, "write_bytes_per_s": args.write_bandwidth,
              "die_mm": args.die_mm}
    result = (estimate_from_compiled(Path(args.source), **kwargs) if args.source
              else estimate(**kwargs))
    result["paper_check"] = check_paper()
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    r = result
    print(f"synapses            {r['synapses']:.3g}  ({r['cells_per_weight']} cell(s) per weight)")
    print(f"memory cells        {r['memory_cells']:.3g}")
    print(f"planar area         {r['planar_area_m2']:.3g} m^2  "
          f"({r['planar_side_m'] * 100:.3g} cm side)")
    print(f"stacked, {args.layers} layer(s)  {r['stacked_area_m2']:.3g} m^2  "
          f"({r['stacked_side_m'] * 1e3:.3g} mm side)")
    print(f"dies of {args.die_mm:g} mm     {r['dies']}")
    print(f"TSVs                {r['tsvs']:.3g}  ({r['tsv_model']})")
    print(f"N x N crossbar      {r['crossbar_cells']:.3g} cells; at most "
          f"{r['crossbar_max_neurons_per_die']:.3g} neurons per die")
    print(f"programming         {r['programming_s']:.3g} s at {args.write_bandwidth:.3g} B/s")
    print(f"recording           {r['recording_bytes']:.3g} bytes "
          f"({r['recording_bytes_per_channel_second']:.3g} B per channel-second)")
    for row in r["paper_check"]:
        verdict = "consistent" if row["consistent"] else "does NOT follow from its inputs"
        print(f"paper: {row['claim']}: {row['published']}; recomputed {row['recomputed']:.3g}"
              f" -> {verdict}")
    return 0
