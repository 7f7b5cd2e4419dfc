"""Regenerate neuropaste/data/celegans_* (``builtin:celegans``) from its public sources.

Connectivity: Cook et al. 2019, "Whole-animal connectomes of both Caenorhabditis elegans sexes",
Nature 571:63-71, Supplementary Information 5 (adjacency matrices, corrected July 2020), as
shipped with and read by the C. elegans Connectome Toolbox (`pip install cect`, reader
Cook2019HermReader, from the spreadsheet rather than its cache). It is chosen over White 1986 /
Varshney 2011 because it is the only whole-animal reconstruction (pharynx and nerve ring
included) with synapse counts for both chemical synapses and gap junctions, and over Witvliet
2021 because that covers the nerve ring only. Hermaphrodite, neurons only (muscles and other
end organs dropped).

Transmitters: Wang et al. 2024 (eLife 13:RP95402) neurotransmitter atlas, as cect reads it
(Wang2024Reader); the kind column is the sign rule of neuropaste/io/connectome.py.

Outputs, byte-deterministic (sorted rows, gzip without timestamp or file name):
- celegans_neurons.csv: neuron,kind,transmitters (kind excitatory/inhibitory; ';'-joined)
- celegans_edges.csv.gz: pre,post,type,contacts (type chemical or gap; a gap junction once,
  pre < post)

    python scripts/make_celegans.py [--out neuropaste/data]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import io
from pathlib import Path

from neuropaste.cmap import INHIBITORY
from neuropaste.io.connectome import cect_transmitters, kinds


def deterministic_gzip(path: Path, text: str) -> None:
    """gzip with mtime 0 and no stored name: same text, same bytes."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                                 compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parents[1]
    ap.add_argument("--out", default=str(here / "neuropaste" / "data"))
    args = ap.parse_args()
    from cect.Cells import is_herm_neuron
    from cect.readers import Cook2019HermReader

    with contextlib.redirect_stdout(io.StringIO()):
        ds = Cook2019HermReader.get_instance(from_cache=False)
        conns = ds.get_current_connection_info_list()
    neurons = sorted(n for n in ds.nodes if is_herm_neuron(n))
    transmitters = cect_transmitters(male=False)
    kind = kinds(neurons, transmitters)
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
        w.writerow(["neuron", "kind", "transmitters"])
        for name, k in zip(neurons, kind.tolist(), strict=True):
            w.writerow([name, "inhibitory" if k == INHIBITORY else "excitatory",
                        ";".join(transmitters.get(name, []))])
    text = io.StringIO()
    w = csv.writer(text, lineterminator="\n")
    w.writerow(["pre", "post", "type", "contacts"])
    for (a, b), n in sorted(chem.items()):
        w.writerow([a, b, "chemical", f"{n:g}"])
    for (a, b), n in sorted(gap.items()):
        w.writerow([a, b, "gap", f"{n:g}"])
    deterministic_gzip(out / "celegans_edges.csv.gz", text.getvalue())
    old = out / "celegans_edges.csv"  # the uncompressed table of earlier versions
    if old.exists():
        old.unlink()
    print(f"{len(neurons)} neurons ({int((kind == INHIBITORY).sum())} inhibitory), "
          f"{len(chem)} chemical connections, {len(gap)} gap junctions -> {out}")


if __name__ == "__main__":
    main()
