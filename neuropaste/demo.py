"""``neuropaste demo``: the main job on the bundled C. elegans connectome, end to end."""

from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path

from neuropaste.generators.compile import BACKENDS, MANIFEST, NETWORK, REFERENCE, compile_map
from neuropaste.generators.crossbar import CrossbarOptions
from neuropaste.generators.quantize import QuantOptions
from neuropaste.generators.stack import report_html as stack_report_html
from neuropaste.io import load_map
from neuropaste.ir import load_network
from neuropaste.outputs import atomic_dir, stage
from neuropaste.report import map_section, verify_section, write_report
from neuropaste.sim.stimulus import load_raster_csv, poisson

DRIVE_RATE = 0.02
SEED = 0
STACK_DIES = 2  # the crossbar tiles also go onto a TSV stack of this many memory dies


def run_demo(out: Path, *, steps: int = 1000, map_spec: str = "builtin:celegans",
             tiles: int = 4) -> Path:
    """Import, compile to RTL and crossbar netlists, prove both, and write report.html."""
    from neuropaste.sim.verify import verify

    with stage(f"loading {map_spec}"):
        cmap = load_map(map_spec)
    stim = poisson(cmap.n_neurons, steps, DRIVE_RATE, SEED)
    backends = available_backends()
    with atomic_dir(out) as tmp:
        compiled = tmp / "compiled"
        spice = {"options": CrossbarOptions(memory_dies=STACK_DIES, reference_steps=steps)}
        compile_map(cmap, compiled, quant=QuantOptions(), stimulus=stim, steps=steps,
                    stimulus_spec={"kind": "poisson", "rate": DRIVE_RATE, "seed": SEED},
                    backends=backends, backend_options={"spice": spice})
        with stage(f"verifying {' and '.join(backends)} against the reference model"):
            report = verify(compiled, rtl="rtl" in backends, spice="spice" in backends,
                            tiles=tiles)
        if "spice" in backends:
            with stage(f"verifying the {STACK_DIES}-die TSV stack in ngspice"):
                stacked = verify(compiled, stack=True)  # keeps the checks above
            report = {**stacked, "passed": report["passed"] and stacked["passed"]}
        write_demo_report(compiled, tmp / "report.html", report)
    return out / "report.html"


def available_backends() -> tuple[str, ...]:
    """Every backend whose module is installed (all of them in a full checkout)."""
    from neuropaste.generators.compile import BACKENDS

    return tuple(name for name, module in BACKENDS.items() if importlib.util.find_spec(module))


def write_demo_report(compiled: Path, path: Path, verify_report: dict) -> Path:
    manifest = json.loads((compiled / MANIFEST).read_text())
    net = load_network(compiled / NETWORK)
    steps = manifest["stimulus"]["steps"]
    raster = load_raster_csv(compiled / REFERENCE, net.labels, steps)
    sections = [
        verify_section(verify_report),
        map_section(manifest["map"], net.quantization, raster, manifest["stimulus"]),
    ]
    for name in manifest["backends"]:
        module = importlib.import_module(BACKENDS[name])
        sections.append(module.report_html(compiled))
    sections.append(stack_report_html(compiled))
    return write_report(path, "neuropaste: C. elegans connectome pasted onto silicon", sections)
