"""Regenerate neuropaste/data/celegans_*.csv from its public source.

Source: Cook et al. 2019, "Whole-animal connectomes of both Caenorhabditis elegans sexes",
Nature 571:63-71, Supplementary Information 5 (adjacency matrices, corrected July 2020), as
shipped with and read by the C. elegans Connectome Toolbox (`pip install cect`, reader
Cook2019HermReader, from the spreadsheet rather than its cache). Hermaphrodite, neurons only
(muscles and other end organs dropped). Output is byte-deterministic.

    python scripts/make_celegans.py [--out neuropaste/data]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parents[1]
    ap.add_argument("--out", default=str(here / "neuropaste" / "data"))
    args = ap.parse_args()
    from cect.Cells import is_herm_neuron
    from cect.readers import Cook2019HermReader

    ds = Cook2019HermReader.get_instance(from_cache=False)
    conns = ds.get_current_connection_info_list()
    neurons = sorted(n for n in ds.nodes if is_herm_neuron(n))
    keep = set(neurons)
    chem: dict[tuple[str, str], float] = {}
    gap: dict[tuple[str, str], float] = {}
    for c in conns:
        if c.pre_cell not in keep or c.post_cell not in keep or c.number <= 0:
            continue
        if c.syntype == "Chemical":
            key = (c.pre_cell, c.post_cell)
            chem[key] = chem.get(key, 0.0) + float(c.number)
        elif c.syntype == "GapJunction":
            key = tuple(sorted((c.pre_cell, c.post_cell)))
            # the symmetric sheet lists each junction in both directions: count it once
            gap[key] = max(gap.get(key, 0.0), float(c.number))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "celegans_neurons.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["neuron"])
        w.writerows([n] for n in neurons)
    with open(out / "celegans_edges.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["pre", "post", "type", "contacts"])
        for (a, b), n in sorted(chem.items()):
            w.writerow([a, b, "chemical", f"{n:g}"])
        for (a, b), n in sorted(gap.items()):
            w.writerow([a, b, "gap", f"{n:g}"])
    print(f"{len(neurons)} neurons, {len(chem)} chemical connections, {len(gap)} gap junctions "
          f"-> {out}")


if __name__ == "__main__":
    main()
