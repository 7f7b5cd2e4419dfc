"""``--drive vm`` on a small Brian2 culture: the differential scheme against the first one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neuropaste.cli import main

# the copy tests' small culture (tests/test_copy.py): 40 neurons, 60 s
SMALL = ["--neurons", "40", "--seconds", "60", "--p-connect", "0.15", "--rate-hz", "5",
         "--seed", "1"]


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vm") / "c"
    assert main(["culture", "--out", str(out), *SMALL]) == 0
    return out


def _truth(rec: Path, out: Path, *extra: str) -> dict:
    assert main(["imprint", str(rec / "recording.nwb"), "--truth", str(rec / "truth.csv"),
                 "--drive", "vm", "--out", str(out), *extra]) == 0
    return json.loads((out / "imprint.json").read_text())["figures"]["truth"]


@pytest.mark.slow
def test_differential_beats_threshold_on_a_brian2_culture(small, tmp_path):
    """Measured 0.69 / 0.83 (differential) against 0.51 / 0.40 (threshold), MCC E / I: the
    pair integrates the slope linearly, the threshold scheme rectifies and clips it."""
    new = _truth(small, tmp_path / "d")
    old = _truth(small, tmp_path / "t", "--vm-scheme", "threshold")
    assert new["excitatory"]["mcc"] >= old["excitatory"]["mcc"] + 0.1
    assert new["inhibitory"]["mcc"] >= old["inhibitory"]["mcc"] + 0.2
    assert new["precision"] >= 0.9
    assert new["pearson_weight"] >= 0.9  # the difference is linear in the PSP's step
