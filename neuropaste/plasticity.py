"""The physics of imprinting: threshold memristor updates, their variation, and the pulse-overlap
scheme that turns spike timing into a cell voltage. Shared by the event-driven simulator
(``neuropaste.imprint``) and the ngspice behavioural models, so both integrate the same ODE.

**Update ODE.** A cell's conductance obeys ``dG/dt = k(V) * ΔG * w(G)`` with ``ΔG = g_max -
g_min``. ``k(V)`` is a VTEAM-like threshold rate (Kvatinsky et al., IEEE TCAS-II 62:786, 2015):
zero for ``|V| < v_th``, ``k0 (|V|/v_th - 1)^alpha`` above, positive voltage potentiates. The
window ``w(G)`` is linear in G for every model here, so over an overlap with exposure
``E = ∫ k dt`` the update is the exact solution ``G <- G_inf - (G_inf - G) exp(-c E)``
(``G <- G + ΔG E`` for the linear model), then clipped to ``[g_min, g_max]``. A spice transient
that integrates the same ODE step by step must land on the same value; that is the 5 % check.

Models (window for potentiation / depression; source):

- ``linear``: 1 / 1, hard clip. Ideal device (aihwkit ``ConstantStepDevice``, NeuroSim ideal).
- ``soft-bounds``: (g_max - G)/ΔG / (G - g_min)/ΔG. aihwkit ``SoftBoundsDevice`` (Fusi & Abbott
  2007).
- ``exponential``: (G_v+ - G)/(A ΔG) / (G - G_v-)/(A ΔG). NeuroSim's G(P) = B(1 - exp(-P/A)) +
  g_min (Chen, Peng, Yu, IEEE TCAD 37:3067, 2018).
- ``pcm``: exponential SET; abrupt RESET to g_min when V < -v_reset; drift G0 (t/t0)^-nu at read.
  Boybat et al., Nat Commun 9:2514 (2018): PCM cannot depress gradually.

For ``exponential`` the exposure is counted in full-range pulses (E = 1 takes a linear device
from g_min to g_max); B = ΔG / (1 - exp(-1/A)) puts the virtual bound G_v+ = g_min + B beyond
g_max, so the curve bends without saturating inside the range. NeuroSim quotes a nonlinearity
*label* (0 linear .. 9); we map it to A by ``label = 10 x`` the largest gap between the
normalised curve and the straight line (for a gentle bend that gap is 1/(8A), so A ~ 1.25 /
label). The mapping is ours; A is recorded next to the label.

**Variation.** Device-to-device: per cell, a lognormal factor on the rate and on each bound,
drawn once from the seed. Cycle-to-cycle: per update, a mean-one lognormal factor on the
exposure.

**Pulse scheme** (Serrano-Gotarredona et al., Front Neurosci 7:2, 2013; Prezioso et al., Nat
Commun 9:5311, 2018): every spike launches the same piecewise-linear waveform on its neuron's row
(pre) and column (post): a short negative pulse ``-a_pulse`` of width ``t_pulse``, then a
positive tail from ``+a_tail`` decaying linearly to 0 over ``tau``. The cell sees
``V_cell = V_row - V_col``. Alone, each line stays at ``max(a_pulse, a_tail) < v_th``:
half-selected cells do not switch. When post fires ``Δt`` after pre, its pulse meets pre's tail:
``V_cell = a_pulse + tail(Δt) > v_th`` for short ``Δt`` (potentiation); when pre fires after
post, ``V_cell = -a_pulse - tail`` (depression, when that passes the RESET threshold). A new
spike retriggers its driver: the line carries the waveform of its last spike only, so an overlap
depends on one pair of spikes.

**Why the imprint only SETs.** With symmetric STDP the cell (i, j) stores causal minus
anti-causal coincidences, and cell (j, i) stores exactly the negative: an excitation i -> j and
an inhibition j -| i leave the same pair of conductances, so the sign of a connection is lost.
The default RESET threshold (1.6 V) is therefore above the largest anti-causal overlap (1.4 V):
each cell counts only the coincidences in which its post fired after its pre (the causal half
of the cross-correlogram); excitation raises that count above chance and inhibition lowers it.
The crossbar is RESET before the imprint. ``ThresholdRate(v_th_dep=1.0)`` gives symmetric STDP.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from neuropaste.errors import InputError


@dataclass(frozen=True)
class ThresholdRate:
    """k(V): VTEAM-like, zero inside ``(-v_th_dep, v_th)``; 1/s in units of ΔG (module doc).

    VTEAM has separate SET and RESET thresholds (v_on, v_off). The default RESET threshold sits
    above the largest anti-causal overlap of the default scheme, so the imprint only SETs: a cell
    counts the causal coincidences of its pair (see ``neuropaste.imprint``); lower it to
    ``v_th`` for the symmetric STDP rule."""

    v_th: float = 1.0  # V, SET (potentiation) threshold
    k_pot: float = 4e4  # 1/s at V = 2 v_th
    k_dep: float = 4e4  # 1/s at V = -2 v_th_dep
    alpha: float = 2.0  # VTEAM exponent
    v_th_dep: float = 1.6  # V, RESET (depression) threshold magnitude

    def __call__(self, v: np.ndarray) -> np.ndarray:
        """Signed rate: positive potentiates, negative depresses."""
        v = np.asarray(v, np.float64)
        up = self.k_pot * np.maximum(v / self.v_th - 1.0, 0.0) ** self.alpha
        down = self.k_dep * np.maximum(-v / self.v_th_dep - 1.0, 0.0) ** self.alpha
        return up - down

    def antiderivative(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Functions whose dV-derivatives are the potentiating and the depressing rate magnitude
        (V/s), so ∫ over a linear segment is (t1 - t0) * ΔF / ΔV."""
        v = np.asarray(v, np.float64)
        a1 = self.alpha + 1.0
        up = self.k_pot * self.v_th / a1 * np.maximum(v / self.v_th - 1.0, 0.0) ** a1
        down = self.k_dep * self.v_th_dep / a1 * np.maximum(-v / self.v_th_dep - 1.0,
                                                              0.0) ** a1
        return up, -down


