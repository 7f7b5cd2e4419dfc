"""Through-silicon via: R, C and L from geometry and material, and a chain of them in SPICE.

Formulas (copper via with a SiO2 liner in a silicon substrate, DC / low-frequency values):

- series resistance ``R = rho_Cu h / (pi r^2)``, r = d / 2 (skin effect ignored: at the tens
  of MHz a spike edge carries, the skin depth of copper, ~10 um at 50 MHz, exceeds r);
- capacitance to the substrate through the liner, coaxial: ``C = 2 pi eps0 eps_ox h /
  ln((r + t_ox) / r)`` (the depletion capacitance in series is neglected, which bounds C from
  above: the pessimistic choice for delay);
- partial self-inductance of a straight round conductor: ``L = mu0 h / (2 pi) (ln(2h / r) -
  3/4)``.

Defaults: 5 um diameter, 50 um tall, 0.5 um liner (DESIGN.md's typical TSV at 10 um pitch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySpice.Spice.Netlist import Circuit

EPS0 = 8.8541878128e-12
MU0 = 4e-7 * math.pi
RHO_CU = 1.72e-8  # ohm m at 20 C


@dataclass(frozen=True)
class TSVGeometry:
    diameter: float = 5e-6
    height: float = 50e-6
    liner: float = 0.5e-6
    pitch: float = 10e-6
    rho: float = RHO_CU
    eps_liner: float = 3.9  # SiO2


@dataclass(frozen=True)
class TSV:
    r: float  # ohm
    c: float  # F
    l: float  # H  # noqa: E741 - the symbol of inductance


def parasitics(geo: TSVGeometry | None = None) -> TSV:
    geo = geo or TSVGeometry()
    radius = geo.diameter / 2
    r = geo.rho * geo.height / (math.pi * radius**2)
    c = 2 * math.pi * EPS0 * geo.eps_liner * geo.height / math.log((radius + geo.liner) / radius)
    ind = MU0 * geo.height / (2 * math.pi) * (math.log(2 * geo.height / radius) - 0.75)
    return TSV(r=r, c=c, l=ind)


def elmore_delay(tsv: TSV, n: int, r_driver: float, c_load: float) -> float:
    """Elmore time constant of driver -> n TSVs (each R then C to substrate) -> load."""
    tau = sum((r_driver + k * tsv.r) * tsv.c for k in range(1, n + 1))
    return tau + (r_driver + n * tsv.r) * c_load


def chain_circuit(tsv: TSV, n: int, r_driver: float, c_load: float, v_high: float = 1.0,
                  rise: float = 1e-12, with_l: bool = True) -> Circuit:
    """A spike edge from the logic die through ``n`` stacked TSVs (node ``out``)."""
    c = Circuit("tsv chain")
    c.PulseVoltageSource("in", "src", c.gnd, initial_value=0, pulsed_value=v_high,
                         delay_time=10e-12, rise_time=rise, fall_time=rise, pulse_width=1e-6,
                         period=2e-6)
    c.R("drv", "src", "n0", r_driver)
    for k in range(1, n + 1):
        if with_l and tsv.l > 0:
            c.R(f"t{k}", f"n{k - 1}", f"x{k}", tsv.r)
            c.L(f"t{k}", f"x{k}", f"n{k}", tsv.l)
        else:
            c.R(f"t{k}", f"n{k - 1}", f"n{k}", tsv.r)
        c.C(f"t{k}", f"n{k}", c.gnd, tsv.c)
    c.R("out", f"n{n}", "out", 1e-3)
    c.C("load", "out", c.gnd, c_load)
    return c
