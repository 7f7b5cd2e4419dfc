"""The shared imprint physics: exact exposures, exact ODE updates, the scheme's refusals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuropaste.errors import InputError
from neuropaste.plasticity import MODELS, PulseScheme, ThresholdRate, a_from_label, update

SCHEME, RATE = PulseScheme(), ThresholdRate()


@settings(max_examples=25, deadline=None)
@given(st.floats(-40e-6, 40e-6))
def test_exposure_is_the_integral_of_the_rate(dt):
    t = np.linspace(-2e-6, 80e-6, 400001)
    k = RATE(SCHEME.cell_voltage(dt, t))
    num_up = np.trapezoid(np.maximum(k, 0), t)
    num_dn = np.trapezoid(np.maximum(-k, 0), t)
    up, dn = SCHEME.exposure(np.array(dt), RATE)
    assert up == pytest.approx(num_up, rel=2e-3, abs=1e-7)
    assert dn == pytest.approx(num_dn, rel=2e-3, abs=1e-7)


def test_order_sets_the_sign_and_lone_lines_do_not_switch():
    assert SCHEME.exposure(np.array(-5e-6), RATE)[1] == 0.0  # the imprint only SETs
    up, dn = SCHEME.exposure(np.array([5e-6, -5e-6]), ThresholdRate(v_th_dep=1.0))
    assert up[0] > 0 and dn[0] == 0 and dn[1] > 0 and up[1] == 0
    assert SCHEME.disturb(RATE, 0.05)["exposure_per_lone_pulse"] == 0.0


@pytest.mark.parametrize("name", ["soft-bounds", "exponential", "linear"])
def test_update_is_the_ode_solution(name):
    """Euler steps of dx/dE = window(x) converge to the closed form."""
    m = MODELS[name]
    xp, cp, xd, cd = m.targets()
    x, e = 0.3, 0.4
    h = e / 200000
    for _ in range(200000):
        x += h * (1.0 if cp == 0 else cp * (xp - x))
    assert update(np.array(0.3), np.array(e), np.array(0.0), m) == pytest.approx(min(x, 1.0),
                                                                                 rel=1e-4)


def test_label_maps_to_a():
    assert a_from_label(0.1) == pytest.approx(1.25 / 0.1, rel=0.02)
    assert a_from_label(3) < a_from_label(1) < a_from_label(0.5)


def test_scheme_that_never_crosses_is_refused():
    with pytest.raises(InputError, match="never crosses the threshold"):
        PulseScheme(a_pulse=0.4, a_tail=0.4).validate(RATE)
    with pytest.raises(InputError, match="half-selected"):
        PulseScheme(a_pulse=1.1, a_tail=0.4).validate(RATE)
