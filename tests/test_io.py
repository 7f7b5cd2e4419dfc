"""Importers on real files, exporters by round trip, and every bad input as one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import networkx as nx
import nir
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuropaste.cmap import ConnectivityMap
from neuropaste.errors import InputError
from neuropaste.io import load_map, save_map
from neuropaste.io.connectome import GABAERGIC


def test_builtin_celegans_is_the_cook_2019_hermaphrodite() -> None:
    m = load_map("builtin:celegans")
    assert m.n_neurons == 302
    assert 5800 < m.n_synapses < 6000  # 3,709 chemical + 2 x 1,105 gap junctions
    inhibitory = {m.labels[i] for i in np.flatnonzero(m.kind == -1)}
    assert inhibitory == set(GABAERGIC)
    # every inhibitory synapse leaves a GABAergic neuron
    assert set(m.labels[m.pre[m.weight < 0]].tolist()) <= GABAERGIC
    assert set(np.unique(m.delay).tolist()) == {1, 2}
    assert "gap junctions" in " ".join(m.meta["rules"])
    no_gap = load_map("builtin:celegans", gap=False)
    assert no_gap.n_synapses < m.n_synapses and set(np.unique(no_gap.delay).tolist()) == {2}


def test_cect_reader_matches_the_bundled_copy() -> None:
    pytest.importorskip("cect")
    a = load_map("cect:Cook2019HermReader")
    b = load_map("builtin:celegans")
    assert a.n_neurons >= b.n_neurons
    assert a.n_synapses > 0.95 * b.n_synapses


def test_graphml_written_by_networkx(tmp_path: Path) -> None:
    g = nx.MultiDiGraph()
    g.add_node("a", kind="excitatory", v_threshold=3.0)
    g.add_node("b", kind="inhibitory")
    g.add_node("lonely")
    g.add_edge("a", "b", weight=2.5, delay=3)
    g.add_edge("a", "b", weight=0.5, delay=3)  # parallel: summed
    g.add_edge("b", "a", weight=-1.0)
    path = tmp_path / "g.graphml"
    nx.write_graphml(g, path)
    m = load_map(path)
    assert m.labels.tolist() == ["a", "b", "lonely"]
    assert m.kind.tolist() == [1, -1, 0]
    assert m.n_synapses == 2
    ab = np.flatnonzero((m.pre == 0) & (m.post == 1))[0]
    assert m.weight[ab] == 3.0 and m.delay[ab] == 3
    assert m.param("v_threshold", 9.0).tolist() == [3.0, 9.0, 9.0]


def test_nir_graph_written_by_nir(tmp_path: Path) -> None:
    w_in = np.array([[1.0, 0.0], [0.0, 2.0], [0.5, 0.5]])
    w_rec = np.array([[0.0, 0.3, 0.0], [0.0, 0.0, -0.4], [0.2, 0.0, 0.0]])
    graph = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type={"input": np.array([2])}),
            "fc": nir.Affine(weight=w_in, bias=np.array([0.1, 0.0, 0.0])),
            "lif": nir.CubaLIF(tau_syn=np.full(3, 2e-3), tau_mem=np.full(3, 8e-3),
                               r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3)),
            "rec": nir.Linear(weight=w_rec),
            "lag": nir.Delay(delay=np.full(3, 3e-3)),
            "if": nir.IF(r=np.ones(3), v_threshold=np.full(3, 2.0)),
            "out": nir.Output(output_type={"output": np.array([3])}),
        },
        edges=[("in", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lag"), ("lag", "lif"),
               ("lif", "out"), ("lif", "if")],
    )
    path = tmp_path / "net.nir"
    nir.write(path, graph)
    m = load_map(path)
    assert m.n_neurons == 2 + 3 + 3  # input neurons, the CubaLIF and the IF populations
    index = m.index()
    # input 1 -> lif 1 weight 2; recurrent lif1 -> lif0 weight 0.3 with 3 steps (3 ms / 1 ms)
    sel = (m.pre == index["in[1]"]) & (m.post == index["lif[1]"])
    assert m.weight[sel].tolist() == [2.0] and m.delay[sel].tolist() == [1]
    sel = (m.pre == index["lif[1]"]) & (m.post == index["lif[0]"])
    assert m.weight[sel].tolist() == [0.3] and m.delay[sel].tolist() == [3]
    assert m.param("tau", 0)[index["lif[0]"]] == pytest.approx(8.0)
    assert m.param("bias", 0)[index["lif[0]"]] == pytest.approx(0.1)
    assert np.isinf(m.param("tau", 0)[index["if[0]"]])
    sel = (m.pre == index["lif[2]"]) & (m.post == index["if[2]"])  # direct edge: identity
    assert m.weight[sel].tolist() == [1.0]
    assert any("tau_syn" in r for r in m.meta["rules"])


@st.composite
def maps(draw):
    n = draw(st.integers(2, 12))
    e = draw(st.integers(1, 40))
    names = [f"n{i}" if i % 3 else f'we,ird "{i}"' for i in range(n)]
    pre = draw(st.lists(st.integers(0, n - 1), min_size=e, max_size=e))
    post = draw(st.lists(st.integers(0, n - 1), min_size=e, max_size=e))
    w = draw(st.lists(st.floats(-5, 5, allow_nan=False).filter(lambda x: abs(x) > 1e-3),
                      min_size=e, max_size=e))
    d = draw(st.lists(st.integers(1, 4), min_size=e, max_size=e))
    return ConnectivityMap.build(names, pre, post, w, d)


@settings(max_examples=25, deadline=None)
@given(maps())
def test_csv_and_nir_round_trip(tmp_path_factory, m: ConnectivityMap) -> None:
    tmp = tmp_path_factory.mktemp("rt")
    for ext in ("csv", "nir", "npz"):
        path = tmp / f"m.{ext}"
        save_map(m, path)
        back = load_map(path)
        used = np.unique(np.concatenate([m.pre, m.post]))
        if ext in ("nir", "npz"):
            assert back.labels.tolist() == m.labels.tolist()
            lab_m, lab_b = m.labels, back.labels
        else:  # CSV holds only neurons that have synapses
            assert set(back.labels.tolist()) == set(m.labels[used].tolist())
            lab_m, lab_b = m.labels, back.labels
        edges_m = sorted(zip(lab_m[m.pre], lab_m[m.post], m.delay.tolist(), m.weight.tolist(),
                             strict=True))
        edges_b = sorted(zip(lab_b[back.pre], lab_b[back.post], back.delay.tolist(),
                             back.weight.tolist(), strict=True))
        assert [e[:3] for e in edges_m] == [e[:3] for e in edges_b]
        assert np.allclose([e[3] for e in edges_m], [e[3] for e in edges_b], rtol=1e-12)


# ------------------------------------------------------------------------------- bad input

BAD_CSV = [
    ("", "empty file"),
    ("pre,post\na,b\n", "missing column 'weight'"),
    ("pre,post,weight\na,b,heavy\n", "line 2: weight 'heavy' is not a number"),
    ("pre,post,weight\na,b,1\nb,c,nan\n", "line 3: weight 'nan' is not finite"),
    ("pre,post,weight\na,b,inf\n", "line 2: weight 'inf' is not finite"),
    ("pre,post,weight,delay\na,b,1,0\n", "line 2: delay '0'"),
    ("pre,post,weight,delay\na,b,1,1.5\n", "line 2: delay '1.5'"),
    ("pre,post,weight\na,b\n", "line 2: 2 fields"),
    ("pre,post,weight\n,b,1\n", "line 2: empty neuron name"),
    ("pre,post,weight\n", "no edges"),
]


@pytest.mark.parametrize("content, message", BAD_CSV)
def test_bad_csv(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(InputError) as err:
        load_map(path)
    text = str(err.value)
    assert str(path) in text and message in text and "\n" not in text


def test_bad_files_and_types(tmp_path: Path) -> None:
    cases = {
        tmp_path / "missing.csv": "no such file",
        tmp_path: "is a directory",
        tmp_path / "x.txt": "unknown map type",
    }
    (tmp_path / "x.txt").write_text("hello")
    for path, message in cases.items():
        with pytest.raises(InputError, match=message):
            load_map(path)
    with pytest.raises(InputError, match="unknown built-in map"):
        load_map("builtin:drosophila")
    with pytest.raises(InputError, match="unknown cect reader"):
        load_map("cect:NoSuchReader")


def test_malformed_graphml_and_unknown_neuron(tmp_path: Path) -> None:
    bad = tmp_path / "bad.graphml"
    bad.write_text("<graphml><graph><node id='a'/>")
    with pytest.raises(InputError, match="malformed XML"):
        load_map(bad)
    ghost = tmp_path / "ghost.graphml"
    ghost.write_text(
        "<?xml version='1.0'?><graphml xmlns='http://graphml.graphdrawing.org/xmlns'>"
        "<graph edgedefault='directed'><node id='a'/><edge source='a' target='zz'/></graph>"
        "</graphml>")
    with pytest.raises(InputError, match="unknown neuron 'zz'"):
        load_map(ghost)


def test_truncated_and_unsupported_nir(tmp_path: Path) -> None:
    m = ConnectivityMap.build(["a", "b"], [0], [1], [1.0])
    good = tmp_path / "good.nir"
    save_map(m, good)
    truncated = tmp_path / "cut.nir"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputError, match="unreadable or truncated"):
        load_map(truncated)
    graph = nir.NIRGraph(nodes={
        "in": nir.Input(input_type={"input": np.array([1, 4, 4])}),
        "conv": nir.Conv2d(input_shape=(4, 4), weight=np.ones((1, 1, 3, 3)), stride=1,
                           padding=0, dilation=1, groups=1, bias=np.zeros(1)),
        "out": nir.Output(output_type={"output": np.array([1, 2, 2])})},
        edges=[("in", "conv"), ("conv", "out")])
    conv = tmp_path / "conv.nir"
    nir.write(conv, graph)
    with pytest.raises(InputError, match="node 'conv'.*Conv2d is not supported"):
        load_map(conv)


@pytest.mark.parametrize("content", ["", "pre,post\n", "pre,post,weight\nx,y,nan\n"])
def test_cli_reports_bad_maps_in_one_line(tmp_path: Path, content: str) -> None:
    path = tmp_path / "m.csv"
    path.write_text(content)
    res = subprocess.run([sys.executable, "-m", "neuropaste", "info", str(path)],
                         capture_output=True, text=True)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.stderr and str(path) in res.stderr
