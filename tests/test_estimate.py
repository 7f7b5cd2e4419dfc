"""The brain-scale estimator reproduces the source paper's arithmetic and refuses bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from neuropaste.cli import build_parser, main
from neuropaste.errors import InputError
from neuropaste.estimate import (
    MEMORIES,
    cells_per_weight,
    check_paper,
    estimate,
    estimate_from_compiled,
    tsv_signals,
)


def test_paper_figures_follow_from_their_inputs() -> None:
    one = estimate(1e11, 1000, 30, 1, memory="mram", weight_bits=1)
    assert one["memory_cells"] == pytest.approx(1e14)
    assert one["planar_area_m2"] == pytest.approx(0.09)
    assert one["planar_side_m"] == pytest.approx(0.30, rel=1e-9)  # 30 x 30 cm^2
    stacked = estimate(1e11, 1000, 30, 128, memory="mram", weight_bits=1)
    assert stacked["stacked_side_m"] == pytest.approx(0.0265, rel=1e-3)  # ~26 x 26 mm^2
    assert stacked["dies"] == 2  # 26.5 mm^2 is 4 % over one 26 mm die
    assert estimate(1e11, 1000, 30, 128, die_mm=26.6)["dies"] == 1
    assert stacked["crossbar_max_neurons_per_die"] == pytest.approx(9.8e6, rel=1e-2)  # ~1e7
    rows = check_paper()
    assert len(rows) == 5 and all(row["consistent"] for row in rows[:4])
    # the paper's ~260 x 260 mm^2 for the brain-scale N x N crossbar is N = 1e8's, not 1e11's
    crossbar = rows[4]
    assert not crossbar["consistent"] and crossbar["recomputed"] == pytest.approx(265.2, rel=1e-3)
    assert "N = 9.8e+07" in crossbar["follows"] and "1,000 times wider" in crossbar["follows"]
    assert [round(r["ratio"], 3) for r in rows[:4]] == [1.0, 1.0, 1.02, 0.981]


def test_the_consistency_check_can_say_no(monkeypatch: pytest.MonkeyPatch) -> None:
    import neuropaste.estimate as est

    real = est.estimate
    monkeypatch.setattr(est, "estimate", lambda *a, **k: {**real(*a, **k),
                                                          "planar_side_m": 0.5})
    verdicts = {r["claim"]: r["consistent"] for r in est.check_paper()}
    assert verdicts["1,000 N memories of 30 x 30 nm^2 in one layer"] is False


def test_unary_cells_share_one_column() -> None:
    """Unary cells of one weight sit in parallel on one column: 7-bit MRAM weights (127 cells)
    fit a 64-column tile, and each target sends one column current (two if differential)."""
    unary = estimate(1e6, 100, memory="mram", weight_bits=7, weight_code="unary")
    assert unary["cells_per_synapse"] == 127 and unary["columns_per_target"] == 1
    assert unary["tsv_column_signals"] == pytest.approx(1e6)
    signed = estimate(1e6, 100, memory="mram", weight_bits=7, weight_code="unary",
                      differential=True)
    assert signed["columns_per_target"] == 2 and signed["cells_per_synapse"] == 254
    sliced = estimate(1e6, 100, memory="mram", weight_bits=7, weight_code="sliced")
    assert sliced["columns_per_target"] == 7 and sliced["tsv_column_signals"] == pytest.approx(7e6)
    with pytest.raises(InputError, match="14 columns: more than the tile's 8"):
        estimate(1e6, 100, memory="mram", weight_bits=7, differential=True, tile_cols=8,
                 weight_code="sliced")


def test_brain_scale_crossbar_footprint() -> None:
    r = estimate(1e11, 1000, 30, 128, memory="mram", weight_bits=1)
    assert r["crossbar_cells"] == pytest.approx(1e22)
    assert r["crossbar_planar_area_m2"] == pytest.approx(9e6)
    assert r["crossbar_stacked_side_m"] == pytest.approx((9e6 / 128) ** 0.5)


def test_memory_presets_and_cells_per_weight() -> None:
    assert {m: t.bits_per_cell for m, t in MEMORIES.items()} == {
        "rram": 6, "pcm": 4, "flash": 3, "mram": 1}
    assert all(t.cell_nm > 0 and t.source for t in MEMORIES.values())
    assert cells_per_weight(3, 1, "sliced") == 3 and cells_per_weight(3, 1, "unary") == 7
    assert cells_per_weight(6, 4, "sliced") == 2 and cells_per_weight(6, 4, "unary") == 5
    assert cells_per_weight(3, 3, "unary") == 1
    r = estimate(1e6, 100, memory="mram", weight_bits=3, differential=True)
    assert r["cells_per_synapse"] == 6 and r["memory_cells"] == pytest.approx(6e8)
    assert r["inputs"]["cell_nm"] == 220.0 and r["inputs"]["cell_source"] == "preset"
    # a preset cell: 1e14 flash cells of 230 nm in 128 layers need 62 dies of 26 mm
    flash = estimate(1e11, 1000, None, 128, memory="flash")
    assert flash["dies"] == math.ceil(1e14 * (230e-9) ** 2 / 128 / 0.026**2) == 62


def test_programming_time_and_recording_size() -> None:
    r = estimate(1e11, 1000, 30, 128, memory="flash", weight_bits=3, write_bytes_per_s=100e6)
    assert r["programming_s"] == pytest.approx(1e14 * 3 / 8 / 100e6)  # 3.75e5 s, 4.3 days
    assert r["programming_s_dies_in_parallel"] == pytest.approx(r["programming_s"] / 2)
    # mram: 3 one-bit cells per 3-bit weight, the same bits to write
    assert estimate(1e11, 1000, 30, memory="mram", weight_bits=3)["programming_s"] == \
        pytest.approx(r["programming_s"])
    # 80 GB / (4,096 ch x 1,140 s) = 17.1 kB per channel-second; 46.3 MB per neuron
    assert r["recording_bytes_per_channel_second"] == pytest.approx(80e9 / (4096 * 1140))
    assert r["recording_bytes_per_channel_second"] == pytest.approx(17_133, rel=1e-3)
    assert r["recording_bytes"] == pytest.approx(1e11 * 80e9 / 1728)
    assert r["recording_bytes_at_source_yield"] == pytest.approx(1e14 * 80e9 / 304)
    half = estimate(1e11, 1000, 30, 128, recording_s=570)
    assert half["recording_bytes"] == pytest.approx(r["recording_bytes"] / 2)


def test_tsv_word_line_model_against_a_random_map() -> None:
    """The closed form for random connectivity against counting a sampled map."""
    rng = np.random.default_rng(1)
    n, k, d = 4000, 6, 8
    targets = np.stack([rng.choice(n, k, replace=False) for _ in range(n)])
    die_of_target = np.arange(n) * d // n  # targets split evenly over the dies
    counted = sum(len(np.unique(die_of_target[row])) for row in targets)
    model = tsv_signals(n, k, d, columns_per_target=2)
    assert model["word_line_signals_random"] == pytest.approx(counted, rel=0.02)
    assert model["column_signals"] == 2 * n
    assert model["word_line_signals_clustered"] == n  # K D / N < 1: one die per source
    assert tsv_signals(n, k, 1, 1)["signals_random"] == 2 * n
    # many dies: every synapse needs its own word-line signal
    assert tsv_signals(1e11, 1000, 10**6, 1)["word_line_signals_random"] == pytest.approx(
        1e14, rel=1e-3)


def test_tsv_budget_is_reported_not_assumed() -> None:
    r = estimate(1e11, 1000, 30, 128)
    assert r["tsv_capacity_per_die"] == pytest.approx(0.026**2 / 1e-10)
    assert r["tsv_interface_load_random"] > 1e4
    assert any("does not fit" in note for note in r["notes"])
    small = estimate(1e4, 100, 30, 1)
    assert small["tsv_interface_load_random"] < 1
    assert not any("does not fit" in note for note in small["notes"])


@pytest.mark.parametrize("kwargs, message", [
    ({"neurons": -5}, "--neurons must be a positive number"),
    ({"neurons": float("nan")}, "--neurons"),
    ({"layers": 0}, "--layers must be a positive integer"),
    ({"layers": 2.5}, "--layers must be a positive integer"),
    ({"memory": "dram"}, "--memory must be one of"),
    ({"cell_nm": 0}, "--cell-nm"),
    ({"utilisation": 1.5}, "at most 1"),
    ({"neurons": 100, "synapses_per_neuron": 1000}, "cannot exceed"),
    ({"weight_code": "gray"}, "--weight-code"),
    ({"memory": "mram", "weight_bits": 8, "weight_code": "sliced", "tile_cols": 4},
     "columns: more than"),
])
def test_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        estimate(**kwargs)


def _manifest(tmp_path: Path, spice: object, **extra: object) -> Path:
    (tmp_path / "manifest.json").write_text(json.dumps({"neuropaste_manifest": 1,
                                                        "backends": {"spice": spice},
                                                        **extra}))
    return tmp_path


def test_bad_compiled_directories(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no manifest.json"):
        estimate_from_compiled(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read the manifest"):
        estimate_from_compiled(tmp_path)
    with pytest.raises(InputError, match="without the spice backend"):
        estimate_from_compiled(_manifest(tmp_path, None))
    with pytest.raises(InputError, match="'utilisation'"):
        estimate_from_compiled(_manifest(tmp_path, {"tiles": 3}))
    good = {"utilisation": 0.5, "tile_rows": 64, "tile_cols": 64, "tiles": 3, "device": "rram"}
    with pytest.raises(InputError, match=r"not in \(0, 1\]"):
        estimate_from_compiled(_manifest(tmp_path, {**good, "utilisation": 2.0}))
    with pytest.raises(InputError, match="not a memory preset"):
        estimate_from_compiled(_manifest(tmp_path, {**good, "device": "custom"}))
    with pytest.raises(InputError, match="mean_fan_out"):
        estimate_from_compiled(_manifest(tmp_path, good))
    r = estimate_from_compiled(_manifest(tmp_path, good, map={"mean_fan_out": 20.0}), 1e6)
    assert r["memory_cells"] == pytest.approx(1e6 * 20 / 0.5)  # 6-bit rram, 1 cell, unsigned
    assert r["from"]["utilisation"] == 0.5 and "tsv_signals_measured_rate" not in r


def test_extrapolates_a_real_compiled_map(tmp_path: Path) -> None:
    out = tmp_path / "c"
    assert main(["compile", "builtin:celegans", "--out", str(out), "--backends", "spice",
                 "--memory-dies", "2"]) == 0
    spice = json.loads((out / "manifest.json").read_text())["backends"]["spice"]
    r = estimate_from_compiled(out, 1e6)
    k = json.loads((out / "manifest.json").read_text())["map"]["mean_fan_out"]
    assert r["inputs"]["synapses_per_neuron"] == pytest.approx(k)
    assert r["cells_per_synapse"] == 2  # rram, differential column pairs
    assert r["memory_cells"] == pytest.approx(1e6 * k * 2 / spice["utilisation"])
    per_tile = spice["stack"]["tsv_signals"] / spice["tiles"]
    assert r["tsv_signals_measured_rate"] == pytest.approx(per_tile * r["tiles"])
    assert r["programming_s_write_verify_serial"] > 0


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    args = build_parser().parse_args(argv)
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_subcommand_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, ["estimate", "--layers", "128", "--cell-nm", "30"])
    assert code == 0
    assert "(26.5 mm)^2" in out and "(30 cm)^2" in out and out.count("does NOT follow") == 1
    assert "about 260 x 260 mm^2" in out and "1e6 times the area" in out
    code, out, _ = _run(capsys, ["estimate", "--layers", "128", "--json", "--memory", "pcm",
                                 "--die-mm", "20", "--write-bandwidth", "1e9"])
    data = json.loads(out)
    assert {"memory_cells", "stacked_side_m", "dies", "tsvs", "programming_s",
            "recording_bytes", "paper_check", "notes", "models"} <= set(data)
    assert data["inputs"]["memory"] == "pcm" and data["inputs"]["die_mm"] == 20
    assert data["programming_s"] == pytest.approx(1e14 * 4 / 8 / 1e9)


def test_cli_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["estimate", "--layers", "0"]) == 2
    err = capsys.readouterr().err
    assert "--layers must be a positive integer" in err and len(err.strip().splitlines()) == 1
    assert main(["estimate", "--from", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err
