"""NIR graphs (``nir`` package, HDF5) in and out.

NIR is continuous-time; neuropaste steps. One step is ``dt`` seconds (graph metadata ``dt``,
else 1 ms). The reading rules, recorded in the map's ``meta["rules"]``:

- LIF, CubaLIF and IF nodes are neuron populations; IF has no leak. ``tau`` (CubaLIF:
  ``tau_mem``) becomes ``tau / dt`` steps; ``v_threshold`` and ``v_reset`` are taken relative to
  ``v_leak``. CubaLIF's synaptic current filter (``tau_syn``) is not modelled: its input adds to
  the membrane directly, scaled by ``w_in``.
- Input nodes become input neurons that the stimulus drives, unless the Input feeds a Linear
  marked ``metadata["neuropaste_role"] = "stimulus"`` (what :func:`write_nir` writes), which is
  the stimulus path itself.
- Linear/Affine nodes between two populations are synapses (weights scaled by the target's
  ``r``); an Affine bias adds to the targets' per-step bias. Delay nodes before or after the
  weights give ``max(1, round(delay / dt))`` steps; a path without a Delay takes 1 step.
- Output nodes are ignored. Any other node type is refused by name.
"""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np

from neuropaste.cmap import NEURON_PARAMS, ConnectivityMap
from neuropaste.errors import InputError
from neuropaste.io._files import existing_file

DEFAULT_DT = 1e-3
STIMULUS_ROLE = "stimulus"


def _nir():
    import nir

    return nir


