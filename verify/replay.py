"""``neuropaste verify --rtl --replay``: every core and every router of a mesh proven alone.

The whole array in Icarus is out of reach for large maps, but a mesh has no state outside its
cores and routers, and the reference run says exactly what crosses every boundary. So each
core's module in the mesh Verilog that ``compile`` wrote (with the memory images its
``$readmemh`` reads) is simulated alone, fed step by step with the packets the routers would
eject into it (the axon index of every spike whose targets include one of its neurons) and the
external events of its neurons, and must emit, at every step, exactly the multiset of its
neurons that spike in the reference run. Each router's module is fed the packets that XY
multicast puts on each of its inputs (its local input from the multicast table file the mesh
loads, ``rtl/mem/core_K/routes.hex``) and must put out exactly the expected packets on each
port, step by step. The expectations come from the network, the placement and the reference
raster, never from the artifact.

Units run as Dask tasks (:mod:`neuropaste.verify.cluster`: a LocalCluster, or a scheduler
whose workers see ``DIR`` at the same path). Each finished unit leaves
``DIR/verify_replay/<unit>.json`` under a digest of everything its verdict depends on (its
modules' text, their images, its stream, the options and the testbench), so an interrupted run
resumes and a stale result is never reused.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuropaste.compiled import REPLAY, RTL, RTL_MEM, SIM_BUILD, Compiled
from neuropaste.errors import InputError
from neuropaste.generators.placement import axon_indices, destinations
from neuropaste.generators.rtl import MEM_MACRO, READMEM
from neuropaste.hdl.router import PORTS, coord_bits, packet_word, split
from neuropaste.outputs import write_json
from neuropaste.verify.cluster import dask_client

if TYPE_CHECKING:
    from neuropaste.verify import VerifyOptions

HARNESS = "neuropaste_replay"  # the testbench's wrapper: clean port names around one unit
DEFAULT_STALL = 0.25  # P(an input gap / an output not ready) per clock when none is asked
STEP = {"east": (1, 0), "west": (-1, 0), "north": (0, 1), "south": (0, -1)}
OPPOSITE = {"east": "west", "west": "east", "north": "south", "south": "north"}
CORE_ROLES = {"clk", "rst", "start", "busy", "done", "delivered", "proceed", "sop_count",
              "aer_in__valid", "aer_in__payload", "aer_in__ready", "aer_out__valid",
              "aer_out__payload", "aer_out__ready", "syn_in__valid", "syn_in__payload",
              "syn_in__ready"}
ROUTER_ROLES = {"clk", "rst", "idle"} | {f"{d}_{p}__{s}" for d in "io" for p in PORTS
                                         for s in ("valid", "payload", "ready")}


@dataclass(frozen=True, eq=False)
class Unit:
    """One core or router and what it must do: inputs and expected outputs, step by step."""

    name: str  # core_K or router_K: its instance (and module ``<top>.<name>``) in the mesh
    kind: str  # "core" or "router"
    stream: dict[str, np.ndarray]


# ------------------------------------------------------------------ what crosses each boundary


def _by_core(step: np.ndarray, what: np.ndarray, core: np.ndarray, n_cores: int
             ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(step, what) pairs split by core, each sorted by step then value."""
    order = np.lexsort((what, step, core))
    step, what, core = step[order], what[order], core[order]
    cut = np.searchsorted(core, np.arange(n_cores + 1))
    return [(step[a:b], what[a:b]) for a, b in zip(cut[:-1], cut[1:], strict=True)]


