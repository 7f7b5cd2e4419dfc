"""``neuropaste verify --stack``: the die netlists in ngspice against the solver through the TSVs.

Every check runs the files under ``DIR/spice/stack/`` and compares them with what the stack
description and the tile parameters say (the manifest's via parasitics, the device's
electrical values), never with the netlists' own comments:

- **DC, per memory die.** ngspice runs the die netlist (``die_K.cir`` with its ``.include``d
  tile subcircuits; with ``--tiles K``, K sampled tiles per die, the other tiles' instances
  dropped from the text) for sampled word-line patterns (every net on, then seeded random
  halves), with each column net held at virtual ground at the logic die. (1) Column currents
  against the fast solver on each tile composed through the TSV model: a column net of die k
  reaches the sense node through k + 1 vias of series resistance R, so its die side sits at v_s
  = (k + 1) R I; a tile depends on node-voltage differences only (its access transistors have
  gamma = 0, so where their bodies sit does not enter, and their junctions stay reverse biased),
  so the solver at a small shift gives dI/dv_s and I = I_0 / (1 - (k + 1) R dI/dv_s). Limit 0.1
  % of one column's full scale (V_read G_max R), as for ``--spice``. The vias move the currents
  by ~1e-6 of full scale, so this part cannot see them; (2) therefore every column chain's drop,
  measured at both ends (node ``eJ`` in the die against the 0 V sense node), must equal I (k +
  1) R_via within :data:`VIA_TOLERANCE` of the full-scale drop (k + 1) R_via I_fs: a change of
  R_via by a fraction f fails on a net carrying I when f I / I_fs exceeds it.
- **Stiff transient, every die.** Each die's word-line chain ``wl_K`` (its k + 1 vias with R, L
  and C, then the word line across a tile: r_wire per cell and one gate per cell) driven by a
  1 ps ramp through the via's own sqrt(L / C) (22 ohm), against the exact response of that
  ladder built from the manifest's parasitics (:func:`neuropaste.netlists.tsv.step_response`):
  the charge the source delivers (the chain's capacitance), the integral of V(a) - V(v) over
  the vias (sum of R_via times the capacitance beyond it: linear in R, free of L), and the
  waveforms at both ends (L and C set the ringing). See :func:`stiff_check`.
- **Delay, top die.** A word-line step through the logic die's driver (r_driver, 1 kohm) into
  the top die's chain: the 50 % crossing must agree with the ln 2 x Elmore delay the generator
  reported in the manifest (vias and word line), within 10 %.
"""

from __future__ import annotations

import math
import multiprocessing
import re
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuropaste.compiled import STACK, STACK_INFO, Compiled
from neuropaste.devices import Electrical
from neuropaste.errors import InputError
from neuropaste.netlists.stack_netlist import column_keys, pair_index
from neuropaste.netlists.tsv import TSV, chain_ladder, ladder, step_response
from neuropaste.sim.ngspice import run_text
from neuropaste.sim.solver import solve_tile
from neuropaste.verify.spice import SOLVER_TOLERANCE, full_scale

if TYPE_CHECKING:
    from neuropaste.verify import VerifyOptions

DELAY_TOLERANCE = 0.10
DEFAULT_TILES = 2  # per die: ngspice's time grows ~quadratically with the tiles of one die
SHIFT = 1e-4  # V, the column-end shift at which dI/dv_s is taken
PULSE_DELAY, PULSE_RISE = 10e-12, 1e-12
VIA_TOLERANCE = 1e-6  # of the full-scale drop (k + 1) R_via I_fs; the chain is linear: met to 1e-16
STIFF_TOLERANCE = 1e-3  # relative, on the stiff drive's charge and via area
WAVE_TOLERANCE = 2e-3  # of the step, on the stiff drive's waveforms
STIFF_RISE = 1e-12


