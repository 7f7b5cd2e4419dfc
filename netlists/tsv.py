"""Through-silicon via: R, C and L from geometry and material, a SPICE subcircuit, Elmore delay.

A copper via of radius ``r = d / 2`` and height ``h`` in a silicon substrate, insulated by an
oxide liner of thickness ``t_ox`` (so the liner's outer radius is ``r_ox = r + t_ox``).
Low-frequency values; every formula is repeated in docs/stack.md:

- series resistance ``R = rho_Cu h / (pi r^2)``. Skin effect is ignored: a spike edge carries
  tens of MHz to a few GHz, and the skin depth of copper, ``sqrt(rho / (pi f mu0))``, is 9.3 um
  at 50 MHz and still 1.3 um at 2.5 GHz, so below ~2.5 GHz it is at least half the 2.5 um
  radius and the DC value is low by at most ~25 %; the via's R is anyway three orders of
  magnitude below a driver's, so this error does not move a delay;
- capacitance to the substrate through the liner, coaxial: ``C_ox = 2 pi eps0 eps_ox h /
  ln(r_ox / r)``. The depletion capacitance of the silicon around the liner is in series with
  it: ``C_dep = 2 pi eps0 eps_si h / ln((r_ox + w_dep) / r_ox)``, ``C = C_ox C_dep / (C_ox +
  C_dep)``. By default ``w_dep = 0`` (no depletion, ``C = C_ox``), which bounds C from above:
  the pessimistic choice for delay and the value of a via in accumulation;
- partial self-inductance of a straight round conductor with uniform (low-frequency) current,
  Grover's formula for ``h >> r``: ``L = mu0 h / (2 pi) (ln(2 h / r) - 3/4)``; the often-quoted
  ``... - 1`` variant is the high-frequency limit (current on the surface);
- pitch ``p`` to the nearest neighbour: mutual partial inductance of two parallel filaments of
  length h (Grover), ``M = mu0 h / (2 pi) (asinh(h / p) - sqrt(1 + (p / h)^2) + p / h)``; the
  silicon between the two liners, two parallel cylinders: ``C_si = pi eps0 eps_si h /
  acosh(p / (2 r_ox))`` and ``R_si = acosh(p / (2 r_ox)) / (pi sigma_si h)``. The
  worst-case coupling capacitance (substrate floating and insulating) is the two liners and
  ``C_si`` in series, ``C_c = 1 / (2 / C_ox + 1 / C_si)``; a grounded substrate contact shunts
  the middle node and removes most of it. Coupling is reported, not put in the subcircuit.

Defaults: 5 um diameter, 50 um tall, 0.5 um liner, 10 um pitch (DESIGN.md's typical TSV).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from PySpice.Spice.Netlist import Circuit, Netlist, SubCircuit

from neuropaste.errors import InputError
from neuropaste.text import identifier

EPS0 = 8.8541878128e-12
MU0 = 4e-7 * math.pi
RHO_CU = 1.72e-8  # ohm m at 20 C
EPS_SIO2 = 3.9
EPS_SI = 11.7
RHO_SI = 0.1  # ohm m (10 ohm cm, a lightly doped p-type substrate)

Topology = Literal["pi", "T", "L"]
TOPOLOGIES = ("pi", "T", "L")


@dataclass(frozen=True)
class TSVGeometry:
    """Geometry and materials of one via (SI units)."""

    diameter: float = 5e-6
    height: float = 50e-6
    liner: float = 0.5e-6
    pitch: float = 10e-6
    rho: float = RHO_CU
    eps_liner: float = EPS_SIO2
    depletion: float = 0.0  # m, depletion width around the liner; 0 = neglected (C = C_ox)
    rho_si: float = RHO_SI  # ohm m, substrate, for the coupling resistance only

    def check(self, source: str | None = None) -> TSVGeometry:
        """Raise InputError naming ``source`` and the field if the via cannot exist."""
        for f in fields(self):
            value = getattr(self, f.name)
            ok = isinstance(value, (int, float)) and math.isfinite(value)
            if not ok or value < 0 or (value == 0 and f.name != "depletion"):
                raise InputError(source, f"TSV {f.name} must be a positive number, got {value!r}",
                                 record=f"tsv.{f.name}")
        outer = self.diameter + 2 * self.liner
        if self.pitch <= outer:
            raise InputError(source, f"TSV pitch {self.pitch * 1e6:g} um must exceed the diameter "
                             f"plus both liners ({outer * 1e6:g} um)", record="tsv.pitch")
        if self.height < 2 * self.diameter:
            raise InputError(source, f"TSV height {self.height * 1e6:g} um is under twice the "
                             "diameter: the long-conductor formulas do not hold",
                             record="tsv.height")
        return self


@dataclass(frozen=True)
class TSV:
    """Lumped values of one via: the circuit (r, c, l) and what explains them."""

    r: float  # ohm, series
    c: float  # F, to substrate (C_ox in series with C_dep when a depletion width is given)
    l: float  # H, partial self-inductance  # noqa: E741 - the symbol of inductance
    c_ox: float = 0.0  # F, liner alone
    c_dep: float = math.inf  # F, depletion layer (inf: neglected)
    m: float = 0.0  # H, mutual inductance to a neighbour at the pitch
    c_si: float = 0.0  # F, silicon between two neighbours' liners
    r_si: float = 0.0  # ohm, silicon between two neighbours' liners
    c_couple: float = 0.0  # F, worst case (floating substrate) coupling to one neighbour


def parasitics(geo: TSVGeometry | None = None) -> TSV:
    """R, C, L of one via and its coupling to a neighbour at the pitch (module docstring)."""
    geo = (geo or TSVGeometry()).check()
    r = geo.diameter / 2
    r_ox = r + geo.liner
    h = geo.height
    res = geo.rho * h / (math.pi * r**2)
    c_ox = 2 * math.pi * EPS0 * geo.eps_liner * h / math.log(r_ox / r)
    c_dep = (2 * math.pi * EPS0 * EPS_SI * h / math.log((r_ox + geo.depletion) / r_ox)
             if geo.depletion > 0 else math.inf)
    c = c_ox if math.isinf(c_dep) else c_ox * c_dep / (c_ox + c_dep)
    ind = MU0 * h / (2 * math.pi) * (math.log(2 * h / r) - 0.75)
    p = geo.pitch
    m = MU0 * h / (2 * math.pi) * (math.asinh(h / p) - math.sqrt(1 + (p / h) ** 2) + p / h)
    geom = math.acosh(p / (2 * r_ox))
    c_si = math.pi * EPS0 * EPS_SI * h / geom
    r_si = geom * geo.rho_si / (math.pi * h)
    c_couple = 1 / (2 / c_ox + 1 / c_si)
    return TSV(r=res, c=c, l=ind, c_ox=c_ox, c_dep=c_dep, m=m, c_si=c_si, r_si=r_si,
               c_couple=c_couple)


def as_dict(tsv: TSV) -> dict[str, Any]:
    """JSON-safe values (an infinite depletion capacitance becomes None)."""
    return {k: (None if isinstance(v, float) and math.isinf(v) else v)
            for k, v in asdict(tsv).items()}


def ladder(tsv: TSV, segments: int = 1, topology: Topology = "pi") -> list[tuple[str, float]]:
    """One via as ("R", ohm) and ("C", F) elements from its input end to its output end.

    ``pi``: per segment C/2N, R/N, C/2N; ``T``: R/2N, C/N, R/2N; ``L``: R/N then C/N (the
    capacitance lumped at the far end of each segment). Inductance rides with each R.
    """
    if not (isinstance(segments, int) and segments >= 1):
        raise InputError(None, f"TSV segments must be an integer >= 1, got {segments!r}")
    if topology not in TOPOLOGIES:
        raise InputError(None, f"TSV topology must be one of {', '.join(TOPOLOGIES)}")
    rs, cs = tsv.r / segments, tsv.c / segments
    one = {"pi": [("C", cs / 2), ("R", rs), ("C", cs / 2)],
           "T": [("R", rs / 2), ("C", cs), ("R", rs / 2)],
           "L": [("R", rs), ("C", cs)]}[topology]
    return one * segments


def word_line_ladder(r_wire: float, c_cell: float, cells: int) -> list[tuple[str, float]]:
    """The word line across one tile as ("R", ohm) and ("C", F) from its via end: one wire
    segment ``r_wire`` then one access transistor's gate ``c_cell`` per cell (L sections: cell
    j's gate sits j + 1 segments from the via)."""
    if not (isinstance(cells, int) and cells >= 0) or r_wire < 0 or c_cell < 0:
        raise InputError(None, "word line: cells, r_wire and c_cell must be >= 0")
    return [("R", r_wire), ("C", c_cell)] * cells


