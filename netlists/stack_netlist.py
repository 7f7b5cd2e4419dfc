"""SPICE netlists of a TSV stack: tile subcircuits, one netlist per memory die, the stack.

Files under ``DIR/spice/stack/`` (node and subcircuit names are indices only; nothing from a
map's labels reaches the text):

- ``tile_NNNN.sub``: ``.subckt tile_NNNN rd wl0 .. wl{R-1} s0 .. s{C-1}``, the element lines of
  :mod:`neuropaste.netlists.tile` unchanged except that the tile's sources become ports: the
  read lines start at the die's read rail ``rd``, the word lines are driven from outside, and
  each column ends at its sense port. Each tile is defined once, in its own file, and included
  by the die that holds it: a die file stays a few kB however many tiles it has (a 64 x 64 tile
  is ~0.6 MB of text).
- ``die_K.cir``: memory die K (die 0 sits on the logic die). It includes its tiles, defines its
  own via subcircuit (``tsv_K``, from :func:`neuropaste.netlists.tsv.subcircuit`), a word-line
  chain ``wl_K`` (K + 1 vias in series up from the logic die to node ``v``, then the word line
  across one tile: r_wire per cell and one access transistor's gate per cell, and any extra
  lumped load) and a column chain ``col_K`` (K + 1 vias down), and
  ``.subckt die_K rd w0 .. q0 ..``: port ``wI`` is word-line net I at the logic die, ``qJ``
  column net J at the logic die's sense node. A word-line net is one (presynaptic neuron,
  delay) row: the logic die applies the delay, so every row the die holds gets its own via
  (the partition's count, one signal per source, assumes a delay line on the memory die; the
  manifest reports both). A column net is one (target, polarity) of the differential pair:
  the die sums that column over its tiles and sends it down once.
- ``stack.cir``: includes every die, ``.subckt stack rd a0 .. b0 ..`` whose ports are the logic
  die's interface (``aN`` word-line drivers, ``bN`` sense nodes, numbered die by die), and a
  test bench (pattern: every word line on, sense nodes at virtual ground) so that
  ``ngspice -b stack.cir`` runs it.
- ``stack.json``: per die its tiles and nets (which (neuron, delay) or (neuron, polarity) each
  port carries), the port numbering of ``stack.cir``, and the via counts.

The read rail ``rd`` is a port held at V_read by whoever instances the die: power comes up
through many vias in parallel, and its IR drop is not modelled.

Text: ``.include`` paths go through :func:`neuropaste.text.include_path` (quoted, whitelisted),
every comment value through :func:`neuropaste.text.comment` (a device name cannot end its
comment line), subcircuit names through :func:`neuropaste.text.identifier`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numba
import numpy as np

from neuropaste.compiled import STACK, STACK_INFO
from neuropaste.devices import Electrical
from neuropaste.netlists.tile import elements_text
from neuropaste.netlists.tsv import TSV, subcircuit, word_line_ladder
from neuropaste.text import comment, identifier, include_path
from neuropaste.tiles import TileStore


def _wrap(head: str, names: list[str], per_line: int = 16) -> list[str]:
    """A long port or node list as SPICE continuation lines."""
    lines = [head]
    for i in range(0, len(names), per_line):
        lines.append("+ " + " ".join(names[i:i + per_line]))
    return lines


def tile_subckt_text(t: int, g: np.ndarray, el: Electrical, header: dict[str, Any],
                     cells_per_weight: int = 1) -> str:
    """Tile ``t`` as ``.subckt tile_NNNN rd wl0.. s0..``: the tile netlist's elements, whose
    read, word-line and sense sources become ports (the elements themselves unchanged)."""
    rows, cols = g.shape
    first = re.compile(r"^(Rr\d+_0) rd\d+ ")
    port_source = re.compile(r"^V(rd|wl|s)\d+ ")
    body = []
    for line in elements_text(g, np.zeros(rows, bool), el, cells_per_weight):
        if port_source.match(line):
            continue  # read rail, word lines and sense nodes are ports now (a substrate bias
            # source, if any, stays: it holds the access transistors' bodies)
        body.append(first.sub(r"\1 rd ", line))
    ports = ["rd"] + [f"wl{i}" for i in range(rows)] + [f"s{j}" for j in range(cols)]
    name = identifier(f"tile_{t:04d}")
    head = [f"* {comment(k)} = {comment(v)}"
            for k, v in sorted({**header, **asdict(el)}.items())]
    return "\n".join(["* neuropaste crossbar tile as a subcircuit (ports: read rail rd, word "
                      "lines wlI, column ends sJ)", *head, *_wrap(f".subckt {name}", ports),
                      *body, f".ends {name}"]) + "\n"


def column_keys(col_post: np.ndarray, col_slice: np.ndarray | None = None) -> np.ndarray:
    """(post, polarity) of each physical column of a tile (2P x 2): polarity is 2 slice + 0 for
    G+ or 1 for G-, so the columns of one post, slice and side join into one net across tiles
    (each slice has its own sense amplifier on the logic die)."""
    sl = np.zeros(len(col_post), np.int64) if col_slice is None else np.asarray(col_slice)
    return np.stack([np.repeat(col_post, 2), 2 * np.repeat(sl, 2) + np.tile([0, 1],
                                                                           len(col_post))], 1)


def die_nets(row_pre: np.ndarray, row_delay: np.ndarray, col_post: np.ndarray,
             tiles: list[int], col_slice: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Word-line nets (pre, delay) and column nets (post, polarity) of ``tiles``, sorted: the
    tiles' tables marked in flag tables over the keys (a loop over 10^5 tiles took minutes, a
    sort of every row slot of a die GBs at 10^8 synapses)."""
    t = np.asarray(tiles, np.int64)
    row_pre, row_delay, col_post = (np.asarray(a) for a in (row_pre, row_delay, col_post))
    sl = np.zeros(col_post.shape, np.int8) if col_slice is None else np.asarray(col_slice)
    span = int(row_delay.max(initial=0)) + 1
    wl = np.flatnonzero(_pair_flags(row_pre, row_delay, t, span,
                                    (int(row_pre.max(initial=-1)) + 1) * span))
    slices = int(sl.max(initial=0)) + 1
    cl = np.flatnonzero(_pair_flags(col_post, sl, t, slices,
                                    (int(col_post.max(initial=-1)) + 1) * slices))
    # each (post, slice) is two nets: polarity 2 slice (G+) and 2 slice + 1 (G-)
    pol = (2 * (cl % slices))[:, None] + np.arange(2)[None, :]
    return (np.stack([wl // span, wl % span], 1).astype(np.int64),
            np.stack([np.repeat(cl // slices, 2), pol.ravel()], 1).astype(np.int64))


@numba.njit(cache=True)
def _pair_flags(a: np.ndarray, b: np.ndarray, tiles: np.ndarray, span: int, size: int
                ) -> np.ndarray:
    """Which keys a * span + b occur in the chosen tiles' rows of two (T, W) tables (a = -1:
    unused)."""
    flags = np.zeros(size, np.bool_)
    for t in tiles:
        for c in range(a.shape[1]):
            if a[t, c] >= 0:
                flags[a[t, c] * span + b[t, c]] = True
    return flags


def pair_index(keys: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Row index of each key (pairs) in the sorted, unique ``table`` (pairs)."""
    keys, table = np.asarray(keys, np.int64), np.asarray(table, np.int64)  # narrow tables
    span = int(max(keys[:, 1].max(initial=0), table[:, 1].max(initial=0))) + 1
    flat_t = table[:, 0] * span + table[:, 1]
    return np.searchsorted(flat_t, keys[:, 0] * span + keys[:, 1])


def die_text(k: int, tiles: list[int], row_pre: np.ndarray, row_delay: np.ndarray,
             col_post: np.ndarray, tsv: TSV, c_load: float, include: str = "",
             word_line: tuple[float, float, int] = (0.0, 0.0, 0),
             col_slice: np.ndarray | None = None) -> str:
    """Memory die ``k``: its tiles, a chain of k + 1 vias per word-line and column net.

    ``word_line`` is (r_wire, c_cell, cells): the word line across one tile, one wire segment
    and one access transistor's gate per cell, put in the chain ``wl_K`` after the vias so
    that its delay is in the netlist, not only in the estimate (the tiles' own word-line port
    is one node: the DC currents do not depend on where on the line a gate sits, since gates
    draw none). ``c_load`` is an extra lumped load at the line's far end. ``include`` prefixes
    the tile file names (empty: beside the die file).
    """
    wl, cl = die_nets(row_pre, row_delay, col_post, tiles, col_slice)
    vias = k + 1
    tsv_name, wl_name, col_name = (identifier(f"{p}_{k}") for p in ("tsv", "wl", "col"))
    via = str(subcircuit(tsv, tsv_name, with_l=True)).strip().splitlines()

    def chain(end: str) -> list[str]:
        return [f"X{n} {'a' if n == 0 else f'n{n}'} {end if n == vias - 1 else f'n{n + 1}'} 0 "
                f"{tsv_name}" for n in range(vias)]

    line = word_line_ladder(*word_line)
    cells = len(line) // 2
    ladder = []
    for j in range(cells):
        left, right = "v" if j == 0 else f"w{j}", "d" if j == cells - 1 else f"w{j + 1}"
        ladder += [f"Rw{j} {left} {right} {line[2 * j][1]!r}",
                   f"Cw{j} {right} 0 {line[2 * j + 1][1]!r}"]
    r_wire, c_cell, _ = word_line
    lines = [f"* neuropaste memory die {k} of a TSV stack: {len(tiles)} tiles, "
             f"{len(wl)} word-line nets, {len(cl)} column nets, {vias} vias per net",
             "* ports: rd read rail; wI word-line net I at the logic die; qJ column net J at "
             "the logic die's sense node (virtual ground)",
             "* nets by index in spice/stack/stack.json",
             f"* via: r = {comment(repr(tsv.r))} ohm, c = {comment(repr(tsv.c))} F, "
             f"l = {comment(repr(tsv.l))} H",
             f"* word line: {cells} cells, r_wire = {comment(repr(float(r_wire)))} ohm, "
             f"c_gate = {comment(repr(float(c_cell)))} F per cell, extra load "
             f"{comment(repr(float(c_load)))} F",
             *[f".include {include_path(f'{include}tile_{t:04d}.sub')}" for t in tiles],
             *via,
             f".subckt {wl_name} a d", *chain("v" if cells else "d"), *ladder,
             *([f"Cin d 0 {c_load!r}"] if c_load > 0 else []), f".ends {wl_name}",
             f".subckt {col_name} a d", *chain("d"), f".ends {col_name}"]
    ports = ["rd"] + [f"w{i}" for i in range(len(wl))] + [f"q{j}" for j in range(len(cl))]
    lines += _wrap(f".subckt die_{k}", ports)
    lines += [f"Xw{i} w{i} d{i} {wl_name}" for i in range(len(wl))]
    lines += [f"Xq{j} e{j} q{j} {col_name}" for j in range(len(cl))]
    for t in tiles:
        real = row_pre[t] >= 0
        ri = np.zeros(len(real), np.int64)
        ri[real] = pair_index(np.stack([row_pre[t], row_delay[t]], 1)[real], wl)
        gates = [f"d{i}" if ok else "0" for i, ok in zip(ri.tolist(), real.tolist(),
                                                         strict=True)]
        keys = column_keys(col_post[t], None if col_slice is None else col_slice[t])
        used = keys[:, 0] >= 0
        ci = np.zeros(len(keys), np.int64)
        ci[used] = pair_index(keys[used], cl)
        ends = [f"e{j}" if ok else "0" for j, ok in zip(ci.tolist(), used.tolist(), strict=True)]
        lines += _wrap(f"Xt{t}", ["rd", *gates, *ends])
        lines.append(f"+ tile_{t:04d}")
    lines.append(f".ends die_{k}")
    return "\n".join(lines) + "\n"


def stack_text(dies: list[dict[str, Any]], el: Electrical, r_driver: float) -> str:
    """The stack as ``.subckt stack rd a0.. b0..`` (the logic die's interface), and a bench."""
    ports_a, ports_b, inst = [], [], []
    a = b = 0
    for d in dies:
        k, nw, nc = d["die"], len(d["word_lines"]), len(d["columns"])
        pa = [f"a{a + i}" for i in range(nw)]
        pb = [f"b{b + j}" for j in range(nc)]
        inst += _wrap(f"Xd{k}", ["rd", *pa, *pb]) + [f"+ die_{k}"]
        ports_a += pa
        ports_b += pb
        a, b = a + nw, b + nc
    lines = ["* neuropaste TSV stack: memory dies on the logic die",
             "* ports: rd read rail; aN word-line driver outputs; bN sense nodes (virtual "
             "ground), numbered die by die as in spice/stack/stack.json",
             *[".include " + include_path("die_{}.cir".format(int(d["die"]))) for d in dies],
             *_wrap(".subckt stack", ["rd", *ports_a, *ports_b]), *inst, ".ends stack",
             "* bench: every word line driven on through its driver, columns sensed at 0 V",
             f"Vrd rd 0 {el.v_read!r}",
             *[f"Vp{n} p{n} 0 {el.v_gate!r}" for n in range(a)],
             *[f"Rdrv{n} p{n} a{n} {r_driver!r}" for n in range(a)],
             *[f"Vb{n} b{n} 0 0.0" for n in range(b)],
             *_wrap("Xstack", ["rd", *ports_a, *ports_b]), "+ stack",
             ".control", "op", "print " + " ".join(f"i(vb{n})" for n in range(min(b, 8))),
             "quit 0", ".endc", ".end"]
    return ".title neuropaste TSV stack\n" + "\n".join(lines) + "\n"


def _write_stack_info(path: Path, info: dict[str, Any], dies: list[dict[str, Any]]) -> None:
    """stack.json: ``info`` with ``dies`` in its (empty) "dies" list, each die encoded when it
    is written (its nets as lists live only for that die). Compact, by the C encoder (an
    indent takes the pure-Python one, 20 s for 4 x 10^5 tiles): the bytes of one dump."""
    def dump(obj: Any) -> str:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"))

    head, tail = dump(info).split('"dies":[]', 1)
    with open(path, "w") as f:
        f.write(head + '"dies":[')
        for i, d in enumerate(dies):
            f.write(("," if i else "") + dump({k: v.tolist() if isinstance(v, np.ndarray)
                                               else v for k, v in d.items()}))
        f.write("]" + tail + "\n")


def emit_stack(out_dir: Path, store: TileStore, g_of: Callable[[np.ndarray], np.ndarray] | None,
               die_of_tile: list[int], n_dies: int, tsv: TSV, c_load: float, r_driver: float,
               el: Electrical, headers: list[dict[str, Any]], cells_per_weight: int,
               n_cols: int, chunk: int = 256) -> dict[str, Any]:
    """Write ``out_dir/spice/stack/``: stack.json and, when ``g_of`` gives the tiles'
    conductances, the tile subcircuits, die netlists and the stack netlist. Each word-line
    chain carries the word line across one tile: ``r_wire`` per cell and one access
    transistor's gate (``c_gate``, W scaled by ``cells_per_weight``)."""
    word_line = (el.r_wire, el.c_gate * cells_per_weight, n_cols)
    out = Path(out_dir) / STACK
    out.mkdir(parents=True, exist_ok=True)
    row_pre, row_delay, col_post = store.row_pre, store.row_delay, store.col_post
    col_slice = store.col_slice
    if g_of is not None:
        for a in range(0, store.n_tiles, chunk):
            tiles = np.arange(a, min(a + chunk, store.n_tiles))
            for t, g in zip(tiles.tolist(), g_of(tiles), strict=True):
                (out / f"tile_{t:04d}.sub").write_text(
                    tile_subckt_text(t, g, el, headers[t], cells_per_weight))
    die = np.asarray(die_of_tile, np.int64)
    dies = []  # nets as arrays: as Python lists, 10^7 nets took GBs
    for k in range(n_dies):
        tiles = np.flatnonzero(die == k)
        if g_of is not None:
            (out / f"die_{k}.cir").write_text(die_text(k, tiles.tolist(), row_pre, row_delay,
                                                       col_post, tsv, c_load,
                                                       word_line=word_line,
                                                       col_slice=col_slice))
        wl, cl = die_nets(row_pre, row_delay, col_post, tiles, col_slice)
        dies.append({"die": k, "netlist": f"die_{k}.cir", "tiles": tiles,
                     "vias_per_net": k + 1, "word_lines": wl, "columns": cl})
    if g_of is not None:
        (out / "stack.cir").write_text(stack_text(dies, el, r_driver))
    info = {"dies": [], "r_via_ohm": tsv.r, "c_via_F": tsv.c, "l_via_H": tsv.l,
            "c_load_F": c_load, "r_driver_ohm": r_driver,
            "word_line": {"cells": word_line[2], "r_wire_ohm": word_line[0],
                          "c_gate_F": word_line[1]},
            "port_order": "stack.cir: aN word-line nets and bN column nets, die 0 first",
            "column_key": "[post, 2 slice + (0 G+ | 1 G-)]",
            "netlists_written": g_of is not None}
    _write_stack_info(Path(out_dir) / STACK_INFO, info, dies)
    nets_w = sum(len(d["word_lines"]) for d in dies)
    nets_c = sum(len(d["columns"]) for d in dies)
    files = [f"{STACK}/stack.cir", f"{STACK}/die_K.cir", f"{STACK}/tile_NNNN.sub"]
    return {"files": [*(files if g_of is not None else []), STACK_INFO],
            "netlists_written": g_of is not None,
            "word_line_nets": nets_w, "column_nets": nets_c,
            "via_instances": int(sum((d["vias_per_net"]) * (len(d["word_lines"])
                                                             + len(d["columns"]))
                                     for d in dies)),
            "structure": "tiles as .subckt, one file each, included by their die; each die "
                         "file defines its via and chains; stack.cir includes the dies"}
