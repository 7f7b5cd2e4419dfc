"""Maps shipped inside the package (``builtin:NAME``).

``celegans`` is plain data made by scripts/make_celegans.py, no cect needed:
``celegans_neurons.csv`` (neuron,kind,transmitters) and ``celegans_edges.csv.gz``
(pre,post,type,contacts; a gap junction listed once). ``microcircuit`` is drawn from the
paper's tables (``neuropaste/io/microcircuit.py``).
"""

from __future__ import annotations

import csv
import gzip
import io
from importlib import resources

import numpy as np

from neuropaste.cmap import EXCITATORY, INHIBITORY, ConnectivityMap
from neuropaste.errors import InputError
from neuropaste.io import connectome, microcircuit, no_parameters

BUILTINS = {
    "celegans": "C. elegans hermaphrodite, Cook et al. 2019 (302 neurons, chemical + gap "
                "junctions), signs from the Wang et al. 2024 transmitter atlas",
    "microcircuit": "Potjans & Diesmann 2014 cortical microcircuit (77,169 neurons, 3e8 "
                    "synapses at ?scale=1, the default; in-degrees kept at smaller scales)",
}
_KIND = {"excitatory": EXCITATORY, "inhibitory": INHIBITORY}


def read_builtin(name: str, params: dict[str, str], *, gap: bool, gap_scale: float
                 ) -> ConnectivityMap:
    spec = f"builtin:{name}"
    if name not in BUILTINS:
        raise InputError(spec, "unknown built-in map; available: "
                         f"{', '.join('builtin:' + k for k in sorted(BUILTINS))}")
    if name == "microcircuit":
        return microcircuit.read_microcircuit(spec, params)
    no_parameters(spec, params)
    data = resources.files("neuropaste") / "data"
    with (data / "celegans_neurons.csv").open(newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    neurons = [row["neuron"] for row in table]
    kind = np.array([_KIND[row["kind"]] for row in table], np.int8)
    index = {n: i for i, n in enumerate(neurons)}
    with gzip.open(io.BytesIO((data / "celegans_edges.csv.gz").read_bytes()), "rt",
                   encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    arrays = {}
    for kind_name in ("chemical", "gap"):
        sel = [r for r in rows if r[2] == kind_name]
        arrays[kind_name] = (np.array([index[r[0]] for r in sel], np.int64),
                             np.array([index[r[1]] for r in sel], np.int64),
                             np.array([float(r[3]) for r in sel]))
    cmap = connectome.build(neurons, kind, arrays["chemical"], arrays["gap"], gap=gap,
                            gap_scale=gap_scale, source=spec)
    cmap.meta["rules"].insert(0, "C. elegans hermaphrodite, Cook et al. 2019, neurons only "
                              "(muscles and end organs dropped)")
    return cmap
