"""Fast tile solver against ngspice on the same tiles, and tile utilisation against naive N x N.

Part 1: random RRAM tiles of 32x32 .. 256x256 with wire resistance and level-1 access
transistors, half the rows on; both engines solve the same operating point; we report wall
time (ngspice: the operating point through PySpice's shared library, circuit construction
excluded and reported apart), speed ratio and maximum disagreement as a fraction of full-scale
column current. Part 2: utilisation of the bundled connectome and of a 1e4-neuron map with
1,000 synapses per neuron (spatially clustered: 900 of them within the source's cluster of
1,000 neurons), packed into 64x64 tiles, against the naive N x N crossbar (one row per
neuron, all N^2 cells) and against cutting the (pre, delay) x post matrix in input order.

    .venv/bin/python bench/crossbar.py [--sizes 32 64 128 256]
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np

from neuropaste.cmap import ConnectivityMap
from neuropaste.devices import Electrical, load_device
from neuropaste.generators.crossbar import CrossbarOptions, pack
from neuropaste.generators.quantize import quantize
from neuropaste.io import load_map
from neuropaste.netlists.tile import tile_circuit
from neuropaste.sim.solver import solve_tile


def speed(sizes: list[int]) -> None:
    logging.getLogger("PySpice").setLevel(logging.ERROR)
    dev, el = load_device("rram"), Electrical()
    print("| tile | solver (s) | ngspice op (s) | netlist build (s) | speed-up | max error / FS |")
    print("|---|---:|---:|---:|---:|---:|")
    warm = np.full((4, 4), dev.g_max)  # load ngspice and touch every code path once
    tile_circuit(warm, np.ones(4, bool), el).simulator(simulator="ngspice-shared").operating_point()
    solve_tile(warm, np.ones(4, bool), el)
    for n in sizes:
        rng = np.random.default_rng(n)
        g = rng.uniform(dev.g_min, dev.g_max, (n, n))
        active = rng.random(n) < 0.5
        t_solver = np.inf
        for _ in range(3):  # best of 3: the machine is shared
            t0 = time.perf_counter()
            ours = solve_tile(g, active, el)
            t_solver = min(t_solver, time.perf_counter() - t0)
        t0 = time.perf_counter()
        sim = tile_circuit(g, active, el).simulator(simulator="ngspice-shared")
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        analysis = sim.operating_point()
        t_spice = time.perf_counter() - t0
        theirs = np.array([float(analysis.branches[f"vs{j}"][0]) for j in range(n)])
        fs = el.v_read * dev.g_max * n
        err = float(np.abs(ours - theirs).max() / fs)
        print(f"| {n}x{n} | {t_solver:.3f} | {t_spice:.2f} | {t_build:.2f} | "
              f"{t_spice / t_solver:.0f}x | {err:.1e} |", flush=True)


def clustered(n: int = 10_000, k: int = 1_000, cluster: int = 1_000, local: int = 900,
              seed: int = 0):
    """k distinct targets per neuron: ``local`` inside its cluster, the rest anywhere."""
    rng = np.random.default_rng(seed)
    pre = np.repeat(np.arange(n), k)
    post = np.empty(n * k, np.int64)
    for i in range(n):
        base = (i // cluster) * cluster
        inside = base + rng.choice(cluster, local, replace=False)
        outside = rng.choice(n, k - local, replace=False)
        post[i * k:(i + 1) * k] = np.concatenate([inside, outside])
    perm = rng.permutation(n)  # hide the structure behind a random labelling
    return ConnectivityMap.build([f"z{i}" for i in range(n)], perm[pre], perm[post],
                                 rng.normal(0.2, 1, n * k), np.ones(n * k, int))


def utilisation() -> None:
    print("\n| map | neurons | synapses | order chosen | tiles (64x64) | utilisation | "
          "naive N x N tiles | naive utilisation | fixed cut, input order |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
    for name, cmap in (("builtin:celegans", load_map("builtin:celegans")),
                       ("clustered 1e4 x 1e3", clustered())):
        net = quantize(cmap)
        t0 = time.perf_counter()
        s = pack(net, CrossbarOptions(), build=False).stats
        secs = time.perf_counter() - t0
        cut = pack(net, CrossbarOptions(reorder=False, compact_rows=False), build=False).stats
        print(f"| {name} | {net.n_neurons:,} | {net.n_synapses:,} | {s['reordering']} "
              f"({secs:.1f} s) | {s['tiles']:,} | {s['utilisation']:.2%} | "
              f"{s['tiles_naive_NxN']:,} | {s['utilisation_naive_NxN']:.2%} | "
              f"{cut['tiles']:,} ({cut['utilisation']:.2%}) |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128, 256])
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-utilisation", action="store_true")
    args = ap.parse_args()
    if not args.skip_speed:
        speed(args.sizes)
    if not args.skip_utilisation:
        utilisation()


if __name__ == "__main__":
    main()
