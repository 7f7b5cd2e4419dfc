"""``neuropaste verify --stack``: the die netlists in ngspice against the solver through the TSVs.

Two proofs, both on the files under ``DIR/spice/stack/``:

- **DC, per memory die.** ngspice runs the die netlist (``die_K.cir`` with its ``.include``d
  tile subcircuits; with ``--tiles K``, K sampled tiles per die, the other tiles' instances
  dropped from the text) for sampled word-line patterns (every net on, then seeded random
  halves), with each column net held at virtual ground at the logic die. The reference is the
  fast solver on each tile, composed through the TSV model: a column net of die k sums its
  tiles' columns and reaches the sense node through k + 1 vias of series resistance R, so the
  die side of the net sits at v_s = (k + 1) R I. A tile's currents depend on node-voltage
  differences only (wires, memory, and an access transistor with its body on its source), so
  raising the column end by v_s is lowering the read and word lines by v_s; the solver at a
  small shift gives dI/dv_s, and I = I_0 / (1 - (k + 1) R dI/dv_s) per net (exact to first
  order; v_s is ~10 uV). The word lines draw no DC current, so their vias drop nothing. Limit:
  0.1 % of the full-scale current of one column (V_read G_max R), as for ``--spice``.
- **Transient, top die.** A word-line step through the logic die's driver into the top die's
  own word-line chain subcircuit (``wl_K`` from ``die_K.cir``: K + 1 vias with R, L and C and
  the word line's input capacitance): the 50 % crossing must agree with the ln 2 x Elmore
  delay the generator reported in the manifest, within 10 %.
"""

from __future__ import annotations

import multiprocessing
import re
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuropaste.compiled import STACK, STACK_INFO, Compiled
from neuropaste.errors import InputError
from neuropaste.netlists.stack_netlist import pair_index
from neuropaste.sim.ngspice import run_text
from neuropaste.sim.solver import solve_tile
from neuropaste.verify.spice import SOLVER_TOLERANCE, full_scale

if TYPE_CHECKING:
    from neuropaste.verify import VerifyOptions

DELAY_TOLERANCE = 0.10
DEFAULT_TILES = 2  # per die: ngspice's time grows ~quadratically with the tiles of one die
SHIFT = 1e-4  # V, the column-end shift at which dI/dv_s is taken
PULSE_DELAY, PULSE_RISE = 10e-12, 1e-12


def die_bench_text(die_file: Path, k: int, keep: list[int] | None, n_word: int, n_col: int,
                   active: np.ndarray, v_read: float, v_gate: float) -> str:
    """Die ``k``'s netlist (only tiles ``keep``, all if None) under a DC bench: word-line nets
    at ``v_gate`` where ``active``, else 0 V; column nets into 0 V sense sources ``Vb{j}``."""
    lines, skip = [], False
    folder = die_file.parent.resolve()
    for line in die_file.read_text().splitlines():
        if skip and line.startswith("+"):
            continue
        skip = False
        inc = re.fullmatch(r"\.include tile_(\d+)\.sub", line)
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
    bench += [f"Va{i} a{i} 0 {v_gate if on else 0.0!r}" for i, on in enumerate(active.tolist())]
    bench += [f"Vb{j} b{j} 0 0.0" for j in range(n_col)]
    ports = ["rd"] + [f"a{i}" for i in range(n_word)] + [f"b{j}" for j in range(n_col)]
    bench += [f"Xdie {' '.join(ports)} die_{k}", ".op", ".end"]
    return "\n".join([f".title neuropaste die {k} bench", *lines, *bench]) + "\n"


def run_die(die_file: str, k: int, keep: list[int] | None, n_word: int, n_col: int,
            patterns: np.ndarray, v_read: float, v_gate: float) -> tuple[np.ndarray, float]:
    """ngspice on die ``k`` for every pattern: (patterns x column nets currents, seconds)."""
    t0 = time.perf_counter()
    out = []
    for active in patterns:
        vec = run_text(die_bench_text(Path(die_file), k, keep, n_word, n_col, active, v_read,
                                  v_gate))
        out.append([float(vec[f"vb{j}#branch"][0]) for j in range(n_col)])
    return np.array(out).reshape(len(patterns), n_col), time.perf_counter() - t0


