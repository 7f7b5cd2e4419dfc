"""Importers on real files, exporters by round trip, the bundled connectome, CSV at scale."""

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
from neuropaste.io import load_map, save_map
from neuropaste.io.csv_edges import parse_bytes, parse_csv_module

CLASSICAL_GABA = {f"DD{i}" for i in range(1, 7)} | {f"VD{i}" for i in range(1, 14)} | {
    "RMED", "RMEV", "RMEL", "RMER", "AVL", "DVB", "RIS"}  # McIntire et al. 1993


def test_builtin_celegans_is_the_cook_2019_hermaphrodite() -> None:
    m = load_map("builtin:celegans")
    assert m.meta["source"] == "builtin:celegans"
    assert m.n_neurons == 302
    # 3,709 chemical connections + 2 x 1,105 gap junctions, 14 gap self-pairs merged
    assert m.n_synapses == 5905
    inhibitory = {m.labels[i] for i in np.flatnonzero(m.kind == -1)}
    assert CLASSICAL_GABA <= inhibitory and len(inhibitory) == 35  # Wang et al. 2024 adds 9
    assert {"SMDDL", "ALA", "RIBL"} <= inhibitory and "AVFL" not in inhibitory  # AVF: uptake
    assert np.all(m.kind != 0)
    # every inhibitory synapse is chemical and leaves a GABA-releasing neuron, and vice versa
    neg = m.weight < 0
    assert set(m.labels[m.pre[neg]].tolist()) <= inhibitory
    assert np.all(m.delay[neg] == 2)
    assert np.all(m.weight[(m.delay == 2) & (m.kind[m.pre] == -1)] < 0)
    assert set(np.unique(m.delay).tolist()) == {1, 2}
    # gap junctions are symmetric: the delay-1 weight matrix equals its transpose
    gap = m.delay == 1
    w = np.zeros((302, 302))
    w[m.pre[gap], m.post[gap]] = m.weight[gap]
    assert np.array_equal(w, w.T) and np.all(w >= 0)
    assert "gap junctions" in " ".join(m.meta["rules"])
    no_gap = load_map("builtin:celegans", gap=False)
    assert no_gap.n_synapses == 3709 and set(np.unique(no_gap.delay).tolist()) == {2}
    doubled = load_map("builtin:celegans", gap_scale=1.0)
    assert np.array_equal(doubled.weight[gap], 2 * m.weight[gap])


def test_builtin_loads_without_cect() -> None:
    code = ("import sys; sys.modules['cect'] = None\n"
            "from neuropaste.io import load_map\n"
            "m = load_map('builtin:celegans'); print(m.n_neurons, m.n_synapses)\n"
            "try:\n    load_map('cect:Cook2019HermReader')\n"
            "except Exception as e:\n    print(type(e).__name__, e)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    first, second = res.stdout.splitlines()
    assert first == "302 5905"
    assert second.startswith("InputError cect:Cook2019HermReader:") and "not installed" in second


def test_cect_reader_equals_the_bundled_copy() -> None:
    pytest.importorskip("cect")
    a = load_map("cect:Cook2019HermReader")
    b = load_map("builtin:celegans")
    assert a.meta["source"] == "cect:Cook2019HermReader"
    assert a.labels.tolist() == b.labels.tolist() and np.array_equal(a.kind, b.kind)
    for name in ("pre", "post", "delay", "weight"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.slow
def test_make_celegans_is_byte_deterministic(tmp_path: Path) -> None:
    pytest.importorskip("cect")
    script = Path(__file__).resolve().parents[1] / "scripts" / "make_celegans.py"
    res = subprocess.run([sys.executable, str(script), "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    data = Path(__file__).resolve().parents[1] / "neuropaste" / "data"
    for name in ("celegans_neurons.csv", "celegans_edges.csv.gz"):
        assert (tmp_path / name).read_bytes() == (data / name).read_bytes(), name


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


def test_graphml_undirected_gives_both_directions(tmp_path: Path) -> None:
    g = nx.Graph()
    g.add_edge("x", "y", weight=1.5)
    g.add_edge("y", "y", weight=2.0)
    path = tmp_path / "u.graphml"
    nx.write_graphml(g, path)
    m = load_map(path)
    edges = sorted(zip(m.labels[m.pre].tolist(), m.labels[m.post].tolist(), m.weight.tolist(),
                       strict=True))
    assert edges == [("x", "y", 1.5), ("y", "x", 1.5), ("y", "y", 2.0)]
    assert "undirected" in m.meta["rules"][0]


# ------------------------------------------------------------------ CSV: the two parsers agree

_label = st.text(alphabet=st.characters(blacklist_characters=',"\r\n\x00',
                                        blacklist_categories=("Cs",)), min_size=1, max_size=12)


@st.composite
def csv_texts(draw):
    labels = draw(st.lists(_label, min_size=1, max_size=8, unique=True))
    n = draw(st.integers(1, 30))
    delay = draw(st.booleans())
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    lines = ["pre,post,weight" + (",delay" if delay else "")]
    for _ in range(n):
        a, b = draw(st.sampled_from(labels)), draw(st.sampled_from(labels))
        w = draw(st.one_of(st.floats(-1e6, 1e6, allow_nan=False).map(repr),
                           st.integers(-99, 99).map(str), st.sampled_from(["1e3", " 2.5", "-.5",
                                                                           "+4.", "0.1"])))
        lines.append(f"{a},{b},{w}" + (f",{draw(st.integers(1, 9))}" if delay else ""))
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.sampled_from(["", "  ", "\t"])))
    return eol.join(lines) + draw(st.sampled_from(["", eol]))


@settings(max_examples=200, deadline=None)
@given(csv_texts())
def test_vectorised_csv_parser_equals_the_csv_module(text: str) -> None:
    data = text.encode("utf-8")
    fast = parse_bytes("f.csv", data)
    slow = parse_csv_module("f.csv", data)
    assert list(fast[0]) == list(slow[0])
    for a, b in zip(fast[1:], slow[1:], strict=True):
        if a is None or b is None:
            assert a is None and b is None
        else:
            assert np.array_equal(a, b)


def test_large_csv_is_parsed_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    e, n = 1_000_000, 20_000
    pre, post = rng.integers(0, n, e), rng.integers(0, n, e)
    w = np.round(rng.normal(size=e), 4)
    d = rng.integers(1, 8, e)
    names = np.array([f"neuron_{i:05d}_of_the_culture" for i in range(n)])  # 26-byte labels
    path = tmp_path / "big.csv"
    with open(path, "w") as fh:
        fh.write("pre,post,weight,delay\n")
        fh.writelines(f"{names[a]},{names[b]},{x!r},{y}\n" for a, b, x, y in zip(
            pre.tolist(), post.tolist(), w.tolist(), d.tolist(), strict=True))
    m = load_map(path)  # its speed is bench/'s business, not a test's
    # labels in order of first appearance, pre before post
    order = pd_unique(np.column_stack([pre, post]).ravel())
    assert m.labels.tolist() == names[order].tolist()
    expect = ConnectivityMap.build(names[order], np.argsort(order)[pre], np.argsort(order)[post],
                                   w, d)
    assert np.array_equal(m.pre, expect.pre) and np.array_equal(m.weight, expect.weight)
    assert np.array_equal(m.delay, expect.delay)


def pd_unique(x: np.ndarray) -> np.ndarray:
    """Distinct values in order of first appearance."""
    _, first = np.unique(x, return_index=True)
    return x[np.sort(first)]
