"""``neuropaste verify --spice``: the tiles against the fast solver, ngspice and the ideal.

Every tile and stored pattern goes through the fast solver (and is compared with the ideal
sum G V: the IR-drop and access-transistor error, flagged above ``ideal_flag``); K sampled
tiles (all by default) also go through ngspice, which must agree with the solver within 0.1 %
of full-scale column current. ngspice runs in parallel on a Dask cluster: a local one with
``workers`` processes by default, or the scheduler at ``scheduler``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from neuropaste.compiled import Compiled
from neuropaste.devices import Electrical
from neuropaste.netlists.tile import tile_circuit
from neuropaste.sim.ngspice import branch_currents
from neuropaste.sim.solver import ideal_currents, solve_tile

if TYPE_CHECKING:
    from neuropaste.verify import VerifyOptions

SOLVER_TOLERANCE = 1e-3  # of full-scale column current
IDEAL_FLAG = 0.05


def column_currents(g: np.ndarray, active: np.ndarray, el: Electrical,
                    cells_per_weight: int = 1) -> np.ndarray:
    """ngspice's operating-point current of every sense source ``VS{j}`` of one tile (A)."""
    circuit = tile_circuit(g, active, el, "tile", cells_per_weight)
    return branch_currents(circuit, [f"vs{j}" for j in range(g.shape[1])])


def run_tile(g: np.ndarray, patterns: np.ndarray, el: Electrical,
             cells_per_weight: int = 1) -> tuple[np.ndarray, float]:
    """All patterns of one tile: (patterns x columns currents, seconds in ngspice)."""
    t0 = time.perf_counter()
    out = np.stack([column_currents(g, p, el, cells_per_weight) for p in patterns])
    return out, time.perf_counter() - t0


def full_scale(el, dev, rows: int) -> float:
    """The largest current a column can carry: every row on, every cell at G_max."""
    return el.v_read * dev.g_max * dev.cells_per_weight * rows


def _ngspice_all(jobs, el, cpw, workers: int, scheduler: str | None, progress: bool):
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        futures = {client.submit(run_tile, g, pats, el, cpw, pure=False): t
                   for t, g, pats in jobs}
        results = {}
        bar = tqdm(total=len(futures), desc="ngspice tiles", unit="tile", disable=not progress)
        for fut in as_completed(futures):
            results[futures[fut]] = fut.result()
            bar.update(1)
        bar.close()
        return results
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def monte_carlo(g: np.ndarray, patterns: np.ndarray, el, dev, runs: int, drift_time: float | None,
                seed: int) -> dict[str, float]:
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
    """``count`` row patterns per tile: the stored ones first, then seeded random halves."""
    count = max(1, count)
    pats = stored[:, :count]
    if count > stored.shape[1]:
        rng = np.random.default_rng(seed)
        extra = (rng.random((len(stored), count - stored.shape[1], stored.shape[2])) < 0.5)
        pats = np.concatenate([pats, extra & (row_pre >= 0)[:, None, :]], axis=1)
    return pats


