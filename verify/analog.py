"""``verify --analog``: the identity check, the tiles in the loop with ideal reads.

With ideal reads (no spread, noise, drift or wire R, an ideal switch, an ideal ADC of one LSB
per weight unit) the network run with every synaptic input read from ``spice/tiles.npz`` must
reproduce the stored reference raster bit for bit, and every open-loop input must be exact.
The oracle is the IR (``network.npz``) and the reference model, never the tile store's own
``weight`` table. The identity needs a lossless level map (every weight a whole number of
device levels): on a device with fewer levels the check fails and says so. docs/fidelity.md.

Opt-in only (``verify DIR --analog``): it is not among the default checks, since the default
devices' level maps are lossy by design.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from neuropaste.compiled import TILES, Compiled
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
    dev, el, _ = cd.tile_params()
    steps = cd.steps if options.steps is None else min(int(options.steps), cd.steps)
    stim = cd.stimulus(net.labels)
    ref = cd.reference(net.labels, steps)
    if ref.first_difference(simulate(net, steps, stim)) is not None:
        return {"passed": False, "summary": "the stored reference raster is not the reference "
                "model's run of network.npz"}
    w_max = int(np.abs(net.weight.astype(np.int64)).max()) if net.n_synapses else 1
    lossless = analog.level_map_lossless(net.weight, w_max, dev)
    rd = analog.prepare(tiles, dev, el, w_max, analog.ReadPath(ideal=True))
    got = analog.run_closed(net, rd, steps, stim)
    open_fig = analog.open_loop(net, rd, ref, stim)
    by_neuron = open_fig.pop("error_by_neuron")
    first = ref.first_difference(got)
    passed = lossless and first is None and open_fig["lsb_exact_fraction"] == 1.0
    if passed:
        summary = (f"{len(tiles['g'])} tiles in the loop with ideal reads reproduce the "
                   f"reference raster ({len(ref)} spikes, {steps} steps); every input exact")
    elif not lossless:
        summary = (f"the level map of {dev.name} ({dev.weight_levels} levels per weight) is "
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
