"""GraphML through networkx: nodes are neurons, directed edges are synapses.

Node attributes: ``kind`` (or ``type``) ``excitatory``/``inhibitory`` (also ``E``/``I``, ``+1``/
``-1``) and any of the neuron parameters in :data:`neuropaste.cmap.NEURON_PARAMS`. Edge
attributes: ``weight`` (default 1.0) and ``delay`` (integer steps, default 1). Parallel edges of a
multigraph are kept and summed like any other. An undirected graph (``edgedefault="undirected"``)
gives each edge in both directions. Edges are numbered in networkx's order in error messages,
with their endpoints named.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import networkx as nx
import numpy as np

from neuropaste.cmap import EXCITATORY, INHIBITORY, NEURON_PARAMS, UNKNOWN, ConnectivityMap
from neuropaste.errors import InputError
from neuropaste.io._files import existing_file

_KINDS = {"excitatory": EXCITATORY, "e": EXCITATORY, "exc": EXCITATORY, "+1": EXCITATORY,
          "1": EXCITATORY, "inhibitory": INHIBITORY, "i": INHIBITORY, "inh": INHIBITORY,
          "-1": INHIBITORY, "unknown": UNKNOWN, "": UNKNOWN, "0": UNKNOWN}


def read_graphml(path: str | os.PathLike) -> ConnectivityMap:
    p = existing_file(path)
    try:
        g = nx.read_graphml(p)
    except ET.ParseError as err:
        raise InputError(p, f"malformed XML: {err}") from None
    except (nx.NetworkXError, KeyError, ValueError, TypeError) as err:
        raise InputError(p, f"not a readable GraphML graph: {err}") from None
    _check_endpoints(p)
    nodes = list(g.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    kind = np.zeros(len(nodes), np.int8)
    params = {name: np.full(len(nodes), np.nan) for name in NEURON_PARAMS}
    for i, (n, attrs) in enumerate(g.nodes(data=True)):
        raw = str(attrs.get("kind", attrs.get("type", ""))).strip().lower()
        if raw not in _KINDS:
            raise InputError(p, f"kind {raw!r} is not excitatory/inhibitory", record=f"node {n!r}")
        kind[i] = _KINDS[raw]
        for name in NEURON_PARAMS:
            if name in attrs:
                params[name][i] = _number(p, attrs[name], f"node {n!r}", name)
    pre, post, weight, delay = [], [], [], []
    for k, (a, b, attrs) in enumerate(g.edges(data=True)):
        rec = f"edge {k + 1} ({a!r} -> {b!r})"
        w = _number(p, attrs.get("weight", 1.0), rec, "weight")
        d = _number(p, attrs.get("delay", 1), rec, "delay")
        if d != int(d) or not 1 <= d <= 32767:
            raise InputError(p, f"delay {attrs.get('delay')!r} must be an integer >= 1 "
                             "(at most 32767)", record=rec)
        ends = [(a, b)] if g.is_directed() or a == b else [(a, b), (b, a)]
        for x, y in ends:
            pre.append(index[x])
            post.append(index[y])
            weight.append(w)
            delay.append(int(d))
    params = {k: v for k, v in params.items() if not np.all(np.isnan(v))}
    rules = ["parallel edges with the same delay summed"]
    if not g.is_directed():
        rules.insert(0, "undirected graph: each edge a-b -> two synapses a->b and b->a of the "
                     "edge's weight and delay")
    try:
        return ConnectivityMap.build(nodes, pre, post, weight, delay, kind, params,
                                     meta={"format": "graphml", "rules": rules})
    except ValueError as err:
        raise InputError(p, str(err)) from None


def _check_endpoints(path) -> None:
    """networkx silently invents nodes for edges to undeclared ids; a map must not."""
    declared: set[str] = set()
    edges: list[tuple[str, str]] = []
    for _, el in ET.iterparse(path):
        tag = el.tag.rsplit("}", 1)[-1]
        if tag == "node":
            declared.add(el.get("id", ""))
        elif tag == "edge":
            edges.append((el.get("source", ""), el.get("target", "")))
    for k, (a, b) in enumerate(edges, start=1):
        for end in (a, b):
            if end not in declared:
                raise InputError(path, f"unknown neuron {end!r}",
                                 record=f"edge {k} ({a!r} -> {b!r})")


def _number(path, raw, record: str, name: str) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise InputError(path, f"{name} {raw!r} is not a number", record=record) from None
    if not np.isfinite(value):
        raise InputError(path, f"{name} {raw!r} is not finite", record=record)
    return value
