"""``neuropaste demo``: the main job on the bundled C. elegans connectome, end to end."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from neuropaste.compile import compile_map
from neuropaste.compiled import Compiled
from neuropaste.events import poisson, save_raster_csv
from neuropaste.generators import backends as registry
from neuropaste.generators.crossbar import options_from_cli
from neuropaste.io import load_map
from neuropaste.neuron import QuantOptions
from neuropaste.outputs import atomic_dir, stage, write_json
from neuropaste.report import copy_section, map_section, verify_section, write_report
from neuropaste.sim.analog import ReadPath
from neuropaste.verify import report_sections, verify
from neuropaste.verify.analog import fidelity, fidelity_html

DRIVE_RATE = 0.02
SEED = 0
STACK_DIES = 2  # the crossbar tiles also go onto a TSV stack of this many memory dies


def run_demo(out: Path, *, steps: int = 1000, map_spec: str = "builtin:celegans",
             tiles: int = 4) -> Path:
    """Import, compile to RTL and crossbar netlists, prove both, and write report.html."""
    with stage(f"loading {map_spec}"):
        cmap = load_map(map_spec)
    stim = poisson(cmap.n_neurons, steps, DRIVE_RATE, SEED)
    backends = available_backends()
    with atomic_dir(out) as tmp:
        compiled = tmp / "compiled"
        spice = options_from_cli(memory_dies=STACK_DIES)  # the compile command's defaults
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
        extra = []
        if "spice" in backends:
            with stage("running the network with its crossbar tiles in the loop"):
                cd = Compiled.open(compiled)
                raster, fid = fidelity(cd, ReadPath(), cd.steps, stim)
                fid["directory"] = "compiled"
                (tmp / "analog").mkdir()
                save_raster_csv(tmp / "analog" / "spikes.csv", raster, cd.network().labels)
                write_json(tmp / "analog" / "fidelity.json", fid)
            extra.append(fidelity_html(fid))
        write_demo_report(compiled, tmp / "report.html", report, extra)
    return out / "report.html"


def available_backends() -> tuple[str, ...]:
    """Every registered backend whose module is installed (all of them in a full checkout)."""
    return tuple(name for name, module in registry.REGISTRY.items()
                 if importlib.util.find_spec(module))


def write_demo_report(compiled: Path, path: Path, verify_report: dict,
                      extra: list[str] | None = None) -> Path:
    cd = Compiled.open(compiled)
    net = cd.network()
    raster = cd.reference(net.labels)
    sections = [
        verify_section(verify_report),
        map_section(cd.manifest["map"], net.quantization, raster, cd.manifest["stimulus"]),
        *report_sections(compiled),
        *(extra or []),
    ]
    return write_report(path, "neuropaste: C. elegans connectome pasted onto silicon", sections)


def run_copy_demo(out: Path, *, neurons: int = 60, seconds: float = 60.0,
                  steps: int = 300) -> Path:
    """Culture (Brian2) -> copy (both methods) -> compile the intracellular map -> verify the
    RTL against the reference model, with a report that puts the maps beside the truth."""
    from neuropaste.copy.culture import RECORDING, TRUTH, run_culture
    from neuropaste.copy.run import METHODS, CopyOptions, copy_recording, write_outputs
    from neuropaste.io.recording import open_recording, read_truth
    from neuropaste.sim.culture import CultureParams

    params = CultureParams(neurons=neurons, seconds=seconds, p_connect=0.1, rate_hz=5.0,
                           seed=SEED)
    with atomic_dir(out) as tmp:
        with stage(f"simulating a culture of {neurons} neurons for {seconds:g} s (Brian2)"):
            run_culture(tmp / "culture", params)
        rec = open_recording(tmp / "culture" / RECORDING)
        truth = read_truth(tmp / "culture" / TRUTH, rec.labels)
        found, figures = {}, {}
        for method in METHODS:
            opts = CopyOptions(method=method)
            with stage(f"copying the map ({method})"):
                r = copy_recording(rec, opts, truth)
            write_outputs(r, opts, tmp / f"map-{method}.csv", str(tmp / "culture" / RECORDING),
                          str(tmp / "culture" / TRUTH))
            chem = [k == "chemical" for k in r.kind]
            found[method] = (r.pre[chem], r.post[chem], r.sign[chem])
            figures[method] = r.figures["truth"]
        rec.close()
        cmap = load_map(str(tmp / "map-intracellular.csv"))
        compiled = tmp / "compiled"
        stim = poisson(cmap.n_neurons, steps, DRIVE_RATE, SEED)
        compile_map(cmap, compiled, quant=QuantOptions(), stimulus=stim, steps=steps,
                    stimulus_spec={"kind": "poisson", "rate": DRIVE_RATE, "seed": SEED},
                    backends=("rtl",))
        with stage("verifying the copied map's RTL against the reference model"):
            report = verify(compiled, rtl=True, spice=False)
        cd = Compiled.open(compiled)
        net = cd.network()
        sections = [copy_section(truth, found, figures, rec.n_channels),
                    verify_section(report),
                    map_section(cd.manifest["map"], net.quantization, cd.reference(net.labels),
                                cd.manifest["stimulus"])]
        page = write_report(tmp / "report.html",
                            "neuropaste: a simulated culture copied and pasted", sections)
        page.write_text(page.read_text().replace(str(tmp), str(out)))  # no temporary names
    return out / "report.html"
