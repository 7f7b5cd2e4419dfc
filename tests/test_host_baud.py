"""The host takes the baud rate an FPGA build recorded, unless the caller gives one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neuropaste.compiled import Compiled
from neuropaste.host import LinkError, recorded_baud


def _compiled(tmp_path: Path, builds: dict[str, int]) -> Compiled:
    (tmp_path / "manifest.json").write_text(json.dumps({"neuropaste_manifest": 1,
                                                        "backends": {}}))
    for board, baud in builds.items():
        (tmp_path / "fpga" / board).mkdir(parents=True)
        (tmp_path / "fpga" / board / "fpga.json").write_text(json.dumps({"baud": baud}))
    return Compiled.open(tmp_path)


def test_no_build_no_rate(tmp_path: Path) -> None:
    assert recorded_baud(_compiled(tmp_path, {})) is None


def test_the_only_build_gives_its_rate(tmp_path: Path) -> None:
    assert recorded_baud(_compiled(tmp_path, {"icebreaker": 115200})) == 115200


def test_two_builds_at_two_rates_need_a_board(tmp_path: Path) -> None:
    cd = _compiled(tmp_path, {"icebreaker": 115200, "ulx3s-85f": 1_000_000})
    with pytest.raises(LinkError, match=r"\[115200, 1000000\] baud"):
        recorded_baud(cd)
    assert recorded_baud(cd, "ulx3s-85f") == 1_000_000
    with pytest.raises(LinkError, match="no FPGA build for 'tinyfpga'"):
        recorded_baud(cd, "tinyfpga")


def test_fpga_records_the_baud_rate_the_host_then_uses(tmp_path: Path, capsys) -> None:
    from neuropaste.cli import main
    from neuropaste.compile import compile_map
    from neuropaste.events import poisson
    from neuropaste.io import load_map

    cmap = load_map("builtin:celegans")
    out = tmp_path / "c"
    compile_map(cmap, out, stimulus=poisson(cmap.n_neurons, 5, 0.05, 0), steps=5, backends=(),
                quiet=True)
    assert main(["fpga", str(out), "--board", "ulx3s-85f", "--baud", "115200"]) == 0
    fpga = json.loads((out / "fpga" / "ulx3s-85f" / "fpga.json").read_text())
    assert fpga["baud"] == 115200 and fpga["link"] == "uart"
    assert recorded_baud(Compiled.open(out)) == 115200
    capsys.readouterr()
    # 25 MHz / 5 Mbaud is 5 clocks per bit, but 12.5 Mbaud would be 2: refused before any build
    assert main(["fpga", str(out), "--board", "ulx3s-85f", "--baud", "12500000"]) == 2
    errors = [x for x in capsys.readouterr().err.splitlines() if "error" in x]
    assert len(errors) == 1 and "--baud 12500000" in errors[0]
    assert "4 clocks per bit" in errors[0]
    assert main(["fpga", str(out), "--board", "ulx3s-85f", "--link", "demo",
                 "--baud", "115200"]) == 2
    assert "--baud applies to the uart link" in capsys.readouterr().err