def die_bench_text(die_file: Path, k: int, keep: list[int] | None, n_word: int, n_col: int,
                   active: np.ndarray, v_read: float, v_gate: float) -> str:
    """Die ``k``'s netlist (only tiles ``keep``, all if None) under a DC bench: word-line nets
    at ``v_gate`` where ``active``, else 0 V; column nets into 0 V sense sources ``Vb{j}``."""
    lines, skip, header = [], False, False
    folder = die_file.parent.resolve()
    if any(ch == '"' or ord(ch) < 32 for ch in str(folder)):
        raise InputError(folder, "a quote or control character in the path cannot be written "
                                 "into a netlist's .include")
    for line in die_file.read_text().splitlines():
        # the die's body goes to the top level, its ports becoming the bench's nodes: a
        # subcircuit call with more than ~1,000 nodes overflows ngspice (N_GLOBAL_NODES)
        if line.startswith(f".subckt die_{k}") or (header and line.startswith("+")):
            header = True
            continue
        header = False
        if line == f".ends die_{k}":
            continue
        if skip and line.startswith("+"):
            continue
        skip = False
        inc = re.fullmatch(r'\.include "tile_(\d+)\.sub"', line)
        if inc:
            if keep is None or int(inc.group(1)) in keep:
                lines.append(f'.include "{folder / f"tile_{inc.group(1)}.sub"}"')
            continue
        inst = re.fullmatch(r"Xt(\d+)", line)
        if inst and keep is not None and int(inst.group(1)) not in keep:
            skip = True
            continue
        lines.append(line)
    bench = [f"Vrd rd 0 {v_read!r}"]
    bench += [f"Va{i} w{i} 0 {v_gate if on else 0.0!r}" for i, on in enumerate(active.tolist())]
    bench += [f"Vb{j} q{j} 0 0.0" for j in range(n_col)]
    bench += [".op", ".end"]
    return "\n".join([f".title neuropaste die {k} bench", *lines, *bench]) + "\n"


def run_die(die_file: str, k: int, keep: list[int] | None, n_word: int, n_col: int,
            patterns: np.ndarray, v_read: float, v_gate: float
            ) -> tuple[np.ndarray, np.ndarray, float]:
    """ngspice on die ``k`` for every pattern: (patterns x column-net currents, patterns x
    column-chain drops, seconds). A drop is the die side of the net (node ``eJ`` inside the
    die) minus the logic die's sense node (0 V): what the net's vias drop."""
    t0 = time.perf_counter()
    cur, drop = [], []
    for active in patterns:
        vec = run_text(die_bench_text(Path(die_file), k, keep, n_word, n_col, active, v_read,
                                      v_gate))
        cur.append([float(vec[f"vb{j}#branch"][0]) for j in range(n_col)])
        drop.append([float(vec[f"e{j}"][0]) for j in range(n_col)])
    shape = (len(patterns), n_col)
    return (np.array(cur).reshape(shape), np.array(drop).reshape(shape),
            time.perf_counter() - t0)


def chain_definitions(die_file: Path, k: int) -> list[str]:
    """Die ``k``'s file up to its ``die_K`` subcircuit, without the tile includes: the via and
    word-line chain definitions, as written."""
    lines = []
    for line in die_file.read_text().splitlines():
        if line.startswith(f".subckt die_{k}"):
            break
        if not line.startswith(".include"):
            lines.append(line)
    return lines


def chain_bench_text(die_file: Path, k: int, r_driver: float, v_gate: float, tau: float) -> str:
    """The word-line chain ``wl_K`` of die ``k``'s netlist (definitions only, no tiles), driven
    by a step through the logic die's driver resistance."""
    lines = chain_definitions(die_file, k)
    step = tau / 500
    return "\n".join([f".title neuropaste word-line chain to die {k}", *lines,
                      f"Vin src 0 PULSE(0 {v_gate!r} {PULSE_DELAY!r} {PULSE_RISE!r} "
                      f"{PULSE_RISE!r} 1e-06 2e-06)",
                      f"Rdrv src a {r_driver!r}", f"Xc a d wl_{k}",
                      f".tran {step!r} {PULSE_DELAY + 8 * tau!r} 0 {step!r}", ".end"]) + "\n"


