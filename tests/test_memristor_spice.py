"""The ngspice memristors of netlists/memristor.py integrate plasticity.py's update ODE: one cell
per model against the exact per-pair solution, and a half-selected cell that does not move."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from neuropaste.netlists.memristor import final_states, netlist_text
from neuropaste.plasticity import MODELS, PulseScheme, update
from neuropaste.sim.ngspice import run_text

pytestmark = pytest.mark.skipif(shutil.which("ngspice") is None, reason="no ngspice")

SCHEME = PulseScheme()
#: one cell's pairs, 50 ms apart (beyond the 31 ms window): post this many ms after pre
#: (potentiation when positive, depression when negative); recording seconds
LAGS = np.array([2.0, 4.0, 6.0, 9.0, 12.0, -3.0, -7.0, 5.0, 3.0, 20.0]) * 1e-3
PRE = 0.01 + 0.05 * np.arange(len(LAGS))
POST = PRE + LAGS


def exact(model, x0: float) -> tuple[float, float]:
    """Each pair's exposure from the scheme's exact kernel, applied with the ODE's closed form,
    in time order (a cell updates when its later spike arrives): the reference."""
    events = sorted([(t, +1) for t in POST] + [(t, -1) for t in PRE])
    x, xm = np.array(x0), np.array(0.0)
    for t, side in events:
        partner = PRE if side > 0 else POST
        before = partner[partner < t]
        if not len(before):
            continue
        lag = (t - before[-1]) / SCHEME.speedup  # crossbar seconds
        ep, ed = SCHEME.exposure(np.array(side * lag), model.rate)
        if model.kind == "pcm":
            x, xm = update(x, ep, 0.0, model), update(xm, ed, 0.0, model)
        else:
            x = update(x, ep, ed, model)
    return float(x), float(xm)


@pytest.mark.parametrize("name", list(MODELS))
def test_one_cell_integrates_the_plasticity_ode(name: str) -> None:
    model = MODELS[name].variation(False)
    x0 = 0.0 if model.kind == "pcm" else 0.4
    vec = run_text(netlist_text(model, SCHEME, [PRE], [POST], np.array([[x0]])))
    x, xm = final_states(vec, 1, 1)[0, 0], final_states(vec, 1, 1, minus=True)[0, 0]
    want_x, want_xm = exact(model, x0)
    assert abs(want_x - want_xm - x0) > 0.005  # the pairs do move it
    assert x - xm - x0 == pytest.approx(want_x - want_xm - x0, rel=0.01)
    g = model.g_min + model.dg * np.array([x, xm])
    want = model.g_min + model.dg * np.array([want_x, want_xm])
    assert g == pytest.approx(want, rel=1e-3)


def test_half_selected_cells_barely_move() -> None:
    """Row 0 and column 0 carry spikes far apart: every cell sees lone waveforms (|V| < v_th)
    and stays put in SPICE too; the same spikes as a close pair do move cell (0, 0)."""
    model = MODELS["soft-bounds"].variation(False)
    x0 = np.full((2, 2), 0.5)
    apart = netlist_text(model, SCHEME, [np.array([0.01]), np.array([])],
                         [np.array([0.2]), np.array([])], x0)
    lone = final_states(run_text(apart), 2, 2)
    assert np.abs(lone - 0.5).max() < 1e-9
    pair = netlist_text(model, SCHEME, [np.array([0.01]), np.array([])],
                        [np.array([0.015]), np.array([])], x0)
    moved = final_states(run_text(pair), 2, 2)
    assert moved[0, 0] - 0.5 > 1e-3
    assert np.abs(moved.ravel()[1:] - 0.5).max() < 1e-9
