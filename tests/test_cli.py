"""The command line as a user runs it: exit codes, outputs, determinism, no half-written dirs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "neuropaste", *args], capture_output=True,
                          text=True, cwd=cwd)


@pytest.fixture
def small_map(tmp_path: Path) -> Path:
    path = tmp_path / "ring.csv"
    rows = ["pre,post,weight,delay"]
    n = 12
    for i in range(n):
        rows.append(f"n{i},n{(i + 1) % n},3.0,1")
        rows.append(f"n{i},n{(i + 3) % n},-1.5,2")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_info_json_counts(small_map: Path) -> None:
    out = run("info", str(small_map), "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["neurons"] == 12
    assert info["synapses"] == 24
    assert info["delay_max"] == 2
    assert info["inhibitory_synapses"] == 12


def test_simulate_writes_sorted_raster_and_is_deterministic(small_map: Path,
                                                           tmp_path: Path) -> None:
    outs = []
    for name in ("a", "b"):
        res = run("simulate", str(small_map), "--steps", "200", "--seed", "7",
                  "--drive-rate", "0.1", "--out", str(tmp_path / name))
        assert res.returncode == 0, res.stderr
        outs.append((tmp_path / name / "spikes.csv").read_bytes())
    assert outs[0] == outs[1]
    rows = list(csv.reader(outs[0].decode().splitlines()))
    assert rows[0] == ["step", "neuron"]
    body = [(int(s), int(n[1:])) for s, n in rows[1:]]
    assert body, "the drive should make the ring fire"
    assert body == sorted(body)
    other = run("simulate", str(small_map), "--steps", "200", "--seed", "8",
                "--drive-rate", "0.1", "--out", str(tmp_path / "c"))
    assert other.returncode == 0
    assert (tmp_path / "c" / "spikes.csv").read_bytes() != outs[0]


def test_simulate_with_stimulus_file(small_map: Path, tmp_path: Path) -> None:
    stim = tmp_path / "events.csv"
    stim.write_text("step,neuron\n0,n0\n5,n6\n")
    res = run("simulate", str(small_map), "--steps", "20", "--stimulus", str(stim),
              "--out", str(tmp_path / "o"))
    assert res.returncode == 0, res.stderr
    rows = (tmp_path / "o" / "spikes.csv").read_text().splitlines()
    # an external event is worth the threshold: n0 fires at step 0, n6 at step 5
    assert "0,n0" in rows and "5,n6" in rows


@pytest.mark.parametrize(
    "content, needle",
    [
        ("step,neuron\n0,nope\n", "line 2"),
        ("step,neuron\nx,n1\n", "line 2"),
        ("", "empty"),
    ],
)
def test_bad_stimulus_exits_2_and_leaves_no_output(small_map: Path, tmp_path: Path,
                                                   content: str, needle: str) -> None:
    stim = tmp_path / "bad.csv"
    stim.write_text(content)
    out = tmp_path / "never"
    res = run("simulate", str(small_map), "--steps", "10", "--stimulus", str(stim),
              "--out", str(out))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr
    assert "bad.csv" in lines[0] and needle in lines[0].lower()
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".never")]


def test_unknown_drive_neuron_is_a_clear_error(small_map: Path, tmp_path: Path) -> None:
    res = run("simulate", str(small_map), "--steps", "10", "--drive", "n1,zz",
              "--out", str(tmp_path / "o"))
    assert res.returncode == 2
    assert "'zz'" in res.stderr and "Traceback" not in res.stderr


def test_membrane_too_narrow_is_a_clear_error(small_map: Path, tmp_path: Path) -> None:
    res = run("simulate", str(small_map), "--steps", "10", "--v-bits", "4", "--threshold", "30",
              "--out", str(tmp_path / "o"))
    assert res.returncode == 2
    assert "--v-bits" in res.stderr and "Traceback" not in res.stderr


def test_export_csv_round_trips_through_info(small_map: Path, tmp_path: Path) -> None:
    target = tmp_path / "copy.csv"
    assert run("export", str(small_map), "--to", str(target)).returncode == 0
    a = json.loads(run("info", str(small_map), "--json").stdout)
    b = json.loads(run("info", str(target), "--json").stdout)
    for key in ("neurons", "synapses", "weight_min", "weight_max", "delay_max"):
        assert a[key] == b[key]


def test_export_unknown_extension(small_map: Path, tmp_path: Path) -> None:
    res = run("export", str(small_map), "--to", str(tmp_path / "x.txt"))
    assert res.returncode == 2 and "x.txt" in res.stderr


def test_builtin_map_info() -> None:
    res = run("info", "builtin:celegans", "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert 250 <= info["neurons"] <= 310
    assert info["synapses"] > 2000
    assert info["inhibitory_synapses"] > 0


def test_simulate_float_mode_writes_its_mode(small_map: Path, tmp_path: Path) -> None:
    res = run("simulate", str(small_map), "--steps", "50", "--float", "--drive-rate", "0.2",
              "--out", str(tmp_path / "f"))
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "f" / "run.json").read_text())["mode"] == "float"
    assert (tmp_path / "f" / "spikes.csv").read_text().startswith("step,neuron\n")


@pytest.mark.parametrize("args, flag, target", [
    (["--backends", "rtl", "--tile", "32"], "--tile", "spice"),
    (["--backends", "rtl", "--memory-dies", "2"], "--memory-dies", "spice"),
    (["--backends", "spice", "--cores", "4"], "--cores", "rtl"),
])
def test_compile_refuses_flags_of_backends_it_does_not_run(small_map: Path, tmp_path: Path,
                                                           args: list[str], flag: str,
                                                           target: str) -> None:
    out = run("compile", str(small_map), "--out", str(tmp_path / "c"), *args)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"neuropaste: error: {flag} applies to {target}, which this run does not include "
        f"(backends: {args[1]})"]
    assert not (tmp_path / "c").exists()


def test_verify_refuses_flags_of_checks_it_does_not_run(small_map: Path, tmp_path: Path) -> None:
    out = tmp_path / "c"
    assert run("compile", str(small_map), "--out", str(out), "--backends", "spice",
               "--steps", "5").returncode == 0
    for args, flag, checks in ((["--stall", "0.2"], "--stall", "replay or rtl"),
                               (["--spice", "--vcd"], "--vcd", "rtl"),
                               (["--spice", "--steps", "3"], "--steps", "analog or replay or rtl")):
        res = run("verify", str(out), *args)
        assert res.returncode == 2, res.stderr
        assert res.stderr.strip() == (f"neuropaste: error: {flag} applies to {checks}, which "
                                      "this run does not include (checks: spice)")
    res = run("verify", str(out), "--rtl")
    assert res.returncode == 2 and "without the rtl backend" in res.stderr