def chain_ladder(tsv: TSV, n: int, c_load: float = 0.0, segments: int = 1,
                 topology: Topology = "pi", r_wire: float = 0.0, c_cell: float = 0.0,
                 cells: int = 0) -> list[tuple[str, float]]:
    """The whole word-line path from the logic die: ``n`` vias, the word line across the
    tile, then the extra lumped load ``c_load`` at its far end."""
    out = ladder(tsv, segments, topology) * n + word_line_ladder(r_wire, c_cell, cells)
    return out + ([("C", c_load)] if c_load > 0 else [])


def elmore_delay(tsv: TSV, n: int, r_driver: float, c_load: float, segments: int = 1,
                 topology: Topology = "pi", r_wire: float = 0.0, c_cell: float = 0.0,
                 cells: int = 0) -> float:
    """Elmore time constant of driver -> ``n`` vias in series -> word line -> load, at the
    word line's far end (its last cell).

    ``tau = sum_k C_k R_k`` over every capacitor, ``R_k`` the resistance between the source and
    the capacitor's node. The word line across the tile is ``cells`` segments of ``r_wire``,
    each loaded by one gate ``c_cell`` (:func:`word_line_ladder`); ``c_load`` is an extra
    lumped load at its end. Inductance is ignored, which holds while the driver resistance is
    well above the via's ``sqrt(L / C)`` (22 ohm for the default via): then the chain is
    overdamped and its time of flight ``n sqrt(L C)`` is small against ``tau``. From about
    10 sqrt(L / C) up, ngspice agrees within 1 %; a 50 ohm driver through 8 vias gives 0.71 of
    the estimate (tests/test_tsv.py). For a single dominant pole the 50 % delay is
    ``ln 2 tau``; for a distributed RC line it is ``0.38 R C`` against ``ln 2 * 0.5 R C =
    0.35 R C``, so ``ln 2 tau`` is within 9 % in both limits.
    """
    if n < 0 or r_driver < 0 or c_load < 0:
        raise InputError(None, "TSV chain: n, driver resistance and load must be >= 0")
    r_path, tau = r_driver, 0.0
    for kind, value in chain_ladder(tsv, n, c_load, segments, topology, r_wire, c_cell,
                                    cells):
        if kind == "R":
            r_path += value
        else:
            tau += value * r_path
    return tau


