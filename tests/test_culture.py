"""The simulated culture: byte-identical for a seed, a plausible truth, and PSPs of the stated size.

The PSP test reads the recording back the way the copy step does and measures each connection
onto a silent neuron by its spike-triggered average: a wrong current-per-PSP conversion, a wrong
sign, a lost pad gain or a misplaced channel moves the fitted slope far from 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuropaste.cli import main
from neuropaste.io.recording import open_recording, read_truth
from neuropaste.sim.culture import CultureParams, draw_culture, psp_per_jump

SMALL = ["--neurons", "40", "--seconds", "3", "--p-connect", "0.1", "--gap-pairs", "2",
         "--burst-hz", "1", "--seed", "11"]
#: the PSP culture: no bursts (they would add a shared deflection), a quarter silent
PSP = ["--neurons", "40", "--seconds", "12", "--p-connect", "0.15", "--silent-fraction", "0.25",
       "--burst-hz", "0", "--noise-mv", "1", "--rate-hz", "6", "--gap-pairs", "1", "--seed", "3"]


def culture_cli(out: Path, args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "neuropaste", "culture", "--out", str(out),
                           *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def psp_culture(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("culture") / "psp"
    done = culture_cli(out, PSP)
    assert done.returncode == 0, done.stderr
    return out


def test_deterministic_byte_identical(tmp_path):
    runs = [culture_cli(tmp_path / name, SMALL) for name in ("a", "b")]
    for done in runs:
        assert done.returncode == 0, done.stderr
    for name in ("recording.nwb", "truth.csv", "culture.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    rec = open_recording(tmp_path / "a" / "recording.nwb")
    assert rec.kind == "icephys" and rec.n_channels == 40
    assert rec.rate == 5000.0 and rec.n_samples == 15000
    truth = read_truth(tmp_path / "a" / "truth.csv", rec.labels)
    assert (truth.sign == 0).sum() == 4  # two gap pairs, one row per direction


def test_truth_is_a_plausible_culture():
    p = CultureParams(neurons=300, seconds=1.0, seed=5)
    c = draw_culture(p)
    again, other = draw_culture(p), draw_culture(CultureParams(neurons=300, seconds=1.0, seed=6))
    assert np.array_equal(c.pre, again.pre) and np.array_equal(c.psp_mV, again.psp_mV)
    assert not np.array_equal(c.pre[:100], other.pre[:100])  # the seed matters
    n_exc = int(c.excitatory.sum())
    assert n_exc == 240
    assert abs(c.pre.size / (300 * 299) - p.p_connect) < 0.003
    assert np.all(c.pre != c.post)
    assert np.unique(c.pre * 300 + c.post).size == c.pre.size  # one synapse per ordered pair
    # Dale's law: a neuron's synapses all share its sign
    assert np.array_equal(c.psp_mV > 0, c.excitatory[c.pre])
    size = np.abs(c.psp_mV)
    assert size.min() >= p.psp_min_mV and size.max() <= p.psp_max_mV
    assert 0.35 < np.median(size[c.psp_mV > 0]) < 0.65  # lognormal around 0.5 mV
    assert np.median(size[c.psp_mV < 0]) > np.median(size[c.psp_mV > 0])
    assert c.delay_ms.min() >= 1.0 and c.delay_ms.max() <= 5.0
    assert c.gap_a.size == 3 and np.all(c.gap_a < c.gap_b)
    assert 0.05 <= c.pad_gain.min() and c.pad_gain.max() <= p.coupling_max
    assert c.pad_gain.std() > 0.1  # the coupling really varies pad to pad


def test_psp_per_jump_matches_the_integrated_membrane():
    """The analytic PSP peak against a fine Euler integration of the same two equations."""
    tau_m, tau_s, dt = 20.0, 3.0, 0.001
    v, current, peak = 0.0, 1.0, 0.0
    for _ in range(int(60 / dt)):
        v += dt * (current - v) / tau_m
        current -= dt * current / tau_s
        peak = max(peak, v)
    assert abs(peak - psp_per_jump(tau_m, tau_s)) < 1e-4


def test_recorded_psps_have_the_truth_amplitude(psp_culture):
    rec = open_recording(psp_culture / "recording.nwb")
    info = json.loads((psp_culture / "culture.json").read_text())
    gain = np.asarray(info["pad_gain"])
    silent = np.asarray(info["silent"], dtype=bool)
    ap = info["ap_height_mV"]
    assert silent.sum() == 10
    x = rec.read(0, rec.n_samples) / gain  # membrane mV above rest, undoing each pad's gain
    assert 0.9 * ap < np.percentile(x[:, ~silent].max(axis=0), 50) < 1.02 * ap
    # noise_mV is the free membrane's std, synaptic shot noise included (1 mV here)
    assert 0.8 < np.median(x[:, silent].std(axis=0)) < 1.25
    truth = read_truth(psp_culture / "truth.csv", rec.labels)
    above = x > 0.4 * ap
    onsets = [np.flatnonzero(above[1:, k] & ~above[:-1, k]) + 1 for k in range(rec.n_channels)]
    assert all(o.size == 0 for o, s in zip(onsets, silent, strict=True) if s)
    rates = np.array([o.size for o in onsets])[~silent] / rec.duration
    assert 3.0 < rates.mean() < 9.0  # 6 Hz requested
    pairs = []
    for pre, post, sign, psp in zip(truth.pre, truth.post, truth.sign, truth.psp_mV,
                                    strict=True):
        if sign == 0 or not silent[post]:
            continue
        sp = onsets[pre][(onsets[pre] > 10) & (onsets[pre] < rec.n_samples - 100)]
        if sp.size < 30:
            continue
        sta = x[sp[:, None] + np.arange(-10, 100), post].mean(axis=0)
        after = sta[10:] - sta[:10].mean()
        pairs.append((sign * psp, after.max() if sign > 0 else after.min()))
    true, seen = np.array(pairs).T
    assert len(pairs) >= 25 and (true < 0).sum() >= 5
    slope = np.polyfit(true, seen, 1)[0]
    assert 0.85 < slope < 1.15
    assert np.corrcoef(true, seen)[0, 1] > 0.95
    assert np.abs(seen - true).max() < 0.45


@pytest.mark.parametrize("args,expected", [
    (["--neurons", "1"], "--neurons: neurons must be >= 2, got 1"),
    (["--rate-hz", "0"], "--rate-hz: rate_hz must be in (0, 100), got 0.0"),
    (["--silent-fraction", "1"], "--silent-fraction: silent_fraction must be in [0, 1), got 1.0"),
])
def test_bad_parameters_are_one_line(tmp_path, capsys, args, expected):
    assert main(["culture", "--out", str(tmp_path / "x"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"neuropaste: error: {expected}"
    assert not (tmp_path / "x").exists()