@dataclass(frozen=True)
class DeviceModel:
    """One update model: its window, bounds, rate, variation and write energy."""

    name: str
    kind: str  # linear | soft-bounds | exponential | pcm
    g_min: float = 1e-6  # S
    g_max: float = 100e-6  # S
    rate: ThresholdRate = field(default_factory=ThresholdRate)
    nl_pot: float = 0.0  # NeuroSim label (exponential, pcm SET)
    nl_dep: float = 0.0
    v_reset: float = math.inf  # V, pcm: |V| beyond this (negative) RESETs to g_min
    drift_nu: float = 0.0  # pcm: G(t) = G0 (t / t0) ** -nu at read
    drift_t0: float = 1.0  # s
    d2d_sigma: float = 0.0  # lognormal spread of rate and bounds, per cell
    c2c_sigma: float = 0.0  # lognormal spread of each update's exposure
    v_write: float = 1.5  # V, one download program pulse
    t_write: float = 100e-9  # s, one download program pulse
    source: str = ""

    @property
    def dg(self) -> float:
        return self.g_max - self.g_min

    def a_param(self, label: float) -> float:
        """NeuroSim's A (in full-range pulses) for a nonlinearity label; inf when linear."""
        return a_from_label(label)

    def targets(self) -> tuple[float, float, float, float]:
        """(G_inf, c) for potentiation and for depression, as fractions of the range:
        ``x <- x_inf - (x_inf - x) exp(-c E)`` with x = (G - g_min)/ΔG. c = 0 means linear."""
        if self.kind == "linear":
            return 1.0, 0.0, 0.0, 0.0
        if self.kind == "soft-bounds":
            return 1.0, 1.0, 0.0, 1.0
        ap, ad = self.a_param(self.nl_pot), self.a_param(self.nl_dep)
        xp, cp = (1.0 / (1.0 - math.exp(-1.0 / ap)), 1.0 / ap) if math.isfinite(ap) else (1.0, 0.0)
        xd, cd = (1.0 - 1.0 / (1.0 - math.exp(-1.0 / ad)), 1.0 / ad) if math.isfinite(ad) \
            else (0.0, 0.0)
        return xp, cp, xd, cd

    def table(self) -> dict:
        """Every parameter, for imprint.json and the docs."""
        d = asdict(self)
        xp, cp, xd, cd = self.targets()
        d.update(a_pot=self.a_param(self.nl_pot), a_dep=self.a_param(self.nl_dep),
                 x_inf_pot=xp, c_pot=cp, x_inf_dep=xd, c_dep=cd,
                 pulse_energy_j=self.pulse_energy())
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in d.items()}

    def pulse_energy(self) -> float:
        """Energy of one download program pulse at mid-range conductance (J)."""
        return self.v_write ** 2 * 0.5 * (self.g_min + self.g_max) * self.t_write

    def variation(self, on: bool) -> DeviceModel:
        return self if on else replace(self, d2d_sigma=0.0, c2c_sigma=0.0)