def delay_50(tsv: TSV, n: int, r_driver: float, c_load: float, segments: int = 1,
             topology: Topology = "pi", r_wire: float = 0.0, c_cell: float = 0.0,
             cells: int = 0) -> float:
    """50 % step-response delay estimate, ``ln 2`` times the Elmore constant."""
    return math.log(2) * elmore_delay(tsv, n, r_driver, c_load, segments, topology, r_wire,
                                      c_cell, cells)


def _name(text: str) -> str:
    """Names written into SPICE text are plain identifiers (:func:`neuropaste.text.identifier`),
    never a map's labels."""
    try:
        return identifier(text)
    except ValueError:
        raise InputError(None, f"not a SPICE identifier: {text!r}") from None


def subcircuit(tsv: TSV, name: str = "tsv", segments: int = 1, topology: Topology = "pi",
               with_l: bool = True) -> SubCircuit:
    """PySpice subcircuit of one via: nodes ``a`` (input), ``b`` (output), ``sub`` (substrate).

    Instance it with ``circuit.subcircuit(sc)`` then ``circuit.X(id, sc.name, a, b, sub)``.
    The element values are fixed numbers (no .param), so a netlist reads on its own.
    """
    _name(name)
    sc = SubCircuit(name, "a", "b", "sub")
    elements = ladder(tsv, segments, topology)
    last_r = max(i for i, (kind, _) in enumerate(elements) if kind == "R")
    node = "a"
    for i, (kind, value) in enumerate(elements):
        if kind == "C":
            sc.C(i, node, "sub", value)
            continue
        nxt = "b" if i == last_r else f"n{i}"
        if with_l and tsv.l > 0:
            sc.R(i, node, f"m{i}", value)
            sc.L(i, f"m{i}", nxt, tsv.l * value / tsv.r)
        else:
            sc.R(i, node, nxt, value)
        node = nxt
    return sc


def add_chain(circuit: Netlist, sc: SubCircuit, n: int, start: str, end: str,
              sub: Any = 0, prefix: str = "tsv") -> None:
    """Instance ``n`` copies of ``sc`` in series from node ``start`` to node ``end``."""
    for text in (prefix, str(start), str(end), str(sub)):
        _name(text)
    nodes = [start] + [f"{prefix}_{k}" for k in range(1, n)] + [end]
    for k in range(n):
        circuit.X(f"{prefix}{k}", sc.name, nodes[k], nodes[k + 1], sub)


