"""Maps shipped inside the package (``builtin:NAME``); made by scripts/make_celegans.py."""

from __future__ import annotations

import csv
from importlib import resources

import numpy as np

from neuropaste.cmap import ConnectivityMap
from neuropaste.errors import InputError
from neuropaste.io import connectome

BUILTINS = {
    "celegans": "C. elegans hermaphrodite, Cook et al. 2019 (302 neurons, chemical + gap)",
}


def read_builtin(name: str, *, gap: bool, gap_scale: float) -> ConnectivityMap:
    if name not in BUILTINS:
        raise InputError(f"builtin:{name}", f"unknown built-in map; available: "
                         f"{', '.join('builtin:' + k for k in sorted(BUILTINS))}")
    data = resources.files("neuropaste") / "data"
    with (data / "celegans_neurons.csv").open(newline="") as fh:
        neurons = [row[0] for row in list(csv.reader(fh))[1:]]
    index = {n: i for i, n in enumerate(neurons)}
    with (data / "celegans_edges.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    arrays = {}
    for kind in ("chemical", "gap"):
        sel = [r for r in rows if r[2] == kind]
        arrays[kind] = (np.array([index[r[0]] for r in sel], np.int64),
                        np.array([index[r[1]] for r in sel], np.int64),
                        np.array([float(r[3]) for r in sel]))
    return connectome.build(neurons, arrays["chemical"], arrays["gap"], gap=gap,
                            gap_scale=gap_scale, source=f"builtin:{name}")