def a_from_label(label: float) -> float:
    """NeuroSim label -> A, with ``label = 10 x max |g(p) - p|`` of the normalised curve
    g(p) = (1 - exp(-p/A)) / (1 - exp(-1/A)); bisection on log A. Label 0 is linear (inf)."""
    label = abs(float(label))
    if label == 0.0:
        return math.inf
    if label >= 10.0:
        raise InputError(None, f"nonlinearity label {label} out of range (0 <= |label| < 10)")
    p = np.linspace(0.0, 1.0, 2001)

    def gap(a: float) -> float:
        return float(np.max((1.0 - np.exp(-p / a)) / (1.0 - math.exp(-1.0 / a)) - p)) * 10.0

    lo, hi = math.log(1e-3), math.log(1e4)  # gap falls as A grows
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if gap(math.exp(mid)) > label:
            lo = mid
        else:
            hi = mid
    return math.exp(0.5 * (lo + hi))


def update(x: np.ndarray, e_pot: np.ndarray, e_dep: np.ndarray, model: DeviceModel,
           reset: np.ndarray | None = None) -> np.ndarray:
    """Exact solution of the ODE for normalised state x in [0, 1] after exposures (potentiation
    first, then depression; per-cell exposures already carry d2d and c2c factors)."""
    xp, cp, xd, cd = model.targets()
    x = np.asarray(x, np.float64)
    x = x + e_pot if cp == 0.0 else xp - (xp - x) * np.exp(-cp * e_pot)
    x = np.clip(x, 0.0, 1.0)
    x = x - e_dep if cd == 0.0 else xd - (xd - x) * np.exp(-cd * e_dep)
    x = np.clip(x, 0.0, 1.0)
    if reset is not None:
        x = np.where(reset, 0.0, x)
    return x


def drift(g: np.ndarray, model: DeviceModel, age_s: float) -> np.ndarray:
    """PCM drift at read: G(t) = G0 (t / t0) ** -nu for t > t0."""
    if model.drift_nu == 0.0 or age_s <= model.drift_t0:
        return np.asarray(g, np.float64)
    return np.asarray(g, np.float64) * (age_s / model.drift_t0) ** -model.drift_nu


_RRAM = dict(g_min=1e-6, g_max=100e-6, d2d_sigma=0.05, c2c_sigma=0.05)
#: The update models; the bounds and spreads are the rram preset's (devices.py) except pcm's.
MODELS = {
    "linear": DeviceModel("linear", "linear", **_RRAM,
                          source="ideal threshold device: aihwkit ConstantStepDevice; rate VTEAM "
                          "(Kvatinsky 2015)"),
    "soft-bounds": DeviceModel("soft-bounds", "soft-bounds", **_RRAM,
                               source="aihwkit SoftBoundsDevice (Fusi & Abbott 2007); bounds "
                               "and spread of the rram preset (devices.py)"),
    "exponential": DeviceModel("exponential", "exponential", nl_pot=3.0, nl_dep=3.0, **_RRAM,
                               source="NeuroSim A-parameter form (Chen, Peng, Yu 2018), "
                               "nonlinearity label +-3"),
    "pcm": DeviceModel("pcm", "pcm", g_min=1e-6, g_max=25e-6, nl_pot=2.0, nl_dep=0.0,
                       v_reset=1.6, drift_nu=0.1, drift_t0=1.0, d2d_sigma=0.03, c2c_sigma=0.1,
                       v_write=2.0, t_write=50e-9,
                       source="Boybat 2018 (gradual SET, abrupt RESET); pcm preset bounds and "
                       "drift nu 0.1 (devices.py)"),
}
DEFAULT_MODEL = "soft-bounds"


def load_model(name: str) -> DeviceModel:
    if name not in MODELS:
        raise InputError(None, f"unknown device model {name!r} (known: {', '.join(MODELS)})")
    return MODELS[name]