def read_nir(path: str | os.PathLike) -> ConnectivityMap:
    nir = _nir()
    p = existing_file(path)
    try:
        graph = nir.read(p)
    except ValueError as err:  # nir validates the graph: an edge to a missing node, a bad shape
        raise InputError(p, f"not a valid NIR graph: {err}") from None
    except Exception as err:  # h5py raises OSError, KeyError... for broken or foreign files
        raise InputError(p, f"unreadable or truncated NIR/HDF5 file: {type(err).__name__}: "
                         f"{err}") from None
    dt = float(graph.metadata.get("dt", DEFAULT_DT)) if graph.metadata else DEFAULT_DT
    populations = (nir.LIF, nir.CubaLIF, nir.IF)
    weights = (nir.Linear, nir.Affine)
    supported = populations + weights + (nir.Input, nir.Output, nir.Delay)
    for name, node in graph.nodes.items():
        if not isinstance(node, supported):
            raise InputError(p, f"node type {type(node).__name__} is not supported (supported: "
                             "Input, Output, Linear, Affine, LIF, CubaLIF, IF, Delay)",
                             record=f"node {name!r}")
    succ: dict[str, list[str]] = defaultdict(list)
    pred: dict[str, list[str]] = defaultdict(list)
    for a, b in graph.edges:
        for end in (a, b):
            if end not in graph.nodes:
                raise InputError(p, f"edge names unknown node {end!r}", record=f"edge {a}->{b}")
        succ[a].append(b)
        pred[b].append(a)

    def is_stimulus_path(name: str) -> bool:
        return all(isinstance(graph.nodes[s], weights)
                   and graph.nodes[s].metadata.get("neuropaste_role") == STIMULUS_ROLE
                   for s in succ[name]) and bool(succ[name])

    pops: dict[str, tuple[int, int]] = {}
    labels: list[str] = []
    params: dict[str, list[np.ndarray]] = {k: [] for k in NEURON_PARAMS}
    scale_in: list[np.ndarray] = []
    rules = [f"NIR: one step = dt = {dt:g} s", "NIR: weights scaled by the target's r"]
    for name, node in graph.nodes.items():
        if isinstance(node, nir.Input):
            if is_stimulus_path(name):
                continue
            size = int(np.prod(np.asarray(next(iter(node.input_type.values())))))
            tau = np.full(size, np.inf)
            thr = np.full(size, np.nan)
            reset = np.full(size, np.nan)
            r = np.ones(size)
            rules.append(f"NIR: Input {name!r} became {size} input neurons")
        elif isinstance(node, populations):
            thr = np.ravel(np.asarray(node.v_threshold, np.float64))
            size = thr.size
            leak = np.zeros(size)
            if isinstance(node, nir.IF):
                tau = np.full(size, np.inf)
            else:
                t = node.tau if isinstance(node, nir.LIF) else node.tau_mem
                tau = np.broadcast_to(np.ravel(np.asarray(t, np.float64)) / dt, (size,))
                leak = np.broadcast_to(np.ravel(np.asarray(node.v_leak, np.float64)), (size,))
            r = np.broadcast_to(np.ravel(np.asarray(node.r, np.float64)), (size,)).copy()
            if isinstance(node, nir.CubaLIF):
                r = r * np.broadcast_to(np.ravel(np.asarray(node.w_in, np.float64)), (size,))
                rules.append(f"NIR: CubaLIF {name!r} synaptic filter tau_syn not modelled")
            reset = (np.zeros(size) if node.v_reset is None
                     else np.broadcast_to(np.ravel(np.asarray(node.v_reset, np.float64)), (size,)))
            thr, reset = thr - leak, reset - leak
        else:
            continue
        pops[name] = (len(labels), size)
        names = node.metadata.get("labels") if node.metadata else None
        if names is not None and len(names) == size:
            labels.extend(x.decode() if isinstance(x, bytes) else str(x) for x in names)
        else:
            labels.extend(f"{name}[{i}]" for i in range(size))
        params["tau"].append(np.asarray(tau, np.float64))
        params["v_threshold"].append(np.asarray(thr, np.float64))
        params["v_reset"].append(np.asarray(reset, np.float64))
        params["bias"].append(np.zeros(size))
        params["refractory"].append(np.full(size, np.nan))
        scale_in.append(r)
    if not pops:
        raise InputError(p, "no neuron populations (LIF, CubaLIF, IF or Input nodes)")
    flat = {k: np.concatenate(v) for k, v in params.items()}
    r_all = np.concatenate(scale_in)

    def through_delay(name: str, toward: dict[str, list[str]], rec: str) -> list[tuple[str, float]]:
        """Populations reached from a weight node, with the Delay passed on the way (s)."""
        out = []
        for other in toward[name]:
            node = graph.nodes[other]
            delay = 0.0
            if isinstance(node, nir.Delay):
                d = np.unique(np.asarray(node.delay, np.float64))
                if len(d) != 1:
                    raise InputError(p, "per-channel delays that differ are not supported",
                                     record=f"node {other!r}")
                delay = float(d[0])
                nxt = toward[other]
                if len(nxt) != 1:
                    raise InputError(p, "a Delay must connect one node", record=f"node {other!r}")
                other = nxt[0]
            if isinstance(graph.nodes[other], nir.Output):
                continue
            if other not in pops:
                if isinstance(graph.nodes[other], nir.Input) and is_stimulus_path(other):
                    continue
                raise InputError(p, f"{rec} connects {other!r}, not a neuron population "
                                 "(chained weight layers are not supported)", record=rec)
            out.append((other, delay))
        return out

    pre, post, weight, delay = [], [], [], []
    for name, node in graph.nodes.items():
        if not isinstance(node, weights):
            continue
        if node.metadata.get("neuropaste_role") == STIMULUS_ROLE:
            continue
        rec = f"node {name!r}"
        w = np.asarray(node.weight, np.float64)
        if w.ndim != 2:
            raise InputError(p, f"weight of shape {w.shape} is not a matrix", record=rec)
        for src, d_in in through_delay(name, pred, rec):
            for dst, d_out in through_delay(name, succ, rec):
                (s0, ns), (t0, nt) = pops[src], pops[dst]
                if w.shape != (nt, ns):
                    raise InputError(p, f"weight shape {w.shape} does not match {src!r} ({ns}) "
                                     f"-> {dst!r} ({nt})", record=rec)
                rows, cols = np.nonzero(w)
                steps = max(1, int(round((d_in + d_out) / dt)))
                pre.append(cols + s0)
                post.append(rows + t0)
                weight.append(w[rows, cols] * r_all[rows + t0])
                delay.append(np.full(len(rows), steps))
                if isinstance(node, nir.Affine):
                    b = np.broadcast_to(np.ravel(np.asarray(node.bias, np.float64)), (nt,))
                    flat["bias"][t0:t0 + nt] += b * r_all[t0:t0 + nt]
    for name in graph.nodes:  # direct population -> population edges: identity
        if name in pops:
            for dst in succ[name]:
                if dst in pops:
                    (s0, ns), (t0, nt) = pops[name], pops[dst]
                    if ns != nt:
                        raise InputError(p, f"direct edge {name!r} -> {dst!r} joins sizes "
                                         f"{ns} and {nt}", record=f"edge {name}->{dst}")
                    idx = np.arange(ns)
                    pre.append(idx + s0)
                    post.append(idx + t0)
                    weight.append(r_all[idx + t0])
                    delay.append(np.ones(ns, np.int64))
    cat = (lambda xs, dt_: np.concatenate(xs) if xs else np.zeros(0, dt_))  # noqa: E731
    clean = {k: v for k, v in flat.items() if not np.all(np.isnan(v))}
    try:
        return ConnectivityMap.build(labels, cat(pre, np.int64), cat(post, np.int64),
                                     cat(weight, np.float64), cat(delay, np.int64),
                                     params=clean, meta={"format": "nir", "dt": dt,
                                                         "rules": rules})
    except ValueError as err:
        raise InputError(p, str(err)) from None


