"""Brain-scale estimator: memories, area, dies, TSVs, programming time, recording size.

Conventions follow the source paper (DESIGN.md, "Scale check"): one memory per synapse in the
"1,000 N" memory network, a cell of F x F (F = ``cell_nm``, the cell's pitch, so its area
includes the access device), monolithic layers dividing the footprint, and the N x N crossbar
as the alternative. Every figure is computed from its inputs, with the model stated in the
result's ``models`` and caveats in ``notes``; :func:`check_paper` recomputes each of the paper's
own figures and says whether it follows from its inputs. docs/stack.md has the derivations.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from neuropaste.compiled import MANIFEST, Compiled
from neuropaste.devices import PRESETS as DEVICE_PRESETS
from neuropaste.errors import InputError


@dataclass(frozen=True)
class MemoryTech:
    """What the estimator needs of a memory: bits per cell and a typical cell size."""

    name: str
    bits_per_cell: int  # log2 of the levels of the device preset the crossbar backend uses
    cell_nm: float  # typical cell pitch: sqrt of the area one cell takes in one layer
    source: str


#: Bits per cell follow the device presets of the crossbar backend (neuropaste/devices.py),
#: so a compiled map and an estimate agree; cells are typical, rounded (override ``cell_nm``).
MEMORIES = {name: MemoryTech(name, int(math.log2(p.device.levels)), p.cell_nm, p.cell_source)
            for name, p in DEVICE_PRESETS.items()}


#: the recording the map came from (DESIGN.md): CMOS nanoelectrode array, 4,096 channels,
#: 1,728 neurons recorded intracellularly in one 19-minute recording of about 80 GB, from
#: which 304 synaptic connections were mapped
RECORDING = {"channels": 4096, "neurons": 1728, "seconds": 19 * 60, "bytes": 80e9,
             "connections": 304}
#: default die: 26 x 26 mm^2 is the paper's 128-layer footprint and fits one lithography
#: reticle field (26 x 33 mm^2), the largest die made without stitching
DIE_MM = 26.0
WEIGHT_CODES = ("sliced", "unary")


def _positive(name: str, value: Any, source: str | None = None, integer: bool = False) -> None:
    ok = (not isinstance(value, bool) and isinstance(value, (int, float))
          and math.isfinite(value) and value > 0)
    if ok and integer:
        ok = float(value).is_integer()
    if not ok:
        kind = "a positive integer" if integer else "a positive number"
        raise InputError(source, f"--{name.replace('_', '-')} must be {kind}, got {value!r}")


def cells_per_weight(weight_bits: int, bits_per_cell: int, code: str = "sliced") -> int:
    """Cells that hold one weight magnitude.

    ``sliced``: each cell holds ``bits_per_cell`` bits of the weight on its own column and the
    sense stage weights the slices (``ceil(w / b)`` cells); ``unary``: identical cells in
    parallel on one column, k of n on (``ceil((2^w - 1) / (2^b - 1))`` cells), as the crossbar
    backend does for MRAM.
    """
    if code == "sliced":
        return math.ceil(weight_bits / bits_per_cell)
    if code == "unary":
        return math.ceil((2**weight_bits - 1) / (2**bits_per_cell - 1))
    raise InputError(None, f"--weight-code must be one of {', '.join(WEIGHT_CODES)}")


def tsv_signals(neurons: float, synapses_per_neuron: float, dies: int,
                columns_per_target: int) -> dict[str, float]:
    """Signals between the logic die and the memory dies, for targets split evenly over dies.

    Each memory die holds the columns of N / D targets, so each target's column outputs
    (``columns_per_target`` analog currents, sensed on the logic die) cross once. A source's
    spike crosses once to every die that holds one of its synapses and is fanned out there to
    that die's word lines. Unstructured (random) connectivity: a source with K synapses reaches
    a given die with probability ``1 - (1 - 1/D)^K``. Clustered (best case, each source's
    targets packed on as few dies as possible): ``ceil(K D / N)`` dies per source.
    """
    n, k, d = neurons, synapses_per_neuron, dies
    columns = n * columns_per_target  # all dies together
    random_wl = n * d * -math.expm1(k * math.log1p(-1 / d)) if d > 1 else n
    clustered_wl = n * min(d, math.ceil(k * d / n))
    return {"column_signals": columns, "word_line_signals_random": random_wl,
            "word_line_signals_clustered": clustered_wl,
            "signals_random": random_wl + columns, "signals_clustered": clustered_wl + columns}


def estimate(neurons: float = 1e11, synapses_per_neuron: float = 1000,
             cell_nm: float | None = None, layers: int = 1, memory: str = "flash",
             weight_bits: int | None = None, write_bytes_per_s: float = 100e6,
             die_mm: float = DIE_MM, tile_rows: int = 64, tile_cols: int = 64,
             utilisation: float = 1.0, differential: bool = False, weight_code: str | None = None,
             tsv_pitch_um: float = 10.0, recording_s: float = RECORDING["seconds"]
             ) -> dict[str, Any]:
    """Figures for ``neurons`` x ``synapses_per_neuron`` synapses pasted into ``memory``.

    ``cell_nm`` None takes the memory's typical cell (:data:`MEMORIES`); ``weight_bits`` None
    stores one weight per cell (the paper's one memory per synapse). ``utilisation`` is the
    share of tile cells that hold a synapse (1: perfect packing, the paper's count);
    ``differential`` doubles the cells for signed weights on column pairs.
    """
    if memory not in MEMORIES:
        raise InputError(None, f"--memory must be one of {', '.join(MEMORIES)}, got {memory!r}")
    tech = MEMORIES[memory]
    cell_source = "preset" if cell_nm is None else "given"
    cell_nm = tech.cell_nm if cell_nm is None else cell_nm
    weight_bits = tech.bits_per_cell if weight_bits is None else weight_bits
    weight_code = weight_code or "sliced"
    for name, value in (("neurons", neurons), ("synapses_per_neuron", synapses_per_neuron),
                        ("cell_nm", cell_nm), ("die_mm", die_mm),
                        ("write_bandwidth", write_bytes_per_s), ("utilisation", utilisation),
                        ("tsv_pitch_um", tsv_pitch_um), ("recording_s", recording_s)):
        _positive(name, value)
    for name, value in (("layers", layers), ("weight_bits", weight_bits),
                        ("tile_rows", tile_rows), ("tile_cols", tile_cols)):
        _positive(name, value, integer=True)
    if utilisation > 1:
        raise InputError(None, f"--utilisation must be at most 1, got {utilisation!r}")
    if synapses_per_neuron > neurons:
        raise InputError(None, "--synapses-per-neuron cannot exceed --neurons "
                         "(one synapse per pair at most)")
    layers, weight_bits = int(layers), int(weight_bits)
    tile_rows, tile_cols = int(tile_rows), int(tile_cols)

    n, k = float(neurons), float(synapses_per_neuron)
    synapses = n * k
    cpw = cells_per_weight(weight_bits, tech.bits_per_cell, weight_code)
    sign = 2 if differential else 1
    cells_per_synapse = cpw * sign
    weight_cells = synapses * cells_per_synapse
    cells = weight_cells / utilisation
    cell_area = (cell_nm * 1e-9) ** 2
    die_area = (die_mm * 1e-3) ** 2
    planar = cells * cell_area
    stacked = planar / layers
    dies = max(1, math.ceil(stacked / die_area * (1 - 1e-12)))

    # sliced cells sit on columns of their own (the sense stage weights the slices); unary
    # cells of one weight sit in parallel on one column, their currents summed on it
    columns_per_target = sign if weight_code == "unary" else cells_per_synapse
    if columns_per_target > tile_cols:
        raise InputError(None, f"a weight takes {columns_per_target} columns: more than the "
                         f"tile's {tile_cols}")
    tile_cells = tile_rows * tile_cols
    tiles = math.ceil(cells / tile_cells)
    tiles_per_die = layers * math.floor(die_area / (tile_cells * cell_area))
    sig = tsv_signals(n, k, dies, columns_per_target)
    pitch = tsv_pitch_um * 1e-6
    tsv_capacity = die_area / pitch**2  # vias that fit a whole die at the pitch
    # a signal to memory die j (0 next to the logic die) crosses j + 1 interfaces; interface 0
    # carries every signal, and each die terminates the same share: (D + 1) / 2 on average
    segments = sig["signals_random"] * (dies + 1) / 2

    crossbar_cells = n * n * cells_per_synapse
    crossbar_planar = crossbar_cells * cell_area
    crossbar_stacked = crossbar_planar / layers
    programmed_bits = weight_cells * tech.bits_per_cell
    programming_s = programmed_bits / 8 / write_bytes_per_s

    rec = RECORDING
    bytes_per_channel_s = rec["bytes"] / (rec["channels"] * rec["seconds"])
    channels_per_neuron = rec["channels"] / rec["neurons"]
    bytes_per_connection = rec["bytes"] / rec["connections"]
    recording_bytes = n * channels_per_neuron * bytes_per_channel_s * recording_s

    result: dict[str, Any] = {
        "inputs": {"neurons": n, "synapses_per_neuron": k, "cell_nm": cell_nm,
                   "cell_source": cell_source, "layers": layers, "memory": memory,
                   "bits_per_cell": tech.bits_per_cell, "weight_bits": weight_bits,
                   "weight_code": weight_code, "differential": differential,
                   "write_bytes_per_s": write_bytes_per_s, "die_mm": die_mm,
                   "tile_rows": tile_rows, "tile_cols": tile_cols, "utilisation": utilisation,
                   "tsv_pitch_um": tsv_pitch_um, "recording_s": recording_s},
        "memory_preset": asdict(tech),
        "synapses": synapses,
        "cells_per_weight": cpw,
        "cells_per_synapse": cells_per_synapse,
        "memory_cells": cells,
        "planar_area_m2": planar,
        "planar_side_m": math.sqrt(planar),
        "stacked_area_m2": stacked,
        "stacked_side_m": math.sqrt(stacked),
        "dies": dies,
        "tiles": tiles,
        "tiles_per_die": tiles_per_die,
        "tsvs": sig["signals_random"],
        **{f"tsv_{key}": value for key, value in sig.items()},
        "tsv_segments_random": segments,
        "tsv_capacity_per_die": tsv_capacity,
        "tsv_interface_load_random": sig["signals_random"] / tsv_capacity,
        "tsv_interface_load_clustered": sig["signals_clustered"] / tsv_capacity,
        "columns_per_target": columns_per_target,
        "crossbar_cells": crossbar_cells,
        "crossbar_planar_area_m2": crossbar_planar,
        "crossbar_stacked_area_m2": crossbar_stacked,
        "crossbar_stacked_side_m": math.sqrt(crossbar_stacked),
        "crossbar_dies": max(1, math.ceil(crossbar_stacked / die_area * (1 - 1e-12))),
        "crossbar_utilisation": k / n,
        "crossbar_max_neurons_per_die": math.sqrt(layers * die_area
                                                  / (cell_area * cells_per_synapse)),
        "programmed_bits": programmed_bits,
        "programming_s": programming_s,
        "programming_s_dies_in_parallel": programming_s / dies,
        "recording_bytes_per_channel_second": bytes_per_channel_s,
        "recording_channels_per_neuron": channels_per_neuron,
        "recording_bytes_per_neuron": channels_per_neuron * bytes_per_channel_s * recording_s,
        "recording_bytes": recording_bytes,
        "recording_bytes_per_mapped_connection": bytes_per_connection,
        "recording_bytes_at_source_yield": synapses * bytes_per_connection,
        "models": MODELS,
    }
    result["notes"] = _notes(result)
    return result


MODELS = {
    "area": "memory cells x cell_nm^2 (cell pitch squared, access device included, periphery "
            "not), divided by the layers; dies = ceil(stacked area / die area)",
    "cells": "synapses x cells per weight x 2 if differential / utilisation; cells per weight "
             "= ceil(weight bits / bits per cell) (sliced) or ceil((2^w-1)/(2^b-1)) (unary); "
             "sliced cells take a column each, unary cells share one column (in parallel)",
    "crossbar": "an N x N crossbar holds N^2 x cells per synapse cells of cell_nm^2, divided "
                "by the layers (its footprint at the given N, whatever the map's sparsity)",
    "tsv": "targets split evenly over the memory dies; each target's column outputs (one per "
           "cell of its weight) cross once to sense amplifiers on the logic die; a source's "
           "spike crosses once to each die holding one of its synapses (random: "
           "N D (1-(1-1/D)^K) word-line signals, clustered: N ceil(K D / N)); the interface "
           "next to the logic die carries every signal",
    "programming": "bits programmed (weight cells x bits per cell) / write bandwidth, one "
                   "write channel; or one per die in parallel",
    "recording": "80 GB / (4,096 channels x 1,140 s) per channel-second; 4,096 / 1,728 "
                 "channels per neuron; scaled to N neurons at the same duration",
}


def _notes(r: dict[str, Any]) -> list[str]:
    i = r["inputs"]
    notes = []
    if r["tsv_interface_load_random"] > 1:
        notes.append(
            f"one wire per word line and column does not fit: {r['tsv_signals_random']:.3g} "
            f"signals (random connectivity; {r['tsv_signals_clustered']:.3g} clustered) "
            f"against {r['tsv_capacity_per_die']:.3g} vias on a whole {i['die_mm']:g} mm die "
            f"at {i['tsv_pitch_um']:g} um pitch: spikes must cross as time-multiplexed AER "
            "packets decoded on the memory dies, and columns be sensed there")
    if r["memory_cells"] * (i["cell_nm"] * 1e-9) ** 2 / i["layers"] > (i["die_mm"] * 1e-3) ** 2:
        notes.append(f"the stacked array needs {r['dies']} dies of {i['die_mm']:g} mm; "
                     "the TSV model splits targets evenly over them")
    if r["crossbar_utilisation"] < 0.01:
        notes.append(f"an N x N crossbar would hold a synapse in {r['crossbar_utilisation']:.2g}"
                     " of its cells: a sparse map needs packed tiles, not one crossbar")
    if i["cell_source"] == "given" and i["cell_nm"] < MEMORIES[i["memory"]].cell_nm / 2:
        notes.append(f"cell of {i['cell_nm']:g} nm is under half the typical "
                     f"{MEMORIES[i['memory']].cell_nm:g} nm of {i['memory']}: an optimistic "
                     "cell (the paper's 30 nm counts no access transistor)")
    notes.append("recording: the sampling rate and sample width are not published with the "
                 f"80 GB figure; {r['recording_bytes_per_channel_second']:.3g} B per "
                 "channel-second is 8.6 kS/s at 16 bits per sample, or 11.4 kS/s at 12")
    notes.append(f"the source recording mapped {RECORDING['connections']} connections among "
                 f"{RECORDING['neurons']} neurons (0.18 per neuron against "
                 f"{i['synapses_per_neuron']:.3g} wanted); at its yield of "
                 f"{r['recording_bytes_per_mapped_connection']:.3g} bytes per mapped "
                 f"connection, {r['synapses']:.3g} synapses would take "
                 f"{r['recording_bytes_at_source_yield']:.3g} bytes of recording")
    return notes


def check_paper() -> list[dict[str, Any]]:
    """The source paper's figures, each recomputed from its own inputs by arithmetic.

    A figure is consistent when the recomputed value is within a factor 1.25 of the published
    one (they are all "about" figures); ``arithmetic`` shows the working and ``follows`` what a
    reader should take from a figure that is not.
    """
    one = estimate(1e11, 1000, 30, 1, memory="mram", weight_bits=1)
    stacked = estimate(1e11, 1000, 30, 128, memory="mram", weight_bits=1)
    n_match = math.sqrt(0.26**2 * 128 / 9e-16)  # the N whose 128-layer crossbar is 260 mm wide
    rows = [
        ("1,000 N memories for N ~ 1e11 neurons", "1e14 memories", one["memory_cells"], 1e14,
         "1e11 x 1,000 = 1e14", ""),
        ("1,000 N memories of 30 x 30 nm^2 in one layer", "about 30 x 30 cm^2",
         one["planar_side_m"], 0.30,
         f"1e14 x 9e-16 m^2 = {one['planar_area_m2']:.3g} m^2, side "
         f"{one['planar_side_m']:.3g} m", ""),
        ("the same with 128 layers", "about 26 x 26 mm^2", stacked["stacked_side_m"], 0.026,
         f"0.09 m^2 / 128 = {stacked['stacked_area_m2']:.3g} m^2, side "
         f"{stacked['stacked_side_m'] * 1e3:.3g} mm (4 % more area than one 26 mm die: "
         f"{stacked['dies']} such dies, or one of 26.5 mm)", ""),
        ("N x N crossbar of 30 nm cells, 128 layers, in 26 x 26 mm^2", "N up to about 1e7",
         stacked["crossbar_max_neurons_per_die"], 1e7,
         f"N = sqrt(128 x 6.76e-4 m^2 / 9e-16 m^2) = "
         f"{stacked['crossbar_max_neurons_per_die']:.3g}", ""),
        ("N x N crossbar of 30 nm cells for N ~ 1e11, 128 layers", "about 260 x 260 mm^2",
         stacked["crossbar_stacked_side_m"], 0.26,
         f"(1e11)^2 x 9e-16 m^2 / 128 = {stacked['crossbar_stacked_area_m2']:.3g} m^2, side "
         f"{stacked['crossbar_stacked_side_m']:.3g} m",
         f"the published side is that of N = {n_match:.2g} (N^2 x 9e-16 m^2 / 128 = 0.068 m^2), "
         "not of N = 1e11, whose crossbar is about 1,000 times wider (1e6 times the area): "
         "at brain scale an N x N crossbar is out of reach and only packed sparse tiles fit"),
    ]
    out = []
    for claim, published, ours, value, arithmetic, follows in rows:
        ratio = ours / value
        consistent = 0.8 <= ratio <= 1.25
        out.append({"claim": claim, "published": published, "recomputed": ours,
                    "ratio": ratio, "consistent": consistent, "arithmetic": arithmetic,
                    "follows": follows or ("" if consistent else "the published figure does "
                                           "not follow from its inputs")})
    return out


def _field(part: dict[str, Any], key: str, path: Path, kind: type | tuple = (int, float)) -> Any:
    value = part.get(key)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise InputError(path, f"backends.spice has no valid {key!r}: compile with the spice "
                         "backend of this version", record=f"backends.spice.{key}")
    return value


def estimate_from_compiled(compiled: Path, neurons: float = 1e11,
                           synapses_per_neuron: float | None = None, **kwargs: Any
                           ) -> dict[str, Any]:
    """Extrapolate to ``neurons`` with a compiled map's measured tiles.

    Taken from ``DIR/manifest.json``: tile utilisation, tile size, device (bits per cell),
    differential columns, the map's mean fan-out (when ``synapses_per_neuron`` is None), TSV
    signals per tile when the tiles were assigned to a stack, and programming pulses per cell.
    Assumes the packing efficiency measured on the small map holds at scale.
    """
    cd = Compiled.open(compiled)
    manifest, path = cd.manifest, cd.path(MANIFEST)
    backends = manifest.get("backends")
    spice = backends.get("spice") if isinstance(backends, dict) else None
    if not isinstance(spice, dict):
        raise InputError(compiled, "was compiled without the spice backend: no tile figures "
                         "in manifest.json (compile with --backends spice)")
    util = _field(spice, "utilisation", path)
    if not 0 < util <= 1:
        raise InputError(path, f"tile utilisation {util!r} is not in (0, 1]",
                         record="backends.spice.utilisation")
    rows = _field(spice, "tile_rows", path, int)
    cols = _field(spice, "tile_cols", path, int)
    tiles = _field(spice, "tiles", path, int)
    device = spice.get("device")
    memory = kwargs.pop("memory", None) or device
    if memory not in MEMORIES:
        raise InputError(path, f"device {device!r} is not a memory preset; pass --memory "
                         f"({', '.join(MEMORIES)})", record="backends.spice.device")
    levels = spice.get("levels_per_weight")
    if "weight_bits" not in kwargs or kwargs["weight_bits"] is None:
        kwargs["weight_bits"] = (max(1, math.ceil(math.log2(levels)))
                                 if isinstance(levels, int) and levels >= 2 else None)
    if synapses_per_neuron is None:
        mapped = manifest.get("map") if isinstance(manifest.get("map"), dict) else {}
        synapses_per_neuron = mapped.get("mean_fan_out")
        if isinstance(synapses_per_neuron, bool) or not isinstance(synapses_per_neuron,
                                                                      (int, float)):
            raise InputError(path, "no map.mean_fan_out: pass --synapses-per-neuron",
                             record="map.mean_fan_out")
    differential = "differential" in str(spice.get("signed_scheme", ""))
    params = spice.get("params") if isinstance(spice.get("params"), dict) else {}
    dev = params.get("device") if isinstance(params.get("device"), dict) else {}
    if kwargs.get("weight_code") is None:  # the backend's code: parallel cells are unary
        cpw = dev.get("cells_per_weight", 1)
        kwargs["weight_code"] = "unary" if isinstance(cpw, int) and cpw > 1 else "sliced"
    kwargs.setdefault("differential", differential)
    result = estimate(neurons, synapses_per_neuron, memory=memory, utilisation=util,
                      tile_rows=rows, tile_cols=cols, **kwargs)
    measured: dict[str, Any] = {"dir": str(cd.root), "utilisation": util, "tiles": tiles,
                                "tile": f"{rows}x{cols}", "device": device,
                                "differential": differential}
    stack = spice.get("stack")
    if isinstance(stack, dict) and isinstance(stack.get("tsv_signals"), int) and tiles:
        per_tile = stack["tsv_signals"] / tiles
        measured["tsv_signals_per_tile"] = per_tile
        measured["memory_dies"] = len(stack.get("signals_per_die", []))
        result["tsv_signals_measured_rate"] = per_tile * result["tiles"]
    prog = spice.get("programming")
    if isinstance(prog, dict) and prog.get("cells_programmed") and isinstance(
            prog.get("time_serial_s"), (int, float)):
        per_cell = prog["time_serial_s"] / prog["cells_programmed"]
        measured["write_verify_s_per_cell"] = per_cell
        result["programming_s_write_verify_serial"] = per_cell * (
            result["synapses"] * result["cells_per_synapse"])
    result["from"] = measured
    result["notes"].insert(0, "extrapolated on the assumption that the tile utilisation "
                           "measured on the compiled map holds at scale")
    return result


def _days(s: float) -> str:
    return f"{s:.3g} s ({s / 86400:.3g} days)"


def format_table(r: dict[str, Any]) -> str:
    """A readable table of an :func:`estimate` result."""
    i = r["inputs"]
    rows = [
        ("neurons x synapses", f"{i['neurons']:.3g} x {i['synapses_per_neuron']:.3g} = "
                               f"{r['synapses']:.3g}"),
        ("memory", f"{i['memory']}, {i['bits_per_cell']} bit(s)/cell, {i['weight_bits']}-bit "
                   f"weights: {r['cells_per_synapse']} cell(s) per synapse"),
        ("cell", f"{i['cell_nm']:g} x {i['cell_nm']:g} nm^2 ({i['cell_source']})"),
        ("memory cells", f"{r['memory_cells']:.3g} (tile utilisation {i['utilisation']:.3g})"),
        ("planar area, 1 layer", f"{r['planar_area_m2']:.3g} m^2 = "
                                 f"({r['planar_side_m'] * 100:.3g} cm)^2"),
        (f"stacked, {i['layers']} layer(s)", f"{r['stacked_area_m2']:.3g} m^2 = "
                                             f"({r['stacked_side_m'] * 1e3:.3g} mm)^2"),
        (f"dies of {i['die_mm']:g} mm", f"{r['dies']} ({r['tiles']:.3g} tiles of "
                                         f"{i['tile_rows']}x{i['tile_cols']})"),
        ("TSV signals", f"{r['tsv_signals_random']:.3g} random, "
                        f"{r['tsv_signals_clustered']:.3g} clustered; a die holds "
                        f"{r['tsv_capacity_per_die']:.3g} at {i['tsv_pitch_um']:g} um pitch"),
        ("N x N crossbar", f"{r['crossbar_cells']:.3g} cells, "
                           f"{r['crossbar_planar_area_m2']:.3g} m^2 in one layer, side "
                           f"{r['crossbar_stacked_side_m']:.3g} m in {i['layers']} layer(s), "
                           f"{r['crossbar_dies']:.3g} dies; one die holds N <= "
                           f"{r['crossbar_max_neurons_per_die']:.3g}"),
        ("programming", f"{_days(r['programming_s'])} at {i['write_bytes_per_s']:.3g} B/s; "
                        f"{_days(r['programming_s_dies_in_parallel'])} with a channel per die"),
        ("recording", f"{r['recording_bytes']:.3g} bytes for {i['recording_s']:g} s "
                      f"({r['recording_bytes_per_channel_second']:.3g} B per channel-second)"),
    ]
    if "from" in r:
        f = r["from"]
        rows.insert(0, ("measured in", f"{f['dir']}: {f['tiles']} tiles of {f['tile']}, "
                                       f"utilisation {f['utilisation']:.3g}"))
        if "tsv_signals_measured_rate" in r:
            rows.append(("TSV signals, measured", f"{r['tsv_signals_measured_rate']:.3g} at "
                         f"{f['tsv_signals_per_tile']:.3g} per tile"))
        if "programming_s_write_verify_serial" in r:
            rows.append(("write-verify, measured",
                         _days(r["programming_s_write_verify_serial"]) + " serial"))
    width = max(len(a) for a, _ in rows)
    lines = [f"{a:<{width}}  {b}" for a, b in rows]
    for row in r.get("paper_check", []):
        verdict = "follows" if row["consistent"] else "does NOT follow from its inputs"
        lines.append(f"paper: {row['claim']}: {row['published']}; {row['arithmetic']} -> "
                     f"{verdict}" + (f": {row['follows']}" if row["follows"] else ""))
    lines += [f"note: {n}" for n in r["notes"]]
    return "\n".join(lines)
