"""Synaptic events per second: neuropaste's reference model against Brian2.

Default: the same 1e4-neuron, 1e7-synapse LIF network (1,000 random targets per neuron, delays
1-4, 80 % excitatory) and the same Poisson drive go to (1) the integer reference model, (2) its
floating-point mode and (3) Brian2 running the identical discrete-time update (cython target
when it builds, else numpy), in one process.

``--microcircuit S``: the Potjans & Diesmann microcircuit (``builtin:microcircuit?scale=S``),
no external events (its DC drive is the bias), each engine in its own process (a fresh
interpreter builds the map, runs, and reports its peak memory), plus the firing rate of every
population after the first ``--skip`` steps, against the paper's.

Build and compilation are excluded: each engine is warmed up, then timed over ``--steps``
steps. Events = spikes x fan-out actually delivered.

    .venv/bin/python bench/reference.py [--neurons 10000] [--fanout 1000] [--steps 300]
    .venv/bin/python bench/reference.py --microcircuit 0.1 --steps 10000 [--skip 1000]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

import numpy as np

from neuropaste.cmap import ConnectivityMap
from neuropaste.events import Stimulus, poisson
from neuropaste.generators.quantize import quantize
from neuropaste.io import load_map
from neuropaste.neuron import QuantOptions
from neuropaste.reference import simulate
from neuropaste.sim.float_model import simulate_float

ENGINES = ("integer", "float", "brian2", "paper")
#: Potjans & Diesmann 2014, reported spontaneous rates of the full model, Hz
PAPER_RATES = {"L2/3E": 0.86, "L2/3I": 2.8, "L4E": 4.45, "L4I": 5.7, "L5E": 7.59, "L5I": 8.66,
               "L6E": 1.09, "L6I": 7.66}


def network(n: int, fanout: int, seed: int = 0) -> ConnectivityMap:
    rng = np.random.default_rng(seed)
    pre = np.repeat(np.arange(n), fanout)
    post = rng.integers(0, n, n * fanout)
    sign = np.where(np.arange(n) < int(0.8 * n), 1.0, -4.0)[pre]  # 80 % E, 20 % I (x4)
    weight = sign * rng.integers(1, 4, n * fanout)
    delay = rng.integers(1, 5, n * fanout)
    return ConnectivityMap.build([f"n{i}" for i in range(n)], pre, post, weight, delay)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]


def timed(fn, *args):
    t0 = clock()
    out = fn(*args)
    return out, clock() - t0


def run_engine(engine: str, cmap: ConnectivityMap, opts: QuantOptions, steps: int,
               stim: Stimulus, target: str = "cython"
               ) -> tuple[str, np.ndarray, np.ndarray, float, float]:
    """(engine name, spike steps, spike neurons, seconds, setup seconds) of ``steps`` steps
    after a warm-up. Our engines build their delivery tables inside every call: the setup is
    the time of a 0-step call, so ``seconds - setup`` is the step loop alone, as Brian2's run
    is (its synapses are built before)."""
    if engine == "integer":
        net = quantize(cmap, opts)
        simulate(net, 5, stim)  # numba compile
        setup = min(timed(simulate, net, 0, stim)[1] for _ in range(2))
        raster, dt = timed(simulate, net, steps, stim)
        return "neuropaste integer", raster.step, raster.neuron, dt, setup
    if engine == "float":
        simulate_float(cmap, opts, 5, stim)
        setup = min(timed(simulate_float, cmap, opts, 0, stim)[1] for _ in range(2))
        raster, dt = timed(simulate_float, cmap, opts, steps, stim)
        return "neuropaste float", raster.step, raster.neuron, dt, setup
    import brian2 as b2

    if engine == "paper":
        b_net, mon = paper_network(cmap, target)
        b_net.run(5 * b2.defaultclock.dt)
        before = len(mon.i)
        _, dt = timed(b_net.run, steps * b2.defaultclock.dt)
        step = np.rint(np.asarray(mon.t[before:] / b2.defaultclock.dt)).astype(np.int64) - 5
        return "paper's LIF (brian2)", step, np.asarray(mon.i[before:], np.int64), dt, 0.0

    from neuropaste.sim.brian_model import build_network

    try:
        b_net, mon = build_network(cmap, opts, steps + 5, stim, target=target)
        b_net.run(5 * b2.defaultclock.dt)  # code generation and compilation
    except Exception as err:  # noqa: BLE001 - report what ran instead
        print(f"brian2 {target} target failed ({type(err).__name__}); using numpy",
              file=sys.stderr)
        target = "numpy"
        b_net, mon = build_network(cmap, opts, steps + 5, stim, target=target)
        b_net.run(5 * b2.defaultclock.dt)
    before = len(mon.i)
    _, dt = timed(b_net.run, steps * b2.defaultclock.dt)
    step = np.rint(np.asarray(mon.t[before:] / b2.defaultclock.dt)).astype(np.int64) - 5
    return (f"brian2 {b2.__version__} ({target})", step, np.asarray(mon.i[before:], np.int64),
            dt, 0.0)


def paper_network(cmap: ConnectivityMap, target: str):
    """The microcircuit's own neuron in Brian2 (NEST's iaf_psc_exp: exponential currents,
    tau_m 10 ms, exact integration) on the same synapses and delays: what the paper simulates,
    but from rest like ours, to separate the neuron model's effect on the rates from ours."""
    import brian2 as b2

    from neuropaste.io import microcircuit as mc

    b2.prefs.codegen.target = target
    b2.defaultclock.dt = mc.DT_MS * b2.ms
    units = mc.model_units()
    pop = np.repeat(np.arange(8), np.diff([0, *(b for _, b in cmap.meta["populations"].values())]))
    group = b2.NeuronGroup(
        cmap.n_neurons,
        """dv/dt = -v / tau_m + (I + I_dc) / C_m : volt (unless refractory)
        dI/dt = -I / tau_syn : amp
        I_dc : amp (constant)""",
        threshold="v >= v_th", reset="v = 0*mV", refractory=mc.REFRACTORY_MS * b2.ms,
        method="exact",
        namespace={"tau_m": mc.TAU_M_MS * b2.ms, "tau_syn": mc.TAU_SYN_MS * b2.ms,
                   "C_m": mc.C_M_PF * b2.pF, "v_th": mc.THRESHOLD_MV * b2.mV})
    group.I_dc = (mc.dc_bias() / units["gain"] * mc.C_M_PF / mc.DT_MS)[pop] * b2.pA
    syn = b2.Synapses(group, group, "w : amp", on_pre="I_post += w")
    syn.connect(i=cmap.pre.astype(np.int64), j=cmap.post.astype(np.int64))
    # map weights are charge-equivalent jumps x gain: back to current amplitudes
    syn.w = cmap.weight / units["gain"] * mc.C_M_PF / mc.TAU_SYN_MS * b2.pA
    syn.delay = cmap.delay.astype(np.float64) * mc.DT_MS * b2.ms
    monitor = b2.SpikeMonitor(group)
    return b2.Network(group, syn, monitor), monitor


