"""Maps in and out, through one registry of map sources.

A map is named by a file (its suffix picks the format) or by a source prefix with a name and
optional parameters (``builtin:NAME?key=value&key=value``). Each format and each prefix is one
entry here; the importers themselves live in this package, one module per format. A compiled
directory is not a map: the commands that take one (verify, fpga, estimate --from, the host
driver) open it with :meth:`neuropaste.compiled.Compiled.open`, and a map-taking command given
one says so.

To add a map format: write its reader (and writer) in this package and add one
:class:`MapFormat` to :data:`FORMATS`; a source prefix is one :class:`MapSource` in
:data:`SOURCES`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np

from neuropaste.cmap import ConnectivityMap
from neuropaste.compiled import MANIFEST
from neuropaste.errors import InputError


@dataclass(frozen=True)
class MapFormat:
    """A map file format: ``reader(path)`` and ``writer(cmap, path)`` as ``module:function``."""

    name: str
    suffixes: tuple[str, ...]
    reader: str
    writer: str | None = None  # None: read only

    def read(self) -> Callable:
        return _function(self.reader)

    def write(self) -> Callable:
        assert self.writer is not None
        return _function(self.writer)


@dataclass(frozen=True)
class MapSource:
    """A prefix source ``PREFIX:NAME[?key=value&...]``: ``reader(name, params, *, gap,
    gap_scale)`` with the parameters as strings (the reader checks and converts them)."""

    prefix: str
    reader: str
    example: str


FORMATS = (
    MapFormat("CSV edge list", (".csv",), "neuropaste.io.csv_edges:read_csv",
              "neuropaste.io.csv_edges:write_csv"),
    MapFormat("GraphML", (".graphml", ".xml"), "neuropaste.io.graphml:read_graphml"),
    MapFormat("NIR graph", (".nir", ".h5", ".hdf5"), "neuropaste.io.nir_io:read_nir",
              "neuropaste.io.nir_io:write_nir"),
    MapFormat("npz archive", (".npz",), "neuropaste.io.npz_map:read_npz_map",
              "neuropaste.io.npz_map:write_npz_map"),
)

SOURCES = (
    MapSource("builtin", "neuropaste.io.builtin:read_builtin", "builtin:celegans"),
    MapSource("cect", "neuropaste.io.cect_io:read_cect", "cect:<Reader>"),
)


def _function(ref: str) -> Callable:
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


def _format_of(suffix: str) -> MapFormat | None:
    return next((f for f in FORMATS if suffix.lower() in f.suffixes), None)


def writable_suffixes() -> tuple[str, ...]:
    """The suffixes ``save_map`` (and ``neuropaste export``) can write."""
    return tuple(f.suffixes[0] for f in FORMATS if f.writer)


def split_source(text: str) -> tuple[MapSource, str, dict[str, str]] | None:
    """(source, name, parameters) of ``PREFIX:NAME?k=v&...``; None for a file name."""
    prefix, sep, rest = text.partition(":")
    source = next((s for s in SOURCES if s.prefix == prefix), None) if sep else None
    if source is None:
        return None
    name, _, query = rest.partition("?")
    try:
        params = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise InputError(text, f"parameters must read key=value&key=value, got {query!r}") \
            from None
    return source, name, params


def load_map(spec: str | os.PathLike, *, gap_scale: float = 0.5, gap: bool = True
             ) -> ConnectivityMap:
    """Read a connectivity map; every failure is an InputError naming file and record."""
    text = os.fspath(spec)
    if not (np.isfinite(gap_scale) and gap_scale > 0):
        raise InputError(text, f"gap_scale must be a positive number, got {gap_scale!r}")
    found = split_source(text)
    if found is not None:
        source, name, params = found
        cmap = _function(source.reader)(name, params, gap=gap, gap_scale=gap_scale)
        cmap.meta["source"] = text
        return cmap
    path = Path(text)
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        if (path / MANIFEST).is_file():
            raise InputError(path, "is a compiled directory, not a map: give the map it was "
                             "compiled from (verify, fpga and estimate --from take the directory)")
        raise InputError(path, "is a directory, not a map file")
    fmt = _format_of(path.suffix)
    if fmt is None:
        known = ", ".join([f.suffixes[0] for f in FORMATS] + [s.example for s in SOURCES])
        raise InputError(path, f"unknown map type {path.suffix or '(no extension)'!r}: use "
                         f"{known}")
    cmap = fmt.read()(path)
    cmap.meta["source"] = text
    return cmap


def save_map(cmap: ConnectivityMap, path: str | os.PathLike) -> None:
    """Write a map in the format its suffix names (:func:`writable_suffixes`)."""
    fmt = _format_of(Path(path).suffix)
    if fmt is None or fmt.writer is None:
        raise InputError(path, f"unknown export type: use {', '.join(writable_suffixes())}")
    try:
        fmt.write()(cmap, path)
    except OSError as err:
        raise InputError(path, f"cannot write: {err.strerror or err}") from None


def no_parameters(spec: str, params: dict[str, str]) -> None:
    """For sources that take none: name the first one given."""
    if params:
        key = next(iter(params))
        raise InputError(spec, f"unknown parameter {key!r}: this source takes none",
                         record=key)