def core_units(cd: Compiled, steps: int) -> list[Unit]:
    """Per core: the external events and ejected packets of each step and its expected spikes.

    A packet ejected into a core during step t (a spike of step t) is delivered in step t + 1,
    so the last step's spikes are not fed."""
    net, pl = cd.network(), cd.placement()
    ref, stim = cd.reference(net.labels, steps), cd.stimulus(net.labels)
    keep = stim.step < steps
    dest = destinations(net, pl.core).tocsr()
    axon = axon_indices(net, pl)
    sent = ref.step < steps - 1
    s_step, s_neuron = ref.step[sent], ref.neuron[sent]
    fan = np.diff(dest.indptr)[s_neuron]  # destination cores of each spike
    within = np.arange(fan.sum()) - np.repeat(np.cumsum(fan) - fan, fan)
    dest_core = dest.indices[np.repeat(dest.indptr[s_neuron], fan) + within]
    ext = _by_core(stim.step[keep], pl.local[stim.neuron[keep]], pl.core[stim.neuron[keep]],
                   pl.n_cores)
    packets = _by_core(np.repeat(s_step, fan), axon[np.repeat(s_neuron, fan)], dest_core,
                       pl.n_cores)
    spikes = _by_core(ref.step, pl.local[ref.neuron], pl.core[ref.neuron], pl.n_cores)
    return [Unit(f"core_{c}", "core", {
        "steps": np.int64(steps),
        "ext_step": ext[c][0], "ext_addr": ext[c][1],
        "in_step": packets[c][0], "in_axon": packets[c][1],
        "out_step": spikes[c][0], "out_addr": spikes[c][1],
        "labels": net.labels[pl.members(c)].astype(str)}) for c in range(pl.n_cores)]


