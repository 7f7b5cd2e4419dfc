"""Every bad map input is one InputError line naming the file, the record and the problem."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

from neuropaste.cmap import ConnectivityMap
from neuropaste.errors import InputError
from neuropaste.io import load_map, save_map


def error_of(spec, **kwargs) -> str:
    with pytest.raises(InputError) as err:
        load_map(spec, **kwargs)
    text = str(err.value)
    assert "\n" not in text
    return text


# ------------------------------------------------------------------------------------- CSV

BAD_CSV = [
    ("\n\n", "line 1: empty file"),
    ("\ufeff\n", "line 1: empty file"),
    ("pre,post\na,b\n", "line 1: missing column 'weight'"),
    ("source,target,weight\na,b,1\n", "line 1: missing column 'pre'"),
    ("pre,post,weight\na,b,heavy\n", "line 2: weight 'heavy' is not a number"),
    ("pre,post,weight\na,b,\n", "line 2: weight '' is not a number"),
    ("pre,post,weight\na,b,0x10\n", "line 2: weight '0x10' is not a number"),
    ("pre,post,weight\na,b,1\nb,c,nan\n", "line 3: weight 'nan' is not finite"),
    ("pre,post,weight\na,b,inf\n", "line 2: weight 'inf' is not finite"),
    ("pre,post,weight\na,b,1e999\n", "line 2: weight '1e999' is not finite"),
    ("pre,post,weight,delay\na,b,1,0\n", "line 2: delay '0' must be an integer"),
    ("pre,post,weight,delay\na,b,1,-3\n", "line 2: delay '-3' must be an integer"),
    ("pre,post,weight,delay\na,b,1,1.5\n", "line 2: delay '1.5' must be an integer"),
    ("pre,post,weight,delay\na,b,1,soon\n", "line 2: delay 'soon' is not a number"),
    ("pre,post,weight,delay\na,b,1,40000\n", "line 2: delay '40000' must be an integer"),
    ("pre,post,weight,delay\na,b,1,1e30\n", "line 2: delay '1e30' must be an integer"),
    ('pre,post,weight,delay\n"a",b,1,1e30\n', "line 2: delay '1e30' must be an integer"),
    ("pre,post,weight\na,b\n", "line 2: 2 fields, header has 3"),
    ("pre,post,weight\na,b,1\n\n\na,b,1,2\n", "line 5: 4 fields, header has 3"),
    ("pre,post,weight\r\na,b,1\r\nc,d\r\n", "line 3: 2 fields, header has 3"),
    ("pre,post,weight\n,b,1\n", "line 2: empty neuron name"),
    ("pre,post,weight\na,,1\n", "line 2: empty neuron name"),
    ("pre,post,weight\n", "no edges after the header"),
    ("pre,post,weight\n\n  \n", "no edges after the header"),
    # quoted files take the csv-module path: same messages
    ('pre,post,weight\n"a,1",b,x\n', "line 2: weight 'x' is not a number"),
    ('pre,post,weight\n"a,1",b\n', "line 2: 2 fields, header has 3"),
    ('pre,post,weight,delay\n"a",b,1,0\n', "line 2: delay '0' must be an integer"),
    ('pre,post,weight\n"",b,1\n', "line 2: empty neuron name"),
]


@pytest.mark.parametrize("content, message", BAD_CSV)
def test_bad_csv(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8", newline="")
    text = error_of(path)
    assert text.startswith(str(path)) and message in text, text


def test_csv_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("pre,post,weight\nNeurone_é,b,1\n".encode("latin-1"))
    assert "not UTF-8" in error_of(path)


def test_csv_bad_line_deep_in_a_large_file(tmp_path: Path) -> None:
    lines = [f"n{i},n{i + 1},{i % 7 + 1}" for i in range(200_000)]
    lines[123_456] = "n1,n2,oops"
    path = tmp_path / "deep.csv"
    path.write_text("pre,post,weight\n" + "\n".join(lines) + "\n")
    assert "line 123458: weight 'oops' is not a number" in error_of(path)


# --------------------------------------------------------------------- files and types


def test_missing_directory_unknown_type(tmp_path: Path) -> None:
    assert "no such file" in error_of(tmp_path / "missing.csv")
    assert "no such file" in error_of(tmp_path / "missing.txt")
    folder = tmp_path / "looks_like.csv"
    folder.mkdir()
    assert "is a directory" in error_of(folder)
    assert "is a directory" in error_of(tmp_path)
    (tmp_path / "x.txt").write_text("hello")
    text = error_of(tmp_path / "x.txt")
    assert str(tmp_path / "x.txt") in text and "unknown map type '.txt'" in text
    (tmp_path / "noext").write_text("hello")
    assert "unknown map type '(no extension)'" in error_of(tmp_path / "noext")
    for ext in ("graphml", "nir", "npz"):
        (tmp_path / f"empty.{ext}").write_bytes(b"")
        assert "empty file" in error_of(tmp_path / f"empty.{ext}")


def test_builtin_and_cect_names() -> None:
    text = error_of("builtin:drosophila")
    assert text.startswith("builtin:drosophila:") and "builtin:celegans" in text
    assert "unknown cect reader" in error_of("cect:NoSuchReader")
    assert "reader names look like" in error_of("cect:../etc")
    if importlib.util.find_spec("cect") is not None:
        assert "unknown cect reader" in error_of("cect:ConnectomeReader")
        assert "not a cect connectome reader" in error_of("cect:__init__")


def test_cect_missing_is_a_clear_error() -> None:
    code = ("import sys; sys.modules['cect'] = None\n"
            "from neuropaste.io import load_map\n"
            "load_map('cect:Cook2019HermReader')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 1 and "InputError: cect:Cook2019HermReader:" in res.stderr
    assert "not installed" in res.stderr


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_gap_scale(scale: float) -> None:
    assert "gap_scale must be a positive number" in error_of("builtin:celegans", gap_scale=scale)


def test_unknown_export_type_and_unwritable(tmp_path: Path) -> None:
    m = ConnectivityMap.build(["a", "b"], [0], [1], [1.0])
    with pytest.raises(InputError, match="unknown export type"):
        save_map(m, tmp_path / "m.txt")
    with pytest.raises(InputError, match="cannot write"):
        save_map(m, tmp_path / "no" / "such" / "dir" / "m.csv")


# ---------------------------------------------------------------------------------- GraphML

GRAPHML = ("<?xml version='1.0'?><graphml xmlns='http://graphml.graphdrawing.org/xmlns'>"
           "<key id='w' for='edge' attr.name='weight' attr.type='string'/>"
           "<key id='d' for='edge' attr.name='delay' attr.type='string'/>"
           "<key id='k' for='node' attr.name='kind' attr.type='string'/>"
           "<key id='t' for='node' attr.name='v_threshold' attr.type='string'/>"
           "<graph edgedefault='directed'>{}</graph></graphml>")

BAD_GRAPHML = [
    ("<node id='a'/><edge source='a' target='zz'/>",
     "edge 1 ('a' -> 'zz'): unknown neuron 'zz'"),
    ("<node id='a'/><node id='b'/><edge source='a' target='b'><data key='w'>much</data></edge>",
     "edge 1 ('a' -> 'b'): weight 'much' is not a number"),
    ("<node id='a'/><node id='b'/><edge source='a' target='b'><data key='w'>NaN</data></edge>",
     "edge 1 ('a' -> 'b'): weight 'NaN' is not finite"),
    ("<node id='a'/><node id='b'/><edge source='a' target='b'><data key='d'>0</data></edge>",
     "edge 1 ('a' -> 'b'): delay '0' must be an integer >= 1"),
    ("<node id='a'/><node id='b'/><edge source='a' target='b'><data key='d'>2.5</data></edge>",
     "delay '2.5' must be an integer >= 1"),
    ("<node id='a'><data key='k'>modulatory</data></node>",
     "node 'a': kind 'modulatory' is not excitatory/inhibitory"),
    ("<node id='a'><data key='t'>high</data></node>", "node 'a': v_threshold 'high' is not a"),
]


@pytest.mark.parametrize("body, message", BAD_GRAPHML)
def test_bad_graphml(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.graphml"
    path.write_text(GRAPHML.format(body))
    text = error_of(path)
    assert text.startswith(str(path)) and message in text, text


def test_malformed_xml(tmp_path: Path) -> None:
    path = tmp_path / "bad.xml"
    path.write_text("<graphml><graph><node id='a'/>")
    text = error_of(path)
    assert text.startswith(str(path)) and "malformed XML" in text and "line 1" in text
    path.write_text("this is not xml at all")
    assert "malformed XML" in error_of(path)


# -------------------------------------------------------------------------------------- NIR


def test_truncated_and_foreign_hdf5(tmp_path: Path) -> None:
    m = ConnectivityMap.build(["a", "b"], [0], [1], [1.0])
    good = tmp_path / "good.nir"
    save_map(m, good)
    cut = tmp_path / "cut.nir"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    text = error_of(cut)
    assert text.startswith(str(cut)) and "unreadable or truncated" in text
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    assert "unreadable or truncated" in error_of(junk)
    other = tmp_path / "other.hdf5"
    with h5py.File(other, "w") as fh:
        fh["data"] = np.arange(4)
    assert "unreadable or truncated" in error_of(other)


def test_nir_edge_to_a_missing_node(tmp_path: Path) -> None:
    path = tmp_path / "ghost.nir"
    save_map(ConnectivityMap.build(["a", "b"], [0], [1], [1.0]), path)
    with h5py.File(path, "r+") as fh:
        edges = fh["node/edges"][()]
        edges[-1, 1] = b"ghost"
        del fh["node/edges"]
        fh["node/edges"] = edges
    text = error_of(path)
    assert text.startswith(str(path)) and "not a valid NIR graph" in text and "'ghost'" in text


def test_unsupported_nir_node(tmp_path: Path) -> None:
    graph = nir.NIRGraph(nodes={
        "in": nir.Input(input_type={"input": np.array([1, 4, 4])}),
        "conv": nir.Conv2d(input_shape=(4, 4), weight=np.ones((1, 1, 3, 3)), stride=1,
                           padding=0, dilation=1, groups=1, bias=np.zeros(1)),
        "out": nir.Output(output_type={"output": np.array([1, 2, 2])})},
        edges=[("in", "conv"), ("conv", "out")])
    path = tmp_path / "conv.nir"
    nir.write(path, graph)
    text = error_of(path)
    assert text.startswith(str(path)) and "node 'conv'" in text
    assert "Conv2d is not supported" in text


def test_nir_weight_shape_mismatch(tmp_path: Path) -> None:
    """A weight matrix that does not fit its populations names the node."""
    graph = nir.NIRGraph(nodes={
        "a": nir.IF(r=np.ones(2), v_threshold=np.ones(2)),
        "fc": nir.Linear(weight=np.ones((3, 5))),
        "b": nir.IF(r=np.ones(3), v_threshold=np.ones(3))},
        edges=[("a", "fc"), ("fc", "b")], type_check=False)
    path = tmp_path / "shape.nir"
    nir.write(path, graph)
    text = error_of(path)
    assert text.startswith(str(path)) and "fc" in text and "mismatch" in text, text


# ------------------------------------------------------------------------------------- npz


def test_truncated_npz_and_foreign_npz(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    save_map(ConnectivityMap.build(["a", "b"], [0], [1], [1.0]), good)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:100])
    assert "unreadable or truncated archive" in error_of(cut)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.arange(3))
    assert "not a neuropaste map archive: no array 'labels'" in error_of(other)


# ------------------------------------------------------------------------------------- CLI


CLI_CASES = {
    "empty.csv": "",
    "nocol.csv": "pre,post\n",
    "nan.csv": "pre,post,weight\nx,y,nan\n",
    "bad.graphml": "<graphml><graph>",
    "cut.nir": "HDF5?",
}


@pytest.mark.parametrize("name", sorted(CLI_CASES))
def test_cli_reports_bad_maps_in_one_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(CLI_CASES[name])
    res = subprocess.run([sys.executable, "-m", "neuropaste", "info", str(path)],
                         capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.stderr and str(path) in res.stderr


def test_cli_unknown_builtin(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "neuropaste", "info", "builtin:nope"],
                         capture_output=True, text=True)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "builtin:celegans" in res.stderr and "Traceback" not in res.stderr
