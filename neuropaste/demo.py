"""``neuropaste demo``: the main job on the bundled C. elegans connectome, end to end."""

from __future__ import annotations

import json
from pathlib import Path

from neuropaste.generators.compile import MANIFEST, NETWORK, REFERENCE, compile_map
from neuropaste.generators.quantize import QuantOptions
from neuropaste.io import load_map
from neuropaste.ir import load_network
from neuropaste.outputs import atomic_dir, stage
from neuropaste.report import load_raster, map_section, verify_section, write_report
from neuropaste.sim.stimulus import poisson

DRIVE_RATE = 0.02
SEED = 0


def run_demo(out: Path, *, steps: int = 1000, map_spec: str = "builtin:celegans",
             tiles: int = 4) -> Path:
    """Import, compile to RTL and crossbar netlists, prove both, and write report.html."""
    from neuropaste.sim.verify import verify

    with stage(f"loading {map_spec}"):
        cmap = load_map(map_spec)
    stim = poisson(cmap.n_neurons, steps, DRIVE_RATE, SEED)
    with atomic_dir(out) as tmp:
        compiled = tmp / "compiled"
        compile_map(cmap, compiled, quant=QuantOptions(), stimulus=stim, steps=steps,
                    stimulus_spec={"kind": "poisson", "rate": DRIVE_RATE, "seed": SEED})
        with stage("verifying RTL (cocotb + Icarus) and crossbar tiles (ngspice)"):
            report = verify(compiled, rtl=True, spice=True, tiles=tiles)
        write_demo_report(compiled, tmp / "report.html", report)
    return out / "report.html"


def write_demo_report(compiled: Path, path: Path, verify_report: dict) -> Path:
    from neuropaste.generators import crossbar, rtl

    manifest = json.loads((compiled / MANIFEST).read_text())
    net = load_network(compiled / NETWORK)
    steps = manifest["stimulus"]["steps"]
    raster = load_raster(compiled / REFERENCE, net.labels, steps)
    sections = [
        verify_section(verify_report),
        map_section(manifest["map"], net.quantization, raster, manifest["stimulus"]),
        rtl.report_html(compiled),
        crossbar.report_html(compiled),
    ]
    return write_report(path, "neuropaste: C. elegans connectome pasted onto silicon", sections)