def draw_d2d(model: DeviceModel, shape: tuple[int, ...], seed: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-cell (rate factor, g_min, g_max), lognormal with the model's d2d sigma, mean one."""
    s = model.d2d_sigma
    if s == 0.0:
        one = np.ones(shape)
        return one, one * model.g_min, one * model.g_max
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((3, *shape)) * s - 0.5 * s * s
    return np.exp(f[0]), model.g_min * np.exp(f[1]), model.g_max * np.exp(f[2])


TAILS = ("ramp", "flat")


@dataclass(frozen=True)
class PulseScheme:
    """The row/column waveform of one spike (module doc). Volts in V; times in crossbar seconds:
    the recording is replayed ``speedup`` times faster than it was recorded, so a 30 ms STDP
    window of the culture is a 30 us tail on the crossbar (and the rates are per crossbar
    second)."""

    a_pulse: float = 0.7
    a_tail: float = 0.7
    t_pulse: float = 1e-6
    tau: float = 30e-6  # tail length: the STDP window
    t_edge: float = 10e-9  # rise and fall of each edge (finite, so SPICE PWL is the same)
    speedup: float = 1000.0  # recording seconds per crossbar second
    #: "ramp": the tail decays linearly to 0 over tau (the window weights short lags most);
    #: "flat": it holds a_tail for tau, then falls (a box window: every lag in it counts alike)
    tail: str = "ramp"

    @property
    def length(self) -> float:
        return self.t_pulse + self.tau

    def breakpoints(self) -> tuple[np.ndarray, np.ndarray]:
        """(t, V) of one spike's waveform, relative to the spike; 0 before and after."""
        e = self.t_edge
        if self.tail == "flat":
            t = np.array([0.0, e, self.t_pulse, self.t_pulse + e, self.length - e, self.length])
            v = np.array([0.0, -self.a_pulse, -self.a_pulse, self.a_tail, self.a_tail, 0.0])
            return t, v
        t = np.array([0.0, e, self.t_pulse, self.t_pulse + e, self.length])
        v = np.array([0.0, -self.a_pulse, -self.a_pulse, self.a_tail, 0.0])
        return t, v

    def waveform(self, t: np.ndarray) -> np.ndarray:
        bt, bv = self.breakpoints()
        return np.interp(t, bt, bv, left=0.0, right=0.0)

    def train(self, spikes: np.ndarray, t_end: float) -> tuple[np.ndarray, np.ndarray]:
        """(t, V) breakpoints of a line driven by a spike train (crossbar seconds), each spike
        retriggering the driver (the new waveform starts from the line's present value): the
        PWL source of a SPICE transient."""
        bt, bv = self.breakpoints()
        spikes = np.sort(np.asarray(spikes, np.float64))
        ts, vs = [0.0], [0.0]
        for k, s in enumerate(spikes):
            stop = spikes[k + 1] if k + 1 < len(spikes) else math.inf
            cur = float(np.interp(s, ts, vs)) if ts[-1] >= s else vs[-1]
            while ts and ts[-1] >= s:
                ts.pop()
                vs.pop()
            ts.append(s)
            vs.append(cur)
            for t, v in zip(bt[1:], bv[1:], strict=True):
                if s + t < stop:
                    ts.append(s + t)
                    vs.append(v)
                else:
                    ts.append(stop)
                    vs.append(float(np.interp(stop - s, bt, bv)))
                    break
        if ts[-1] < t_end:
            ts.append(t_end)
            vs.append(vs[-1])
        return np.array(ts), np.array(vs)

    def cell_voltage(self, dt: float | np.ndarray, t: np.ndarray) -> np.ndarray:
        """V_row - V_col across a cell whose pre spikes at 0 and post at ``dt``."""
        t = np.asarray(t, np.float64)
        return self.waveform(t) - self.waveform(t - np.asarray(dt, np.float64))

    def exposure(self, dt: np.ndarray, rate: ThresholdRate) -> tuple[np.ndarray, np.ndarray]:
        """(E_pot, E_dep) >= 0 for pre at 0, post at ``dt`` (any shape): ``∫ k(V_cell) dt``
        exactly, segment by segment of the piecewise-linear V_cell."""
        dt = np.asarray(dt, np.float64)
        bt, _ = self.breakpoints()
        knots = np.sort(np.concatenate(np.broadcast_arrays(bt, dt[..., None] + bt), -1), -1)
        v = self.cell_voltage(dt[..., None], knots)
        up, down = rate.antiderivative(v)
        t0, t1 = knots[..., :-1], knots[..., 1:]
        dv = np.diff(v, axis=-1)
        flat = np.abs(dv) < 1e-12
        safe = np.where(flat, 1.0, dv)
        r = rate(v[..., :-1])
        seg_up = np.where(flat, np.maximum(r, 0.0) * (t1 - t0), (t1 - t0) * np.diff(up, axis=-1)
                          / safe)
        seg_dn = np.where(flat, np.maximum(-r, 0.0) * (t1 - t0),
                          (t1 - t0) * np.diff(down, axis=-1) / safe)
        return seg_up.sum(-1), seg_dn.sum(-1)

    def kernel(self, rate: ThresholdRate, points: int = 4001) -> tuple[np.ndarray, np.ndarray,
                                                                       np.ndarray]:
        """Tabulated (Δt, E_pot, E_dep) over ``|Δt| <= length``: the STDP window."""
        dt = np.linspace(-self.length, self.length, points)
        ep, ed = self.exposure(dt, rate)
        return dt, ep, ed

    def peak(self, dt: np.ndarray) -> np.ndarray:
        """Largest |V_cell| over a pair at ``dt``, signed (for PCM's RESET)."""
        dt = np.asarray(dt, np.float64)
        bt, _ = self.breakpoints()
        knots = np.concatenate(np.broadcast_arrays(bt, dt[..., None] + bt), -1)
        v = self.cell_voltage(dt[..., None], knots)
        return np.take_along_axis(v, np.argmax(np.abs(v), -1)[..., None], -1)[..., 0]

    def window(self, rate: ThresholdRate) -> tuple[float, float]:
        """(largest Δt that potentiates, most negative Δt that depresses), s."""
        dt, ep, ed = self.kernel(rate)
        pos, neg = dt[ep > 0], dt[ed > 0]
        return (float(pos.max()) if len(pos) else 0.0, float(neg.min()) if len(neg) else 0.0)

    def disturb(self, rate: ThresholdRate, d2d_sigma: float) -> dict:
        """Half-selected cells: one line's waveform alone. Margin to threshold, the exposure of one
        lone waveform at the nominal threshold and at a threshold 3 d2d-sigmas low."""
        lone = max(self.a_pulse, self.a_tail)
        f = math.exp(-3.0 * d2d_sigma)
        low = replace(rate, v_th=rate.v_th * f, v_th_dep=rate.v_th_dep * f)
        bt, bv = self.breakpoints()
        e = []
        for r in (rate, low):
            up, down = r.antiderivative(bv)
            dv = np.diff(bv)
            flat = np.abs(dv) < 1e-12
            safe = np.where(flat, 1.0, np.abs(dv))
            change = np.abs(np.diff(up)) + np.abs(np.diff(down))
            seg = np.where(flat, np.abs(r(bv[:-1])), change / safe) * np.diff(bt)
            e.append(float(seg.sum()))
        return {"half_select_peak_v": lone, "margin_v": rate.v_th - lone,
                "exposure_per_lone_pulse": e[0], "exposure_per_lone_pulse_low_vth": e[1],
                "low_vth_v": low.v_th}

    def validate(self, rate: ThresholdRate) -> PulseScheme:
        """Refuse a scheme that cannot imprint or that disturbs half-selected cells."""
        vals = (self.a_pulse, self.a_tail, self.t_pulse, self.tau, self.speedup)
        if not all(math.isfinite(v) and v > 0 for v in vals):
            raise InputError(None, "pulse scheme: amplitudes and times must be positive")
        if self.tail not in TAILS:
            raise InputError(None, f"pulse scheme: tail must be one of {', '.join(TAILS)}, got "
                             f"{self.tail!r}")
        if self.tau <= 2 * self.t_edge:
            raise InputError(None, "pulse scheme: the tail is shorter than its edges")
        _, ep, _ = self.kernel(rate, 801)
        if not ep.max() > 0:
            raise InputError(None, f"pulse scheme never crosses the threshold: pulse "
                             f"{self.a_pulse} V + tail {self.a_tail} V <= v_th {rate.v_th} V")
        if max(self.a_pulse, self.a_tail) >= min(rate.v_th, rate.v_th_dep):
            raise InputError(None, f"pulse scheme: one line alone reaches "
                             f"{max(self.a_pulse, self.a_tail)} V, not below the thresholds "
                             f"({rate.v_th} V, -{rate.v_th_dep} V), so "
                             "half-selected cells would switch")
        return self

    def table(self) -> dict:
        return asdict(self)


def cell_energy(scheme: PulseScheme, dt: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Energy dissipated in a cell of conductance g over one pair's overlap, ∫ V^2 G dt (J):
    exact for piecewise-linear V (Simpson on each segment)."""
    dt = np.asarray(dt, np.float64)
    bt, _ = scheme.breakpoints()
    knots = np.sort(np.concatenate(np.broadcast_arrays(bt, dt[..., None] + bt), -1), -1)
    v = scheme.cell_voltage(dt[..., None], knots)
    h = np.diff(knots, axis=-1)
    v0, v1 = v[..., :-1], v[..., 1:]
    return np.asarray(g) * (h * (v0 * v0 + v0 * v1 + v1 * v1) / 3.0).sum(-1)


def lone_energy(scheme: PulseScheme, g: float) -> float:
    """∫ V^2 G dt of one waveform alone on a half-selected cell (J)."""
    bt, bv = scheme.breakpoints()
    h = np.diff(bt)
    return float(g * (h * (bv[:-1] ** 2 + bv[:-1] * bv[1:] + bv[1:] ** 2) / 3.0).sum())