def table(results: dict[str, tuple[int, float, int, float]], network_info: dict) -> dict:
    """Print events/s per engine (whole call, and step loop alone) and the ratios to Brian2's;
    return the JSON report."""
    base = next((v for k, v in results.items() if k.startswith("brian2")), None)
    base_rate = base[0] / base[1] if base else float("nan")  # no Brian2 run: no ratio
    report = {"network": network_info,
              "machine": f"{platform.processor() or platform.machine()}, "
                         f"python {platform.python_version()}",
              "engines": {}}
    print(f"{'engine':32s} {'spikes':>9s} {'events':>12s} {'seconds':>8s} {'setup':>6s} "
          f"{'events/s':>10s} {'vs brian2':>9s} {'loop ev/s':>10s} {'vs brian2':>9s}")
    for name, (events, secs, spikes, setup) in results.items():
        rate = events / secs
        loop = events / (secs - setup) if secs > setup else float("nan")  # noise won
        report["engines"][name] = {"spikes": spikes, "events": events, "seconds": secs,
                                   "setup_seconds": setup, "events_per_s": rate,
                                   "ratio_vs_brian2": rate / base_rate,
                                   "loop_events_per_s": loop,
                                   "loop_ratio_vs_brian2": loop / base_rate}
        print(f"{name:32s} {spikes:9d} {events:12d} {secs:8.2f} {setup:6.2f} {rate:10.3g} "
              f"{rate / base_rate:9.2f} {loop:10.3g} {loop / base_rate:9.2f}")
    return report


