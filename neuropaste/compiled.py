"""The compiled directory: its file names, its manifest schema and every reader of it.

``compile`` writes a directory and everything after it (verify, report, FPGA, host, estimate)
reads it, so the layout lives here once. The writers stay with what they write (compile, each
backend); the names they write to and the readers come from this module.

Layout (paths relative to the directory)::

    manifest.json            what made the directory (schema below)
    network.npz              the Network IR (neuropaste.ir)
    stimulus.csv             the stored external events (step,neuron)
    reference_spikes.csv     the reference model's raster on that stimulus
    verify.json              the results of neuropaste verify, check by check
    rtl/                     rtl backend: Verilog, memory images, address map, placement
    spice/                   spice backend: tiles.npz, tiles.json, tile netlists, stack/

Manifest schema, version :data:`MANIFEST_VERSION` (key ``neuropaste_manifest``):
``network`` (widths and sizes, :meth:`Network.scalars`), ``network_digest``, ``stimulus``
(``steps``, ``events`` and what made them), ``reference`` (``spikes``, ``active_neurons``),
``tools`` (versions), ``backends`` (backend name -> what its ``emit`` returned), and, from a
map, ``map`` (its summary) and ``quant_options``.

The imprint directory (``neuropaste imprint``, written by ``neuropaste.imprint.run``) is not a
compiled one; :class:`Imprinted` reads what ``verify --imprint`` needs of it: ``imprint.json``
(version key ``neuropaste_imprint``), ``spikes.npz`` (the spikes that drove the crossbar) and
``conductances.npz`` (the imprinted cells in the tile layout); the check writes its netlist
``verify_imprint.cir`` and ``verify.json`` there.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from neuropaste.addresses import Placement
from neuropaste.devices import Device, Electrical, Encoding
from neuropaste.errors import InputError
from neuropaste.events import Raster, Stimulus, load_raster_csv, load_stimulus_csv
from neuropaste.ir import Network, load_network
from neuropaste.plasticity import DeviceModel, PulseScheme, ThresholdRate
from neuropaste.tiles import TileStore, load_store

MANIFEST_VERSION = 1

MANIFEST = "manifest.json"
NETWORK = "network.npz"
STIMULUS = "stimulus.csv"
REFERENCE = "reference_spikes.csv"
VERIFY = "verify.json"

RTL = "rtl"
RTL_MEM = "rtl/mem"
CORE_VERILOG = "neuropaste_core.v"
MESH_VERILOG = "neuropaste_mesh.v"
ADDRESS_MAP = "rtl/address_map.csv"
PLACEMENT = "rtl/placement.npz"
RTL_RESULT = "verify_rtl.json"
RTL_SPIKES = "verify_rtl_spikes.csv"
REPLAY = "verify_replay"  # per-unit results of verify --rtl --replay, kept for resuming
SIM_BUILD = "sim_build"

SPICE = "spice"
TILES = "spice/tiles.npz"
TILES_INFO = "spice/tiles.json"
STACK = "spice/stack"
STACK_INFO = "spice/stack/stack.json"

FPGA = "fpga"  # fpga/<board>/: build tree, bitstream and fpga.json
FPGA_RESULT = "fpga.json"


def _json_object(root: Path, name: str, kind: str, command: str, what: str) -> dict[str, Any]:
    """The JSON object ``root/name`` that makes ``root`` a ``kind``, or one InputError line."""
    if not root.is_dir() or not (root / name).is_file():
        raise InputError(root, f"not a {kind} (no {name}): run neuropaste {command} first")
    try:
        doc = json.loads((root / name).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(root / name, f"cannot read {what}: {err}") from None
    if not isinstance(doc, dict):
        raise InputError(root / name, f"{what} is not a JSON object")
    return doc


def tile_netlist(t: int) -> str:
    return f"{SPICE}/tile_{t:04d}.cir"


@dataclass(frozen=True)
class Compiled:
    """A compiled directory, opened: its manifest read and checked, its files one call away."""

    root: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, path: str | os.PathLike) -> Compiled:
        """Refuse, with one InputError line, anything that is not a compiled directory."""
        root = Path(path)
        manifest = _json_object(root, MANIFEST, "compiled directory", "compile", "the manifest")
        version = manifest.get("neuropaste_manifest")
        if version != MANIFEST_VERSION:
            raise InputError(root / MANIFEST, f"manifest version {version!r}, this neuropaste "
                             f"reads version {MANIFEST_VERSION}: compile the map again")
        return cls(root=root, manifest=manifest)

    def path(self, name: str) -> Path:
        return self.root / name

    @property
    def steps(self) -> int:
        """Steps of the stored stimulus and reference run."""
        return int(self.manifest["stimulus"]["steps"])

    @property
    def source(self) -> str:
        """The map this directory was compiled from, for messages."""
        return self.manifest.get("map", {}).get("source") or str(self.root)

    def backend(self, name: str) -> dict[str, Any] | None:
        """What backend ``name`` wrote into the manifest (None when it did not run)."""
        return self.manifest["backends"].get(name)

    def network(self) -> Network:
        if not (self.root / NETWORK).is_file():
            raise InputError(self.root, "not a compiled directory (no network.npz)")
        return load_network(self.root / NETWORK)

    def stimulus(self, labels: np.ndarray) -> Stimulus:
        return load_stimulus_csv(self.root / STIMULUS, labels)

    def reference(self, labels: np.ndarray, steps: int | None = None) -> Raster:
        """The reference raster, cut to its first ``steps`` steps when given."""
        raster = load_raster_csv(self.root / REFERENCE, labels, self.steps)
        if steps is None:
            return raster
        keep = raster.step < steps
        return Raster(step=raster.step[keep], neuron=raster.neuron[keep], steps=steps,
                      n_neurons=raster.n_neurons)

    def checks(self) -> dict[str, Any]:
        """verify.json's checks so far ({} before any verify)."""
        path = self.root / VERIFY
        if not path.is_file():
            return {}
        return json.loads(path.read_text()).get("checks", {})

    # -- rtl

    def design_top(self) -> tuple[str, str]:
        """(module, file name under rtl/) of the compiled Verilog top level."""
        part = self.manifest["backends"]["rtl"]
        return part["top"], Path(part["files"][0]).name

    def placement(self) -> Placement | None:
        """The placement a mesh was built with (None for a single core)."""
        path = self.root / PLACEMENT
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as z:
            core, local = z["core"].astype(np.int64), z["local"].astype(np.int64)
        return Placement(core=core, local=local, n_cores=int(core.max(initial=0)) + 1)

    # -- spice

    def tile_store(self) -> TileStore:
        """spice/tiles.npz as the sparse store (:mod:`neuropaste.tiles`)."""
        return load_store(self.root / TILES)

    def tiles(self) -> dict[str, np.ndarray]:
        """tiles.npz dense: ``g``, ``row_pre``, ``row_delay``, ``col_post``, ``col_slice``,
        ``weight``, ``patterns`` (what small maps' checks index; at scale use
        :meth:`tile_store`)."""
        dev, _, _ = self.tile_params()
        return self.tile_store().dense(dev, self.encoding())

    def tile_params(self) -> tuple[Device, Electrical, dict[str, Any]]:
        """The device and read conditions the tiles were written for, and tiles.json whole."""
        info = json.loads((self.root / TILES_INFO).read_text())
        p = info["params"]
        return Device(**p["device"]), Electrical(**p["electrical"]), info

    def encoding(self) -> Encoding:
        """The weight encoding the tiles were written with (one pair per weight if unsaid)."""
        p = json.loads((self.root / TILES_INFO).read_text())["params"]
        return Encoding(**p.get("encoding", {}))

    def stack_info(self) -> dict[str, Any]:
        """spice/stack/stack.json: per die its tiles, nets and via counts."""
        return json.loads((self.root / STACK_INFO).read_text())

    # -- fpga

    def fpga_builds(self) -> dict[str, dict[str, Any]]:
        """fpga/<board>/fpga.json of every FPGA build of this directory, by board."""
        out = {}
        for path in sorted((self.root / FPGA).glob(f"*/{FPGA_RESULT}")):
            out[path.parent.name] = json.loads(path.read_text())
        return out