def verify(compiled: Path, *, tiles: int | None = None, workers: int = 2,
           scheduler: str | None = None, patterns: int = 4, seed: int = 0,
           progress: bool = True, mc_runs: int = 0,
           drift_time: float | None = None) -> dict[str, Any]:
    """Fast solver on every tile, ngspice on ``tiles`` sampled ones (all if None); a dict for
    DIR/verify.json with ``passed`` (solver within 0.1 % of full scale of ngspice)."""
    cd = Compiled.open(compiled)
    data = cd.tiles()
    dev, el, _ = cd.tile_params()
    g_all = data["g"]
    pats_all = _patterns(data["patterns"], data["row_pre"], patterns, seed)
    n_tiles = len(g_all)
    rows = g_all.shape[1] if n_tiles else 1
    fs = full_scale(el, dev, rows)
    cpw = dev.cells_per_weight
    solver = {}
    worst_ideal = 0.0
    for t in tqdm(range(n_tiles), desc="fast solver", unit="tile", disable=not progress):
        cur = np.stack([solve_tile(g_all[t], p, el, cpw) for p in pats_all[t]])
        ide = np.stack([ideal_currents(g_all[t], p, el) for p in pats_all[t]])
        solver[t] = (cur, ide)
        worst_ideal = max(worst_ideal, float(np.abs(cur - ide).max() / fs))
    rng = np.random.default_rng(seed)
    k = n_tiles if tiles is None else min(tiles, n_tiles)
    sample = sorted(rng.choice(n_tiles, size=k, replace=False).tolist()) if k else []
    jobs = [(t, g_all[t], pats_all[t]) for t in sample]
    spice = _ngspice_all(jobs, el, cpw, workers, scheduler, progress) if jobs else {}
    err_solver, err_ideal, samples = 0.0, 0.0, {"ngspice": [], "solver": [], "ideal": []}
    seconds = 0.0
    for t, (cur_ng, secs) in sorted(spice.items()):
        cur_so, cur_id = solver[t]
        seconds += secs
        err_solver = max(err_solver, float(np.abs(cur_so - cur_ng).max() / fs))
        err_ideal = max(err_ideal, float(np.abs(cur_id - cur_ng).max() / fs))
        if len(samples["ngspice"]) < 3000:
            samples["ngspice"] += cur_ng.ravel().tolist()
            samples["solver"] += cur_so.ravel().tolist()
            samples["ideal"] += cur_id.ravel().tolist()
    passed = err_solver <= SOLVER_TOLERANCE
    result: dict[str, Any] = {
        "passed": passed,
        "tiles_total": n_tiles,
        "tiles_solver": len(solver),
        "tiles_ngspice": len(spice),
        "patterns_per_tile": int(pats_all.shape[1]) if n_tiles else 0,
        "full_scale_A": fs,
        "max_err_solver_fs": err_solver,
        "solver_tolerance_fs": SOLVER_TOLERANCE,
        "max_err_ideal_fs": err_ideal,
        "max_err_ideal_fs_all_tiles_solver": worst_ideal,
        "ideal_error_flagged": worst_ideal > IDEAL_FLAG,
        "ideal_flag_threshold_fs": IDEAL_FLAG,
        "ngspice_seconds": seconds,
        "samples": samples,
    }
    if mc_runs or drift_time:
        mc = [monte_carlo(g_all[t], pats_all[t], el, dev, mc_runs, drift_time, seed + t)
              for t in range(n_tiles)]
        result["monte_carlo"] = {
            "runs": mc_runs, "drift_time_s": drift_time, "d2d_sigma": dev.d2d_sigma,
            "drift_nu": dev.drift_nu,
            "max_synaptic_current_error_fs": max(m["max_synaptic_current_error_A"]
                                                 for m in mc) / fs}
    result["summary"] = (
        f"{len(spice)} of {n_tiles} tiles in ngspice, solver within "
        f"{err_solver:.1e} of full scale (limit {SOLVER_TOLERANCE:.0e}); ideal sum G V off by "
        f"up to {worst_ideal:.2%} of full scale"
        + (" (flagged)" if worst_ideal > IDEAL_FLAG else ""))
    return result


def check(compiled: Path, options: VerifyOptions) -> dict[str, Any]:
    """The registered spice check (verify/__init__.py)."""
    return verify(compiled, tiles=options.tiles, workers=options.workers,
                  scheduler=options.scheduler, mc_runs=options.mc_runs,
                  drift_time=options.drift_time)


def report_html(compiled: Path) -> str:
    """Report section: a tile's conductance map, utilisation, scatter and error table."""
    import matplotlib.pyplot as plt

    from neuropaste.report import figure_png, table

    cd = Compiled.open(compiled)
    part, verify = cd.backend("spice"), cd.checks().get("spice", {})
    if part is None:
        return ""
    tiles = cd.tiles()
    busiest = int(np.argmax([(w != 0).sum() for w in tiles["weight"]])) if len(tiles["g"]) else 0
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
    if "stack" in part:
        st = part["stack"]
        for label, figures in (("partitioned", st), ("random", st["baselines"]["random"]),
                               ("in order", st["baselines"]["in_order"])):
            rows.append((f"stack of {len(st['signals_per_die'])} dies, {label}: TSV signals / "
                         "spikes across dies per step",
                         f"{figures['tsv_signals']} / {figures['spike_traffic_per_step']:g}"))
    if verify.get("samples"):
        s = verify["samples"]
        ng, so, ide = (np.array(s[k]) * 1e6 for k in ("ngspice", "solver", "ideal"))
        fig, ax = plt.subplots(figsize=(6, 5))
        ax.scatter(ng, so, s=6, label="fast solver")
        ax.scatter(ng, ide, s=6, label="ideal sum G V", alpha=0.6)
        ax.set_xlabel("ngspice column current (uA)")
        ax.set_ylabel("prediction (uA)")
        ax.legend()
        body += figure_png(fig)
        rows += [("tiles in ngspice", verify["tiles_ngspice"]),
                 ("max |solver - ngspice| / full scale", f"{verify['max_err_solver_fs']:.2e}"),
                 ("max |ideal - ngspice| / full scale", f"{verify['max_err_ideal_fs']:.3%}"),
                 ("tiles checked by the fast solver", verify["tiles_solver"])]
    return "<h2>Crossbar tiles (1T1R)</h2>" + table(rows) + body
