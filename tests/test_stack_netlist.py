"""Stack netlists: written deterministically, proven in ngspice, and the proof has teeth."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from neuropaste.cmap import ConnectivityMap
from neuropaste.compile import compile_map
from neuropaste.events import poisson
from neuropaste.generators.crossbar import CrossbarOptions
from neuropaste.generators.stack_spec import StackSpec

needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="no ngspice")
LABELS_EVIL = ['a"; .end', "b\nR1 x y 0", "q\n.control\nshell echo pwned", "d e"]


def small_map(n: int = 40, per: int = 6, seed: int = 1) -> ConnectivityMap:
    """A random map with delays 1-2 and hostile labels on its first neurons."""
    rng = np.random.default_rng(seed)
    pre = np.repeat(np.arange(n), per)
    post = rng.integers(0, n, len(pre))
    weight = rng.choice([-3.0, -1.0, 1.0, 2.0, 5.0], len(pre))
    delay = rng.integers(1, 3, len(pre))
    labels = LABELS_EVIL + [f"n{i}" for i in range(len(LABELS_EVIL), n)]
    return ConnectivityMap.build(labels, pre, post, weight, delay)


def compile_small(out: Path, dies: int = 2, stack: StackSpec | None = None,
                  tile: int = 16) -> Path:
    opts = CrossbarOptions(tile_rows=tile, tile_cols=tile,
                           stack=replace(stack or StackSpec(), memory_dies=dies))
    compile_map(small_map(), out, stimulus=poisson(40, 50, 0.1, 0), steps=50,
                backends=("spice",), quiet=True,
                backend_options={"spice": opts})
    return out


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> Path:
    return compile_small(tmp_path_factory.mktemp("stack") / "c")


def test_files_are_byte_identical_and_carry_no_labels(compiled: Path, tmp_path: Path) -> None:
    again = compile_small(tmp_path / "again")
    ours = sorted((compiled / "spice" / "stack").iterdir())
    assert [p.name for p in ours] == sorted(p.name for p in (again / "spice" / "stack").iterdir())
    assert {"stack.cir", "die_0.cir", "die_1.cir", "stack.json"} <= {p.name for p in ours}
    for p in ours:
        assert p.read_bytes() == (again / "spice" / "stack" / p.name).read_bytes(), p.name
        text = p.read_text()
        for label in LABELS_EVIL:
            assert label not in text
        if p.suffix in (".cir", ".sub"):  # node names are indices only
            assert not re.search(r"\b(ADER|n\d+_x)\b", text)
    manifest = json.loads((compiled / "manifest.json").read_text())["backends"]["spice"]
    st = manifest["stack"]
    assert st["rates_from_reference_run"] and st["traffic_weighted_by"] == "firing rates"
    info = json.loads((compiled / "spice" / "stack" / "stack.json").read_text())
    assert sorted(t for d in info["dies"] for t in d["tiles"]) == list(range(manifest["tiles"]))
    die1 = (compiled / "spice" / "stack" / "die_1.cir").read_text()
    chain = die1.split(".subckt wl_1 a d")[1].split(".ends")[0]
    assert chain.count(" tsv_1") == 2  # die 1 is reached through two vias


@needs_ngspice
def test_die_outputs_match_solver_through_tsvs_and_delay_matches_elmore(compiled: Path) -> None:
    from neuropaste.verify import verify

    report = verify(compiled, stack=True, tiles=100, workers=2)
    st = report["checks"]["stack"]
    assert report["passed"] and st["passed"], st["summary"]
    assert st["max_err_solver_fs"] < 1e-3
    assert all(d["tiles_ngspice"] == d["tiles_on_die"] for d in st["dies"])
    assert st["transient"]["rel_err"] < 0.10
    assert 0 < st["max_tsv_effect_fs"] < 1e-3  # the vias' R is in both, and small
    saved = json.loads((compiled / "verify.json").read_text())
    assert saved["checks"]["stack"]["passed"] and saved["requested"] == ["stack"]
    from neuropaste.verify.stack import report_html

    page = report_html(compiled)
    assert page.startswith("<h2>TSV stack</h2>") and page.count("<img") == 1
    assert "verify --stack</td><td>PASS" in page and "in order" in page


def _tamper(src: Path, dst: Path, edit) -> Path:
    shutil.copytree(src, dst)
    edit(dst / "spice" / "stack")
    return dst


@needs_ngspice
def test_tampered_die_netlists_fail(compiled: Path, tmp_path: Path) -> None:
    from neuropaste.cli import main

    info = json.loads((compiled / "spice" / "stack" / "stack.json").read_text())
    tile = info["dies"][0]["tiles"][0]

    def halve_strongest_cell(folder: Path) -> None:
        path = folder / f"tile_{tile:04d}.sub"
        lines = path.read_text().splitlines()
        cells = [i for i, ln in enumerate(lines) if ln.startswith("Rg")]
        k = min(cells, key=lambda i: float(lines[i].split()[3]))  # the largest conductance
        parts = lines[k].split()
        lines[k] = " ".join(parts[:3] + [repr(2 * float(parts[3]))])
        path.write_text("\n".join(lines) + "\n")

    bad = _tamper(compiled, tmp_path / "g", halve_strongest_cell)
    assert main(["verify", str(bad), "--stack", "--tiles", "100"]) == 1
    st = json.loads((bad / "verify.json").read_text())["checks"]["stack"]
    assert not st["passed"] and st["dies"][0]["max_err_solver_fs"] > 1e-3
    assert st["transient"]["passed"]

    def heavier_vias(folder: Path) -> None:
        path = folder / "die_1.cir"
        text = path.read_text()
        path.write_text(re.sub(r"^(C\d+ \S+ sub) (\S+)$",
                               lambda m: f"{m.group(1)} {2 * float(m.group(2))!r}", text,
                               flags=re.M))

    bad = _tamper(compiled, tmp_path / "c", heavier_vias)
    assert main(["verify", str(bad), "--stack", "--tiles", "1"]) == 1
    st = json.loads((bad / "verify.json").read_text())["checks"]["stack"]
    assert not st["transient"]["passed"] and st["transient"]["rel_err"] > 0.10


def _scale_via(folder: Path, die: int, kind: str, factor: float) -> None:
    """Multiply every ``kind`` (R, L or C) element of via subcircuit ``tsv_K`` in die_K.cir."""
    path = folder / f"die_{die}.cir"
    head, rest = path.read_text().split(f".subckt tsv_{die} a b sub\n", 1)
    body, tail = rest.split(f".ends tsv_{die}\n", 1)
    body = re.sub(rf"^({kind}\d+ \S+ \S+) (\S+)$",
                  lambda m: f"{m.group(1)} {factor * float(m.group(2))!r}", body, flags=re.M)
    assert body.count("\n") >= 2
    path.write_text(f"{head}.subckt tsv_{die} a b sub\n{body}.ends tsv_{die}\n{tail}")


@needs_ngspice
@pytest.mark.parametrize("die", [0, 1])
def test_via_resistance_x10_fails_the_dc_via_drop_naming_die_and_net(
        compiled: Path, tmp_path: Path, die: int) -> None:
    from neuropaste.cli import main

    bad = _tamper(compiled, tmp_path / "r", lambda f: _scale_via(f, die, "R", 10.0))
    assert main(["verify", str(bad), "--stack", "--tiles", "1"]) == 1
    st = json.loads((bad / "verify.json").read_text())["checks"]["stack"]
    assert not st["passed"]
    assert st["dies"][die]["max_via_drop_err"] > 1e-3
    assert st["dies"][1 - die]["max_via_drop_err"] < 1e-9
    assert all(d["max_err_solver_fs"] < 1e-3 for d in st["dies"])  # what the old check saw
    assert re.search(rf"die {die} column net q\d+ \(neuron \d+, [+-]\): its {die + 1} vias "
                     r"drop .* via series resistance", st["summary"]), st["summary"]
    # the stiff drive of that die's word-line chain sees it too, through the area over its vias
    assert st["stiff"][1 - die]["passed"] and not st["stiff"][die]["passed"]
    assert st["stiff"][die]["via_area_rel_err"] > 1
    assert "via series resistance" in " ".join(st["stiff"][die]["failures"])


@needs_ngspice
@pytest.mark.parametrize("kind, factor, words", [
    ("C", 2.0, "via or gate capacitance"), ("L", 2.0, "via L or C")])
def test_via_capacitance_or_inductance_fails_the_stiff_transient(
        compiled: Path, tmp_path: Path, kind: str, factor: float, words: str) -> None:
    from neuropaste.cli import main

    bad = _tamper(compiled, tmp_path / kind, lambda f: _scale_via(f, 1, kind, factor))
    assert main(["verify", str(bad), "--stack", "--tiles", "1"]) == 1
    st = json.loads((bad / "verify.json").read_text())["checks"]["stack"]
    assert not st["passed"] and not st["stiff"][1]["passed"] and st["stiff"][0]["passed"]
    assert all(d["passed"] for d in st["dies"])  # DC cannot see L or C
    assert st["stiff"][1]["wave_err"] > 2e-3
    assert any(f.startswith("die 1 word-line chain") and words in f
               for f in st["stiff"][1]["failures"]), st["stiff"][1]["failures"]


@needs_ngspice
def test_verify_stack_refuses_to_pass_having_run_no_tile(compiled: Path, tmp_path: Path) -> None:
    from neuropaste.cli import main

    copy = _tamper(compiled, tmp_path / "none", lambda folder: None)
    assert main(["verify", str(copy), "--stack", "--tiles", "0"]) == 1
    st = json.loads((copy / "verify.json").read_text())["checks"]["stack"]
    assert "no tile or no column current in ngspice" in st["summary"], st["summary"]


def test_word_line_load_is_in_the_chain_and_the_estimate(compiled: Path) -> None:
    from neuropaste.devices import Electrical
    from neuropaste.netlists.tsv import parasitics

    st = json.loads((compiled / "manifest.json").read_text())["backends"]["spice"]["stack"]
    el = Electrical()
    assert st["word_line"] == {"r_wire_ohm": el.r_wire, "c_gate_F": el.c_gate, "cells": 16}
    tsv, n = parasitics(), 2
    # vias from a 1 kohm driver, then 16 segments of 1 ohm each loading one gate
    want = (n * 1000 * tsv.c + n * n * tsv.r * tsv.c / 2
            + sum((1000 + n * tsv.r + j * el.r_wire) * el.c_gate for j in range(1, 17)))
    assert st["word_line_elmore_s_top_die"] == pytest.approx(want, rel=1e-12)
    die1 = (compiled / "spice" / "stack" / "die_1.cir").read_text()
    chain = die1.split(".subckt wl_1 a d")[1].split(".ends")[0]
    assert chain.count("\nRw") == 16 and chain.count("\nCw") == 16
    assert f" {el.c_gate!r}" in chain and "Cin" not in chain  # no extra load by default


@needs_ngspice
def test_hostile_device_name_stays_a_comment_in_batch_ngspice(tmp_path: Path) -> None:
    from neuropaste.devices import PRESETS

    evil = "x\n.control\nshell touch PWNED\n.endc"
    dev = replace(PRESETS["rram"].device, name=evil)
    out = tmp_path / "c"
    opts = CrossbarOptions(tile_rows=8, tile_cols=8, device=dev,
                           stack=StackSpec(memory_dies=2))
    compile_map(small_map(), out, stimulus=poisson(40, 20, 0.1, 0), steps=20,
                backends=("spice",), quiet=True, backend_options={"spice": opts})
    folder = out / "spice" / "stack"
    for p in folder.iterdir():
        if p.suffix in (".cir", ".sub"):
            text = p.read_text()
            assert ".control\nshell" not in text and "\nshell" not in text, p.name
            assert all(ln.startswith('.include "') for ln in text.splitlines()
                       if ln.startswith(".include"))
    assert "x\\x0a.control\\x0ashell touch PWNED" in (folder / "tile_0000.sub").read_text()
    proc = subprocess.run(["ngspice", "-b", "stack.cir"], cwd=folder, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert not (folder / "PWNED").exists() and not (tmp_path / "PWNED").exists()
    assert not Path("PWNED").exists()


@needs_ngspice
def test_stack_netlist_runs_as_is_in_batch_ngspice(tmp_path: Path) -> None:
    out = compile_small(tmp_path / "t", tile=8)
    proc = subprocess.run(["ngspice", "-b", "stack.cir"], cwd=out / "spice" / "stack",
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert any(ln.strip().startswith("i(vb0)") for ln in proc.stdout.splitlines())


def test_logic_dies_and_stack_file_from_the_cli(tmp_path: Path) -> None:
    stack = tmp_path / "stack.toml"
    stack.write_text("memory_dies = 3\nlogic_dies = 2\nlayers = 2\n")
    out = tmp_path / "c"
    cmap_file = tmp_path / "m.csv"
    from neuropaste.io import save_map

    save_map(small_map(), cmap_file)
    proc = subprocess.run([sys.executable, "-m", "neuropaste", "compile", str(cmap_file),
                           "--out", str(out), "--backends", "spice", "--tile", "16",
                           "--stack", str(stack), "--steps", "40"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    st = json.loads((out / "manifest.json").read_text())["backends"]["spice"]["stack"]
    assert st["spec"]["memory_dies"] == 3 and st["spec"]["layers"] == 2
    assert len(st["tiles_per_die"]) == 3 and (out / "spice" / "stack" / "die_2.cir").is_file()
    logic = st["logic_dies"]
    assert sum(logic["neurons_per_logic_die"]) == 40
    assert logic["cut_synapses"] <= logic["baselines"]["in_order"]["cut_synapses"]


@pytest.mark.parametrize("text, words", [
    ("memory_dies = 0\n", "memory_dies"),
    ("[tsv]\npitch_um = 4\n", "tsv.pitch"),
    ("die_mm = 0.002\n", "add memory dies or layers"),
    ("tsv_budget = 3\n", "budget is 3 per die"),
    # every value is a checked number and every key a known name, so nothing from a stack
    # file reaches a netlist as text: a .control payload is refused
    ('die_mm = "10\\n.control\\nshell touch PWNED\\n.endc"\n', "die_mm must be a number"),
    ('"x\\n.control\\nshell touch PWNED\\n.endc" = 1\n', "unknown stack key"),
    ('[tsv]\n"pitch\\n.control" = 10\n', "unknown TSV key"),
])
def test_bad_stacks_exit_2_with_one_line(tmp_path: Path, text: str, words: str) -> None:
    stack = tmp_path / "bad.toml"
    stack.write_text(text)
    cmap_file = tmp_path / "m.csv"
    from neuropaste.io import save_map

    save_map(small_map(), cmap_file)
    proc = subprocess.run([sys.executable, "-m", "neuropaste", "compile", str(cmap_file),
                           "--out", str(tmp_path / "c"), "--backends", "spice", "--tile", "16",
                           "--stack", str(stack), "--steps", "10"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("neuropaste: error")]
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "c").exists() and not (tmp_path / "PWNED").exists()


def test_verify_stack_without_a_stack_exits_2(tmp_path: Path) -> None:
    from neuropaste.cli import main

    out = tmp_path / "c"
    compile_map(small_map(), out, stimulus=poisson(40, 10, 0.1, 0), steps=10,
                backends=("spice",), quiet=True,
                backend_options={"spice": CrossbarOptions(tile_rows=16, tile_cols=16)})
    assert main(["verify", str(out), "--stack"]) == 2


@pytest.mark.slow
@needs_ngspice
@pytest.mark.parametrize("dies", [2, 4])
def test_celegans_on_2_and_4_dies_is_proven_in_ngspice(tmp_path: Path, dies: int) -> None:
    from neuropaste.cli import main

    out = tmp_path / "c"
    assert main(["compile", "builtin:celegans", "--backends", "spice", "--memory-dies",
                 str(dies), "--out", str(out), "--steps", "300"]) == 0
    assert main(["verify", str(out), "--stack", "--tiles", "1"]) == 0
    st = json.loads((out / "verify.json").read_text())["checks"]["stack"]
    assert len(st["dies"]) == dies and st["transient"]["vias"] == dies
    assert st["max_err_solver_fs"] < 1e-3 and st["transient"]["rel_err"] < 0.10

