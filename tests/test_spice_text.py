"""Safe text: neuropaste.text on hostile input, and a device name that tries to run a shell
command from a tile netlist under ``ngspice -b``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from neuropaste.devices import load_device
from neuropaste.text import comment, identifier, include_path

HOSTILE = "x\n.control\nshell touch PWNED\n.endc */ `define q 'a' \"b\" é\u00b5\u2603\r\t\\"


@pytest.mark.parametrize("value", [
    "a\nb", "a\r\nb", ".control", "\n.control\nshell touch PWNED\n.endc", "end */ here",
    "`define X 1", "it's \"quoted\"", "µS — 漢字 \U0001f600", "back\\slash", "\x00\x1b[31m",
    HOSTILE, 3.5e-6, None])
def test_comment_cannot_leave_its_line(value: object) -> None:
    out = comment(value)
    assert out.isascii() and out.isprintable()  # no newline, CR, tab, escape, non-ASCII
    assert "*/" not in out and "`" not in out
    assert "\n" not in out and "\r" not in out


def test_comment_keeps_plain_text_and_escapes_the_rest_visibly() -> None:
    assert comment("rram 1e-06 S, 64 levels") == "rram 1e-06 S, 64 levels"
    assert comment("it's \"q\"") == "it's \"q\""  # quotes are inert inside a comment
    assert comment("a\nb") == "a\\x0ab"
    assert comment("é") == "\\xe9" and comment("\u2603") == "\\u2603"
    assert comment("`") == "\\x60" and comment("\\") == "\\x5c"
    assert comment("*/") == "*\\x2f"
    assert comment(".control") == ".control"  # harmless once it cannot start a line


@pytest.mark.parametrize("bad", ["", "a b", "a\nb", "a.b", "x;", "`x", "é", "a-b", "a'", "*/"])
def test_identifier_refuses_anything_but_word_characters(bad: str) -> None:
    with pytest.raises(ValueError, match="not a plain identifier"):
        identifier(bad)


def test_identifier_accepts_plain_names() -> None:
    assert identifier("tile_0001") == "tile_0001" and identifier("0_3") == "0_3"


@pytest.mark.parametrize("bad", ["../x.sub", "/etc/passwd", "a b.sub", "a\n.control", "x\".sub",
                                 "é.sub", "a/./b", "", "a//b", "`x`"])
def test_include_path_refuses_escapes(bad: str) -> None:
    with pytest.raises(ValueError, match="not a safe relative path"):
        include_path(bad)


def test_include_path_quotes_plain_relative_paths() -> None:
    assert include_path("stack/tile_0001.sub") == '"stack/tile_0001.sub"'


@pytest.mark.skipif(shutil.which("ngspice") is None, reason="no ngspice")
def test_device_name_cannot_run_shell_commands_from_a_tile_netlist(tmp_path: Path) -> None:
    from neuropaste.cmap import ConnectivityMap
    from neuropaste.compile import compile_map
    from neuropaste.events import poisson
    from neuropaste.generators.crossbar import CrossbarOptions

    preset = tmp_path / f"{HOSTILE.replace('/', '_')}.json"  # the file stem carries it too
    preset.write_text(json.dumps({"name": HOSTILE, "g_min": 1e-6, "g_max": 50e-6,
                                  "levels": 16}))
    from_stem = tmp_path / f"{HOSTILE.replace('/', '_')}2.json"
    from_stem.write_text(json.dumps({"g_min": 1e-6, "g_max": 50e-6, "levels": 16}))
    cmap = ConnectivityMap.build(["a", "b", "c"], [0, 1, 2], [1, 2, 0], [1.0, -2.0, 0.5],
                                 [1, 1, 2])
    for spec in (preset, from_stem):
        dev = load_device(str(spec))
        assert ".control" in dev.name  # loaded as given: the writers make it safe
        run = tmp_path / f"run_{spec == preset}"
        run.mkdir()
        out = run / "c"
        compile_map(cmap, out, stimulus=poisson(3, 5, 0.2, 0), steps=5, backends=("spice",),
                    quiet=True, backend_options={"spice": CrossbarOptions(
                        tile_rows=8, tile_cols=8, device=dev)})
        netlist = out / "spice" / "tile_0000.cir"
        text = netlist.read_text()
        assert text.isascii() and "\n.control\nshell" not in text
        assert [line for line in text.splitlines() if line.lower().startswith("shell")] == []
        proc = subprocess.run(["ngspice", "-b", str(netlist)], capture_output=True, text=True,
                              timeout=120, cwd=run)
        assert proc.returncode == 0, proc.stderr
        assert not (run / "PWNED").exists()  # nothing executed
        assert sum(line.strip().startswith("i(vs") for line in proc.stdout.splitlines()) == 8
    # the same netlist with the name written raw would have run the command: the test can fail
    raw = tmp_path / "raw"
    raw.mkdir()
    bad = text.replace(f"* device = {comment(dev.name)}", f"* device = {dev.name}")
    assert bad != text
    (raw / "tile.cir").write_text(bad)
    subprocess.run(["ngspice", "-b", "tile.cir"], capture_output=True, timeout=120, cwd=raw)
    assert (raw / "PWNED").exists()


def test_netlist_header_values_go_through_comment() -> None:
    from neuropaste.devices import Electrical
    from neuropaste.netlists.tile import netlist_text, parse_netlist

    g = np.full((2, 2), 10e-6)
    text = netlist_text(g, np.ones(2, bool), Electrical(), {"device": HOSTILE, HOSTILE: 1})
    parsed = parse_netlist(text)
    assert parsed.problems == [] and parsed.control[0] == "op"
    assert text.count(".control") == 1 + 2  # the real block, and two escaped comment copies
    assert all(line.startswith("*") for line in text.splitlines() if "PWNED" in line)