def _paths(source: int, dest: list[int], width: int
            ) -> list[tuple[int, str, int, int, list[tuple[str, int]]]]:
    """Row multicast of a spike injected at core ``source`` for the cores ``dest``: one packet
    per destination row; per router on each packet's way, (router, input port, row, columns
    in, [(output port, columns out)])."""
    rows: dict[int, int] = {}
    for k in dest:
        rows[k // width] = rows.get(k // width, 0) | 1 << (k % width)
    hops = []
    for row, cols in sorted(rows.items()):
        queue = [(source, "local", cols)]
        while queue:
            r, port, m = queue.pop()
            x, y = r % width, r // width
            outs = sorted(split(x, y, row, m).items())
            for q, qm in outs:
                if q != "local":
                    dx, dy = STEP[q]
                    queue.append(((y + dy) * width + x + dx, OPPOSITE[q], qm))
            hops.append((r, port, row, m, outs))
    return hops


def _hex(word: int) -> str:
    return f"{word:x}"


def router_units(cd: Compiled, steps: int, routers: set[int] | None = None) -> list[Unit]:
    """Per router: the packets on each input, step by step, and those due on each output.

    The local input of router K carries what the exit stage injects: for each spike of core
    K, the packets its sender table (``rptr.hex`` and ``routes.hex``, the files the mesh reads)
    lists for the neuron. Everything else follows from the network: a spike's destination
    cores are the cores of its targets, one packet per row of them, its axon index the
    placement's. ``routers``: only these (the traffic of every router of the scale-1
    microcircuit's 5,017, held as Python lists, ran past 14 GB)."""
    net, pl = cd.network(), cd.placement()
    part = cd.backend("rtl")["mesh"]
    width, height, a_bits = int(part["width"]), int(part["height"]), int(part["axon_bits"])
    n = pl.n_cores
    ref = cd.reference(net.labels, steps)
    dest = destinations(net, pl.core).tocsr()
    axon = axon_indices(net, pl)
    tables = sender_packets(cd, n, a_bits, height)
    ins = [{p: [] for p in PORTS} for _ in range(n)]
    outs = [{p: [] for p in PORTS} for _ in range(n)]
    paths: dict[int, list] = {}
    for t, i in zip(ref.step.tolist(), ref.neuron.tolist(), strict=True):
        c, local = int(pl.core[i]), int(pl.local[i])
        if tables[c] is None or local >= len(tables[c]):
            continue  # the router's proof reports the table as missing or short
        if routers is None or c in routers:
            ins[c]["local"] += [(t, _hex(word)) for word in tables[c][local]]
        if i not in paths:
            paths[i] = [p for p in _paths(c, dest.indices[dest.indptr[i]:dest.indptr[i + 1]]
                                          .tolist(), width)
                        if routers is None or p[0] in routers]
        for r, port, row, m, forks in paths[i]:
            if port != "local":
                ins[r][port].append((t, _hex(packet_word(int(axon[i]), row, m, a_bits, height))))
            for q, qm in forks:
                outs[r][q].append((t, _hex(packet_word(int(axon[i]), row, qm, a_bits, height))))
    units = []
    for r in range(n) if routers is None else sorted(routers):
        stream: dict[str, np.ndarray] = {"steps": np.int64(steps), "ports": np.array(PORTS),
                                         "axon_bits": np.int64(a_bits),
                                         "row_bits": np.int64(coord_bits(height)),
                                         "width": np.int64(width),
                                         "table": np.int64(tables[r] is not None)}
        for p in PORTS:
            for side, rows in (("in", ins[r][p]), ("out", outs[r][p])):
                rows.sort()
                stream[f"{side}_{p}_step"] = np.array([s for s, _ in rows], np.int64)
                stream[f"{side}_{p}_word"] = np.array([w for _, w in rows], dtype=str)
        units.append(Unit(f"router_{r}", "router", stream))
    return units


def sender_packets(cd: Compiled, n_cores: int, axon_bits: int, height: int
                   ) -> list[list[list[int]] | None]:
    """Per core, per local neuron, the packets its exit stage injects, read from the sender
    table the mesh Verilog loads (``rptr`` and ``routes`` of the module that instance ``exit_K``
    instantiates, in its ``IMAGE`` folder, or its ``rmask``; None: a file or its load is
    missing)."""
    top, verilog = cd.design_top()
    modules = split_modules((cd.path(RTL) / verilog).read_text())
    out: list[list[list[int]] | None] = []
    for c in range(n_cores):
        files = {memory: cd.path(RTL_MEM) / f for f, memory in unit_images(modules, top,
                                                                           f"exit_{c}")}
        if "rmask" in files and files["rmask"].is_file():  # one word a neuron (mask_routes)
            out.append([_mask_packets(int(w, 16), axon_bits, n_cores // height, height)
                        for w in files["rmask"].read_text().split()])
            continue
        if not all(k in files and files[k].is_file() for k in ("rptr", "routes")):
            out.append(None)
            continue
        heads = [int(w, 16) for w in files["rptr"].read_text().split()]
        words = [int(w, 16) for w in files["routes"].read_text().split()]
        p_bits = max(1, len(words).bit_length())  # the class's table depth, as hdl.mesh
        full = (1 << p_bits) - 1
        out.append([[(h >> 2 * p_bits) | words[e] << axon_bits
                     for e in range(h & full, min(h >> p_bits & full, len(words)))]
                    for h in heads])
    return out


def _mask_packets(word: int, axon_bits: int, width: int, height: int) -> list[int]:
    """The packets of an ``rmask`` word ``axon | cores``: per row of the mesh with a target
    core, ``axon | (row | cols) << axon_bits``, rows in order (ExitStage ``masked``)."""
    axon, cores = word & ((1 << axon_bits) - 1), word >> axon_bits
    row_bits = max(1, (height - 1).bit_length())
    rows = [(r, cores >> r * width & ((1 << width) - 1)) for r in range(height)]
    return [axon | (r | cols << row_bits) << axon_bits for r, cols in rows if cols]


# ------------------------------------------------------------------ the Verilog of one unit


def split_modules(verilog: str) -> dict[str, str]:
    """Module name (escapes dropped) -> its text, ``module`` to ``endmodule``."""
    out = {}
    for m in re.finditer(r"^module \\?(\S+?) ?[(#].*?^endmodule\b", verilog, re.M | re.S):
        out[m[1]] = m[0]
    return out


@dataclass(frozen=True)
class Instance:
    """An instance in the mesh's top: its module, parameters (Verilog text) and connections."""

    module: str
    params: str
    ports: dict[str, str]  # port -> the expression connected to it
    text: str


_INSTANCE = re.compile(r"\s*\\?([\w.$]+)\s*(?:#\((.*?)\)\s*)?\\?([\w.$]+)\s*\((.*)\)\s*",
                       re.S)
_PORT_LIST = re.compile(r"\(\s*\.")


@functools.lru_cache(maxsize=2)
def _instances(text: str) -> dict[str, Instance]:
    """Every instance statement of a module's text, by instance name, in one pass: a top of
    hundreds of cores is searched once, not once per unit."""
    out = {}
    for statement in text.split(";"):
        if _PORT_LIST.search(statement) is None:
            continue  # no named port connection: a declaration, an assignment
        found = _INSTANCE.fullmatch(statement)
        if found is None or found[1] in ("module", "assign", "wire", "reg", "always"):
            continue
        ports = {p.strip().lstrip("\\").strip(): e.strip()
                 for p, e in re.findall(r"\.(\\\S+\s|\w+)\s*\(([^()]*)\)", found[4])}
        out[found[3]] = Instance(found[1], (found[2] or "").strip(), ports, statement + ";")
    return out


def instance(modules: dict[str, str], top: str, name: str) -> Instance:
    """Instance ``name`` of the top module (ValueError: none)."""
    found = _instances(modules.get(top, "")).get(name)
    if found is None:
        raise ValueError(f"{top} has no instance {name}")
    return found


def unit_modules(modules: dict[str, str], top: str, unit: str) -> list[str]:
    """The texts a unit's simulation elaborates: its module and its submodules."""
    try:
        name = instance(modules, top, unit).module
    except ValueError:
        return []
    return [modules[k] for k in sorted(modules) if k == name or k.startswith(name + ".")]


def unit_images(modules: dict[str, str], top: str, unit: str) -> list[tuple[str, str]]:
    """(image under rtl/mem, memory) of every ROM the unit's modules load: a class module's
    names in the instance's ``IMAGE`` folder."""
    try:
        inst = instance(modules, top, unit)
    except ValueError:
        return []
    prefix = re.search(r'\.IMAGE\("([^"]*)"\)', inst.params)
    out = []
    for text in unit_modules(modules, top, unit):
        for param, name, memory in READMEM.findall(text):
            out.append(((prefix[1] if prefix else "") + name if param else name, memory))
    return sorted(out)


_CONSTANT = re.compile(r"^\d+'[bhd][0-9a-fA-F_]+$")


def harness(modules: dict[str, str], top: str, unit: str, kind: str, held: bool,
            name: str = HARNESS) -> str:
    """A wrapper module ``name`` around the unit's module, instantiated with the
    parameters of its instance in the mesh: every port with a role the testbench knows is a
    port of the wrapper, an input the mesh ties to a constant (a router's position) keeps it,
    an output without a role stays open. ``held``: the core waits for ``proceed`` between its
    phases (the earlier, barrier design), which alone is its own ``delivered``."""
    inst = instance(modules, top, unit)
    if inst.module not in modules:
        raise ValueError(f"module {inst.module} of {unit} is not in the Verilog")
    roles = CORE_ROLES if kind == "core" else ROUTER_ROLES
    text = modules[inst.module]
    head = text[:text.index(";")]  # module name #(parameters) (ports);
    ports = head[head.rindex("(") + 1:head.rindex(")")].split(",")
    names = {p.strip().lstrip("\\").strip() for p in ports}
    decl = {}
    for d, w, p in re.findall(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\\\S+\s|\w+)\s*;",
                              text, re.M):
        p = p.strip().lstrip("\\").strip()
        if p in names and p not in decl:  # not a function's inputs further down
            decl[p] = (d, int(w) + 1 if w else 1)
    conns, outer = [], []
    for port, (direction, _) in sorted(decl.items()):
        if port in roles and port != "proceed":
            outer.append(port)
            conns.append(f"    .{port}({port})")
        elif port == "proceed" and kind == "core":
            conns.append("    .proceed(delivered)")  # alone, the barrier is its own delivery
        elif direction == "input" and _CONSTANT.match(inst.ports.get(port, "")):
            conns.append(f"    .{port}({inst.ports[port]})")
        elif direction == "output":
            conns.append(f"    .{port}()")
        else:
            raise ValueError(f"port {port} of {inst.module} (instance {unit}, connected to "
                             f"{inst.ports.get(port, 'nothing')}) has no role the replay knows")
    lines = [f"module {name}({', '.join(outer + ['held'])});"]
    lines += [f"  {decl[r][0]} {f'[{decl[r][1] - 1}:0] ' if decl[r][1] > 1 else ''}{r};"
              for r in outer]
    lines.append(f"  output held;\n  assign held = 1'b{int(held)};")
    params = f" #({inst.params})" if inst.params else ""
    lines += [f"  {inst.module}{params} dut (\n" + ",\n".join(conns) + "\n  );", "endmodule", ""]
    return "\n".join(lines)


def unit_digest(cd: Compiled, modules: dict[str, str], top: str, unit: Unit,
                options: dict[str, Any]) -> str:
    """SHA-256 of everything the unit's verdict depends on: its modules' text and instance,
    the images they read, its stream, the options and the testbench's own source."""
    h = hashlib.sha256()
    texts = unit_modules(modules, top, unit.name)
    try:
        texts.append(instance(modules, top, unit.name).text)
    except ValueError:
        pass
    for t in texts:
        h.update(t.encode())
    for f, _ in unit_images(modules, top, unit.name):
        p = cd.path(RTL_MEM) / f
        h.update(f.encode() + (p.read_bytes() if p.is_file() else b"<missing>"))
    for k in sorted(unit.stream):
        h.update(k.encode() + np.ascontiguousarray(unit.stream[k]).tobytes())
    h.update(json.dumps(options, sort_keys=True).encode())
    here = Path(__file__).parent
    for src in ("replay.py", "cocotb_replay.py"):
        h.update((here / src).read_bytes())
    return h.hexdigest()


# ------------------------------------------------------------------ units, a batch on a worker

BATCH = 16  # units per simulation: Icarus and cocotb start once for all of them


def batch_top(harnesses: list[tuple[str, str]]) -> str:
    """The top ``neuropaste_replay`` over several unit harnesses ``(module, text)``: the k-th
    one's ports are the top's ports with the prefix ``u<k>_``, so each unit runs unchanged
    beside the others, on its own clock."""
    ports, body = [], []
    for k, (module, text) in enumerate(harnesses):
        conns = []
        for d, w, p in re.findall(r"^\s*(input|output)\s+(\[\d+:0\]\s+)?(\w+);", text, re.M):
            ports.append(f"u{k}_{p}")
            body.append(f"  {d} {w or ''}u{k}_{p};")
            conns.append(f"    .{p}(u{k}_{p})")
        body.append(f"  {module} u{k} (\n" + ",\n".join(conns) + "\n  );")
    return "\n".join([f"module {HARNESS}({', '.join(ports)});", *body, "endmodule", ""])


def _not_run(u: Unit, error: str | None = None) -> dict[str, Any]:
    """A unit's result before (or without) its simulation."""
    out = {"unit": u.name, "kind": u.kind, "passed": False, "simulated": False}
    return out | {"error": error} if error else out


def run_batch(root: str, units: list[Unit], options: dict[str, Any]) -> list[dict[str, Any]]:
    """Simulate several units side by side in one Icarus run under cocotb; each unit's result
    dict (passed, ...) in order. A unit that cannot run (a missing image, no sender table, a
    port the replay does not know) gets its error without a simulation."""
    cd = Compiled.open(root)
    top, verilog = cd.design_top()
    build = cd.path(SIM_BUILD) / "replay" / units[0].name
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    source = cd.path(RTL) / verilog
    modules = split_modules(source.read_text())
    held = not cd.backend("rtl").get("design", {}).get("early_update", True)
    results: dict[str, dict[str, Any]] = {}
    runs: list[tuple[Unit, list[str], str]] = []  # (unit, its images, its harness's text)
    for u in units:
        images = [f for f, _ in unit_images(modules, top, u.name)]
        missing = [f for f in images if not (cd.path(RTL_MEM) / f).is_file()]
        if missing:
            results[u.name] = _not_run(u, f"memory image {missing[0]} is missing ({verilog} "
                                          "reads it)")
        elif u.kind == "router" and not int(u.stream["table"]):
            results[u.name] = _not_run(u, f"no sender table rtl/mem/core_{u.name[7:]}/rptr.hex "
                                          "and routes.hex is loaded by the mesh")
        else:
            try:
                name = f"{HARNESS}_{len(runs)}"
                runs.append((u, images, harness(modules, top, u.name, u.kind, held, name)))
            except ValueError as err:
                results[u.name] = _not_run(u, str(err))
    if runs:
        results |= _simulate(cd, build, source, runs, options)
    return [results[u.name] for u in units]


def _simulate(cd: Compiled, build: Path, source: Path,
              runs: list[tuple[Unit, list[str], str]], options: dict[str, Any]
              ) -> dict[str, dict[str, Any]]:
    from cocotb_tools.runner import get_runner

    texts = [text for _, _, text in runs]
    top = batch_top([(f"{HARNESS}_{k}", t) for k, t in enumerate(texts)])
    (build / "harness.v").write_text("\n".join(texts + [top]))
    batch = []
    for k, (u, _, _) in enumerate(runs):
        np.savez(build / f"{u.name}.npz", kind=np.array(u.kind), **u.stream)
        batch.append({"prefix": f"u{k}_", "stream": str((build / f"{u.name}.npz").resolve()),
                      "result": str((build / f"{u.name}.json").resolve())})
    (build / "batch.json").write_text(json.dumps(batch))
    mem = os.path.relpath(cd.path(RTL_MEM), build).replace(os.sep, "/")
    t0 = time.perf_counter()
    runner = get_runner("icarus")
    try:
        runner.build(sources=[source, build / "harness.v"], hdl_toplevel=HARNESS,
                     build_dir=build, always=True, defines={MEM_MACRO: f'"{mem}/"'},
                     timescale=("1ns", "1ps"), log_file=build / "build.log")
    except (SystemExit, subprocess.CalledProcessError):
        return {u.name: _not_run(u, f"{source.name} does not compile in Icarus; see "
                                    f"{build / 'build.log'}") for u, _, _ in runs}
    t1 = time.perf_counter()
    env = {"NEUROPASTE_REPLAY": str((build / "batch.json").resolve()),
           "NEUROPASTE_STALL": str(options["stall"]), "NEUROPASTE_SEED": str(options["seed"])}
    # the testbench imports nothing of neuropaste: loaded as a top-level module (its folder
    # last on the simulator's path), it spares each run the package's imports (about 5 s)
    here = str(Path(__file__).parent)
    sys.path.append(here)
    try:
        runner.test(hdl_toplevel=HARNESS, test_module="cocotb_replay", build_dir=build,
                    test_dir=build, extra_env=env,
                    results_xml=str((build / "results.xml").resolve()),
                    log_file=build / "cocotb.log")
    except SystemExit:  # a failing unit: its result file says why
        pass
    finally:
        sys.path.remove(here)
    seconds = (time.perf_counter() - t0) / len(runs)  # the batch's time, shared
    out = {}
    for (u, images, _), entry in zip(runs, batch, strict=True):
        result_path = Path(entry["result"])
        if not result_path.is_file():
            out[u.name] = _not_run(u, f"the cocotb test wrote no result; see "
                                      f"{build / 'cocotb.log'}")
            continue
        files = [source] + [cd.path(RTL_MEM) / f for f in images]
        out[u.name] = _not_run(u) | json.loads(result_path.read_text()) | {
            "simulated_files": {str(f.relative_to(cd.root)):
                                hashlib.sha256(f.read_bytes()).hexdigest() for f in files},
            "simulated": True, "batch": len(runs),
            "build_seconds": round((t1 - t0) / len(runs), 3), "seconds": round(seconds, 3)}
    return out


def describe(result: dict[str, Any]) -> str:
    """One line: why a unit failed, or what it passed."""
    name = result["unit"]
    if result.get("error"):
        return f"{name}: {result['error']}"
    first = result.get("first_mismatch")
    if first is not None:
        where = (f"neuron {first['label']!r} (local address {first['address']})"
                 if result["kind"] == "core" else f"port {first['port']}, the packet of axon "
                 f"{first['axon']} for cores {first['cores']}")
        return (f"{name}: outputs differ first at step {first['step']}, {where}: "
                f"{first['rtl_count']} in the RTL, {first['expected_count']} expected")
    if result.get("first_stray"):
        return f"{name}: {result['first_stray']}"
    return (f"{name}: {result['steps']} steps, {result['packets_in']} packets in, "
            f"{result['outputs']} out")


# ------------------------------------------------------------------ the whole check


def verify(compiled: Path, *, steps: int | None = None, workers: int = 2,
           scheduler: str | None = None, stall: float = DEFAULT_STALL, seed: int = 0,
           progress: bool = True, only: list[str] | None = None, batch: int = BATCH
           ) -> dict[str, Any]:
    """Replay every core and router (``only``: those units) of a compiled mesh on ``workers``
    Dask worker processes (0: in this process) or a ``scheduler``'s cluster, ``batch`` units
    to a simulation; the dict goes into ``verify.json`` under ``checks.replay``."""
    cd = Compiled.open(compiled)
    if cd.backend("rtl") is None or cd.placement() is None:
        raise InputError(compiled, "--replay proves the cores and routers of a mesh, and this "
                         "directory holds one core: use verify --rtl alone")
    if shutil.which("iverilog") is None:
        raise RuntimeError("Icarus Verilog (iverilog) is not installed: run make setup")
    stored = cd.steps
    steps = stored if steps is None else steps
    if not 1 <= steps <= stored:
        raise InputError(compiled, f"--steps must be in 1..{stored} (the stored stimulus)")
    t0 = time.perf_counter()
    routers = None if only is None else {int(u.split("_")[1]) for u in only
                                         if u.startswith("router_")}
    units = core_units(cd, steps) + router_units(cd, steps, routers)
    if only is not None:
        units = [u for u in units if u.name in only]
    top, verilog = cd.design_top()
    modules = split_modules((cd.path(RTL) / verilog).read_text())
    opts = {"steps": steps, "stall": stall, "seed": seed}
    store = cd.path(REPLAY)
    store.mkdir(exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    todo: list[tuple[Unit, str]] = []
    for u in units:
        digest = unit_digest(cd, modules, top, u, opts)
        kept = store / f"{u.name}.json"
        if kept.is_file():
            old = json.loads(kept.read_text())
            if old.get("digest") == digest:
                results[u.name] = old["result"] | {"kept": True}
                continue
        todo.append((u, digest))

    def finished(name: str, result: dict[str, Any], digest: str | None) -> None:
        results[name] = result
        if digest is not None and result.get("simulated"):
            write_json(store / f"{name}.json", {"digest": digest, "result": result})
        if progress:
            status = "PASS" if result.get("passed") else "FAIL"
            kept = " (kept from an earlier run)" if result.get("kept") else ""
            print(f"replay [{len(results)}/{len(units)}] {status} {describe(result)}{kept}",
                  file=sys.stderr, flush=True)

    for name in sorted(results):
        finished(name, results[name], None)
    root = str(cd.root.resolve())
    size = max(1, batch)
    batches = [todo[k:k + size] for k in range(0, len(todo), size)]
    if todo and workers == 0 and not scheduler:  # in this process, one batch after another
        for part in batches:
            for (u, digest), result in zip(part, run_batch(root, [u for u, _ in part], opts),
                                           strict=True):
                finished(u.name, result, digest)
    elif todo:
        from dask.distributed import as_completed

        with dask_client(workers, scheduler) as client:
            futures = {client.submit(run_batch, root, [u for u, _ in part], opts, pure=False):
                       part for part in batches}
            for fut in as_completed(futures):
                part = futures[fut]
                try:
                    results_of = fut.result()
                except Exception as err:  # noqa: BLE001 - a unit that cannot run is not a PASS
                    results_of = [{"unit": u.name, "kind": u.kind, "passed": False,
                                   "error": f"{type(err).__name__}: {err}"} for u, _ in part]
                    part = [(u, None) for u, _ in part]
                for (u, digest), result in zip(part, results_of, strict=True):
                    finished(u.name, result, digest)
    return summarise(units, results, steps, workers, scheduler, time.perf_counter() - t0)


def summarise(units: list[Unit], results: dict[str, dict[str, Any]], steps: int, workers: int,
              scheduler: str | None, seconds: float) -> dict[str, Any]:
    """The check's verdict: every unit passed and something was checked."""
    ordered = [results[u.name] for u in units]
    failed = [r for r in ordered if not r.get("passed")]
    cores = [r for r in ordered if r["kind"] == "core"]
    packets = sum(int(r.get("packets_in", 0)) for r in ordered)
    spikes = sum(int(r.get("outputs", 0)) for r in cores)
    problems = [describe(r) for r in failed]
    if not units or packets == 0:
        problems.append("nothing was checked: no packet reached any core or router in "
                        f"{steps} steps (run more steps or drive the network)")
    out = {
        "passed": not problems,
        "steps": steps,
        "cores": len(cores),
        "routers": len(ordered) - len(cores),
        "packets": packets,
        "spikes": spikes,
        "kept": sum(bool(r.get("kept")) for r in ordered),
        "failed": [r["unit"] for r in failed],
        "wall_seconds": round(seconds, 2),
        # what the units took one by one: against wall time x workers, the parallel efficiency
        "unit_seconds": round(sum(float(r.get("seconds") or 0) for r in ordered
                                  if not r.get("kept")), 2),
        "workers": None if scheduler else workers,
        "scheduler": scheduler,
        "units": {r["unit"]: {k: r.get(k) for k in ("passed", "packets_in", "outputs",
                                                    "cycles", "seconds", "error",
                                                    "simulated_files")}
                  for r in ordered},
    }
    out["summary"] = "; ".join(problems[:5]) + (
        f" (and {len(problems) - 5} more)" if len(problems) > 5 else "") if problems else (
        f"{out['cores']} cores and {out['routers']} routers each proven alone for {steps} "
        f"steps: {packets} packets in, {spikes} spikes bit-exact ({out['kept']} kept from an "
        f"earlier run), {seconds:.1f} s")
    return out


def check(compiled: Path, options: VerifyOptions) -> dict[str, Any]:
    """The registered replay check (verify/__init__.py)."""
    return verify(compiled, steps=options.steps, workers=options.workers,
                  scheduler=options.scheduler, stall=options.stall or DEFAULT_STALL)


def report_html(compiled: Path) -> str:
    """Report section: the replay's verdict and its per-unit counts."""
    from neuropaste.report import table

    result = Compiled.open(compiled).checks().get("replay")
    if not result:
        return ""
    rows = [("verdict", "PASS" if result.get("passed") else "FAIL"),
            ("summary", result.get("summary")), ("steps", result.get("steps")),
            ("cores / routers", f"{result.get('cores')} / {result.get('routers')}"),
            ("wall time (s)", result.get("wall_seconds")), ("workers", result.get("workers"))]
    return "<h2>RTL: per-core replay</h2>" + table(rows)