def write_nir(cmap: ConnectivityMap, path: str | os.PathLike, dt: float = DEFAULT_DT,
              tau_default: float = 8.0, threshold_factor: float = 4.0) -> None:
    """Input -> (stimulus Linear) -> LIF, recurrent Linear per delay (with a Delay if > 1).

    Dense matrices: NIR has no sparse weight node, so maps above 20,000 neurons are refused.
    """
    nir = _nir()
    n = cmap.n_neurons
    if n > 20_000:
        raise InputError(path, f"{n} neurons: NIR export writes dense N x N matrices; "
                         "limit 20,000 neurons")
    med = float(np.median(np.abs(cmap.weight))) if cmap.n_synapses else 1.0
    tau = cmap.param("tau", tau_default) * dt
    nodes = {
        "input": nir.Input(input_type={"input": np.array([n])}),
        "stimulus": nir.Linear(weight=np.eye(n), metadata={"neuropaste_role": STIMULUS_ROLE}),
        "lif": nir.LIF(tau=tau, r=np.ones(n), v_leak=np.zeros(n),
                       v_threshold=cmap.param("v_threshold", threshold_factor * med),
                       v_reset=cmap.param("v_reset", 0.0),
                       metadata={"labels": cmap.labels.tolist()}),
        "output": nir.Output(output_type={"output": np.array([n])}),
    }
    edges = [("input", "stimulus"), ("stimulus", "lif"), ("lif", "output")]
    for d in np.unique(cmap.delay).tolist():
        sel = cmap.delay == d
        w = np.zeros((n, n))
        np.add.at(w, (cmap.post[sel], cmap.pre[sel]), cmap.weight[sel])
        nodes[f"w_d{d}"] = nir.Linear(weight=w)
        if d > 1:
            nodes[f"delay_d{d}"] = nir.Delay(delay=np.full(n, d * dt))
            edges += [("lif", f"delay_d{d}"), (f"delay_d{d}", f"w_d{d}"), (f"w_d{d}", "lif")]
        else:
            edges += [("lif", f"w_d{d}"), (f"w_d{d}", "lif")]
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt, "generator": "neuropaste"})
    nir.write(path, graph)
