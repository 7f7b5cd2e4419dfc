"""TSV parasitics from their formulas, and the Elmore estimate against an ngspice transient."""

from __future__ import annotations

import logging
import math
import shutil

import numpy as np
import pytest
from neuropaste.netlists.tsv import TSVGeometry, chain_circuit, elmore_delay, parasitics


def test_parasitics_of_the_typical_via() -> None:
    t = parasitics(TSVGeometry())
    # R = 1.72e-8 * 50e-6 / (pi * 2.5e-6^2) = 43.8 mOhm
    assert t.r == pytest.approx(1.72e-8 * 50e-6 / (math.pi * 2.5e-6**2))
    assert t.r == pytest.approx(0.0438, rel=1e-2)
    # C = 2 pi eps0 3.9 * 50e-6 / ln(3.0 / 2.5) = 59.5 fF
    assert t.c == pytest.approx(59.5e-15, rel=1e-2)
    # L = 2e-7 * 50e-6 * (ln(40) - 0.75) = 29.4 pH
    assert t.l == pytest.approx(29.4e-12, rel=1e-2)
    taller = parasitics(TSVGeometry(height=100e-6))
    assert taller.r == pytest.approx(2 * t.r) and taller.c == pytest.approx(2 * t.c)


def first_crossing(time: np.ndarray, v: np.ndarray, level: float) -> float:
    k = int(np.argmax(v >= level))
    return float(time[k - 1] + (level - v[k - 1]) * (time[k] - time[k - 1]) / (v[k] - v[k - 1]))


@pytest.mark.skipif(shutil.which("ngspice") is None, reason="no ngspice")
@pytest.mark.parametrize("n, r_driver", [(2, 2000.0), (4, 1000.0), (8, 300.0)])
def test_elmore_estimate_within_10_percent_of_ngspice(n: int, r_driver: float) -> None:
    logging.getLogger("PySpice").setLevel(logging.ERROR)
    t = parasitics()
    tau = elmore_delay(t, n, r_driver, 10e-15)
    circuit = chain_circuit(t, n, r_driver, 10e-15)
    analysis = circuit.simulator(simulator="ngspice-shared").transient(
        step_time=tau / 500, end_time=10e-12 + 8 * tau)
    t50 = first_crossing(np.array(analysis.time), np.array(analysis["out"]), 0.5) - 10e-12
    assert t50 == pytest.approx(math.log(2) * tau, rel=0.10)
