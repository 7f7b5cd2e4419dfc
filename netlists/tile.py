"""SPICE netlist of one 1T1R crossbar tile, built from PySpice circuit objects, and read back.

Geometry (every node named by indices only; nothing from a map's labels):

- row ``i`` has a read line driven at ``v_read`` from its left end (``rd{i}``), one wire
  segment ``r_wire`` per cell (``r{i}_{j}``), and a word line ``wl{i}`` at ``v_gate`` when the
  row's presynaptic spike is present, else 0 V;
- cell ``(i, j)``: NMOS access transistor, drain on the read line, gate on the word line, source
  to the memory element (``m{i}_{j}``), which joins the column line (``c{i}_{j}``); its body on
  the substrate node (ground, or ``sub`` held at ``Electrical.v_body`` by ``Vsub``);
- column ``j`` runs down through one ``r_wire`` per cell to its sense node ``s{j}``, held at
  virtual ground by a 0 V source ``VS{j}`` whose current is the column output.

The access transistor is a level-1 (Shichman-Hodges) NMOS, model card ``nacc``: ``gamma=0``
(no body effect: its threshold does not depend on the substrate bias) and ``tox`` from
:class:`~neuropaste.devices.Electrical`, which gives it gate capacitance (Meyer, transient
only; ``kp`` is given, so ``tox`` does not change the DC current). The source-bulk and
drain-bulk junctions are reverse biased whenever the substrate sits at or below the column
and read lines (0 V substrate: always). The fast solver in :mod:`neuropaste.sim.solver` uses
the same equations.

:func:`parse_netlist` reads a written netlist back (elements, model card, control block) so a
proof can hold the file on disk against the tile store; :func:`bench_text` derives, by text
substitution only, the file with other word-line values for ngspice.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np
from PySpice.Spice.Netlist import Circuit

from neuropaste.devices import Electrical
from neuropaste.text import comment

TITLE = ".title neuropaste crossbar tile"
ACCESS_NMOS = "level=1 vto={vto} kp={kp} lambda={lam} gamma=0 tox={tox}"  # the model card


def _body(el: Electrical) -> str:
    """The substrate node: ground, or ``sub`` when the substrate is biased."""
    return "0" if el.v_body == 0 else "sub"


def tile_circuit(g: np.ndarray, active: np.ndarray, el: Electrical, title: str = "tile",
                 cells_per_weight: int = 1) -> Circuit:
    """The tile with conductances ``g`` (R x C, siemens) and rows ``active`` (bool, R) on."""
    rows, cols = g.shape
    c = Circuit(title)
    c.model("nacc", "nmos", level=1, vto=el.vto, kp=el.kp, gamma=0, tox=el.tox,
            **{"lambda": el.lam})
    body = c.gnd if el.v_body == 0 else "sub"
    if el.v_body != 0:
        c.V("sub", "sub", c.gnd, el.v_body)
    for i in range(rows):
        c.V(f"rd{i}", f"rd{i}", c.gnd, el.v_read)
        c.V(f"wl{i}", f"wl{i}", c.gnd, el.v_gate if active[i] else 0.0)
        for j in range(cols):
            left = f"rd{i}" if j == 0 else f"r{i}_{j - 1}"
            c.R(f"r{i}_{j}", left, f"r{i}_{j}", el.r_wire)
            c.M(f"{i}_{j}", f"r{i}_{j}", f"wl{i}", f"m{i}_{j}", body, model="nacc",
                w=el.w * cells_per_weight, l=el.length)
            c.R(f"g{i}_{j}", f"m{i}_{j}", f"c{i}_{j}", 1.0 / float(g[i, j]))
            below = f"s{j}" if i == rows - 1 else f"c{i + 1}_{j}"
            c.R(f"c{i}_{j}", f"c{i}_{j}", below, el.r_wire)
    for j in range(cols):
        c.V(f"s{j}", f"s{j}", c.gnd, 0.0)
    return c


def elements_text(g: np.ndarray, active: np.ndarray, el: Electrical,
                  cells_per_weight: int = 1) -> list[str]:
    """The element and model lines of :func:`tile_circuit`, exactly as PySpice writes them.

    PySpice takes ~0.2 ms per element to build and print (3 s for a 64 x 64 tile); this
    writes the same lines directly. ``test_fast_writer_matches_pyspice`` holds them equal.
    """
    rows, cols = g.shape
    w, length, wire = str(el.w * cells_per_weight), str(el.length), str(el.r_wire)
    body = _body(el)
    r_mem = (1.0 / np.asarray(g, np.float64)).tolist()
    out = [f"Vsub sub 0 {el.v_body}"] if el.v_body != 0 else []
    for i in range(rows):
        out += [f"Vrd{i} rd{i} 0 {el.v_read}",
                f"Vwl{i} wl{i} 0 {el.v_gate if active[i] else 0.0}"]
        for j in range(cols):
            left = f"rd{i}" if j == 0 else f"r{i}_{j - 1}"
            below = f"s{j}" if i == rows - 1 else f"c{i + 1}_{j}"
            out += [f"Rr{i}_{j} {left} r{i}_{j} {wire}",
                    f"M{i}_{j} r{i}_{j} wl{i} m{i}_{j} {body} nacc l={length} w={w}",
                    f"Rg{i}_{j} m{i}_{j} c{i}_{j} {r_mem[i][j]}",
                    f"Rc{i}_{j} c{i}_{j} {below} {wire}"]
    out += [f"Vs{j} s{j} 0 0.0" for j in range(cols)]
    out.append(f".model nacc nmos (gamma=0 kp={el.kp} lambda={el.lam} level=1 tox={el.tox} "
               f"vto={el.vto})")
    return out


def control_lines(cols: int) -> list[str]:
    """The ``.control`` block that makes ``ngspice -b FILE`` print every column current."""
    probes = " ".join(f"i(vs{j})" for j in range(cols))
    return [".control", "op", f"print {probes}", "quit 0", ".endc"]


def netlist_text(g: np.ndarray, active: np.ndarray, el: Electrical, header: dict,
                 cells_per_weight: int = 1) -> str:
    """A netlist that runs as it is with ``ngspice -b``, printing its column currents.

    The text is that of the PySpice circuit :func:`tile_circuit` (written directly, for
    speed), a comment header of every parameter, and a ``.control`` block. Every header key
    and value goes through :func:`neuropaste.text.comment`, so a user's device name cannot
    end its comment line (no ``.control`` / ``shell`` injection).
    """
    lines = [f"* {comment(k)} = {comment(v)}"
             for k, v in sorted({**header, **asdict(el)}.items())]
    return "\n".join([TITLE, "* generated by neuropaste; column outputs are i(vsJ)", *lines,
                      *elements_text(g, active, el, cells_per_weight),
                      *control_lines(g.shape[1]), ".end"]) + "\n"


# -- reading a written netlist back

_NUMBER = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)([a-z]*)")
_SCALE = (("meg", 1e6), ("mil", 25.4e-6), ("t", 1e12), ("g", 1e9), ("k", 1e3), ("m", 1e-3),
          ("u", 1e-6), ("n", 1e-9), ("p", 1e-12), ("f", 1e-15))


def spice_number(token: str) -> float:
    """A SPICE number (``10k``, ``2.5e-9``, ``1meg``; trailing unit letters ignored, as ngspice
    does); ValueError for anything else."""
    found = _NUMBER.fullmatch(token.lower())
    if not found:
        raise ValueError(f"not a number: {token!r}")
    value, suffix = float(found.group(1)), found.group(2)
    for name, scale in _SCALE:
        if suffix.startswith(name):
            return value * scale
    return value


@dataclass
class ParsedNetlist:
    """A tile netlist as ngspice reads it: title, elements by (lower-case) name, model cards,
    control-block lines, and every line that is none of those (``problems``)."""

    title: str = ""
    elements: dict[str, list[str]] = field(default_factory=dict)  # name -> tokens after name
    models: dict[str, list[str]] = field(default_factory=dict)  # name -> tokens after name
    control: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    ended: bool = False


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) with ``+`` continuations joined, comments and inline comments
    dropped, lower case (SPICE is case-insensitive)."""
    out: list[tuple[int, str]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip().lower()
        if n > 1:
            line = re.split(r";|\s\$", line, maxsplit=1)[0].strip()
        if n > 1 and (not line or line.startswith("*")):
            continue
        if n > 1 and line.startswith("+") and out:
            out[-1] = (out[-1][0], out[-1][1] + " " + line[1:].strip())
            continue
        out.append((n, line))
    return out


def parse_netlist(text: str) -> ParsedNetlist:
    """Read a netlist's lines the way ngspice does (first line = title, ``.end`` ends it)."""
    out = ParsedNetlist()
    in_control = False
    lines = _logical_lines(text)
    if lines:
        out.title = lines[0][1]
    for n, line in lines[1:]:
        tokens = line.split()
        if in_control:
            if line == ".endc":
                in_control = False
            else:
                out.control.append(" ".join(tokens))
            continue
        if line == ".control":
            in_control = True
        elif line == ".end":
            out.ended = True
            break
        elif tokens[0] == ".model" and len(tokens) >= 3:
            out.models[tokens[1]] = " ".join(tokens[2:]).replace("(", " ").replace(
                ")", " ").split()
        elif line.startswith("."):
            out.problems.append(f"line {n}: unexpected control card {line[:60]!r}")
        elif re.fullmatch(r"[a-z][a-z0-9_]*", tokens[0]):
            if tokens[0] in out.elements:
                out.problems.append(f"line {n}: element {tokens[0]} defined twice")
            out.elements[tokens[0]] = tokens[1:]
        else:
            out.problems.append(f"line {n}: not a SPICE element {line[:60]!r}")
    if in_control:
        out.problems.append("a .control block never ends (.endc missing)")
    if not out.ended:
        out.problems.append("no .end line")
    return out


def bench_text(text: str, active: np.ndarray, v_gate: float) -> str:
    """The written netlist ``text`` with word line ``i`` at ``v_gate`` if ``active[i]`` else 0,
    its ``.control`` block replaced by ``.op``: what the shared ngspice runs for one read
    pattern. Only the values of the ``Vwl{i}`` lines change; every other line is the file's."""
    out, in_control = [], False
    pattern = re.compile(r"(vwl(\d+)\s+wl\2\s+0\s+)\S+\s*", re.IGNORECASE)
    for raw in text.splitlines():
        low = raw.strip().lower()
        if low == ".control":
            in_control = True
            continue
        if in_control:
            in_control = low != ".endc"
            continue
        found = pattern.fullmatch(raw.strip())
        if found:
            i = int(found.group(2))
            raw = f"{found.group(1)}{v_gate if active[i] else 0.0}"
        if low == ".end":
            out.append(".op")
        out.append(raw)
    return "\n".join(out) + "\n"