def run_chain(die_file: str, k: int, r_driver: float, v_gate: float,
              tau: float) -> tuple[float, float]:
    """50 % crossing (s after the step's midpoint) at the die end of the top word line."""
    t0 = time.perf_counter()
    vec = run_text(chain_bench_text(Path(die_file), k, r_driver, v_gate, tau))
    t, v = vec["time"], vec["d"]
    level = v_gate / 2
    i = int(np.argmax(v >= level))
    if i == 0:
        raise RuntimeError("the word line never reached half its swing")
    cross = t[i - 1] + (level - v[i - 1]) * (t[i] - t[i - 1]) / (v[i] - v[i - 1])
    return float(cross - PULSE_DELAY - PULSE_RISE / 2), time.perf_counter() - t0


def solver_die(data: dict[str, np.ndarray], tiles: list[int], word: np.ndarray,
               cols: np.ndarray, active: np.ndarray, el: Electrical, cpw: int,
               r_chain: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Column-net currents of a die by the fast solver: (through the TSVs, without them)."""
    i0 = np.zeros(len(cols))
    slope = np.zeros(len(cols))
    shifted = replace(el, v_read=el.v_read - SHIFT, v_gate=el.v_gate - SHIFT)
    for t in tiles:
        pre, delay, post = data["row_pre"][t], data["row_delay"][t], data["col_post"][t]
        real = pre >= 0
        on = np.zeros(len(pre), bool)
        on[real] = active[pair_index(np.stack([pre, delay], 1)[real], word)]
        base = solve_tile(data["g"][t], on, el, cpw)
        moved = solve_tile(data["g"][t], on, shifted, cpw)
        keys = column_keys(post, data["col_slice"][t])
        used = keys[:, 0] >= 0
        net = pair_index(keys[used], cols)
        np.add.at(i0, net, base[used])
        np.add.at(slope, net, (moved[used] - base[used]) / SHIFT)
    return i0 / (1.0 - r_chain * slope), i0


def stiff_bench_text(die_file: Path, k: int, r_source: float, v_high: float, rise: float,
                     step: float, end: float) -> str:
    """Die ``k``'s word-line chain ``wl_K`` (from its file, no tiles) driven by a ramp step
    through ``r_source``, with tight tolerances: node ``a`` its input, ``xc.v`` the top of its
    vias, ``d`` the word line's far end, ``vin#branch`` the source current."""
    lines = chain_definitions(die_file, k)
    return "\n".join([f".title neuropaste stiff drive of the word-line chain to die {k}",
                      *lines, f"Vin s 0 PWL(0 0 {PULSE_DELAY!r} 0 {PULSE_DELAY + rise!r} "
                      f"{v_high!r})", f"Rsrc s a {r_source!r}", f"Xc a d wl_{k}",
                      ".options method=trap reltol=1e-6 abstol=1e-18 vntol=1e-12 chgtol=1e-22",
                      f".tran {step!r} {end!r} 0 {step!r}", ".end"]) + "\n"


def run_stiff(die_file: str, k: int, r_source: float, v_high: float, rise: float, step: float,
              end: float) -> tuple[dict[str, np.ndarray], float]:
    """ngspice on :func:`stiff_bench_text`: time, a, v, d, i (source current), seconds."""
    t0 = time.perf_counter()
    vec = run_text(stiff_bench_text(Path(die_file), k, r_source, v_high, rise, step, end))
    out = {"time": vec["time"], "a": vec["a"], "v": vec["xc.v"], "d": vec["d"],
           "i": -vec["vin#branch"]}
    return out, time.perf_counter() - t0


def via_area(elements: list[tuple[str, float]], n_via_r: int) -> float:
    """Sum over the vias' series resistances of R times the capacitance beyond it (s): the
    area between the chain's input and the top of its vias per volt of a settled step."""
    area, seen = 0.0, 0
    for m, (kind, value) in enumerate(elements):
        if kind == "R":
            seen += 1
            if seen > n_via_r:
                break
            area += value * sum(c for kk, c in elements[m + 1:] if kk == "C")
    return area


def stiff_check(die_file: Path, k: int, tsv: TSV, word_line: tuple[float, float, int],
                c_load: float, v_high: float) -> dict[str, Any]:
    """The top word line under a stiff drive (a source of the via's own sqrt(L / C)), against
    the exact response of the ladder built from the manifest's via parasitics and the tile's
    electrical parameters. Three measures, each with its own reach:

    - charge the source delivers: the chain's whole capacitance (vias, gates, load);
    - area between the chain input and the top of its vias, the integral of V(a) - V(v):
      sum of R_via times the capacitance beyond it (inductance integrates to zero, since the
      current starts and ends at 0): linear in the vias' R;
    - waveforms at the top of the vias and at the word line's far end: ringing and overshoot
      set by L and C.
    """
    n = k + 1
    r_wire, c_cell, cells = word_line
    r_source = math.sqrt(tsv.l / tsv.c)
    elements = chain_ladder(tsv, n, c_load, r_wire=r_wire, c_cell=c_cell, cells=cells)
    c_total = sum(v for kind, v in elements if kind == "C")
    n_via_r = n * sum(1 for kind, _ in ladder(tsv) if kind == "R")
    area = via_area(elements, n_via_r)
    r_path = r_source + sum(v for kind, v in elements if kind == "R")
    flight = math.sqrt(tsv.l * tsv.c)
    step = min(flight / 40, r_source * c_total / 100)
    end = PULSE_DELAY + STIFF_RISE + 60 * r_path * c_total + 200 * n * flight
    got, seconds = run_stiff(str(die_file), k, r_source, v_high, STIFF_RISE, step, end)
    t = got["time"]
    grid = np.arange(0.0, end - PULSE_DELAY, 2 * step)

    def exact(via: TSV) -> dict[str, np.ndarray]:
        return step_response(via, n, r_source, v_high, STIFF_RISE, grid, c_load, r_wire,
                             c_cell, cells)

    want = exact(tsv)
    wave = max(float(np.abs(np.interp(grid + PULSE_DELAY, t, got[x]) - want[x]).max())
               for x in ("v", "d")) / v_high
    c_meas = float(np.trapezoid(got["i"], t)) / v_high
    area_meas = float(np.trapezoid(got["a"] - got["v"], t)) / v_high
    settled = abs(float(got["d"][-1]) / v_high - 1.0)
    err_c, err_r = abs(c_meas / c_total - 1.0), abs(area_meas / area - 1.0)

    def moved(**change: float) -> float:
        other = exact(replace(tsv, **{key: getattr(tsv, key) * f for key, f in change.items()}))
        return max(float(np.abs(other[x] - want[x]).max()) for x in ("v", "d")) / v_high

    # what each measure resolves: the smallest relative change of one via parameter it fails on
    resolution = {"r": STIFF_TOLERANCE,
                  "c": min(STIFF_TOLERANCE * c_total / (n * tsv.c),
                           0.01 * WAVE_TOLERANCE / max(moved(c=1.01), 1e-30)),
                  "l": 0.01 * WAVE_TOLERANCE / max(moved(l=1.01), 1e-30)}
    failures = []
    if settled > STIFF_TOLERANCE:
        failures.append(f"die {k} word line did not settle under the stiff drive "
                        f"(end at {settled:.1e} of the step from its final value)")
    if err_c > STIFF_TOLERANCE:
        failures.append(f"die {k} word-line chain: charge gives {c_meas * 1e15:.2f} fF, the "
                        f"vias ({n} x {tsv.c * 1e15:.2f} fF) and the word line "
                        f"{c_total * 1e15:.2f} fF ({err_c:.1%}): via or gate capacitance")
    if err_r > STIFF_TOLERANCE:
        failures.append(f"die {k} word-line chain: integral of V(a) - V(v) over the vias "
                        f"{area_meas * 1e15:.4g} fs, sum of R_via x C beyond it "
                        f"{area * 1e15:.4g} fs ({err_r:.1%}): via series resistance (or the C "
                        "beyond it)")
    if wave > WAVE_TOLERANCE:
        failures.append(f"die {k} word-line chain: waveform off the exact ladder response "
                        f"by {wave:.2%} of the step (limit {WAVE_TOLERANCE:.1%}): via L or C")
    return {"die": k, "vias": n, "r_source_ohm": r_source, "rise_s": STIFF_RISE,
            "c_total_F": c_total, "c_measured_F": c_meas, "c_rel_err": err_c,
            "via_area_s": area, "via_area_measured_s": area_meas, "via_area_rel_err": err_r,
            "wave_err": wave, "settled_err": settled, "tolerance": STIFF_TOLERANCE,
            "wave_tolerance": WAVE_TOLERANCE, "resolves_rel_change": resolution,
            "points": len(t), "ngspice_seconds": seconds, "failures": failures,
            "passed": not failures}


def _patterns(n: int, count: int, seed: int) -> np.ndarray:
    """Pattern 0: every word-line net on (the worst IR drop); then seeded random halves."""
    rng = np.random.default_rng(seed)
    pats = [np.ones(n, bool)] + [rng.random(n) < 0.5 for _ in range(max(count, 1) - 1)]
    return np.array(pats)


def verify(compiled: Path, *, tiles: int | None = None, patterns: int = 2, seed: int = 0,
           workers: int = 2) -> dict[str, Any]:
    """ngspice on each die (``tiles`` sampled per die, :data:`DEFAULT_TILES` if None; as many
    as the die holds for whole dies) against the solver through the TSV model, and the top
    word line's transient against the Elmore estimate."""
    cd = Compiled.open(compiled)
    stack = (cd.backend("spice") or {}).get("stack")
    folder = cd.path(STACK)
    if stack is None or not cd.path(STACK_INFO).is_file():
        raise InputError(compiled, "was compiled without a stack (use --memory-dies K or "
                                   "--stack FILE with --backends spice)")
    info = cd.stack_info()
    if not info.get("netlists_written", True):
        return {"passed": False, "defects": ["spice/stack: no die netlists were written"],
                "summary": "nothing to check: the stack's netlists were not written (compiled "
                           "with a sample of tile netlists; compile with --netlists all)"}
    data = cd.tiles()
    dev, el, _ = cd.tile_params()
    cpw = dev.cells_per_weight
    fs = full_scale(el, dev, data["g"].shape[1])
    par = stack["tsv_parasitics"]
    tsv = TSV(r=float(par["r"]), c=float(par["c"]), l=float(par["l"]))
    r_via = tsv.r
    word_line = (el.r_wire, el.c_gate * cpw, int(data["g"].shape[2]))
    c_load = float(stack["spec"].get("c_load", 0.0))
    rng = np.random.default_rng(seed)
    tiles = DEFAULT_TILES if tiles is None else tiles
    jobs = []
    for d in info["dies"]:
        k, on_die = d["die"], d["tiles"]
        keep = None
        if tiles < len(on_die):
            keep = sorted(rng.choice(on_die, size=max(tiles, 0), replace=False).tolist())
        pats = _patterns(len(d["word_lines"]), patterns, seed + k)
        jobs.append((d, keep, pats))
    top = max(d["die"] for d in info["dies"])
    tau = float(stack["word_line_elmore_s_top_die"])
    estimate = float(stack["word_line_delay_50_s_top_die"])
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(jobs) + 1)),
                             mp_context=ctx) as pool:
        chain = pool.submit(run_chain, str(folder / f"die_{top}.cir"), top,
                            float(stack["spec"]["r_driver"]), el.v_gate, tau)
        stiff = [pool.submit(stiff_check, folder / d["netlist"], d["die"], tsv, word_line,
                             c_load, el.v_gate) for d in info["dies"]]
        futures = [pool.submit(run_die, str(folder / d["netlist"]), d["die"], keep,
                               len(d["word_lines"]), len(d["columns"]), pats, el.v_read,
                               el.v_gate) for d, keep, pats in jobs]
        spice = [f.result() for f in futures]
        t50, chain_seconds = chain.result()
        stiff_result = [f.result() for f in stiff]
    dies, worst, tsv_effect, worst_via = [], 0.0, 0.0, 0.0
    failures: list[str] = []
    samples: dict[str, list[float]] = {"ngspice": [], "solver": []}
    for (d, keep, pats), (cur_ng, drop_ng, secs) in zip(jobs, spice, strict=True):
        word, cols = np.array(d["word_lines"]).reshape(-1, 2), np.array(d["columns"]).reshape(-1, 2)
        # the vias per net come from the stack description, not from the die file's metadata
        r_chain = (d["die"] + 1) * r_via
        used = d["tiles"] if keep is None else keep
        err, via_err, via_at = 0.0, 0.0, (0, 0)
        for p, active in enumerate(pats):
            ours, bare = solver_die(data, used, word, cols, active, el, cpw, r_chain)
            err = max(err, float(np.abs(ours - cur_ng[p]).max(initial=0.0) / fs))
            # each column chain's drop, measured at both ends, against I (k + 1) R_via
            off = np.abs(drop_ng[p] - cur_ng[p] * r_chain) / (r_chain * fs)
            if len(off) and float(off.max()) > via_err:
                via_err, via_at = float(off.max()), (p, int(off.argmax()))
            tsv_effect = max(tsv_effect, float(np.abs(ours - bare).max(initial=0.0) / fs))
            if len(samples["ngspice"]) < 3000:
                samples["ngspice"] += cur_ng[p].tolist()
                samples["solver"] += ours.tolist()
        worst, worst_via = max(worst, err), max(worst_via, via_err)
        if not used or (len(cols) and not np.abs(cur_ng).max(initial=0.0) > 0):
            failures.append(f"die {d['die']}: no tile or no column current in ngspice, so "
                            "neither the tiles nor the column vias were checked")
        if err > SOLVER_TOLERANCE:
            failures.append(f"die {d['die']}: column currents off the solver through the TSVs "
                            f"by {err:.1e} of full scale (limit {SOLVER_TOLERANCE:.0e})")
        if via_err > VIA_TOLERANCE:
            p, j = via_at
            sign = "+-"[int(cols[j, 1])]
            failures.append(
                f"die {d['die']} column net q{j} (neuron {int(cols[j, 0])}, {sign}): its "
                f"{d['die'] + 1} vias drop {drop_ng[p][j] * 1e6:.3f} uV, I (k + 1) R_via = "
                f"{cur_ng[p][j] * r_chain * 1e6:.3f} uV ({via_err:.1e} of the full-scale "
                f"drop, limit {VIA_TOLERANCE:.0e}): via series resistance")
        dies.append({"die": d["die"], "tiles_on_die": len(d["tiles"]),
                     "tiles_ngspice": len(used), "tiles_sampled": keep,
                     "word_line_nets": len(word), "column_nets": len(cols),
                     "vias_per_net": d["vias_per_net"], "patterns": len(pats),
                     "max_err_solver_fs": err, "max_via_drop_err": via_err,
                     "via_drop_fs_uV": r_chain * fs * 1e6,
                     # the smallest relative change of R_via the drop check fails on
                     "via_r_resolution": VIA_TOLERANCE * fs / max(
                         float(np.abs(cur_ng).max(initial=0.0)), 1e-30),
                     "ngspice_seconds": secs,
                     "passed": err <= SOLVER_TOLERANCE and via_err <= VIA_TOLERANCE
                     and bool(used)})
    delay_err = abs(t50 / estimate - 1.0)
    if delay_err > DELAY_TOLERANCE:
        failures.append(f"die {top} word line through the {float(stack['spec']['r_driver']):g}"
                        f" ohm driver: t50 {t50 * 1e12:.1f} ps vs ln2 Elmore "
                        f"{estimate * 1e12:.1f} ps ({delay_err:.1%})")
    failures += [f for x in stiff_result for f in x["failures"]]
    passed = not failures
    st = {key: max(x[key] for x in stiff_result)
          for key in ("c_rel_err", "via_area_rel_err", "wave_err")}
    return {
        "passed": passed,
        "dies": dies,
        "full_scale_A": fs,
        "max_err_solver_fs": worst,
        "solver_tolerance_fs": SOLVER_TOLERANCE,
        "max_tsv_effect_fs": tsv_effect,
        "max_via_drop_err": worst_via,
        "via_tolerance": VIA_TOLERANCE,
        "stiff": stiff_result,
        "failures": failures,
        "transient": {"die": top, "vias": top + 1, "t50_ngspice_s": t50,
                      "t50_estimate_s": estimate, "elmore_s": tau, "rel_err": delay_err,
                      "tolerance": DELAY_TOLERANCE, "ngspice_seconds": chain_seconds,
                      "passed": delay_err <= DELAY_TOLERANCE},
        "samples": samples,
        "summary": "; ".join(failures) if failures else (
            f"{len(dies)} dies ({sum(x['tiles_ngspice'] for x in dies)} tiles) in "
            f"ngspice, solver through the TSVs within {worst:.1e} of full scale (limit "
            f"{SOLVER_TOLERANCE:.0e}); column via drops = I (k + 1) R_via within {worst_via:.1e}"
            f" (limit {VIA_TOLERANCE:.0e}); stiff drive of every word-line chain: C "
            f"{st['c_rel_err']:.1e}, via R area {st['via_area_rel_err']:.1e} (limit "
            f"{STIFF_TOLERANCE:.0e}), waveform {st['wave_err']:.1e} of the step (limit "
            f"{WAVE_TOLERANCE:.0e}); t50 through the driver {t50 * 1e12:.1f} ps vs "
            f"ln2 Elmore {estimate * 1e12:.1f} ps ({delay_err:.1%}, limit "
            f"{DELAY_TOLERANCE:.0%})"),
    }


