"""TSV parasitics against hand-computed values, and the Elmore estimate against ngspice."""

from __future__ import annotations

import logging
import math
import shutil

import numpy as np
import pytest

from neuropaste.errors import InputError
from neuropaste.netlists.tsv import (
    TOPOLOGIES,
    TSVGeometry,
    chain_circuit,
    delay_50,
    elmore_delay,
    ladder,
    parasitics,
    step_response,
    subcircuit,
)


def test_parasitics_of_the_typical_via() -> None:
    t = parasitics(TSVGeometry())
    # R = 1.72e-8 * 50e-6 / (pi * 2.5e-6^2) = 43.8 mOhm
    assert t.r == pytest.approx(1.72e-8 * 50e-6 / (math.pi * 2.5e-6**2))
    assert t.r == pytest.approx(0.0438, rel=1e-2)
    # C = 2 pi eps0 3.9 * 50e-6 / ln(3.0 / 2.5) = 59.5 fF; no depletion: C = C_ox
    assert t.c == pytest.approx(59.5e-15, rel=1e-2) and t.c == t.c_ox
    # L = 2e-7 * 50e-6 * (ln(40) - 0.75) = 29.4 pH
    assert t.l == pytest.approx(29.4e-12, rel=1e-2)
    taller = parasitics(TSVGeometry(height=100e-6))
    assert taller.r == pytest.approx(2 * t.r) and taller.c == pytest.approx(2 * t.c)


def test_depletion_and_neighbour_coupling() -> None:
    # C_dep = 2 pi eps0 11.7 * 50e-6 / ln(4 / 3) = 113.1 fF, in series with 59.5 fF: 39.0 fF
    t = parasitics(TSVGeometry(depletion=1e-6))
    assert t.c_dep == pytest.approx(113.1e-15, rel=1e-3)
    assert t.c == pytest.approx(39.0e-15, rel=2e-3)
    # pitch 10 um, liner outer diameter 6 um: acosh(10 / 6) = ln 3 exactly
    t = parasitics()
    assert t.c_si == pytest.approx(math.pi * 8.8541878128e-12 * 11.7 * 50e-6 / math.log(3))
    assert t.c_si == pytest.approx(14.81e-15, rel=1e-3)
    assert t.r_si == pytest.approx(math.log(3) * 0.1 / (math.pi * 50e-6))  # 699 ohm
    assert t.c_couple == pytest.approx(9.89e-15, rel=1e-3)  # 1 / (2 / C_ox + 1 / C_si)
    # M = 2e-7 * 50e-6 * (asinh(5) - sqrt(1.04) + 0.2) = 14.9 pH, below L; falls with pitch
    assert t.m == pytest.approx(14.93e-12, rel=1e-3)
    assert parasitics(TSVGeometry(pitch=20e-6)).m < t.m < t.l


@pytest.mark.parametrize("kwargs, field", [
    ({"pitch": 6e-6}, "tsv.pitch"), ({"diameter": -1e-6}, "tsv.diameter"),
    ({"height": float("nan")}, "tsv.height"), ({"height": 8e-6}, "tsv.height"),
    ({"liner": 0.0}, "tsv.liner")])
def test_impossible_vias_are_refused(kwargs: dict, field: str) -> None:
    with pytest.raises(InputError, match=field):
        parasitics(TSVGeometry(**kwargs))


def test_elmore_closed_forms() -> None:
    t, n, rd, cl = parasitics(), 5, 800.0, 7e-15
    # L sections: sum_k (Rd + k R) C + (Rd + n R) CL
    assert elmore_delay(t, n, rd, cl, topology="L") == pytest.approx(
        sum((rd + k * t.r) * t.c for k in range(1, n + 1)) + (rd + n * t.r) * cl)
    # pi sections: n Rd C + n^2 R C / 2 + (Rd + n R) CL, which is also the distributed limit
    closed = n * rd * t.c + n * n * t.r * t.c / 2 + (rd + n * t.r) * cl
    for top in ("pi", "T"):
        assert elmore_delay(t, n, rd, cl, topology=top) == pytest.approx(closed, rel=1e-12)
    assert elmore_delay(t, n, rd, cl, segments=40, topology="L") == pytest.approx(closed,
                                                                                 rel=1e-6)
    with pytest.raises(InputError, match="segments"):
        ladder(t, 0)
    with pytest.raises(InputError, match="topology"):
        ladder(t, 1, "X")  # type: ignore[arg-type]


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_subcircuit_carries_the_whole_via(topology: str) -> None:
    t = parasitics()
    text = str(subcircuit(t, "tsv", segments=3, topology=topology))
    body = [ln.split() for ln in text.splitlines() if ln[:1] in "RCL" and ln[:1]]
    total = {k: sum(float(x[3]) for x in body if x[0][0] == k) for k in "RCL"}
    assert total["R"] == pytest.approx(t.r) and total["C"] == pytest.approx(t.c)
    assert total["L"] == pytest.approx(t.l)
    assert text.splitlines()[0] == ".subckt tsv a b sub" and text.rstrip().endswith(".ends tsv")
    caps = [x for x in body if x[0][0] == "C"]
    assert all(x[2] == "sub" for x in caps)
    with pytest.raises(InputError, match="SPICE identifier"):
        subcircuit(t, "tsv x\n.include /etc/passwd")