def random_network(args: argparse.Namespace) -> None:
    cmap = network(args.neurons, args.fanout)
    opts = QuantOptions(threshold=60.0, tau=8.0, refractory=2)
    stim = poisson(cmap.n_neurons, args.steps, args.rate, seed=1)
    fanout = np.bincount(cmap.pre, minlength=cmap.n_neurons)
    results = {}
    for engine in ENGINES[:3]:
        name, _, neuron, dt, setup = run_engine(engine, cmap, opts, args.steps, stim,
                                                args.target)
        results[name] = (int(fanout[neuron].sum()), dt, len(neuron), setup)
    report = table(results, {"neurons": args.neurons, "synapses": cmap.n_synapses,
                             "steps": args.steps, "drive_rate": args.rate})
    print(json.dumps(report, indent=2))


def microcircuit_engine(args: argparse.Namespace) -> None:
    """One engine on the microcircuit, in this process: prints one JSON line."""
    t0 = time.perf_counter()
    cmap = load_map(f"builtin:microcircuit?scale={args.microcircuit}")
    build_s = time.perf_counter() - t0
    name, step, neuron, dt, setup = run_engine(args.engine, cmap, QuantOptions(), args.steps,
                                               Stimulus.empty(), args.target)
    fanout = np.bincount(cmap.pre, minlength=cmap.n_neurons)
    late = step >= args.skip
    seconds_bio = (args.steps - args.skip) * cmap.meta["step_ms"] * 1e-3
    rates = {pop: float(np.count_nonzero(late & (neuron >= a) & (neuron < b)))
             / (b - a) / seconds_bio for pop, (a, b) in cmap.meta["populations"].items()}
    print(json.dumps({"engine": name, "events": int(fanout[neuron].sum()), "seconds": dt,
                      "setup_seconds": setup,
                      "spikes": len(neuron), "rates_hz": rates, "build_s": build_s,
                      "neurons": cmap.n_neurons, "synapses": cmap.n_synapses,
                      "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}))


def microcircuit(args: argparse.Namespace) -> None:
    """Every engine in a fresh process, one after the other; then the tables."""
    runs = []
    for engine in args.engines:
        cmd = [sys.executable, __file__, "--microcircuit", str(args.microcircuit), "--steps",
               str(args.steps), "--skip", str(args.skip), "--engine", engine,
               "--target", args.target, "--clock", args.clock]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
        print(f"{runs[-1]['engine']}: done in {runs[-1]['seconds']:.2f} s, peak "
              f"{runs[-1]['peak_rss_gb']:.2f} GB", file=sys.stderr)
    results = {r["engine"]: (r["events"], r["seconds"], r["spikes"], r["setup_seconds"])
               for r in runs}
    report = table(results, {"map": f"builtin:microcircuit?scale={args.microcircuit}",
                             "neurons": runs[0]["neurons"], "synapses": runs[0]["synapses"],
                             "steps": args.steps, "external_events": 0, "clock": args.clock})
    print(f"\nrates (Hz) after step {args.skip}")
    print(f"{'population':10s} {'paper':>6s} " + " ".join(f"{r['engine'][:24]:>24s}" for r in runs))
    for pop, paper in PAPER_RATES.items():
        print(f"{pop:10s} {paper:6.2f} " + " ".join(f"{r['rates_hz'][pop]:24.2f}" for r in runs))
    report["runs"] = runs
    print(json.dumps(report, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurons", type=int, default=10_000)
    ap.add_argument("--fanout", type=int, default=1_000)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rate", type=float, default=0.01)
    ap.add_argument("--target", default="cython", choices=["cython", "numpy"])
    ap.add_argument("--microcircuit", type=float, metavar="S",
                    help="run builtin:microcircuit?scale=S instead, one process per engine")
    ap.add_argument("--skip", type=int, default=1000,
                    help="microcircuit: steps left out of the rates (start-up transient)")
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    ap.add_argument("--engine", choices=ENGINES, help=argparse.SUPPRESS)  # the child process
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                    help="time wall seconds, or this process's CPU seconds (steadier on a "
                         "machine shared with other jobs; every engine here runs one thread)")
    args = ap.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    if args.microcircuit is None:
        random_network(args)
    elif args.engine:
        microcircuit_engine(args)
    else:
        microcircuit(args)


if __name__ == "__main__":
    main()
