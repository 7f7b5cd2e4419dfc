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
