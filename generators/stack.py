"""The TSV stack a map's tiles are assigned to: K memory dies on neuron logic dies.

A stack is ``logic_dies`` CMOS dies (the neurons, AER routing, drivers and sense amplifiers) with
``memory_dies`` memory dies on top, each holding ``layers`` monolithic layers of 1T1R tiles,
joined by through-silicon vias. Defaults follow DESIGN.md and are documented in docs/stack.md:

- TSVs of 5 um diameter, 50 um tall, 0.5 um oxide liner, 10 um pitch (:class:`TSVGeometry`);
- a 1T1R cell pitch of 100 nm (the access transistor, not the memory element, sets it);
- 10 x 10 mm dies (a memory die of an HBM-like stack, not a reticle-sized one);
- a TSV budget per die interface of what a quarter of the die holds at the TSV pitch
  (250,000 at the defaults), unless given;
- tiles balanced over the memory dies within ``balance`` (so no die is the thermal or yield
  outlier) unless a die's physical capacity is smaller;
- a 1 kohm word-line driver on the logic die and a 10 fF word-line input on a memory die, for
  the TSV delay.

A stack is loaded from a JSON or TOML file by :func:`load_stack`; lengths carry their unit in
the key (``die_mm``, ``diameter_um``) so a file reads on its own. Only the logic die nearest the
memory carries the word-line and column TSVs; further logic dies add to the stack's height and
die count, not to the signal paths modelled here (the neurons are split over them by
:func:`neuropaste.generators.dies.assign_logic_dies`, and the spikes between them counted).

:func:`emit_stack` is what ``compile --memory-dies K`` / ``--stack FILE`` adds to the spice
backend: the assignment (weighted by the reference run's firing rates) and the netlists of
:mod:`neuropaste.netlists.stack`; :func:`report_html` draws it for the report.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from neuropaste.generators.dies import TileFootprint, assign_dies
from neuropaste.netlists.tsv import TSVGeometry, as_dict, delay_50, elmore_delay, parasitics

from neuropaste.errors import InputError


def _floor(x: float) -> int:
    """floor that forgives the last bits of rounding (0.25 * 1e-4 / 1e-10 is 249999.99...)."""
    return math.floor(x * (1 + 1e-9))


@dataclass(frozen=True)
class StackSpec:
    memory_dies: int = 2
    layers: int = 1  # monolithic memory layers per memory die
    die_mm: float = 10.0  # die side (square dies)
    cell_pitch_nm: float = 100.0
    tsv: TSVGeometry = field(default_factory=TSVGeometry)
    tsv_budget: int | None = None  # TSVs through one die interface; None: what the area allows
    balance: float = 0.05
    r_driver: float = 1000.0  # ohm, the logic die's word-line driver
    c_load: float = 10e-15  # F, one word-line input on a memory die
    logic_dies: int = 1
    tsv_area_fraction: float = 0.25  # share of a die the default TSV budget may cover

    @property
    def die_area_mm2(self) -> float:
        return self.die_mm**2

    def tiles_per_die(self, rows: int, cols: int) -> int:
        tile_area = rows * cols * (self.cell_pitch_nm * 1e-9) ** 2
        return self.layers * _floor((self.die_mm * 1e-3) ** 2 / tile_area)

    def max_tsvs(self) -> int:
        """TSVs that fit a whole die at the TSV pitch: the physical ceiling of any budget."""
        return _floor((self.die_mm * 1e-3) ** 2 / self.tsv.pitch**2)

    def area_tsv_budget(self) -> int:
        """TSVs that fit ``tsv_area_fraction`` (a quarter) of a die at the TSV pitch."""
        return _floor(self.tsv_area_fraction * (self.die_mm * 1e-3) ** 2 / self.tsv.pitch**2)

    def budget(self) -> int:
        return self.tsv_budget if self.tsv_budget is not None else self.area_tsv_budget()

    def check(self, source: str | None = None) -> StackSpec:
        """Raise InputError naming ``source`` and the field for a stack that cannot exist."""
        for name in ("memory_dies", "layers", "logic_dies"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(source, f"{name} must be an integer >= 1, got {value!r}",
                                 record=name)
        for name, low, strict in (("die_mm", 0.0, True), ("cell_pitch_nm", 0.0, True),
                                  ("r_driver", 0.0, True), ("c_load", 0.0, False),
                                  ("balance", 0.0, False), ("tsv_area_fraction", 0.0, True)):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or not math.isfinite(value) or value < low or (strict and value == low)):
                kind = "positive" if strict else "non-negative"
                raise InputError(source, f"{name} must be a {kind} number, got {value!r}",
                                 record=name)
        if self.tsv_area_fraction > 1:
            raise InputError(source, "tsv_area_fraction must be at most 1",
                             record="tsv_area_fraction")
        self.tsv.check(source)
        if self.tsv_budget is not None:
            b = self.tsv_budget
            if isinstance(b, bool) or not isinstance(b, int) or b < 1:
                raise InputError(source, f"tsv_budget must be an integer >= 1, got {b!r}",
                                 record="tsv_budget")
            if b > self.max_tsvs():
                raise InputError(source, f"tsv_budget {b} exceeds the {self.max_tsvs()} TSVs "
                                 f"that fit a {self.die_mm:g} mm die at "
                                 f"{self.tsv.pitch * 1e6:g} um pitch", record="tsv_budget")
        return self


#: file key -> (StackSpec field, factor to SI or to the field's unit)
_TOP_KEYS = {"memory_dies": ("memory_dies", None), "logic_dies": ("logic_dies", None),
             "layers": ("layers", None), "die_mm": ("die_mm", 1.0),
             "die_area_mm2": ("die_mm", "sqrt"), "cell_pitch_nm": ("cell_pitch_nm", 1.0),
             "tsv_budget": ("tsv_budget", None), "balance": ("balance", 1.0),
             "tsv_area_fraction": ("tsv_area_fraction", 1.0),
             "r_driver_ohm": ("r_driver", 1.0), "c_load_fF": ("c_load", 1e-15)}
_TSV_KEYS = {"diameter_um": ("diameter", 1e-6), "height_um": ("height", 1e-6),
             "liner_um": ("liner", 1e-6), "pitch_um": ("pitch", 1e-6),
             "depletion_um": ("depletion", 1e-6), "eps_liner": ("eps_liner", 1.0),
             "rho_ohm_m": ("rho", 1.0), "rho_si_ohm_m": ("rho_si", 1.0)}


def _number(path: Path, key: str, value: Any, factor: Any) -> Any:
    if factor is None:  # an integer count (or null for tsv_budget)
        if value is None and key == "tsv_budget":
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(path, f"{key} must be an integer, got {value!r}", record=key)
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(path, f"{key} must be a number, got {value!r}", record=key)
    if factor == "sqrt":
        if not value > 0:
            raise InputError(path, f"{key} must be positive, got {value!r}", record=key)
        return math.sqrt(value)
    return value * factor


def stack_from_dict(data: Any, source: str | Path | None = None) -> StackSpec:
    """A :class:`StackSpec` from the keys of a stack file (units in the key names)."""
    path = Path(source) if source is not None else None
    if not isinstance(data, dict):
        raise InputError(path, "a stack file must hold a table of keys")
    if "die_mm" in data and "die_area_mm2" in data:
        raise InputError(path, "give die_mm or die_area_mm2, not both", record="die_area_mm2")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key == "tsv":
            if not isinstance(value, dict):
                raise InputError(path, "tsv must be a table of keys", record="tsv")
            geo: dict[str, Any] = {}
            for k, v in value.items():
                if k not in _TSV_KEYS:
                    raise InputError(path, f"unknown TSV key {k!r} (known: "
                                     f"{', '.join(_TSV_KEYS)})", record=f"tsv.{k}")
                name, factor = _TSV_KEYS[k]
                geo[name] = _number(path, f"tsv.{k}", v, factor)
            kwargs["tsv"] = TSVGeometry(**geo)
        elif key in _TOP_KEYS:
            name, factor = _TOP_KEYS[key]
            kwargs[name] = _number(path, key, value, factor)
        else:
            raise InputError(path, f"unknown stack key {key!r} (known: "
                             f"{', '.join([*_TOP_KEYS, 'tsv'])})", record=key)
    return StackSpec(**kwargs).check(None if path is None else str(path))


def load_stack(path: str | Path) -> StackSpec:
    """Read a stack description from a ``.json`` or ``.toml`` file and validate it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such stack file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(path.read_text())
        elif suffix == ".toml":
            data = tomllib.loads(path.read_text())
        else:
            raise InputError(path, "a stack file must end in .json or .toml")
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot parse stack file: {err}") from None
    return stack_from_dict(data, path)


