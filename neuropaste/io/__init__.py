"""Maps in and out: pick the importer by prefix (builtin:, cect:) or by file extension."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from neuropaste.cmap import ConnectivityMap
from neuropaste.errors import InputError

READERS = {".npz": "npz", ".csv": "csv", ".graphml": "graphml", ".xml": "graphml", ".nir": "nir",
           ".h5": "nir", ".hdf5": "nir"}


def load_map(spec: str | os.PathLike, *, gap_scale: float = 0.5, gap: bool = True
             ) -> ConnectivityMap:
    """Read a connectivity map; every failure is an InputError naming file and record."""
    text = os.fspath(spec)
    if not (np.isfinite(gap_scale) and gap_scale > 0):
        raise InputError(text, f"gap_scale must be a positive number, got {gap_scale!r}")
    if text.startswith("builtin:"):
        from neuropaste.io.builtin import read_builtin

        cmap = read_builtin(text.split(":", 1)[1], gap=gap, gap_scale=gap_scale)
        cmap.meta["source"] = text
        return cmap
    if text.startswith("cect:"):
        from neuropaste.io.cect_io import read_cect

        cmap = read_cect(text.split(":", 1)[1], gap=gap, gap_scale=gap_scale)
        cmap.meta["source"] = text
        return cmap
    path = Path(text)
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a directory, not a map file")
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise InputError(path, f"unknown map type {path.suffix or '(no extension)'!r}: use .csv, "
                         ".graphml, .nir, .npz, builtin:celegans or cect:<Reader>")
    if kind == "csv":
        from neuropaste.io.csv_edges import read_csv as reader
    elif kind == "npz":
        from neuropaste.io.npz_map import read_npz_map as reader
    elif kind == "graphml":
        from neuropaste.io.graphml import read_graphml as reader
    else:
        from neuropaste.io.nir_io import read_nir as reader
    cmap = reader(path)
    cmap.meta["source"] = text
    return cmap


def save_map(cmap: ConnectivityMap, path: str | os.PathLike) -> None:
    """Write a map as a CSV edge list, a NIR graph or an npz archive, by extension."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        from neuropaste.io.csv_edges import write_csv as writer
    elif suffix == ".nir":
        from neuropaste.io.nir_io import write_nir as writer
    elif suffix == ".npz":
        from neuropaste.io.npz_map import write_npz_map as writer
    else:
        raise InputError(path, "unknown export type: use .csv, .nir or .npz")
    try:
        writer(cmap, path)
    except OSError as err:
        raise InputError(path, f"cannot write: {err.strerror or err}") from None
