"""``cect:<Reader>``: any connectome the C. elegans Connectome Toolbox reads (optional extra).

Neurons only (muscles and other end organs dropped). Chemical connections between one pair are
summed; a gap junction listed in both directions (the symmetric sheets) counts once, at the
larger of the two numbers. Signs come from cect's own transmitter table
(:func:`neuropaste.io.connectome.cect_transmitters`; the male table for ``*Male*`` readers).
"""

from __future__ import annotations

import contextlib
import importlib
import io

import numpy as np

from neuropaste.cmap import ConnectivityMap
from neuropaste.errors import InputError
from neuropaste.io import connectome, no_parameters


def read_cect(reader: str, params: dict[str, str], *, gap: bool, gap_scale: float
              ) -> ConnectivityMap:
    spec = f"cect:{reader}"
    no_parameters(spec, params)
    try:
        from cect.Cells import is_any_neuron
    except ImportError:
        raise InputError(spec, "the C. elegans Connectome Toolbox is not installed: "
                         "pip install 'neuropaste[cect]'") from None
    if not reader.isidentifier():
        raise InputError(spec, "reader names look like Cook2019HermReader")
    try:
        module = importlib.import_module(f"cect.readers.{reader}")
    except ImportError:
        raise InputError(spec, "unknown cect reader (see cect.readers, e.g. Cook2019HermReader, "
                         "WitvlietDataReader8, VarshneyDataReader)") from None
    if not hasattr(module, "get_instance"):
        raise InputError(spec, "module is not a cect connectome reader")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # cect reports progress on stdout
            ds = module.get_instance()
            conns = ds.get_current_connection_info_list()
    except Exception as err:  # a reader whose data files are missing or unreadable
        raise InputError(spec, f"the cect reader failed: {type(err).__name__}: {err}") from None
    neurons = sorted(n for n in ds.nodes if is_any_neuron(n))
    index = {n: i for i, n in enumerate(neurons)}
    chem: dict[tuple[int, int], float] = {}
    gaps: dict[tuple[int, int], float] = {}
    for c in conns:
        a, b = index.get(c.pre_cell), index.get(c.post_cell)
        if a is None or b is None or not c.number > 0:
            continue
        if c.syntype == "GapJunction":
            key = (min(a, b), max(a, b))
            gaps[key] = max(gaps.get(key, 0.0), float(c.number))  # listed in both directions
        elif c.syntype == "Chemical":
            chem[(a, b)] = chem.get((a, b), 0.0) + float(c.number)
    if not neurons:
        raise InputError(spec, "the reader returned no neurons")

    def arrays(d):
        keys = sorted(d)
        return (np.array([k[0] for k in keys], np.int64), np.array([k[1] for k in keys], np.int64),
                np.array([d[k] for k in keys]))

    kind = connectome.kinds(neurons, connectome.cect_transmitters(male="Male" in reader))
    cmap = connectome.build(neurons, kind, arrays(chem), arrays(gaps), gap=gap,
                            gap_scale=gap_scale, source=spec)
    cmap.meta["rules"].insert(0, "neurons only: muscles and other cells dropped; "
                              "monoamine/peptide classes ignored")
    return cmap
