"""Tiles onto a TSV stack: the partitioner against random and in-order, and how it scales.

Part 1 (quality): builtin:celegans and a 1e4-neuron spatially clustered map (1,000 targets per
neuron, 900 inside the source's cluster of 1,000; the clustering hidden by a random labelling),
packed as the compiler packs them (64 x 64 tiles), assigned to 2 and 4 memory dies by
Mt-KaHyPar (``generators/die_partition.py``), by a seeded random assignment and in order.
Spike traffic is weighted by the firing rates of a reference run of the same map (2 % Poisson
drive per neuron and step, as the demo); the partition is weighted by the same rates, as
``compile`` does. Ratios are baseline / partitioned (above 1: the partitioner needs fewer).

Part 2 (scale): clustered maps of 1e3 .. 1e5 neurons with 1,000 synapses each (up to 1e8),
tiles cut in the generator's (clustered) order, so that packing does not dominate; each size's
tile footprints are handed to a fresh process that only partitions them (4 dies, no rates), so
its peak RSS (VmHWM) is the partitioner's, footprints included.

    .venv/bin/python bench/stack.py [--max-neurons 100000] [--skip-quality] [--skip-scale]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from neuropaste.events import poisson
from neuropaste.generators.crossbar import CrossbarOptions, pack, slots_in_order
from neuropaste.generators.die_partition import TileFootprint, assign_dies, stack_tiles
from neuropaste.generators.quantize import quantize
from neuropaste.generators.stack_spec import StackSpec
from neuropaste.io import load_map
from neuropaste.reference import simulate

sys.path.insert(0, str(Path(__file__).parent))
from crossbar import clustered  # noqa: E402  the same generated map as the crossbar bench


def quality(steps: int = 300) -> None:
    print("| map | dies | tiles | partitioned TSVs / spikes per step | random | in order | "
          "random / part. (TSV, spikes) | in order / part. (TSV, spikes) | partition s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, cmap in (("builtin:celegans", load_map("builtin:celegans")),
                       ("clustered 1e4 x 1e3", clustered())):
        net = quantize(cmap)
        raster = simulate(net, steps, poisson(net.n_neurons, steps, 0.02, 0))
        rates = raster.counts() / steps
        ts = pack(net, CrossbarOptions())
        row_pre, col_post = np.stack(ts.row_pre), np.stack(ts.col_post)
        del ts
        for dies in (2, 4):
            t0 = time.perf_counter()
            st = stack_tiles(row_pre, col_post, net.n_neurons, StackSpec(memory_dies=dies),
                             rates)
            secs = time.perf_counter() - t0
            ran, order = st["baselines"]["random"], st["baselines"]["in_order"]

            print(f"| {name} | {dies} | {len(row_pre):,} | {_pair(st)} | {_pair(ran)} | "
                  f"{_pair(order)} | {_ratio(ran, st)} | {_ratio(order, st)} | {secs:.1f} |",
                  flush=True)


def _pair(x: dict) -> str:
    return f"{x['tsv_signals']:,} / {x['spike_traffic_per_step']:,.1f}"


def _ratio(x: dict, ours: dict) -> str:
    return (f"{x['tsv_signals'] / ours['tsv_signals']:.2f}, "
            f"{x['spike_traffic_per_step'] / ours['spike_traffic_per_step']:.2f}")


def _hwm_mb() -> float:
    """Peak resident set of this process image (VmHWM; unlike ru_maxrss it does not carry
    the forking parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def clustered_edges(n: int, k: int = 1000, cluster: int = 1000, local: int = 900,
                    seed: int = 0, chunk: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    """``k`` targets per neuron, ``local`` of them distinct inside its cluster, the rest
    uniform (duplicates among those are rare and harmless here); int32 to halve memory."""
    rng = np.random.default_rng(seed)
    cluster, local = min(cluster, n), min(local, n, k)
    pre = np.repeat(np.arange(n, dtype=np.int32), k)
    post = np.empty(n * k, np.int32)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        ids = np.arange(a, b)
        inside = np.argsort(rng.random((b - a, cluster)), axis=1)[:, :local]
        inside += ((ids // cluster) * cluster)[:, None]
        outside = rng.integers(0, n, (b - a, k - local))
        post[a * k:b * k] = np.concatenate([inside, outside], 1).ravel()
    return pre, post


def footprints(n: int, path: Path, k: int = 1000) -> dict:
    """Tiles of the clustered map in its own order, written as CSR footprints to ``path``."""
    t0 = time.perf_counter()
    pre, post = clustered_edges(n, k)
    t_gen = time.perf_counter() - t0
    opts = CrossbarOptions()
    zero = np.broadcast_to(np.int16(0), pre.shape)  # delay 0 and weight 0: no arrays for them
    net = SimpleNamespace(pre=pre, post=post, delay=zero, weight=zero, max_delay=0,
                          n_neurons=n, n_synapses=len(pre))
    t0 = time.perf_counter()
    slots = slots_in_order(net, opts, np.arange(n))
    t_pack = time.perf_counter() - t0
    del pre, post
    posts = opts.tile_cols // 2
    used = slots.row_pre >= 0  # rows tile by tile (row key = source: delay 0)
    np.savez(path, rows=slots.row_pre[used],
             ptr=np.concatenate([[0], np.cumsum(used.sum(1))]), block=slots.tile_block,
             posts=posts, n=n)
    return {"synapses": n * k, "tiles": slots.n_tiles, "generate_s": t_gen, "pack_s": t_pack}


def partition_only(path: str, dies: int) -> dict:
    """In a fresh process: load footprints, build the hypergraph, partition; time and RSS."""
    data = np.load(path)
    n, posts = int(data["n"]), int(data["posts"])
    ptr, rows = data["ptr"], data["rows"]
    tiles = [TileFootprint(rows=rows[a:b], cols=np.arange(blk * posts, min(n, (blk + 1) * posts)),
                           cells=0)
             for a, b, blk in zip(ptr[:-1], ptr[1:], data["block"], strict=True)]
    rss0 = _hwm_mb()
    t0 = time.perf_counter()
    cap = math.ceil(len(tiles) / dies * 1.05)
    res = assign_dies(tiles, n, dies, cap, columns_per_target=2)
    secs = time.perf_counter() - t0
    st = res.stats
    return {"partition_s": secs, "rss_before_MB": rss0, "peak_rss_MB": _hwm_mb(),
            "tsv_signals": st["tsv_signals"],
            "random": st["baselines"]["random"]["tsv_signals"],
            "in_order": st["baselines"]["in_order"]["tsv_signals"],
            "pins": int(ptr[-1] + sum(len(t.cols) for t in tiles))}


def scale(max_neurons: int, dies: int = 4, min_neurons: int = 0) -> None:
    print("| neurons | synapses | tiles | generate + pack s | partition s | peak RSS of "
          "partitioning process | TSV signals: part. / random / in order |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    sizes = [n for n in (1_000, 3_000, 10_000, 30_000, 100_000)
             if min_neurons <= n <= max_neurons]
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"fp_{n}.npz"
            info = footprints(n, path)
            proc = subprocess.run([sys.executable, __file__, "--partition-only", str(path),
                                   str(dies)], capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"| {n:,} | {info['synapses']:,} | {info['tiles']:,} | failed: "
                      f"{proc.stderr.strip().splitlines()[-1:]} |", flush=True)
                break
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"| {n:,} | {info['synapses']:,} | {info['tiles']:,} | "
                  f"{info['generate_s']:.1f} + {info['pack_s']:.1f} | {r['partition_s']:.1f} | "
                  f"{r['peak_rss_MB']:,.0f} MB (footprints loaded: {r['rss_before_MB']:,.0f}) | "
                  f"{r['tsv_signals']:,} / {r['random']:,} / {r['in_order']:,} |", flush=True)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--partition-only":
        print(json.dumps(partition_only(sys.argv[2], int(sys.argv[3]))))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-neurons", type=int, default=100_000)
    ap.add_argument("--min-neurons", type=int, default=0)
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-scale", action="store_true")
    args = ap.parse_args()
    if not args.skip_quality:
        quality()
    if not args.skip_scale:
        print()
        scale(args.max_neurons, min_neurons=args.min_neurons)


if __name__ == "__main__":
    main()