# -- the imprint directory (``neuropaste imprint``): not compiled, read for verify --imprint

IMPRINT_VERSION = 1
IMPRINT_JSON = "imprint.json"
IMPRINT_CONDUCTANCES = "conductances.npz"
IMPRINT_SPIKES = "spikes.npz"
IMPRINT_LEARNED = "learned.csv"
IMPRINT_TRAJECTORIES = "trajectories.npz"
IMPRINT_CHECK_NETLIST = "verify_imprint.cir"


@dataclass(frozen=True)
class Imprinted:
    """An imprint directory, opened: imprint.json read and checked, the rest one call away."""

    root: Path
    doc: dict[str, Any]

    @classmethod
    def open(cls, path: str | os.PathLike) -> Imprinted:
        """Refuse, with one InputError line, anything that is not an imprint directory."""
        root = Path(path)
        doc = _json_object(root, IMPRINT_JSON, "imprint directory", "imprint", IMPRINT_JSON)
        if doc.get("neuropaste_imprint") != IMPRINT_VERSION:
            raise InputError(root / IMPRINT_JSON, f"not an imprint.json of version "
                             f"{IMPRINT_VERSION}: imprint again")
        return cls(root=root, doc=doc)

    def path(self, name: str) -> Path:
        return self.root / name

    @property
    def labels(self) -> list[str]:
        return [str(x) for x in self.doc["labels"]]

    @property
    def options(self) -> dict[str, Any]:
        return self.doc["options"]

    def model(self) -> DeviceModel:
        """The device model the imprint ran (variation as it ran), from its table."""
        names = {f.name for f in fields(DeviceModel)}
        try:
            table = self.doc["model"]
            kw = {k: (math.inf if v is None else v) for k, v in table.items()
                  if k in names and k != "rate"}
            return DeviceModel(rate=ThresholdRate(**table["rate"]), **kw)
        except (KeyError, TypeError, AttributeError) as err:
            raise InputError(self.root / IMPRINT_JSON, f"bad model table: {err!r}") from None

    def scheme(self) -> PulseScheme:
        names = {f.name for f in fields(PulseScheme)}
        try:
            return PulseScheme(**{k: v for k, v in self.doc["scheme"].items() if k in names})
        except (KeyError, TypeError, AttributeError) as err:
            raise InputError(self.root / IMPRINT_JSON, f"bad pulse scheme: {err!r}") from None

    def spikes(self) -> tuple[np.ndarray, np.ndarray]:
        """(times in recording seconds, neuron index) of every spike that drove the crossbar."""
        try:
            with np.load(self.root / IMPRINT_SPIKES, allow_pickle=False) as data:
                return data["t_s"].astype(np.float64), data["neuron"].astype(np.int64)
        except (OSError, KeyError, ValueError) as err:
            raise InputError(self.root / IMPRINT_SPIKES, f"cannot read the spikes: {err}") \
                from None

    def conductances(self) -> dict[str, np.ndarray]:
        """conductances.npz whole: the tile store of the imprinted cells and its extras."""
        try:
            with np.load(self.root / IMPRINT_CONDUCTANCES, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError) as err:
            raise InputError(self.root / IMPRINT_CONDUCTANCES, f"cannot read it: {err}") \
                from None
