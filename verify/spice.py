"""``neuropaste verify --spice``: the tile files on disk against the network.

PASS means the artifact computes the network, so the proof holds the files against the IR
(``network.npz``), never against the artifact's own metadata:

1. **Weights.** Every tile's programmed conductances (``tiles.npz``: ``g`` over the row map
   ``row_pre``/``row_delay`` and the column map ``col_post``) are decoded back to signed device
   levels (G+ on the even column, G- on the odd one, ``cells_per_weight`` cells thermometer
   coded) and must equal the IR's weights mapped through the documented level map
   (:func:`neuropaste.devices.weight_levels`), synapse by synapse, to the level.
   A synapse missing, extra, moved or of the wrong sign fails, named by (pre, post, delay).
2. **Netlists.** Every ``spice/tile_NNNN.cir`` is parsed as ngspice reads it and must equal,
   element by element, the circuit of the store's conductances (memory ``Rg{i}_{j}`` = 1/g,
   transistors, wires, sources, model card, control block); anything else fails, naming the
   file and the element.
3. **Circuit.** ngspice simulates the files as written (one bench per read pattern, derived
   from the file's text by changing only the word-line source values; ``--tiles K`` samples
   K tiles, on a Dask cluster) and its column currents must equal, within
   :data:`SOLVER_TOLERANCE` of full scale, the currents the fast solver predicts for the
   *network's* weights through the level map, with the same wire and transistor model.

Reported, not proven: the gap between those currents and the ideal sum w x (IR drop, access
transistor, quantisation), and the weights the device's levels cannot represent.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from neuropaste.compiled import SPICE, Compiled, tile_netlist
from neuropaste.devices import (
    Device,
    Electrical,
    Encoding,
    conductances,
    weight_levels,
    weight_per_level,
)
from neuropaste.errors import InputError
from neuropaste.ir import Network
from neuropaste.netlists.tile import (
    TITLE,
    bench_text,
    control_lines,
    netlist_text,
    parse_netlist,
    spice_number,
    tile_circuit,
)
from neuropaste.sim.ngspice import branch_currents, run_text
from neuropaste.sim.solver import cell_sources, ideal_currents, solve_tile
from neuropaste.text import comment
from neuropaste.verify.cluster import dask_client

if TYPE_CHECKING:
    from neuropaste.verify import VerifyOptions

SOLVER_TOLERANCE = 1e-3  # of full-scale column current: ngspice on the files vs the network
IDEAL_FLAG = 0.05
LEVEL_TOLERANCE = 1e-6  # a decoded conductance must sit this close (in levels) to its grid
VALUE_RTOL = 1e-9  # a netlist value must equal the store's to this relative tolerance
MAX_DEFECTS = 20  # defects of one kind kept in verify.json (all are counted)


def column_currents(g: np.ndarray, active: np.ndarray, el: Electrical,
                    cells_per_weight: int = 1) -> np.ndarray:
    """ngspice's operating-point current of every sense source ``VS{j}`` of a tile built from
    ``g`` (the solver's own cross-check in the tests; the proof runs the files instead)."""
    circuit = tile_circuit(g, active, el, "tile", cells_per_weight)
    return branch_currents(circuit, [f"vs{j}" for j in range(g.shape[1])])


def run_tile(text: str, patterns: np.ndarray, v_gate: float) -> tuple[np.ndarray, float]:
    """ngspice on one written tile netlist ``text`` for every row pattern: (patterns x
    columns currents, seconds). Each pattern's bench is the file with only its word-line
    source values changed (:func:`neuropaste.netlists.tile.bench_text`)."""
    t0 = time.perf_counter()
    out = []
    for active in patterns:
        vec = run_text(bench_text(text, active, v_gate))
        cols = sorted(int(k[2:-7]) for k in vec if re.fullmatch(r"vs\d+#branch", k))
        if cols != list(range(len(cols))) or not cols:
            raise RuntimeError("ngspice returned no sense-source currents")
        out.append([float(vec[f"vs{j}#branch"][0]) for j in cols])
    return np.array(out), time.perf_counter() - t0


def full_scale(el: Electrical, dev: Device, rows: int) -> float:
    """The largest current a column can carry: every row on, every cell at G_max."""
    return el.v_read * dev.g_max * dev.cells_per_weight * rows


@dataclass
class Defects:
    """Every defect found, counted; the first :data:`MAX_DEFECTS` of each kind (the message's
    first word: ``tiles.npz``, a netlist file, ``synapse``, ...) kept as messages, so one kind
    cannot hide another."""

    messages: list[str] = field(default_factory=list)
    count: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    def add(self, message: str, kind: str | None = None) -> None:
        self.count += 1
        kind = kind or (message.split()[0] if message.strip() else "")
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if self.kinds[kind] <= MAX_DEFECTS:
            self.messages.append(message)


def _name(net: Network, i: int) -> str:
    """A neuron's label, safe for a one-line message."""
    return comment(net.labels[i]) if 0 <= i < net.n_neurons else f"#{i}"


def _syn(net: Network, pre: int, post: int, delay: int) -> str:
    return f"synapse {_name(net, pre)} -> {_name(net, post)} delay {delay}"


# -- 1. weights: the store decoded against the network

def combine_slices(x: np.ndarray, dev: Device, enc: Encoding) -> np.ndarray:
    """Per-pair values in device level steps (..., P) -> per-weight levels (..., P / slices):
    each slice's digit (its value over the digit step) times its significance, summed."""
    d, step = enc.digits(dev), enc.step(dev)
    return sum(x[..., s::enc.slices] / step * d ** s for s in range(enc.slices))


def decode_levels(g: np.ndarray, dev: Device, enc: Encoding | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Signed level of every weight of ``g`` (T x R x 2P; T x R x P / slices out), and a mask
    of weights with a pair that is not on the encoding's grid (off grid, out of range, both
    sides programmed, or a digit that is not a whole digit step)."""
    enc = enc or Encoding()
    floor = dev.cells_per_weight * dev.g_min
    k = (np.asarray(g, np.float64) - floor) / dev.level_step
    kr = np.rint(k)
    bad_cell = (~np.isfinite(k)) | (np.abs(k - kr) > LEVEL_TOLERANCE) | (kr < 0) \
        | (kr > dev.weight_levels - 1)
    kr = np.where(np.isfinite(kr), kr, 0).astype(np.int64)
    kp, kn = kr[..., 0::2], kr[..., 1::2]
    bad = bad_cell[..., 0::2] | bad_cell[..., 1::2] | ((kp > 0) & (kn > 0))
    bad |= (kp - kn) % enc.step(dev) != 0
    bad = np.logical_or.reduce([bad[..., s::enc.slices] for s in range(enc.slices)])
    return np.rint(combine_slices(kp - kn, dev, enc)).astype(np.int64), bad


def slice_map_defects(data: dict[str, np.ndarray], enc: Encoding, defects: Defects) -> None:
    """Each weight's pairs must be adjacent, of one post, slices 0..S-1 in order."""
    post, sl = data["col_post"], data["col_slice"]
    want = np.broadcast_to(np.arange(sl.shape[1]) % enc.slices, sl.shape)
    same = (post.reshape(len(post), -1, enc.slices) == post[:, ::enc.slices, None]).all(axis=2)
    for t, j in np.argwhere(sl != want)[:5].tolist():
        defects.add(f"tiles.npz: tile {t} pair {j} holds slice {sl[t, j]}, the encoding "
                    f"({enc.slices} slices) puts slice {want[t, j]} there", "slice map")
    for t, j in np.argwhere(~same)[:5].tolist():
        defects.add(f"tiles.npz: tile {t} weight column {j}: its {enc.slices} slice pairs map "
                    f"to different posts {post[t, j * enc.slices:(j + 1) * enc.slices]}",
                    "slice map")


def network_weights(net: Network, row_pre: np.ndarray, row_delay: np.ndarray,
                    col_post: np.ndarray) -> np.ndarray:
    """The IR's weight at every (tile, row, pair) of the row and column maps (0 where the
    network has no such synapse): the network laid out as the artifact says it is placed."""
    n, span = net.n_neurons, net.max_delay + 1
    keys = (net.pre.astype(np.int64) * n + net.post) * span + net.delay
    order = np.argsort(keys)
    keys, weights = keys[order], net.weight[order].astype(np.int64)
    pre = row_pre.astype(np.int64)[:, :, None]
    post = col_post.astype(np.int64)[:, None, :]
    delay = row_delay.astype(np.int64)[:, :, None]
    valid = (pre >= 0) & (pre < n) & (post >= 0) & (post < n) & (delay >= 0) & (delay < span)
    want = np.where(valid, (pre * n + post) * span + delay, -1)
    pos = np.clip(np.searchsorted(keys, want), 0, max(len(keys) - 1, 0))
    if not len(keys):
        return np.zeros(want.shape, np.int64)
    return np.where(valid & (keys[pos] == want), weights[pos], 0)


def check_weights(net: Network, dev: Device, data: dict[str, np.ndarray],
                  defects: Defects, enc: Encoding | None = None) -> dict[str, Any]:
    """Decode every tile's conductances and compare them with the network, synapse by synapse.
    With bit slicing a "pair" below is a weight column: the pairs of its slices together."""
    enc = enc or Encoding()
    g, row_pre, row_delay = (data[k] for k in ("g", "row_pre", "row_delay"))
    col_post = data["col_post"][:, ::enc.slices]
    n, span = net.n_neurons, net.max_delay + 1
    w_max = int(np.abs(net.weight).max()) if net.n_synapses else 1
    slice_map_defects(data, enc, defects)
    level, bad = decode_levels(g, dev, enc)
    c = 2 * enc.slices
    for t, i, j in np.argwhere(bad)[:MAX_DEFECTS].tolist():
        defects.add(f"tiles.npz: tile {t} row {i} pair {j}: G+/G- "
                    f"{np.array2string(g[t, i, c * j:c * (j + 1)], precision=6)} S is not a "
                    f"level of {dev.name!r} ({enc.describe(dev)}; off the grid, out of range "
                    f"or both sides programmed)", "off grid")
    defects.count += max(0, int(bad.sum()) - MAX_DEFECTS)
    pre = np.broadcast_to(row_pre[:, :, None], level.shape).astype(np.int64)
    dly = np.broadcast_to(row_delay[:, :, None], level.shape).astype(np.int64)
    post = np.broadcast_to(col_post[:, None, :], level.shape).astype(np.int64)
    valid = (pre >= 0) & (pre < n) & (post >= 0) & (post < n) & (dly >= 1) & (dly < span)
    outside = (level != 0) & ~valid
    for t, i, j in np.argwhere(outside)[:MAX_DEFECTS].tolist():
        defects.add(f"tiles.npz: tile {t} row {i} pair {j} holds level {level[t, i, j]} but "
                    f"its row/column maps to no synapse of the network (row pre "
                    f"{row_pre[t, i]} delay {row_delay[t, i]}, column post {col_post[t, j]})",
                    "outside")
    defects.count += max(0, int(outside.sum()) - MAX_DEFECTS)
    placed = (level != 0) & valid
    where = np.argwhere(placed)
    f_key = (pre[placed] * n + post[placed]) * span + dly[placed]
    f_lvl = level[placed]
    expected = weight_levels(net.weight.astype(np.int64), w_max, dev, enc).astype(np.int64)
    e_key = (net.pre.astype(np.int64) * n + net.post) * span + net.delay
    keep = expected != 0
    e_key, e_lvl, e_w = e_key[keep], expected[keep], net.weight[keep].astype(np.int64)
    uniq, first, counts = np.unique(f_key, return_index=True, return_counts=True)
    for key in uniq[counts > 1][:MAX_DEFECTS].tolist():
        spots = [tuple(x) for x in where[f_key == key].tolist()]
        a, rest = divmod(key, span)
        defects.add(f"{_syn(net, a // n, a % n, rest)} is placed {len(spots)} times "
                    f"(tile, row, pair: {spots[:4]})", "duplicate")
    f_key, f_lvl, f_at = uniq, f_lvl[first], where[first]
    missing = ~np.isin(e_key, f_key)
    extra = ~np.isin(f_key, e_key)
    both_f = np.flatnonzero(~extra)
    both_e = np.searchsorted(e_key, f_key[both_f])  # e_key sorted: the IR's canonical order
    wrong = both_f[f_lvl[both_f] != e_lvl[both_e]]
    miss_by_row = {}
    for idx in np.flatnonzero(missing).tolist():
        a, d = divmod(int(e_key[idx]), span)
        miss_by_row.setdefault((a // n, d, int(e_lvl[idx])), []).append(a % n)
    for idx in np.flatnonzero(extra)[:MAX_DEFECTS].tolist():
        a, d = divmod(int(f_key[idx]), span)
        t, i, j = f_at[idx].tolist()
        moved = miss_by_row.get((a // n, d, int(f_lvl[idx])))
        was = f" (moved from post {_name(net, moved[0])}?)" if moved else ""
        defects.add(f"tiles.npz: tile {t} row {i} pair {j} holds level {f_lvl[idx]}: "
                    f"{_syn(net, a // n, a % n, d)} is not in the network{was}", "extra")
    defects.count += max(0, int(extra.sum()) - MAX_DEFECTS)
    for idx in np.flatnonzero(missing)[:MAX_DEFECTS].tolist():
        a, d = divmod(int(e_key[idx]), span)
        defects.add(f"{_syn(net, a // n, a % n, d)} (weight {e_w[idx]}, level {e_lvl[idx]}) "
                    f"is missing from the tiles", "missing")
    defects.count += max(0, int(missing.sum()) - MAX_DEFECTS)
    for fi in wrong[:MAX_DEFECTS].tolist():
        ei = int(np.searchsorted(e_key, f_key[fi]))
        a, d = divmod(int(f_key[fi]), span)
        t, i, j = f_at[fi].tolist()
        sign = " (sign flipped)" if np.sign(f_lvl[fi]) != np.sign(e_lvl[ei]) else ""
        defects.add(f"{_syn(net, a // n, a % n, d)}: tile {t} row {i} pair {j} holds level "
                    f"{f_lvl[fi]}, the network's weight {e_w[ei]} maps to level "
                    f"{e_lvl[ei]}{sign}", "wrong")
    defects.count += max(0, len(wrong) - MAX_DEFECTS)
    # the store's integer weight table must hold the network's weights where the maps say
    w_net = network_weights(net, row_pre, row_delay, data["col_post"])
    off = np.argwhere(data["weight"] != w_net) if data["weight"].shape == w_net.shape \
        else np.zeros((0, 3), int)
    if data["weight"].shape != w_net.shape:
        defects.add(f"tiles.npz: weight table shape {data['weight'].shape}, the maps give "
                    f"{w_net.shape}")
    for t, i, j in off[:5].tolist():
        defects.add(f"tiles.npz: weight table tile {t} row {i} pair {j} says "
                    f"{data['weight'][t, i, j]}, the network has {w_net[t, i, j]} there", "table")
    defects.count += max(0, len(off) - 5)
    return {"synapses_network": int(keep.sum()), "synapses_decoded": int(len(f_key)),
            "synapses_equal": int(len(both_f) - len(wrong)), "missing": int(missing.sum()),
            "extra": int(extra.sum()), "wrong_level": int(len(wrong)),
            "off_grid": int(bad.sum()), "w_net": w_net, "w_max": w_max}


def quantisation(net: Network, dev: Device, enc: Encoding | None = None) -> dict[str, Any]:
    """What the level map loses on this map: from the IR and the device, not the manifest."""
    enc = enc or Encoding()
    w = net.weight.astype(np.int64)
    w_max = int(np.abs(w).max()) if len(w) else 1
    k = weight_levels(w, w_max, dev, enc)
    per_level = weight_per_level(w_max, dev, enc)
    err = np.abs(k * per_level - w)
    return {"levels_per_weight": enc.levels(dev), "encoding": enc.describe(dev),
            "weight_per_level": per_level,
            "synapses": int(len(w)),
            "not_representable": int((err > 1e-9 * max(per_level, 1)).sum()),
            "max_error_weight_units": float(err.max()) if len(err) else 0.0,
            "mean_error_weight_units": float(err.mean()) if len(err) else 0.0,
            "raised_to_one_level": int(((k != 0) & (np.rint(np.abs(w) / per_level) == 0))
                                       .sum())}


# -- 2. netlists: the files on disk against the store

def _norm(tokens: list[str]) -> tuple[list[str], dict[str, str]]:
    pos = [t for t in tokens if "=" not in t]
    kv = dict(t.split("=", 1) for t in tokens if "=" in t)
    return pos, kv


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        x, y = spice_number(a), spice_number(b)
    except ValueError:
        return False
    return abs(x - y) <= VALUE_RTOL * max(abs(x), abs(y))


def _same_tokens(a: list[str], b: list[str]) -> bool:
    (pa, ka), (pb, kb) = _norm(a), _norm(b)
    return (len(pa) == len(pb) and all(_same(x, y) for x, y in zip(pa, pb, strict=True))
            and ka.keys() == kb.keys() and all(_same(ka[k], kb[k]) for k in ka))


def _significant(text: str) -> list[str]:
    """The lines ngspice acts on, as written (comments and blank lines dropped)."""
    return [line for line in text.splitlines() if line.strip() and not line.startswith("*")]


def check_netlist(name: str, text: str, g: np.ndarray, active: np.ndarray, el: Electrical,
                  cpw: int, defects: Defects) -> bool:
    """The written netlist ``text`` against the circuit of the store's ``g`` with word lines
    ``active``, element by element. Returns whether its structure is that of a tile netlist
    (every expected element and nothing else, values aside), i.e. whether ngspice may run it."""
    want_text = netlist_text(g, active, el, {}, cpw)
    if _significant(text) == _significant(want_text):
        return True  # the same lines as the store's circuit, comments aside: nothing to parse
    got, want = parse_netlist(text), parse_netlist(want_text)
    structure = True
    if got.title != TITLE.lower():
        defects.add(f"{name}: first line {got.title[:40]!r} is not {TITLE!r}: not a "
                    f"neuropaste tile netlist")
        structure = False
    for problem in got.problems[:3]:
        defects.add(f"{name}: {problem}")
        structure = False
    missing = [k for k in want.elements if k not in got.elements]
    extra = [k for k in got.elements if k not in want.elements]
    if missing:
        defects.add(f"{name}: {len(missing)} of {len(want.elements)} elements missing "
                    f"(first {missing[0]})")
        structure = False
    if extra:
        defects.add(f"{name}: {len(extra)} elements not in a tile netlist (first "
                    f"{extra[0]}: {' '.join(got.elements[extra[0]])[:60]})")
        structure = False
    if got.models.keys() != want.models.keys():
        defects.add(f"{name}: model cards {sorted(got.models)}, expected {sorted(want.models)}")
        structure = False
    if got.control != [line.lower() for line in control_lines(g.shape[1])[1:-1]]:
        defects.add(f"{name}: its .control block is not the one that prints the column "
                    f"currents")
    shown = 0
    for key, tokens in want.elements.items():
        have = got.elements.get(key)
        if have is None or _same_tokens(have, tokens):
            continue
        shown += 1
        if shown > 3:
            defects.count += 1
            continue
        if key.startswith("rg") and len(have) == 3 and have[:2] == tokens[:2]:
            i, j = map(int, key[2:].split("_"))
            defects.add(f"{name}: memory cell {key} is {have[2]} ohm, tiles.npz programs "
                        f"{tokens[2]} ohm (G = {g[i, j]:.6g} S)")
        else:
            defects.add(f"{name}: {key} is '{' '.join(have)[:60]}', the store's circuit has "
                        f"'{' '.join(tokens)[:60]}'")
        if len(have) != len(tokens) or _norm(have)[0][:-1] != _norm(tokens)[0][:-1]:
            structure = False  # nodes differ: not the same circuit shape
    for key, tokens in want.models.items():
        if key in got.models and not _same_tokens(got.models[key], tokens):
            defects.add(f"{name}: model card {key} is ({' '.join(got.models[key])}), expected "
                        f"({' '.join(tokens)})")
    return structure


# -- 3. the circuit: ngspice on the files against the network's currents

def _ngspice_all(jobs: list[tuple[int, str, np.ndarray]], v_gate: float, workers: int,
                 scheduler: str | None, progress: bool) -> dict[int, Any]:
    """run_tile on every job on a Dask cluster; a tile whose run raised maps to the error."""
    from dask.distributed import as_completed

    with dask_client(workers, scheduler) as client:
        futures = {client.submit(run_tile, text, pats, v_gate, pure=False): t
                   for t, text, pats in jobs}
        results: dict[int, Any] = {}
        bar = tqdm(total=len(futures), desc="ngspice tiles", unit="tile", disable=not progress)
        for fut in as_completed(futures):
            try:
                results[futures[fut]] = fut.result()
            except Exception as err:  # noqa: BLE001 - a tile ngspice cannot run is a defect
                results[futures[fut]] = err
            bar.update(1)
        bar.close()
        return results


def monte_carlo(g: np.ndarray, patterns: np.ndarray, el: Electrical, dev: Device, runs: int,
                drift_time: float | None, seed: int) -> dict[str, float]:
    """Synaptic (differential) current error from device spread and PCM-style drift."""
    rng = np.random.default_rng(seed)
    nominal = np.stack([ideal_currents(g, p, el) for p in patterns])
    nominal = nominal[:, 0::2] - nominal[:, 1::2]
    errs = []
    for _ in range(max(runs, 1)):
        gg = g * np.exp(dev.d2d_sigma * rng.standard_normal(g.shape)) if runs else g.copy()
        if drift_time:
            gg = gg * (max(drift_time, dev.drift_t0) / dev.drift_t0) ** (-dev.drift_nu)
        cur = np.stack([ideal_currents(gg, p, el) for p in patterns])
        errs.append(np.abs(cur[:, 0::2] - cur[:, 1::2] - nominal).max())
    return {"max_synaptic_current_error_A": float(max(errs)),
            "mean_max_error_A": float(np.mean(errs))}


def _patterns(stored: np.ndarray, row_pre: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` row patterns per tile: every used row on (from the row map, whatever the
    store says), then the stored ones, then seeded random halves of the used rows."""
    count = max(1, count)
    used = row_pre >= 0
    pats = np.concatenate([used[:, None, :], stored[:, 1:count].astype(bool) & used[:, None, :]],
                          axis=1)
    if count > pats.shape[1]:
        rng = np.random.default_rng(seed)
        extra = rng.random((len(used), count - pats.shape[1], used.shape[1])) < 0.5
        pats = np.concatenate([pats, extra & used[:, None, :]], axis=1)
    return pats


def _read_store(cd: Compiled, defects: Defects) -> dict[str, np.ndarray] | None:
    """tiles.npz with consistent shapes, or None (a defect says why)."""
    try:
        data = cd.tiles()
    except (OSError, ValueError, KeyError) as err:
        defects.add(f"{SPICE}/tiles.npz: cannot read: {' '.join(str(err).split())[:120]}")
        return None
    need = ("g", "row_pre", "row_delay", "col_post", "col_slice", "weight", "patterns")
    if any(k not in data for k in need):
        defects.add(f"{SPICE}/tiles.npz: lacks {[k for k in need if k not in data]}")
        return None
    g = data["g"]
    t = len(g)
    shapes = {"row_pre": (t, g.shape[1]), "row_delay": (t, g.shape[1]),
              "col_post": (t, g.shape[2] // 2), "col_slice": (t, g.shape[2] // 2)}
    if g.ndim != 3 or g.shape[2] % 2 or any(data[k].shape != s for k, s in shapes.items()) \
            or data["patterns"].shape[::2] != (t, g.shape[1]):
        defects.add(f"{SPICE}/tiles.npz: inconsistent shapes (g {g.shape}, row_pre "
                    f"{data['row_pre'].shape}, col_post {data['col_post'].shape}, patterns "
                    f"{data['patterns'].shape})")
        return None
    return data


def _written_netlists(info: dict[str, Any], n_tiles: int) -> list[int]:
    """The tiles whose netlists compile wrote: all, or the sample tiles.json lists."""
    if info.get("netlists", {}).get("written", "all") == "all":
        return list(range(n_tiles))
    return sorted({int(e["tile"]) for e in info.get("tiles", []) if 0 <= int(e["tile"]) < n_tiles})


def verify(compiled: Path, *, tiles: int | None = None, workers: int = 2,
           scheduler: str | None = None, patterns: int = 4, seed: int = 0,
           progress: bool = True, mc_runs: int = 0,
           drift_time: float | None = None) -> dict[str, Any]:
    """The three parts of the proof (module docstring) on every tile, ngspice on ``tiles``
    sampled ones (all if None); a dict for DIR/verify.json with ``passed`` and ``defects``."""
    if tiles is not None and tiles < 1:
        raise InputError(None, f"--tiles must be >= 1 (tiles checked in ngspice), got {tiles}")
    cd = Compiled.open(compiled)
    net = cd.network()
    defects = Defects()
    try:
        dev, el, info = cd.tile_params()
    except (OSError, ValueError, KeyError, TypeError) as err:
        return {"passed": False, "tiles_total": 0, "tiles_solver": 0, "tiles_ngspice": 0,
                "defects": [f"{SPICE}/tiles.json: cannot read the device and read conditions: "
                            f"{' '.join(str(err).split())[:100]}"], "defects_total": 1,
                "summary": "nothing to check: spice/tiles.json is unreadable"}
    cpw = dev.cells_per_weight
    recorded = (cd.backend("spice") or {}).get("params", {})
    for key, value in (("device", asdict(dev)), ("electrical", asdict(el))):
        if recorded.get(key) != value:
            defects.add(f"{SPICE}/tiles.json: its {key} differs from the one the manifest "
                        f"records for the spice backend")
    try:
        enc = cd.encoding().check(dev)
    except (TypeError, InputError) as err:
        return {"passed": False, "tiles_total": 0, "tiles_solver": 0, "tiles_ngspice": 0,
                "defects": [f"{SPICE}/tiles.json: bad encoding: {err}"], "defects_total": 1,
                "summary": "nothing to check: spice/tiles.json's encoding is unreadable"}
    quant = quantisation(net, dev, enc)
    data = _read_store(cd, defects)
    if data is not None and data["g"].shape[2] % (2 * enc.slices):
        defects.add(f"{SPICE}/tiles.npz: {data['g'].shape[2]} columns do not hold whole "
                    f"weights of {enc.slices} slices")
        data = None
    n_tiles = len(data["g"]) if data is not None else 0
    result: dict[str, Any] = {"tiles_total": n_tiles, "quantisation": quant,
                              "solver_tolerance_fs": SOLVER_TOLERANCE}
    if data is None or n_tiles == 0:
        what = "the map has no tiles" if data is not None else "the tile store is unreadable"
        result.update(passed=False, defects=defects.messages, defects_total=defects.count,
                      tiles_solver=0, tiles_ngspice=0,
                      summary=f"nothing to check: {what}"
                      + (f"; {defects.messages[0]}" if defects.messages else ""))
        return result
    g_all = data["g"]
    rows = g_all.shape[1]
    fs = full_scale(el, dev, rows)
    # 1. weights
    weights = check_weights(net, dev, data, defects, enc)
    w_net = weights.pop("w_net")
    gp, gn = conductances(w_net[..., ::enc.slices], weights.pop("w_max"), dev, enc)
    g_net = np.empty(g_all.shape)
    g_net[..., 0::2], g_net[..., 1::2] = gp, gn
    used = data["row_pre"] >= 0
    for t in np.flatnonzero((data["patterns"][:, 0].astype(bool) != used).any(axis=1))[:3]:
        defects.add(f"tiles.npz: stored pattern 0 of tile {t} is not every used row on")
    # 2. netlists
    texts: dict[int, str] = {}
    runnable: set[int] = set()
    written = _written_netlists(info, n_tiles)
    for t in tqdm(written, desc="netlists", unit="tile", disable=not progress):
        name = tile_netlist(t)
        path = cd.path(name)
        try:
            texts[t] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            defects.add(f"{name}: cannot read: {' '.join(str(err).split())[:100]}")
            continue
        if check_netlist(name, texts[t], g_all[t], used[t], el, cpw, defects):
            runnable.add(t)
    for path in sorted(cd.path(SPICE).glob("tile_*.cir")):
        found = re.fullmatch(r"tile_(\d+)\.cir", path.name)
        if found and int(found.group(1)) >= n_tiles:
            defects.add(f"{SPICE}/{path.name}: a netlist for tile {int(found.group(1))}, which "
                        f"tiles.npz does not have")
        elif found and int(found.group(1)) not in set(written):
            defects.add(f"{SPICE}/{path.name}: a netlist tiles.json does not list as written")
    # 3. circuit: the network's currents by the solver, ngspice on the files
    pats_all = _patterns(data["patterns"], data["row_pre"], patterns, seed)
    step_i = el.v_read * dev.level_step
    per_level = quant["weight_per_level"]
    network_i, worst_ideal, worst_wx, top_wx = {}, 0.0, 0.0, 0.0
    reverse_bias = np.inf  # smallest source-bulk voltage of any cell, every row on
    for t in tqdm(range(n_tiles), desc="fast solver", unit="tile", disable=not progress):
        reverse_bias = min(reverse_bias, float(cell_sources(g_net[t], pats_all[t][0], el,
                                                            cpw).min()) - el.v_body)
        cur = np.stack([solve_tile(g_net[t], p, el, cpw) for p in pats_all[t]])
        ide = np.stack([ideal_currents(g_net[t], p, el) for p in pats_all[t]])
        network_i[t] = (cur, ide)
        worst_ideal = max(worst_ideal, float(np.abs(cur - ide).max() / fs))
        wx = pats_all[t].astype(np.float64) @ w_net[t][:, ::enc.slices]  # exact sums
        read = combine_slices((cur[:, 0::2] - cur[:, 1::2]) / step_i, dev, enc) * per_level
        worst_wx = max(worst_wx, float(np.abs(read - wx).max()))
        top_wx = max(top_wx, float(np.abs(wx).max()))
    rng = np.random.default_rng(seed)
    k = len(written) if tiles is None else min(tiles, len(written))
    sample = sorted(rng.choice(written, size=k, replace=False).tolist())
    for t in sample:
        if t not in runnable:
            defects.add(f"{tile_netlist(t)}: not run in ngspice (its text is not a tile "
                        f"netlist, above)")
    jobs = [(t, texts[t], pats_all[t]) for t in sample if t in runnable]
    spice = _ngspice_all(jobs, el.v_gate, workers, scheduler, progress) if jobs else {}
    err_net, err_ideal, seconds = 0.0, 0.0, 0.0
    samples: dict[str, list[float]] = {"ngspice": [], "solver": [], "ideal": []}
    simulated = 0
    for t, res in sorted(spice.items()):
        if isinstance(res, Exception):
            defects.add(f"{tile_netlist(t)}: ngspice failed: {' '.join(str(res).split())[:100]}")
            continue
        cur_ng, secs = res
        cur_net, cur_id = network_i[t]
        if cur_ng.shape != cur_net.shape:
            defects.add(f"{tile_netlist(t)}: ngspice gave {cur_ng.shape[1]} columns, the tile "
                        f"has {cur_net.shape[1]}")
            continue
        simulated += 1
        seconds += secs
        diff = np.abs(cur_ng - cur_net) / fs
        err_net = max(err_net, float(diff.max()))
        err_ideal = max(err_ideal, float(np.abs(cur_id - cur_ng).max() / fs))
        if diff.max() > SOLVER_TOLERANCE:
            p, j = np.unravel_index(int(np.argmax(diff)), diff.shape)
            post = data["col_post"][t, j // 2]
            defects.add(f"{tile_netlist(t)}: ngspice column {j} ({'G+' if j % 2 == 0 else 'G-'}"
                        f" of post {_name(net, int(post))}), pattern {p}: "
                        f"{cur_ng[p, j]:.6g} A, the network's weights give {cur_net[p, j]:.6g}"
                        f" A ({diff[p, j]:.2%} of full scale, limit {SOLVER_TOLERANCE:.1%})")
        if len(samples["ngspice"]) < 3000:
            samples["ngspice"] += cur_ng.ravel().tolist()
            samples["solver"] += cur_net.ravel().tolist()
            samples["ideal"] += cur_id.ravel().tolist()
    if simulated == 0:
        defects.add("nothing simulated: no tile netlist ran in ngspice")
    passed = defects.count == 0
    result.update({
        "passed": passed,
        "defects": defects.messages,
        "defects_total": defects.count,
        "weights": weights,
        "netlists_checked": len(written),
        "netlists_runnable": len(runnable),
        "tiles_solver": len(network_i),
        "tiles_ngspice": simulated,
        "patterns_per_tile": int(pats_all.shape[1]),
        "full_scale_A": fs,
        "level_step_fs": step_i / fs,
        "max_err_solver_fs": err_net,
        "max_err_network_fs": err_net,
        "max_err_network_levels": err_net * fs / step_i,
        "max_err_ideal_fs": err_ideal,
        "max_err_ideal_fs_all_tiles_solver": worst_ideal,
        "ideal_error_flagged": worst_ideal > IDEAL_FLAG,
        "ideal_flag_threshold_fs": IDEAL_FLAG,
        "synaptic_sum_max_error_weight_units": worst_wx,
        "synaptic_sum_max_error_rel": worst_wx / top_wx if top_wx else 0.0,
        "min_source_bulk_reverse_bias_V": reverse_bias,
        "ngspice_seconds": seconds,
        "samples": samples,
    })
    if mc_runs or drift_time:
        mc = [monte_carlo(g_net[t], pats_all[t], el, dev, mc_runs, drift_time, seed + t)
              for t in range(n_tiles)]
        result["monte_carlo"] = {
            "runs": mc_runs, "drift_time_s": drift_time, "d2d_sigma": dev.d2d_sigma,
            "drift_nu": dev.drift_nu,
            "max_synaptic_current_error_fs": max(m["max_synaptic_current_error_A"]
                                                 for m in mc) / fs}
    q = quant
    loss = (f"quantisation: {q['not_representable']:,} of {q['synapses']:,} weights not "
            f"representable on {q['levels_per_weight']} levels (max "
            f"{q['max_error_weight_units']:.3g}, mean {q['mean_error_weight_units']:.3g} "
            f"weight units)")
    gap = (f"ideal sum w x off by up to {worst_wx:.3g} weight units "
           f"({worst_wx / top_wx if top_wx else 0:.2%} of the largest sum)"
           + (" (flagged)" if worst_ideal > IDEAL_FLAG else ""))
    if passed:
        head = (f"{weights['synapses_decoded']:,} synapses decoded from tiles.npz equal the "
                f"network's levels; {len(written)} netlist files"
                f"{'' if len(written) == n_tiles else f' (a sample of {n_tiles} tiles)'} equal "
                f"tiles.npz; ngspice on {simulated} of {len(written)} files x "
                f"{pats_all.shape[1]} patterns within "
                f"{err_net:.1e} of full scale of the network's currents (limit "
                f"{SOLVER_TOLERANCE:.0e})")
    else:
        more = f" (+{defects.count - 1} more)" if defects.count > 1 else ""
        head = f"{defects.messages[0]}{more}"
    result["summary"] = f"{head}; {loss}; {gap}"
    return result


def check(compiled: Path, options: VerifyOptions) -> dict[str, Any]:
    """The registered spice check (verify/__init__.py)."""
    return verify(compiled, tiles=options.tiles, workers=options.workers,
                  scheduler=options.scheduler, mc_runs=options.mc_runs,
                  drift_time=options.drift_time)


def report_html(compiled: Path) -> str:
    """Report section: a tile's conductance map, utilisation, the proof's figures and what the
    level map loses."""
    import matplotlib.pyplot as plt

    from neuropaste.report import figure_png, table

    cd = Compiled.open(compiled)
    part, verify = cd.backend("spice"), cd.checks().get("spice", {})
    if part is None:
        return ""
    tiles = cd.tiles()
    busiest = int(np.argmax([(w != 0).sum() for w in tiles["weight"]])) if len(tiles["g"]) else 0
    body = ""
    if len(tiles["g"]):
        fig, ax = plt.subplots(figsize=(6, 5))
        im = ax.imshow(tiles["g"][busiest] * 1e6, cmap="viridis", aspect="auto")
        ax.set_title(f"tile {busiest}: conductance (uS), even G+ / odd G- columns")
        ax.set_xlabel("physical column")
        ax.set_ylabel("row (pre, delay)")
        fig.colorbar(im, ax=ax)
        body = figure_png(fig)
    rows = [("device", part["device"]), ("tiles", part["tiles"]),
            ("tile size", f"{part['tile_rows']} x {part['tile_cols']}"),
            ("utilisation", f"{part['utilisation']:.3%}"),
            ("naive N x N utilisation", f"{part['utilisation_naive_NxN']:.3%}"),
            ("programming pulses", part["programming"]["pulses"]),
            ("programming time, tiles in parallel (s)",
             part["programming"]["time_tiles_parallel_s"])]
    q = verify.get("quantisation") or {
        "levels_per_weight": part.get("levels_per_weight"),
        "not_representable": None,
        "max_error_weight_units": part.get("weight_quantisation_max_error"),
        "mean_error_weight_units": part.get("weight_quantisation_mean_error"),
        "raised_to_one_level": part.get("weights_raised_to_one_level")}
    rows += [("levels per weight (device)", q["levels_per_weight"]),
             ("weights not representable on those levels (lost, not proven)",
              q["not_representable"] if q["not_representable"] is not None else "verify first"),
             ("quantisation max / mean error (weight units)",
              f"{q['max_error_weight_units']:.3g} / {q['mean_error_weight_units']:.3g}"),
             ("weights raised to one level", q["raised_to_one_level"])]
    if "stack" in part:
        st = part["stack"]
        for label, figures in (("partitioned", st), ("random", st["baselines"]["random"]),
                               ("in order", st["baselines"]["in_order"])):
            rows.append((f"stack of {len(st['signals_per_die'])} dies, {label}: TSV signals / "
                         "spikes across dies per step",
                         f"{figures['tsv_signals']} / {figures['spike_traffic_per_step']:g}"))
    if verify:
        rows += [("proof", "PASS" if verify.get("passed") else "FAIL"),
                 ("defects", verify.get("defects_total", 0))]
        rows += [(f"defect {i + 1}", d) for i, d in enumerate(verify.get("defects", [])[:10])]
    if verify.get("weights"):
        w = verify["weights"]
        rows += [("synapses decoded from tiles.npz / in the network",
                  f"{w['synapses_decoded']} / {w['synapses_network']}"),
                 ("netlist files checked against tiles.npz", verify.get("netlists_checked"))]
    if verify.get("samples", {}).get("ngspice"):
        s = verify["samples"]
        ng, so, ide = (np.array(s[k]) * 1e6 for k in ("ngspice", "solver", "ideal"))
        fig, ax = plt.subplots(figsize=(6, 5))
        ax.scatter(ng, so, s=6, label="fast solver on the network's weights")
        ax.scatter(ng, ide, s=6, label="ideal sum G V", alpha=0.6)
        ax.set_xlabel("ngspice column current of the files (uA)")
        ax.set_ylabel("prediction (uA)")
        ax.legend()
        body += figure_png(fig)
        rows += [("tiles in ngspice", verify["tiles_ngspice"]),
                 ("max |ngspice - network| / full scale", f"{verify['max_err_solver_fs']:.2e}"),
                 ("one level step / full scale", f"{verify.get('level_step_fs', 0):.2e}"),
                 ("max |ideal - ngspice| / full scale", f"{verify['max_err_ideal_fs']:.3%}"),
                 ("max |read-back - exact sum w x| (weight units)",
                  f"{verify.get('synaptic_sum_max_error_weight_units', 0):.3g}"),
                 ("tiles checked by the fast solver", verify["tiles_solver"])]
    return "<h2>Crossbar tiles (1T1R)</h2>" + table(rows) + body
