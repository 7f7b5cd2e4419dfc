"""Synaptic events per second: neuropaste's reference model against Brian2, in one run.

The same 1e4-neuron, 1e7-synapse LIF network (1,000 random targets per neuron, delays 1-4,
80 % excitatory) and the same Poisson drive go to (1) the integer reference model, (2) its
floating-point mode and (3) Brian2 running the identical discrete-time update (cython target
when it builds, else numpy). Build and compilation are excluded: each engine is warmed up,
then timed over ``--steps`` steps. Events = spikes x fan-out actually delivered.

    .venv/bin/python bench/reference.py [--neurons 10000] [--fanout 1000] [--steps 300]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from neuropaste.cmap import ConnectivityMap
from neuropaste.events import poisson
from neuropaste.generators.quantize import quantize
from neuropaste.neuron import QuantOptions
from neuropaste.reference import simulate
from neuropaste.sim.float_model import simulate_float


def network(n: int, fanout: int, seed: int = 0) -> ConnectivityMap:
    rng = np.random.default_rng(seed)
    pre = np.repeat(np.arange(n), fanout)
    post = rng.integers(0, n, n * fanout)
    sign = np.where(np.arange(n) < int(0.8 * n), 1.0, -4.0)[pre]  # 80 % E, 20 % I (x4)
    weight = sign * rng.integers(1, 4, n * fanout)
    delay = rng.integers(1, 5, n * fanout)
    return ConnectivityMap.build([f"n{i}" for i in range(n)], pre, post, weight, delay)


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurons", type=int, default=10_000)
    ap.add_argument("--fanout", type=int, default=1_000)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rate", type=float, default=0.01)
    ap.add_argument("--target", default="cython", choices=["cython", "numpy"])
    args = ap.parse_args()

    cmap = network(args.neurons, args.fanout)
    opts = QuantOptions(threshold=60.0, tau=8.0, refractory=2)
    net = quantize(cmap, opts)
    stim = poisson(cmap.n_neurons, args.steps, args.rate, seed=1)
    fanout = np.bincount(cmap.pre, minlength=cmap.n_neurons)
    results = {}

    simulate(net, 5, stim)  # numba compile
    raster, dt = timed(simulate, net, args.steps, stim)
    results["neuropaste integer"] = (int(fanout[raster.neuron].sum()), dt, len(raster))
    simulate_float(cmap, opts, 5, stim)
    raster, dt = timed(simulate_float, cmap, opts, args.steps, stim)
    results["neuropaste float"] = (int(fanout[raster.neuron].sum()), dt, len(raster))

    import brian2 as b2

    from neuropaste.sim.brian_model import build_network

    target = args.target
    try:
        b_net, mon = build_network(cmap, opts, args.steps + 5, stim, target=target)
        b_net.run(5 * b2.defaultclock.dt)  # code generation and compilation
    except Exception as err:  # noqa: BLE001 - report what ran instead
        print(f"brian2 {target} target failed ({type(err).__name__}); using numpy")
        target = "numpy"
        b_net, mon = build_network(cmap, opts, args.steps + 5, stim, target=target)
        b_net.run(5 * b2.defaultclock.dt)
    before = len(mon.i)
    _, dt = timed(b_net.run, args.steps * b2.defaultclock.dt)
    idx = np.asarray(mon.i[before:], np.int64)
    results[f"brian2 {b2.__version__} ({target})"] = (int(fanout[idx].sum()), dt, len(idx))

    base = results[next(k for k in results if k.startswith("brian2"))]
    base_rate = base[0] / base[1]
    report = {"network": {"neurons": args.neurons, "synapses": cmap.n_synapses,
                          "steps": args.steps, "drive_rate": args.rate},
              "machine": f"{platform.processor() or platform.machine()}, "
                         f"python {platform.python_version()}",
              "engines": {}}
    print(f"{'engine':32s} {'spikes':>9s} {'events':>12s} {'seconds':>8s} {'events/s':>10s} "
          f"{'vs brian2':>9s}")
    for name, (events, secs, spikes) in results.items():
        rate = events / secs
        report["engines"][name] = {"spikes": spikes, "events": events, "seconds": secs,
                                   "events_per_s": rate, "ratio_vs_brian2": rate / base_rate}
        print(f"{name:32s} {spikes:9d} {events:12d} {secs:8.2f} {rate:10.3g} "
              f"{rate / base_rate:9.2f}")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
