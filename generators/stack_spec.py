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
- a 1 kohm word-line driver on the logic die, for the TSV delay. The word line's own load (wire
  resistance per cell, one access transistor's gate per cell, from the device's
  :class:`~neuropaste.devices.Electrical`) is modelled by the spice backend; ``c_load``
  (``c_load_fF``, default 0) is an extra lumped load at the word line's far end.

A stack is loaded from a JSON or TOML file by :func:`load_stack`; lengths carry their unit in
the key (``die_mm``, ``diameter_um``) so a file reads on its own. Only the logic die nearest the
memory carries the word-line and column TSVs; further logic dies add to the stack's height and
die count, not to the signal paths modelled here (the neurons are split over them by
:func:`neuropaste.generators.die_partition.assign_logic_dies`, and the spikes between them
counted).

A :class:`StackSpec` is the ``stack`` option of the spice backend
(:class:`neuropaste.generators.crossbar.CrossbarOptions`): the tiles are then assigned to the
dies (:mod:`neuropaste.generators.die_partition`) and the stack netlists written
(:mod:`neuropaste.netlists.stack_netlist`).
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuropaste.errors import InputError
from neuropaste.netlists.tsv import TSVGeometry


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
    c_load: float = 0.0  # F, extra lumped load at a word line's far end (beyond its gates)
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