def chain_circuit(tsv: TSV, n: int, r_driver: float, c_load: float, v_high: float = 1.0,
                  rise: float = 1e-12, with_l: bool = True, segments: int = 1,
                  topology: Topology = "pi") -> Circuit:
    """A spike edge from the logic die through ``n`` stacked vias to a load (node ``out``)."""
    c = Circuit("tsv chain")
    c.PulseVoltageSource("in", "src", c.gnd, initial_value=0, pulsed_value=v_high,
                         delay_time=10e-12, rise_time=rise, fall_time=rise, pulse_width=1e-6,
                         period=2e-6)
    c.R("drv", "src", "n0", r_driver)
    sc = subcircuit(tsv, "tsv", segments, topology, with_l)
    c.subcircuit(sc)
    add_chain(c, sc, n, "n0", "out", c.gnd)
    c.C("load", "out", c.gnd, c_load)
    return c


def step_response(tsv: TSV, n: int, r_source: float, v_high: float, rise: float,
                  times: Any, c_load: float = 0.0, r_wire: float = 0.0, c_cell: float = 0.0,
                  cells: int = 0, segments: int = 1, topology: Topology = "pi"
                  ) -> dict[str, Any]:
    """Exact response of source -> ``n`` vias (R, L, C) -> word line -> load to a ramp step.

    An independent solver for the stack check: the ladder of :func:`chain_ladder` as a linear
    state space (capacitor voltages, via inductor currents), the input a ramp from 0 to
    ``v_high`` over ``rise`` starting at t = 0 through ``r_source``, integrated exactly with
    matrix exponentials on the uniform grid ``times`` (seconds, from 0, evenly spaced).
    Returns the voltage at the via chain's far end (``v``), at the line's far end (``d``),
    at the chain's input (``a``) and the source current (``i``), each an array over ``times``.
    """
    import numpy as np
    from scipy.linalg import expm

    elements = chain_ladder(tsv, n, c_load, segments, topology, r_wire, c_cell, cells)
    n_via_r = sum(1 for kind, _ in ladder(tsv, segments, topology) if kind == "R") * n
    # nodes: merge capacitors between resistors; node 0 is the input a
    caps = [0.0]
    branches: list[tuple[int, float, float]] = []  # (left node, R, L); right node = left + 1
    via_end = 0
    seen_r = 0
    for kind, value in elements:
        if kind == "C":
            caps[-1] += value
            continue
        seen_r += 1
        is_via = seen_r <= n_via_r
        branches.append((len(caps) - 1, value, tsv.l * value / tsv.r if is_via else 0.0))
        caps.append(0.0)
        if seen_r == n_via_r:
            via_end = len(caps) - 1
    if any(c <= 0 for c in caps) or r_source <= 0:
        raise InputError(None, "step response: every node needs a capacitance and the source "
                         "a resistance")
    nv, ind = len(caps), [b for b in branches if b[2] > 0]
    size = nv + len(ind) + 2  # + input u and its slope
    a_mat = np.zeros((size, size))
    cinv = 1.0 / np.array(caps)
    u, du = size - 2, size - 1
    a_mat[0, 0] -= cinv[0] / r_source
    a_mat[0, u] += cinv[0] / r_source
    li = nv
    for left, res, lv in branches:
        right = left + 1
        if lv > 0:  # state: the branch current, left -> right
            a_mat[li, left] += 1 / lv
            a_mat[li, right] -= 1 / lv
            a_mat[li, li] -= res / lv
            a_mat[left, li] -= cinv[left]
            a_mat[right, li] += cinv[right]
            li += 1
        else:
            g = 1.0 / res if res > 0 else 1e12
            for x, y in ((left, right), (right, left)):
                a_mat[x, x] -= cinv[x] * g
                a_mat[x, y] += cinv[x] * g
    a_mat[u, du] = 1.0
    times = np.asarray(times, float)
    dt = float(times[1] - times[0])
    x = np.zeros(size)
    x[du] = v_high / rise
    out = np.zeros((len(times), size))
    ramp = a_mat.copy()
    hold = a_mat.copy()
    hold[u, du] = 0.0
    step_ramp, step_hold = expm(ramp * dt), expm(hold * dt)
    for m, t in enumerate(times):
        out[m] = x
        if t + dt <= rise:
            x = step_ramp @ x
        elif t < rise:  # the grid step that crosses the end of the ramp
            x = expm(hold * (t + dt - rise)) @ (expm(ramp * (rise - t)) @ x)
        else:
            x = step_hold @ x
    v_in = out[:, u]
    return {"v": out[:, via_end], "d": out[:, nv - 1], "a": out[:, 0],
            "i": (v_in - out[:, 0]) / r_source}
