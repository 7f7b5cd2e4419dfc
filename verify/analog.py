"""``verify --analog``: the identity check, the tiles in the loop with ideal reads.

With ideal reads (no spread, noise, drift or wire R, an ideal switch, an ideal ADC of one LSB
per digit step) the network run with every synaptic input read from ``spice/tiles.npz`` must
reproduce the stored reference raster bit for bit, and every open-loop input must be exact.
The oracle is the IR (``network.npz``) and the reference model, never the tile store's own
``weight`` table. The identity needs a lossless level map (every weight a whole number of
device levels): on a device with fewer levels the check fails and says so. docs/fidelity.md.

Opt-in only (``verify DIR --analog``): it is not among the default checks, since the default
devices' level maps are lossy by design.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from neuropaste.compiled import TILES, Compiled, tile_netlist
from neuropaste.events import Raster, Stimulus
from neuropaste.reference import simulate


def check(compiled: Path, options: Any) -> dict[str, Any]:
    from neuropaste.sim import analog

    cd = Compiled.open(compiled)
    if not cd.path(TILES).is_file():
        return {"passed": False, "summary": f"{TILES} is missing: nothing to check"}
    net = cd.network()
    tiles = cd.tiles()
    if tiles["g"].ndim != 3 or tiles["g"].shape[0] == 0:
        return {"passed": False, "summary": "the map has no tiles: nothing to check"}
    dev, el, info = cd.tile_params()
    enc = cd.encoding()
    steps = cd.steps if options.steps is None else min(int(options.steps), cd.steps)
    stim = cd.stimulus(net.labels)
    ref = cd.reference(net.labels, steps)
    if ref.first_difference(simulate(net, steps, stim)) is not None:
        return {"passed": False, "summary": "the stored reference raster is not the reference "
                "model's run of network.npz"}
    w_max = int(np.abs(net.weight.astype(np.int64)).max()) if net.n_synapses else 1
    lossless = analog.level_map_lossless(net.weight, w_max, dev, enc)
    rd = analog.prepare(tiles, dev, el, w_max, analog.ReadPath(ideal=True), enc)
    got = analog.run_closed(net, rd, steps, stim)
    open_fig = analog.open_loop(net, rd, ref, stim)
    by_neuron = open_fig.pop("error_by_neuron")
    first = ref.first_difference(got)
    passed = lossless and first is None and open_fig["lsb_exact_fraction"] == 1.0
    if passed:
        summary = (f"{len(tiles['g'])} tiles in the loop with ideal reads reproduce the "
                   f"reference raster ({len(ref)} spikes, {steps} steps); every input exact")
    elif not lossless:
        summary = (f"the level map of {dev.name} ({enc.levels(dev)} levels per weight) is "
                   f"lossy for weights up to {w_max}: the identity needs a whole number of "
                   "levels per weight")
    else:
        worst = int(np.argmax(by_neuron))
        where = open_fig["first_error"]
        summary = (f"ideal reads differ from the network: first input error at step "
                   f"{where['step']}, neuron {net.labels[where['neuron']]} "
                   f"({where['error']:+d} weight units); most error at neuron "
                   f"{net.labels[worst]}" if where else "ideal reads differ from the network")
        if first is not None:
            summary += f"; rasters differ first at step {first[0]}, neuron {net.labels[first[1]]}"
    return {"passed": bool(passed), "summary": summary, "steps": steps,
            "level_map_lossless": lossless, "scaling": rd.scaling(), "open_loop": open_fig,
            "first_difference": None if first is None else [int(first[0]), int(first[1])]}


def report_html(compiled: Path) -> str:
    result = Compiled.open(compiled).checks().get("analog")
    if not result:
        return ""
    status = "PASS" if result.get("passed") else "FAIL"
    return (f"<h2>Crossbar in the loop, ideal reads</h2><p>{status}: "
            f"{html.escape(str(result.get('summary', '')))}</p>")


def fidelity(cd: Compiled, path: Any, steps: int, stim: Stimulus, ngspice: int = 0,
             seed: int = 0) -> tuple[Raster, dict[str, Any]]:
    """``simulate DIR --analog``: the compiled network with its tiles in the loop, read as
    ``path`` (a ``ReadPath``) says, against the reference; the raster and fidelity.json."""
    import time

    from neuropaste.sim import analog

    net = cd.network()
    tiles = cd.tiles()
    dev, el, info = cd.tile_params()
    enc = cd.encoding()
    programming = info["params"].get("programming", "cell")
    tolerance = float(info["params"].get("verify_tolerance_levels", 0.5))
    w_max = int(np.abs(net.weight.astype(np.int64)).max()) if net.n_synapses else 1
    t0 = time.perf_counter()
    reference = simulate(net, steps, stim)
    readout = analog.prepare(tiles, dev, el, w_max, path, enc, programming, tolerance)
    t1 = time.perf_counter()
    raster = analog.run_closed(net, readout, steps, stim)
    t2 = time.perf_counter()
    open_fig = analog.open_loop(net, readout, reference, stim)
    open_fig.pop("error_by_neuron")
    closed_fig = analog.closed_loop_figures(reference, raster)
    model_err = analog.linear_model_error(readout, dev, el, reference, 200, seed)
    t3 = time.perf_counter()
    cross = ngspice_crosscheck(cd, tiles, dev, el, readout, raster, ngspice, seed) \
        if ngspice else None
    return raster, {
        "directory": str(cd.root), "steps": steps, "stimulus_events": len(stim),
        "device": dev.name, "encoding": enc.describe(dev), "tiles": int(len(tiles["g"])),
        "tile": list(tiles["g"].shape[1:]), "read_path": path.as_dict(),
        "scaling": readout.scaling(), "read_model_error": model_err,
        "level_map_lossless": analog.level_map_lossless(net.weight, w_max, dev, enc),
        "ngspice_crosscheck": cross, "open_loop": open_fig, "closed_loop": closed_fig,
        "seconds": {"prepare_and_reference": round(t1 - t0, 3),
                    "closed_loop": round(t2 - t1, 3),
                    "open_loop_figures_and_model_check": round(t3 - t2, 3)},
    }


def ngspice_crosscheck(cd: Compiled, tiles: dict, dev: Any, el: Any, readout: Any,
                       raster: Raster, count: int, seed: int) -> dict[str, Any]:
    """ngspice on the written tile netlists with ``count`` sampled (step, tile) read patterns
    of the analog run, against the in-the-loop linear model and solve_tile on the same stored
    conductances (the files hold the targets: no programming residual, noise or drift)."""
    import time

    from neuropaste.sim import analog
    from neuropaste.sim.solver import row_alone_conductance, solve_tile
    from neuropaste.verify.spice import run_tile

    pats = analog.read_patterns(readout, raster)
    cand = np.argwhere(pats.any(axis=2))
    rng = np.random.default_rng(seed + 5)
    pick = cand[rng.choice(len(cand), min(count, len(cand)), replace=False)] if len(cand) \
        else cand
    unit = el.v_read * dev.level_step * cd.encoding().step(dev)  # one digit step
    err_lin, err_sol, codes, secs, reads = 0.0, 0.0, 0, 0.0, []
    for step, t in sorted(pick.tolist()):
        on = pats[step, t]
        g = tiles["g"][t]
        t0 = time.perf_counter()
        cur_ng, _ = run_tile(cd.path(tile_netlist(t)).read_text(), on[None], el.v_gate)
        secs += time.perf_counter() - t0
        g_eff = row_alone_conductance(g[None], el, dev.cells_per_weight)[0]
        lin = on.astype(np.float64) @ g_eff * el.v_read
        sol = solve_tile(g, on, el, dev.cells_per_weight)
        d_ng, d_lin, d_sol = ((x[0::2] - x[1::2]) / unit for x in (cur_ng[0], lin, sol))
        err_lin = max(err_lin, float(np.abs(d_ng - d_lin).max()))
        err_sol = max(err_sol, float(np.abs(d_ng - d_sol).max()))
        codes += int((np.rint(d_ng) != np.rint(d_lin)).sum())
        reads.append([int(step), int(t), int(on.sum())])
    return {"reads": len(reads), "read_step_tile_rows_on": reads,
            "max_error_linear_model_digit_steps": err_lin,
            "max_error_solve_tile_digit_steps": err_sol,
            "codes_differing_linear_model": codes,
            "pairs_compared": len(reads) * int(tiles["col_post"].shape[1]),
            "ngspice_seconds": round(secs, 2),
            "note": "stored target conductances as written in the netlists; one LSB = one "
                    "digit step of the encoding"}


#: bench/fidelity.py's last rows, shipped so every report can say which memory to paste into
SWEEP = "data/fidelity_sweep.json"


def fidelity_html(result: dict[str, Any]) -> str:
    """Report section: this directory's crossbar-in-the-loop figures, and the device sweep."""
    from importlib import resources

    from neuropaste.report import table

    o, c = result["open_loop"], result["closed_loop"]
    head = (f"<h2>Crossbar in the loop: does the pasted circuit behave like the map?</h2>"
            f"<p>{html.escape(result['device'])}, {html.escape(result['encoding'])}, "
            f"{result['tiles']} tiles; programming "
            f"{html.escape(str(result['scaling']['programming'].get('mode')))}, read noise "
            f"{result['read_path']['read_sigma']:.0%}, {result['steps']} steps "
            "(docs/fidelity.md).</p>")
    body = table({"open loop: inputs LSB-exact": f"{o['lsb_exact_fraction']:.4%}",
                  "open loop: decisions unflipped": f"{1 - o['decisions_flipped_fraction']:.4%}",
                  "closed loop: reference spikes at the same step":
                  f"{c['recall_same_step']:.4%}",
                  "closed loop: precision at the same step": f"{c['precision_same_step']:.4%}",
                  "first divergent step": c["first_divergent_step"]})
    try:
        rows = json.loads(resources.files("neuropaste").joinpath(SWEEP).read_text())
    except (OSError, ValueError):
        return head + body
    keep = [r for r in rows if r["tile"] == 64 and r["r_wire"] == 1.0 and r["compensation"]]
    cells = "".join(
        f"<tr><td>{html.escape(r['device'])} {html.escape(r['age'])}</td>"
        f"<td>{html.escape(r['encoding'])}</td><td>{r['cells_per_synapse']}</td>"
        f"<td>{r['lsb_exact']:.2%}</td><td>{r['unflipped']:.2%}</td>"
        f"<td>{r['recall_same_step']:.2%}</td></tr>" for r in keep)
    sweep = ("<h3>Which memory to paste into (bench/fidelity.py, C. elegans, 64 × 64 tiles, "
             "in-array verify)</h3><table><tr><th>device, age</th><th>encoding</th>"
             "<th>cells per synapse</th><th>LSB-exact</th><th>unflipped</th>"
             f"<th>spikes at the same step</th></tr>{cells}</table>")
    return head + body + sweep