def stack_to_dict(spec: StackSpec) -> dict[str, Any]:
    """The file form of ``spec`` (what :func:`stack_from_dict` reads back)."""
    g = spec.tsv
    return {"memory_dies": spec.memory_dies, "logic_dies": spec.logic_dies,
            "layers": spec.layers, "die_mm": spec.die_mm, "cell_pitch_nm": spec.cell_pitch_nm,
            "tsv_budget": spec.tsv_budget, "balance": spec.balance,
            "tsv_area_fraction": spec.tsv_area_fraction, "r_driver_ohm": spec.r_driver,
            "c_load_fF": spec.c_load / 1e-15,
            "tsv": {"diameter_um": g.diameter / 1e-6, "height_um": g.height / 1e-6,
                    "liner_um": g.liner / 1e-6, "pitch_um": g.pitch / 1e-6,
                    "depletion_um": g.depletion / 1e-6, "eps_liner": g.eps_liner,
                    "rho_ohm_m": g.rho, "rho_si_ohm_m": g.rho_si}}


def with_memory_dies(spec: StackSpec, memory_dies: int) -> StackSpec:
    """``spec`` with another memory die count (the CLI's --memory-dies over a stack file)."""
    return replace(spec, memory_dies=memory_dies)


def stack_tiles(row_pre: np.ndarray, col_post: np.ndarray, n_neurons: int, spec: StackSpec,
                rates: np.ndarray | None = None) -> dict[str, Any]:
    """Assign tiles (rows by presynaptic neuron, columns by target) to the memory dies."""
    if isinstance(spec.memory_dies, int) and spec.memory_dies < 1:
        raise InputError(None, "--memory-dies must be at least 1")
    n_tiles = len(row_pre)
    rows, cols = row_pre.shape[1], 2 * col_post.shape[1]
    physical = spec.tiles_per_die(rows, cols)
    balanced = math.ceil(n_tiles / spec.memory_dies * (1 + spec.balance))
    per_die = min(physical, balanced)
    if n_tiles > spec.memory_dies * physical:
        raise InputError(None, f"{n_tiles} tiles of {rows}x{cols} need more than "
                         f"{spec.memory_dies} dies of {physical} tiles ({spec.die_mm:g} mm, "
                         f"{spec.layers} layer(s)): add memory dies or layers")
    spec.check()
    tiles = [TileFootprint(rows=r[r >= 0], cols=c[c >= 0], cells=0)
             for r, c in zip(row_pre, col_post, strict=True)]
    budget = spec.budget()
    result = assign_dies(tiles, n_neurons, spec.memory_dies, per_die, tsv_budget=budget,
                         rates=rates, columns_per_target=2)
    tsv = parasitics(spec.tsv)
    top = spec.memory_dies
    return {
        "spec": {**asdict(spec), "tsv": asdict(spec.tsv)},
        "die_of_tile": result.die.tolist(),
        "tiles_per_die_capacity": per_die,
        "tsv_budget_per_interface": budget,
        "tsv_parasitics": as_dict(tsv),
        "word_line_elmore_s_top_die": elmore_delay(tsv, top, spec.r_driver, spec.c_load),
        "word_line_delay_50_s_top_die": delay_50(tsv, top, spec.r_driver, spec.c_load),
        **result.stats,
    }