def check(compiled: Path, options: VerifyOptions) -> dict[str, Any]:
    """The registered stack check (verify/__init__.py)."""
    return verify(compiled, tiles=options.tiles, workers=options.workers)


def report_html(compiled: Path) -> str:
    """Report section: the stack drawn as layers (tiles per die, TSVs per interface), its
    cost against the random and in-order baselines, and the ``verify --stack`` figures."""
    import matplotlib.pyplot as plt

    from neuropaste.report import figure_png, table

    cd = Compiled.open(compiled)
    part, check = cd.backend("spice"), cd.checks().get("stack", {})
    if part is None or "stack" not in part:
        return ""
    st = part["stack"]
    n = len(st["tiles_per_die"])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [1, 1.3]})
    ax.add_patch(plt.Rectangle((0, 0), 1, 0.8, color="#888"))
    ax.text(0.5, 0.4, "logic die: neurons, drivers, sense", ha="center", va="center",
            color="w", fontsize=9)
    for k in range(n):
        y = 1.2 + 1.2 * k
        ax.add_patch(plt.Rectangle((0, y), 1, 0.8, color="#4466aa"))
        ax.text(0.5, y + 0.4, f"memory die {k}: {st['tiles_per_die'][k]} tiles, "
                f"{st['signals_per_die'][k]} signals", ha="center", va="center", color="w",
                fontsize=9)
        ax.annotate(f"{st['tsvs_per_interface'][k]} TSVs", (1.02, y - 0.2), fontsize=8,
                    va="center")
        for x in np.linspace(0.1, 0.9, 9):
            ax.plot([x, x], [y - 0.4, y], color="#c80", lw=1.5)
    ax.set_xlim(0, 1.35)
    ax.set_ylim(-0.1, 1.2 * n + 1.1)
    ax.axis("off")
    ax.set_title(f"stack: {n} memory dies on the logic die")
    names = ["partitioned", "random", "in order"]
    runs = [st, st["baselines"]["random"], st["baselines"]["in_order"]]
    x = np.arange(3)
    bx.bar(x - 0.2, [r["tsv_signals"] for r in runs], 0.4, label="TSV signals")
    bx.bar(x + 0.2, [r["tsv_segments"] for r in runs], 0.4, label="TSV segments (via count)")
    tx = bx.twinx()
    tx.plot(x, [r["spike_traffic_per_step"] for r in runs], "ko-", label="spikes across / step")
    tx.set_ylabel(f"spikes across dies per step ({st['traffic_weighted_by']})")
    tx.set_ylim(0, None)
    bx.set_xticks(x, names)
    bx.set_ylabel("TSVs")
    bx.legend(loc="upper left", fontsize=8)
    tx.legend(loc="upper right", fontsize=8)
    body = figure_png(fig)
    rows = [(f"{name}: TSV signals / via segments / spikes across dies per step",
             f"{r['tsv_signals']} / {r['tsv_segments']} / {r['spike_traffic_per_step']:.4g}")
            for name, r in zip(names, runs, strict=True)]
    rows += [("tiles per die (capacity)",
              f"{st['tiles_per_die']} ({st['tiles_per_die_capacity']})"),
             ("TSVs per interface (budget)",
              f"{st['tsvs_per_interface']} ({st['tsv_budget_per_interface']})"),
             ("via R / C / L", f"{st['tsv_parasitics']['r'] * 1e3:.1f} mOhm / "
              f"{st['tsv_parasitics']['c'] * 1e15:.1f} fF / {st['tsv_parasitics']['l'] * 1e12:.1f}"
              " pH"),
             ("word line to the top die, ln2 Elmore",
              f"{st['word_line_delay_50_s_top_die'] * 1e12:.1f} ps")]
    if "netlists" in st:
        nl = st["netlists"]
        rows.append(("netlist nets: word lines / columns / via instances",
                     f"{nl['word_line_nets']} / {nl['column_nets']} / {nl['via_instances']}"))
    if check:
        tr = check["transient"]
        rows += [("verify --stack", "PASS" if check.get("passed") else "FAIL"),
                 ("max |ngspice - solver through TSVs| / full scale",
                  f"{check['max_err_solver_fs']:.2e} (limit {check['solver_tolerance_fs']:g})"),
                 ("column via drops vs I (k + 1) R_via / full-scale drop",
                  f"{check.get('max_via_drop_err', float('nan')):.2e} "
                  f"(limit {check.get('via_tolerance', float('nan')):g})")]
        for sd in check.get("stiff", []):
            res = sd["resolves_rel_change"]
            rows.append((f"die {sd['die']} word-line chain, stiff drive: C / R area / waveform",
                         f"{sd['c_rel_err']:.1e} / {sd['via_area_rel_err']:.1e} / "
                         f"{sd['wave_err']:.1e} (resolves R {res['r']:.2%}, L {res['l']:.2%},"
                         f" C {res['c']:.2%})"))
        rows += [("tiles in ngspice per die", [d["tiles_ngspice"] for d in check["dies"]]),
                 ("top word line t50: ngspice / estimate",
                  f"{tr['t50_ngspice_s'] * 1e12:.1f} ps / {tr['t50_estimate_s'] * 1e12:.1f} ps "
                  f"({tr['rel_err']:.1%})")]
    return "<h2>TSV stack</h2>" + table(rows) + body
