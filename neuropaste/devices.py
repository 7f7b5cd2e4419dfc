"""Memory devices and the read conditions of a tile: the physics that netlists, solver and
generators share.

Device presets: conductance range, levels, cells per weight, variability, drift.

Figures follow DESIGN.md's survey of the source paper and the device literature it cites:

- **rram**: HfOx/TaOx filamentary cells, on/off 10-100 with 64-500 states; we take
  1 uS .. 100 uS (on/off 100), 64 levels, 5 % device-to-device spread (lognormal sigma).
- **pcm**: GST mushroom cells, multi-level but drifting, R(t) = R0 (t/t0)^nu with nu ~ 0.1
  (so G(t) = G0 (t/t0)^-nu), t0 = 1 s; 1 uS .. 25 uS, 16 levels, 3 % spread.
- **flash**: 3D NAND charge-trap cells in read (linear) mode, 3 bits per cell (8 levels),
  0.1 uS .. 10 uS; write-and-verify above 100 MB/s; 2 % spread.
- **mram**: STT-MRAM, one bit per cell with TMR ~ 150 % (on/off 2.5): 20 uS / 50 uS. A weight
  uses several cells in parallel, thermometer-coded, so k of n cells on give n + 1 levels.

A user preset is a JSON file with the same keys (see :class:`Device`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from neuropaste.errors import InputError


@dataclass(frozen=True)
class Electrical:
    """Everything electrical about a tile that is not the conductances."""

    v_read: float = 0.2  # V on the read lines
    v_gate: float = 1.2  # V on an active word line
    r_wire: float = 1.0  # ohm per cell segment, rows and columns (~ 30 nm Cu line at 100 nm pitch)
    vto: float = 0.45  # V, access transistor threshold
    kp: float = 200e-6  # A/V^2, process transconductance
    lam: float = 0.02  # 1/V, channel-length modulation
    w: float = 1.0e-6  # m
    length: float = 0.1e-6  # m, channel length
    tox: float = 2.5e-9  # m, gate oxide: the gate capacitance a word line drives
    v_body: float = 0.0  # V, the substrate node the access transistors' bodies sit on

    @property
    def beta(self) -> float:
        return self.kp * self.w / self.length

    @property
    def c_ox(self) -> float:
        """Gate-oxide capacitance per area, F/m^2 (SiO2, eps_r 3.9)."""
        return 3.9 * 8.8541878128e-12 / self.tox

    @property
    def c_gate(self) -> float:
        """Gate capacitance of one access transistor, F: the load one cell puts on its word
        line (one transistor per weight; ``cells_per_weight`` scales W)."""
        return self.c_ox * self.w * self.length


@dataclass(frozen=True)
class Device:
    name: str
    g_min: float  # S, lowest programmable conductance of one cell
    g_max: float  # S, highest
    levels: int  # programmable levels of one cell (2 for a binary cell)
    cells_per_weight: int = 1  # parallel cells per synapse (thermometer code)
    d2d_sigma: float = 0.0  # lognormal device-to-device spread of programmed conductance
    drift_nu: float = 0.0  # G(t) = G0 (t / t0) ** -nu
    drift_t0: float = 1.0  # s
    write_pulse_s: float = 100e-9  # one program pulse
    verify_read_s: float = 50e-9  # one verify read after each pulse
    pulse_sigma: float = 0.3  # relative spread of the conductance step of one pulse
    source: str = ""

    @property
    def weight_levels(self) -> int:
        """Distinct magnitudes one synapse can hold (per side of a differential pair)."""
        return self.cells_per_weight * (self.levels - 1) + 1

    @property
    def level_step(self) -> float:
        """Conductance of one level step of one cell (S)."""
        return (self.g_max - self.g_min) / (self.levels - 1)

    @property
    def on_off(self) -> float:
        return self.g_max / self.g_min


@dataclass(frozen=True)
class Encoding:
    """How a weight's magnitude becomes cells: ``slices`` digits of ``digit_levels`` levels,
    slice s worth ``digit_levels ** s``, each digit in its own differential pair, added on the
    neuron die by shift-and-add (bit slicing). A digit step is a whole number of the device's
    level steps, so a coarse digit spans the full conductance range and stands far above read
    noise. ``slices=1, digit_levels=0`` is one pair per weight on every level of the device."""

    slices: int = 1
    digit_levels: int = 0  # 0: the device's own weight_levels

    def digits(self, dev: Device) -> int:
        return self.digit_levels or dev.weight_levels

    def step(self, dev: Device) -> int:
        """Device level steps per digit step."""
        return (dev.weight_levels - 1) // (self.digits(dev) - 1)

    def levels(self, dev: Device) -> int:
        """Distinct magnitudes a weight can take: digits ** slices."""
        return self.digits(dev) ** self.slices

    def check(self, dev: Device) -> Encoding:
        d = self.digits(dev)
        if self.slices < 1 or self.slices > 16:
            raise InputError(None, f"--slices must be 1..16, got {self.slices}")
        if d < 2 or d > dev.weight_levels or (dev.weight_levels - 1) % (d - 1):
            ok = [k for k in range(2, dev.weight_levels + 1) if (dev.weight_levels - 1) % (k - 1)
                  == 0]
            raise InputError(None, f"--digit-levels {d}: a digit step must be a whole number of "
                             f"{dev.name}'s {dev.weight_levels - 1} level steps; choose one of "
                             f"{ok}")
        return self

    def describe(self, dev: Device) -> str:
        d = self.digits(dev)
        if self.slices == 1:
            return f"one differential pair per weight, {d} levels"
        return (f"bit slicing: {self.slices} slices of {d} levels (base {d}), one differential "
                f"pair each, shift-and-add on the neuron die")


def weight_per_level(w_max: int, dev: Device, enc: Encoding | None = None) -> float:
    """Weight units per level of the level map (below). Lossless when it is 1 / m."""
    enc = enc or Encoding()
    top = enc.levels(dev) - 1
    w_max = max(int(w_max), 1)
    if top >= w_max:
        return 1.0 / (1 << int(math.floor(math.log2(top / w_max))))
    return w_max / top


def weight_levels(w: np.ndarray, w_max: int, dev: Device, enc: Encoding | None = None
                  ) -> np.ndarray:
    """The level map, shared by the crossbar backend, its proofs and the analog loop: the
    signed level (0 .. levels - 1) of each integer weight.

    When the encoding has at least ``w_max`` levels every weight is ``m |w|`` for the largest
    power of two m that fits (lossless; the die undoes m with a shift). Otherwise |w| is scaled
    so ``w_max`` is the top level, rounded, and never below one level for a nonzero weight (a
    synapse never vanishes)."""
    q = weight_per_level(w_max, dev, enc)
    k = np.rint(np.abs(w) / q)
    return np.sign(w) * np.where(w != 0, np.maximum(k, 1), 0)


def digits_of(k: np.ndarray, dev: Device, enc: Encoding | None = None) -> np.ndarray:
    """Unsigned level magnitudes (...) -> device levels of each slice's cell (..., slices)."""
    enc = enc or Encoding()
    d = enc.digits(dev)
    k = np.abs(np.asarray(k, np.int64))[..., None]
    return (k // d ** np.arange(enc.slices)) % d * enc.step(dev)


def conductances(w: np.ndarray, w_max: int, dev: Device, enc: Encoding | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(G+, G-) for integer weights (..., posts): |w| on the level grid, G_min elsewhere, one
    pair per slice, slice-minor ((..., posts * slices), pair ``p * slices + s``)."""
    enc = enc or Encoding()
    lv = digits_of(weight_levels(w, w_max, dev, enc), dev, enc)  # (..., posts, slices)
    g_cell = dev.cells_per_weight * dev.g_min + lv * dev.level_step
    g_floor = dev.cells_per_weight * dev.g_min
    sign = np.asarray(w)[..., None]
    shape = (*np.shape(w)[:-1], -1) if np.ndim(w) else (-1,)
    return (np.where(sign > 0, g_cell, g_floor).reshape(shape),
            np.where(sign < 0, g_cell, g_floor).reshape(shape))



@dataclass(frozen=True)
class Preset:
    """A named memory: the device the crossbar backend programs, and the typical cell the
    brain-scale estimate sizes it with (``neuropaste estimate``)."""

    device: Device
    cell_nm: float  # typical cell pitch: sqrt of the area one cell takes in one layer
    cell_source: str
    #: the weight encoding compile uses by default: the cheapest that bench/fidelity.py found
    #: LSB-exact on C. elegans with in-array verify (docs/fidelity.md)
    encoding: Encoding = Encoding()


#: To add a memory: one entry here.
PRESETS = {
    "rram": Preset(
        Device("rram", 1e-6, 100e-6, 64, 1, 0.05, source="DESIGN.md: RRAM on/off 10-100, "
               "64-500 states"),
        220.0, "1T1R cell of Intel 22FFL embedded RRAM, 216 x 225 nm = 0.0486 um^2 (VLSI 2019, "
        "as reported by WikiChip); 64 levels (6 bits) as in devices.py, at the high end of "
        "published multi-level RRAM", Encoding(5, 4)),
    "pcm": Preset(
        Device("pcm", 1e-6, 25e-6, 16, 1, 0.03, drift_nu=0.1, drift_t0=1.0,
               source="DESIGN.md: PCM multi-level, drift nu ~ 0.1"),
        42.0, "cross-point PCM with OTS selector (3D XPoint gen 1: 0.00176 um^2 per cell and "
        "deck, 20 nm process); 16 levels (4 bits) as in devices.py, research multi-level (the "
        "product stores 1 bit)", Encoding(9, 2)),
    "flash": Preset(
        Device("flash", 0.1e-6, 10e-6, 8, 1, 0.02, write_pulse_s=10e-6, verify_read_s=5e-6,
               source="DESIGN.md: 3D NAND 3 bits per cell"),
        230.0, "3D NAND TLC: over 10 Gb/mm^2 at 176 layers (Electronics 10, 3156, 2021) = "
        "5.3e4 nm^2 per 3-bit cell per layer, periphery under the array included", Encoding(9, 2)),
    "mram": Preset(
        Device("mram", 20e-6, 50e-6, 2, 7, 0.02, write_pulse_s=10e-9, verify_read_s=5e-9,
               pulse_sigma=0.0, source="DESIGN.md: STT-MRAM on/off 2-3, one bit per cell"),
        220.0, "1T1MTJ cell of Intel 22FFL STT-MRAM, same 216 x 225 nm layout as its RRAM; "
        "1 bit per cell", Encoding(9, 2)),
}


def default_encoding(dev: Device) -> Encoding:
    """The preset's recommended encoding for a preset device, one pair per weight otherwise."""
    preset = PRESETS.get(dev.name)
    return preset.encoding if preset is not None and preset.device == dev else Encoding()


def load_device(spec: str) -> Device:
    """A preset name, or a JSON file with the fields of :class:`Device`."""
    if spec in PRESETS:
        return PRESETS[spec].device
    path = Path(spec)
    if not path.is_file():
        raise InputError(spec, f"not a device preset ({', '.join(PRESETS)}) nor a JSON file")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(path, f"cannot read device preset: {err}") from None
    known = {f.name for f in fields(Device)}
    unknown = set(data) - known
    if unknown:
        raise InputError(path, f"unknown device field {sorted(unknown)[0]!r}")
    try:
        dev = Device(**{"name": path.stem, **data})
    except TypeError as err:
        raise InputError(path, f"incomplete device preset: {err}") from None
    for key in ("g_min", "g_max"):
        value = getattr(dev, key)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise InputError(path, f"{key} must be a positive number of siemens", record=key)
    if dev.g_max <= dev.g_min:
        raise InputError(path, "g_max must exceed g_min", record="g_max")
    if dev.levels < 2 or dev.cells_per_weight < 1:
        raise InputError(path, "levels must be >= 2 and cells_per_weight >= 1", record="levels")
    return dev


def as_dict(dev: Device) -> dict:
    return asdict(dev)


#: seconds per unit of an age: ``--age`` takes a number with one of these suffixes
AGE_UNITS = {"s": 1.0, "h": 3600.0, "d": 86400.0, "y": 365.25 * 86400.0}


def parse_age(text: str) -> float:
    """Time since programming, e.g. ``30s``, ``1d``, ``10y``, ``3600`` (seconds), in seconds."""
    t = str(text).strip().lower()
    unit = AGE_UNITS.get(t[-1:], None) if t else None
    number = t[:-1] if unit is not None else t
    try:
        value = float(number) * (unit or 1.0)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise InputError(None, f"--age {text!r}: want a number of seconds >= 0 with an optional "
                         "s, h, d or y suffix (e.g. 1d)")
    return value
