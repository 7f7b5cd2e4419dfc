"""The ngspice memristors of netlists/memristor.py integrate plasticity.py's update ODE: one cell
per model against the exact per-pair solution, and a half-selected cell that does not move."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest

from neuropaste.netlists.memristor import final_states, netlist_text
from neuropaste.plasticity import MODELS, DeviceModel, PulseScheme, update
from neuropaste.sim.ngspice import run_text

pytestmark = pytest.mark.skipif(shutil.which("ngspice") is None, reason="no ngspice")

SCHEME = PulseScheme()
#: one cell's pairs, 50 ms apart (beyond the 31 ms window): post this many ms after pre
#: (potentiation when positive, depression when negative); recording seconds
LAGS = np.array([2.0, 4.0, 6.0, 9.0, 12.0, -3.0, -7.0, 5.0, 3.0, 20.0, -2.0, 4.0]) * 1e-3
PRE = 0.01 + 0.05 * np.arange(len(LAGS))
POST = PRE + LAGS


def setup(name: str) -> tuple[DeviceModel, PulseScheme]:
    """The model without variation, made to exercise its depression too: symmetric STDP
    (RESET threshold at v_th) for the gradual models; for pcm a stronger scheme whose
    anti-causal overlaps pass v_reset (abrupt RESET)."""
    model = MODELS[name].variation(False)
    if model.kind == "pcm":
        return model, PulseScheme(a_pulse=0.9, a_tail=0.9)
    return replace(model, rate=replace(model.rate, v_th_dep=model.rate.v_th)), SCHEME


def exact(model: DeviceModel, scheme: PulseScheme) -> float:
    """Each pair's exposure from the scheme's exact kernel, applied with the ODE's closed form
    (RESET where the pair's peak passes -v_reset), in time order: a cell updates when the
    later spike of a pair arrives. The reference, from plasticity.py alone."""
    events = sorted([(t, +1) for t in POST] + [(t, -1) for t in PRE])
    x = np.array(0.0)
    for t, side in events:
        partner = PRE if side > 0 else POST
        before = partner[partner < t]
        if not len(before):
            continue
        dt = np.array(side * (t - before[-1]) / scheme.speedup)  # crossbar seconds
        ep, ed = scheme.exposure(dt, model.rate)
        x = update(x, ep, ed, model, reset=scheme.peak(dt) < -model.v_reset)
    return float(x)


@pytest.mark.parametrize("name", list(MODELS))
def test_one_cell_integrates_the_plasticity_ode(name: str) -> None:
    model, scheme = setup(name)
    vec = run_text(netlist_text(model, scheme, [PRE], [POST], np.zeros((1, 1))))
    x = final_states(vec, 1, 1)[0, 0]
    want = exact(model, scheme)
    assert want > 5e-3  # the pairs do move it
    assert x == pytest.approx(want, rel=0.01)
    assert model.g_min + model.dg * x == pytest.approx(model.g_min + model.dg * want, rel=1e-3)


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


def test_user_text_stays_in_comments() -> None:
    """A label with a newline and a control card cannot leave its comment line."""
    model = MODELS["linear"].variation(False)
    text = netlist_text(model, SCHEME, [PRE], [POST], np.zeros((1, 1)),
                        header={"neurons": ["a\n.control\nshell touch /tmp/x\n.endc"]})
    assert not [ln for ln in text.splitlines() if ln.lower().startswith((".control", "shell"))]