def reference_rates(out_dir: Path, labels: np.ndarray, steps: int) -> np.ndarray | None:
    """Spikes per step of every neuron in the compile's reference run (None if there is none)."""
    from neuropaste.sim.stimulus import load_stimulus_csv

    path = Path(out_dir) / "reference_spikes.csv"
    if steps <= 0 or not path.is_file():
        return None
    raster = load_stimulus_csv(path, labels)
    return np.bincount(raster.neuron, minlength=len(labels)) / float(steps)


def emit_stack(net: Any, out_dir: Path, arrays: dict[str, np.ndarray], opts: Any,
               headers: list[dict[str, Any]]) -> dict[str, Any]:
    """Assign the tiles to the memory dies (and neurons to the logic dies) and write the stack
    netlists: what ``compile --memory-dies K`` / ``--stack FILE`` adds to the spice backend."""
    from neuropaste.generators.dies import assign_logic_dies
    from neuropaste.netlists.stack import emit_stack as write_netlists

    spec = opts.stack if opts.stack is not None else StackSpec()
    spec = with_memory_dies(spec, opts.memory_dies).check()
    rates = reference_rates(out_dir, net.labels, opts.reference_steps)
    result = stack_tiles(arrays["row_pre"], arrays["col_post"], net.n_neurons, spec, rates)
    result["rates_from_reference_run"] = rates is not None
    if spec.logic_dies > 1:
        result["logic_dies"] = assign_logic_dies(net.pre, net.post, net.n_neurons,
                                                 spec.logic_dies, rates)
    tsv = parasitics(spec.tsv)
    result["netlists"] = write_netlists(
        Path(out_dir) / "spice", arrays, result["die_of_tile"], spec.memory_dies, tsv,
        spec.c_load, spec.r_driver, opts.electrical, headers, opts.device.cells_per_weight)
    return result


