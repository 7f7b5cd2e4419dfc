"""The brain-scale estimator reproduces the source paper's arithmetic and refuses bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from neuropaste.generators.estimate import check_paper, estimate, estimate_from_compiled

from neuropaste.errors import InputError


def test_paper_figures_follow_from_their_inputs() -> None:
    one = estimate(1e11, 1000, 30, 1, memory="mram", weight_bits=1)
    assert one["memory_cells"] == pytest.approx(1e14)
    assert one["planar_side_m"] == pytest.approx(0.30, rel=1e-9)  # 30 x 30 cm^2
    stacked = estimate(1e11, 1000, 30, 128, memory="mram", weight_bits=1)
    assert stacked["stacked_side_m"] == pytest.approx(0.0265, rel=1e-3)  # ~26 x 26 mm^2
    assert stacked["crossbar_max_neurons_per_die"] == pytest.approx(9.8e6, rel=1e-2)  # ~1e7
    assert all(row["consistent"] for row in check_paper())


def test_programming_time_and_recording_size() -> None:
    r = estimate(1e11, 1000, 30, 128, memory="flash", weight_bits=3, write_bytes_per_s=100e6)
    assert r["programming_s"] == pytest.approx(1e14 * 3 / 8 / 100e6)  # ~4.3 days
    assert r["recording_bytes"] == pytest.approx(1e11 * 80e9 / 1728)
    assert estimate(memory="mram", weight_bits=3)["cells_per_weight"] == 3


def test_bad_values_and_directories(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--neurons must be a positive number"):
        estimate(neurons=-5)
    with pytest.raises(InputError, match="no manifest.json"):
        estimate_from_compiled(tmp_path)
    res = subprocess.run([sys.executable, "-m", "neuropaste", "estimate", "--layers", "0"],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_cli_json_keys() -> None:
    res = subprocess.run([sys.executable, "-m", "neuropaste", "estimate", "--layers", "128",
                          "--json"], capture_output=True, text=True)
    assert res.returncode == 0
    data = json.loads(res.stdout)
    assert {"memory_cells", "stacked_side_m", "dies", "tsvs", "programming_s",
            "recording_bytes", "paper_check"} <= set(data)