def first_crossing(time: np.ndarray, v: np.ndarray, level: float) -> float:
    k = int(np.argmax(v >= level))
    assert k > 0, "the output never crossed the level"
    return float(time[k - 1] + (level - v[k - 1]) * (time[k] - time[k - 1]) / (v[k] - v[k - 1]))


def ngspice_t50(n: int, r_driver: float, c_load: float, **kw) -> float:
    logging.getLogger("PySpice").setLevel(logging.ERROR)
    t = parasitics()
    tau = elmore_delay(t, n, r_driver, c_load)
    circuit = chain_circuit(t, n, r_driver, c_load, **kw)
    analysis = circuit.simulator(simulator="ngspice-shared").transient(
        step_time=tau / 500, end_time=10e-12 + 8 * tau)
    return first_crossing(np.array(analysis.time), np.array(analysis["out"]), 0.5) - 10e-12


needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="no ngspice")


@needs_ngspice
@pytest.mark.parametrize("n, r_driver, segments, topology", [
    (2, 2000.0, 1, "pi"), (4, 1000.0, 2, "T"), (8, 300.0, 3, "L")])
def test_elmore_estimate_within_10_percent_of_ngspice(n: int, r_driver: float, segments: int,
                                                      topology: str) -> None:
    """ln 2 x Elmore against the 50 % crossing of an ngspice transient with R, L and C."""
    t50 = ngspice_t50(n, r_driver, 10e-15, segments=segments, topology=topology)
    assert t50 == pytest.approx(delay_50(parasitics(), n, r_driver, 10e-15, segments,
                                         topology), rel=0.10)
    # the check has teeth: leaving out the vias' capacitance misses by far more than 10 %
    load_only = math.log(2) * r_driver * 10e-15
    assert abs(t50 / load_only - 1) > 0.5


@needs_ngspice
def test_a_low_impedance_driver_leaves_the_rc_regime() -> None:
    """At 50 ohm through 8 vias the inductance matters: the documented limit of the estimate."""
    t50 = ngspice_t50(8, 50.0, 10e-15, segments=3)
    ratio = t50 / delay_50(parasitics(), 8, 50.0, 10e-15)
    assert not 0.9 <= ratio <= 1.1
    assert ngspice_t50(8, 50.0, 10e-15, segments=3, with_l=False) == pytest.approx(
        delay_50(parasitics(), 8, 50.0, 10e-15), rel=0.10)


def test_elmore_carries_the_word_line_across_the_tile() -> None:
    """Vias, then ``cells`` segments of r_wire each loading one gate, then the extra load."""
    t, n, rd, r_w, c_g, cells, cl = parasitics(), 3, 1000.0, 1.0, 1.38e-15, 64, 2e-15
    via = n * rd * t.c + n * n * t.r * t.c / 2
    line = sum((rd + n * t.r + j * r_w) * c_g for j in range(1, cells + 1))
    want = via + line + (rd + n * t.r + cells * r_w) * cl
    got = elmore_delay(t, n, rd, cl, r_wire=r_w, c_cell=c_g, cells=cells)
    assert got == pytest.approx(want, rel=1e-12)
    # the gates are not negligible: 64 of them weigh as much as 1.5 vias
    assert got > 1.4 * elmore_delay(t, n, rd, cl)


@needs_ngspice
def test_step_response_matches_ngspice_under_a_stiff_drive() -> None:
    """The exact ladder solver the stack check uses as its expectation agrees with ngspice on
    a known-good chain (3 vias with R, L, C, 16 gates), and moves with each of R, L and C."""
    from dataclasses import replace

    from neuropaste.sim.ngspice import run_text

    t, n, r_src, rise, r_w, c_g, cells = parasitics(), 3, 22.0, 1e-12, 1.0, 1.38e-15, 16
    via = str(subcircuit(t, "tsv")).strip().splitlines()
    nodes = ["a", "n1", "n2", "v"]
    line = []
    for j in range(cells):
        left, right = ("v" if j == 0 else f"w{j}"), f"w{j + 1}"
        line += [f"Rw{j} {left} {right} {r_w!r}", f"Cw{j} {right} 0 {c_g!r}"]
    text = "\n".join(["* chain", *via, *[f"X{k} {nodes[k]} {nodes[k + 1]} 0 tsv"
                                         for k in range(n)], *line,
                      f"Vin s 0 PWL(0 0 1e-12 0 {1e-12 + rise!r} 1.0)", f"Rs s a {r_src!r}",
                      ".options method=trap reltol=1e-6 abstol=1e-18 vntol=1e-12 chgtol=1e-22",
                      ".tran 2e-14 3e-10 0 2e-14", ".end"]) + "\n"
    got = run_text(text)
    grid = np.arange(0, 2.9e-10, 1e-13)
    want = step_response(t, n, r_src, 1.0, rise, grid, r_wire=r_w, c_cell=c_g, cells=cells)
    for node, key in (("v", "v"), (f"w{cells}", "d")):
        err = np.abs(np.interp(grid + 1e-12, got["time"], got[node]) - want[key]).max()
        assert err < 1e-3, (node, err)
    c_total = n * t.c + cells * c_g
    assert np.trapezoid(want["i"], grid) == pytest.approx(c_total, rel=1e-3)
    for field in ("r", "l", "c"):
        other = step_response(replace(t, **{field: 1.1 * getattr(t, field)}), n, r_src, 1.0,
                              rise, grid, r_wire=r_w, c_cell=c_g, cells=cells)
        assert np.abs(other["v"] - want["v"]).max() > (1e-4 if field == "r" else 0.02)