def report_html(compiled: Path) -> str:
    """Report section: the stack drawn as layers (tiles per die, TSVs per interface), its
    cost against the random and in-order baselines, and the ``verify --stack`` figures."""
    import matplotlib.pyplot as plt

    from neuropaste.report import backend_results, figure_png, table

    part, _ = backend_results(Path(compiled), "spice")
    if part is None or "stack" not in part:
        return ""
    _, check = backend_results(Path(compiled), "stack")
    st = part["stack"]
    n = len(st["tiles_per_die"])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [1, 1.3]})
    ax.add_patch(plt.Rectangle((0, 0), 1, 0.8, color="#888"))
    ax.text(0.5, 0.4, "logic die: neurons, drivers, sense", ha="center", va="center",
            color="w", fontsize=9)
    for k in range(n):
        y = 1.2 + 1.2 * k
        ax.add_patch(plt.Rectangle((0, y), 1, 0.8, color="#4466aa"))
        ax.text(0.5, y + 0.4, f"memory die {k}: {st['tiles_per_die'][k]} tiles, "
                f"{st['signals_per_die'][k]} signals", ha="center", va="center", color="w",
                fontsize=9)
        ax.annotate(f"{st['tsvs_per_interface'][k]} TSVs", (1.02, y - 0.2), fontsize=8,
                    va="center")
        for x in np.linspace(0.1, 0.9, 9):
            ax.plot([x, x], [y - 0.4, y], color="#c80", lw=1.5)
    ax.set_xlim(0, 1.35)
    ax.set_ylim(-0.1, 1.2 * n + 1.1)
    ax.axis("off")
    ax.set_title(f"stack: {n} memory dies on the logic die")
    names = ["partitioned", "random", "in order"]
    runs = [st, st["baselines"]["random"], st["baselines"]["in_order"]]
    x = np.arange(3)
    bx.bar(x - 0.2, [r["tsv_signals"] for r in runs], 0.4, label="TSV signals")
    bx.bar(x + 0.2, [r["tsv_segments"] for r in runs], 0.4, label="TSV segments (via count)")
    tx = bx.twinx()
    tx.plot(x, [r["spike_traffic_per_step"] for r in runs], "ko-", label="spikes across / step")
    tx.set_ylabel(f"spikes across dies per step ({st['traffic_weighted_by']})")
    tx.set_ylim(0, None)
    bx.set_xticks(x, names)
    bx.set_ylabel("TSVs")
    bx.legend(loc="upper left", fontsize=8)
    tx.legend(loc="upper right", fontsize=8)
    body = figure_png(fig)
    rows = [(f"{name}: TSV signals / via segments / spikes across dies per step",
             f"{r['tsv_signals']} / {r['tsv_segments']} / {r['spike_traffic_per_step']:.4g}")
            for name, r in zip(names, runs, strict=True)]
    rows += [("tiles per die (capacity)",
              f"{st['tiles_per_die']} ({st['tiles_per_die_capacity']})"),
             ("TSVs per interface (budget)",
              f"{st['tsvs_per_interface']} ({st['tsv_budget_per_interface']})"),
             ("via R / C / L", f"{st['tsv_parasitics']['r'] * 1e3:.1f} mOhm / "
              f"{st['tsv_parasitics']['c'] * 1e15:.1f} fF / {st['tsv_parasitics']['l'] * 1e12:.1f}"
              " pH"),
             ("word line to the top die, ln2 Elmore",
              f"{st['word_line_delay_50_s_top_die'] * 1e12:.1f} ps")]
    if "netlists" in st:
        nl = st["netlists"]
        rows.append(("netlist nets: word lines / columns / via instances",
                     f"{nl['word_line_nets']} / {nl['column_nets']} / {nl['via_instances']}"))
    if check:
        tr = check["transient"]
        rows += [("verify --stack", "PASS" if check.get("passed") else "FAIL"),
                 ("max |ngspice - solver through TSVs| / full scale",
                  f"{check['max_err_solver_fs']:.2e} (limit {check['solver_tolerance_fs']:g})"),
                 ("tiles in ngspice per die", [d["tiles_ngspice"] for d in check["dies"]]),
                 ("top word line t50: ngspice / estimate",
                  f"{tr['t50_ngspice_s'] * 1e12:.1f} ps / {tr['t50_estimate_s'] * 1e12:.1f} ps "
                  f"({tr['rel_err']:.1%})")]
    return "<h2>TSV stack</h2>" + table(rows) + body