def chain_bench_text(die_file: Path, k: int, r_driver: float, v_gate: float, tau: float) -> str:
    """The word-line chain ``wl_K`` of die ``k``'s netlist (definitions only, no tiles), driven
    by a step through the logic die's driver resistance."""
    lines = []
    for line in die_file.read_text().splitlines():
        if line.startswith(f".subckt die_{k}"):
            break
        if not line.startswith(".include"):
            lines.append(line)
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
               cols: np.ndarray, active: np.ndarray, el, cpw: int, r_chain: float
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
        p2 = np.repeat(post, 2)
        used = p2 >= 0
        net = pair_index(np.stack([p2, np.tile([0, 1], len(post))], 1)[used], cols)
        np.add.at(i0, net, base[used])
        np.add.at(slope, net, (moved[used] - base[used]) / SHIFT)
    return i0 / (1.0 - r_chain * slope), i0


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
    data = cd.tiles()
    dev, el, _ = cd.tile_params()
    cpw = dev.cells_per_weight
    fs = full_scale(el, dev, data["g"].shape[1])
    r_via = float(stack["tsv_parasitics"]["r"])
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
        futures = [pool.submit(run_die, str(folder / d["netlist"]), d["die"], keep,
                               len(d["word_lines"]), len(d["columns"]), pats, el.v_read,
                               el.v_gate) for d, keep, pats in jobs]
        spice = [f.result() for f in futures]
        t50, chain_seconds = chain.result()
    dies, worst, tsv_effect = [], 0.0, 0.0
    samples: dict[str, list[float]] = {"ngspice": [], "solver": []}
    for (d, keep, pats), (cur_ng, secs) in zip(jobs, spice, strict=True):
        word, cols = np.array(d["word_lines"]).reshape(-1, 2), np.array(d["columns"]).reshape(-1, 2)
        r_chain = d["vias_per_net"] * r_via
        used = d["tiles"] if keep is None else keep
        err = 0.0
        for p, active in enumerate(pats):
            ours, bare = solver_die(data, used, word, cols, active, el, cpw, r_chain)
            err = max(err, float(np.abs(ours - cur_ng[p]).max(initial=0.0) / fs))
            tsv_effect = max(tsv_effect, float(np.abs(ours - bare).max(initial=0.0) / fs))
            if len(samples["ngspice"]) < 3000:
                samples["ngspice"] += cur_ng[p].tolist()
                samples["solver"] += ours.tolist()
        worst = max(worst, err)
        dies.append({"die": d["die"], "tiles_on_die": len(d["tiles"]),
                     "tiles_ngspice": len(used), "tiles_sampled": keep,
                     "word_line_nets": len(word), "column_nets": len(cols),
                     "vias_per_net": d["vias_per_net"], "patterns": len(pats),
                     "max_err_solver_fs": err, "ngspice_seconds": secs,
                     "passed": err <= SOLVER_TOLERANCE})
    delay_err = abs(t50 / estimate - 1.0)
    passed = worst <= SOLVER_TOLERANCE and delay_err <= DELAY_TOLERANCE
    return {
        "passed": passed,
        "dies": dies,
        "full_scale_A": fs,
        "max_err_solver_fs": worst,
        "solver_tolerance_fs": SOLVER_TOLERANCE,
        "max_tsv_effect_fs": tsv_effect,
        "transient": {"die": top, "vias": top + 1, "t50_ngspice_s": t50,
                      "t50_estimate_s": estimate, "elmore_s": tau, "rel_err": delay_err,
                      "tolerance": DELAY_TOLERANCE, "ngspice_seconds": chain_seconds,
                      "passed": delay_err <= DELAY_TOLERANCE},
        "samples": samples,
        "summary": (f"{len(dies)} dies ({sum(x['tiles_ngspice'] for x in dies)} tiles) in "
                    f"ngspice, solver through the TSVs within {worst:.1e} of full scale (limit "
                    f"{SOLVER_TOLERANCE:.0e}); top word line t50 {t50 * 1e12:.1f} ps vs "
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
                 ("tiles in ngspice per die", [d["tiles_ngspice"] for d in check["dies"]]),
                 ("top word line t50: ngspice / estimate",
                  f"{tr['t50_ngspice_s'] * 1e12:.1f} ps / {tr['t50_estimate_s'] * 1e12:.1f} ps "
                  f"({tr['rel_err']:.1%})")]
    return "<h2>TSV stack</h2>" + table(rows) + body
