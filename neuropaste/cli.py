"""The ``neuropaste`` command line: info, simulate, export, compile, verify, demo."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from neuropaste.devices import PRESETS
from neuropaste.errors import InputError
from neuropaste.estimate import DIE_MM, MEMORIES, WEIGHT_CODES
from neuropaste.fpga.boards import BOARDS

DEFAULT_MAP = "builtin:celegans"


# ---------------------------------------------------------------------------- shared options


def _map_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("map import")
    g.add_argument("--gap-scale", type=float, default=0.5,
                   help="weight of each synapse a gap junction becomes (cect maps; default 0.5)")
    g.add_argument("--no-gap", action="store_true", help="drop gap junctions instead")


def _quant_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("neuron model and quantization (docs/semantics.md)")
    g.add_argument("--w-bits", type=int, default=10, help="signed weight width (default 10)")
    g.add_argument("--v-bits", type=int, default=16, help="signed membrane width (default 16)")
    g.add_argument("--tau", type=float, default=8.0,
                   help="membrane time constant in steps; leak shift k = round(log2 tau); "
                        "'inf' for no leak (default 8)")
    g.add_argument("--threshold", type=float, default=None,
                   help="threshold in weight units (default: the map's, else factor x median |w|)")
    g.add_argument("--threshold-factor", type=float, default=16.0,
                   help="default threshold = this x median |w| (default 16)")
    g.add_argument("--clip-percentile", type=float, default=100.0,
                   help="full-scale weight at this percentile of |w|; larger weights saturate")
    g.add_argument("--refractory", type=int, default=2, help="refractory steps (default 2)")
    g.add_argument("--v-reset", type=float, default=0.0)
    g.add_argument("--bias", type=float, default=0.0)
    g.add_argument("--stim-weight", type=float, default=None,
                   help="weight of one external event, in weight units (default: max threshold)")


def _stimulus_options(p: argparse.ArgumentParser, steps_default: int | None) -> None:
    g = p.add_argument_group("stimulus")
    if steps_default is None:
        g.add_argument("--steps", type=int, required=True, help="time steps to run")
    else:
        g.add_argument("--steps", type=int, default=steps_default, help="time steps to run")
    g.add_argument("--stimulus", help="CSV of external events with header step,neuron")
    g.add_argument("--seed", type=int, default=0, help="seed of the Poisson drive (default 0)")
    g.add_argument("--drive-rate", type=float, default=0.02,
                   help="Poisson drive: probability of an external event per neuron and step "
                        "(default 0.02; ignored with --stimulus)")
    g.add_argument("--drive", default=None,
                   help="comma-separated labels of the driven neurons (default: all)")


def _quant_from_args(args: argparse.Namespace):
    from neuropaste.neuron import QuantOptions

    return QuantOptions(
        w_bits=args.w_bits, v_bits=args.v_bits, tau=args.tau, threshold=args.threshold,
        threshold_factor=args.threshold_factor, v_reset=args.v_reset, bias=args.bias,
        refractory=args.refractory, stim_weight=args.stim_weight,
        clip_percentile=args.clip_percentile,
    )


def _load(spec: str, args: argparse.Namespace):
    from neuropaste.io import load_map

    return load_map(spec, gap_scale=args.gap_scale, gap=not args.no_gap)


def _stimulus_from_args(args: argparse.Namespace, cmap) -> tuple[Any, dict[str, Any]]:
    """External events from --stimulus, else a seeded Poisson drive; with what made them."""
    import numpy as np

    from neuropaste.events import load_stimulus_csv, poisson

    if args.steps < 1:
        raise InputError(None, f"--steps must be >= 1, got {args.steps}")
    if args.stimulus:
        stim = load_stimulus_csv(args.stimulus, cmap.labels)
        return stim, {"kind": "csv", "file": os.path.basename(args.stimulus)}
    if not 0.0 <= args.drive_rate <= 1.0:
        raise InputError(None, f"--drive-rate must be in [0, 1], got {args.drive_rate}")
    neurons = None
    if args.drive:
        index = cmap.index()
        names = [x for x in args.drive.split(",") if x]
        missing = [x for x in names if x not in index]
        if missing:
            raise InputError(None, f"--drive names unknown neuron {missing[0]!r}")
        neurons = np.array(sorted(index[x] for x in names), np.int64)
    stim = poisson(cmap.n_neurons, args.steps, args.drive_rate, args.seed, neurons)
    spec = {"kind": "poisson", "rate": args.drive_rate, "seed": args.seed,
            "driven": "all" if neurons is None else len(neurons)}
    return stim, spec


# ---------------------------------------------------------------------------- commands


def cmd_info(args: argparse.Namespace) -> int:
    cmap = _load(args.map, args)
    s = cmap.summary()
    if args.json:
        print(json.dumps(s, indent=2, sort_keys=True))
        return 0
    print(f"map            {s['source']}")
    print(f"neurons        {s['neurons']}  (excitatory {s['excitatory_neurons']}, "
          f"inhibitory {s['inhibitory_neurons']}, unknown {s['unknown_type_neurons']})")
    print(f"synapses       {s['synapses']}  (excitatory {s['excitatory_synapses']}, "
          f"inhibitory {s['inhibitory_synapses']}, self {s['self_connections']})")
    if s["synapses"]:
        print(f"delays         {s['delay_min']} .. {s['delay_max']} steps")
        print(f"weights        {s['weight_min']:.6g} .. {s['weight_max']:.6g}")
        print(f"fan-out mean   {s['mean_fan_out']:.2f}, fan-in max {s['max_fan_in']}")
    for rule in s["rules"]:
        print(f"rule           {rule}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from neuropaste.events import save_raster_csv
    from neuropaste.generators.quantize import quantize
    from neuropaste.outputs import atomic_dir, stage, write_json

    if args.analog:
        return _simulate_analog(args)
    for flag, dest in (("--age", "age"), ("--adc-bits", "adc_bits"), ("--ideal", "ideal"),
                       ("--ngspice", "ngspice"), ("--no-drift-reference", "no_drift_reference")):
        if getattr(args, dest) not in (None, False, 0):
            raise InputError(None, f"{flag} applies to --analog runs of a compiled directory")
    if args.steps is None:
        raise InputError(None, "--steps is required when simulating a map")
    cmap = _load(args.map, args)
    quant = _quant_from_args(args)
    stim, spec = _stimulus_from_args(args, cmap)
    with atomic_dir(args.out) as tmp:
        with stage(f"simulating {cmap.n_neurons} neurons for {args.steps} steps"):
            if args.float:
                from neuropaste.sim.float_model import simulate_float

                raster = simulate_float(cmap, quant, args.steps, stim)
                extra: dict[str, Any] = {"mode": "float"}
            else:
                from neuropaste.reference import simulate

                net = quantize(cmap, quant)
                raster = simulate(net, args.steps, stim)
                extra = {"mode": "integer", "quantization": net.quantization,
                         "network": net.scalars()}
        save_raster_csv(tmp / "spikes.csv", raster, cmap.labels)
        write_json(tmp / "run.json", {
            "map": cmap.summary(), "steps": args.steps, "stimulus": spec,
            "stimulus_events": len(stim), "spikes": len(raster),
            "active_neurons": int((raster.counts() > 0).sum()), **extra,
        })
    print(f"{len(raster)} spikes from {int((raster.counts() > 0).sum())} of {cmap.n_neurons} "
          f"neurons in {args.steps} steps -> {Path(args.out) / 'spikes.csv'}")
    return 0


def _simulate_analog(args: argparse.Namespace) -> int:
    """``simulate DIR --analog``: the compiled network with its crossbar tiles in the loop."""


    from neuropaste.compiled import TILES, Compiled
    from neuropaste.devices import parse_age
    from neuropaste.events import load_stimulus_csv, save_raster_csv
    from neuropaste.outputs import atomic_dir, stage, write_json
    from neuropaste.sim import analog
    from neuropaste.verify.analog import fidelity

    if args.float:
        raise InputError(None, "--float and --analog exclude each other")
    compiled = Compiled.open(args.map)
    if compiled.backend("spice") is None or not compiled.path(TILES).is_file():
        raise InputError(args.map, "has no crossbar tiles: compile it with --backends spice")
    if args.adc_bits is not None and args.adc_bits < 1:
        raise InputError(None, f"--adc-bits must be >= 1, got {args.adc_bits}")
    if args.ngspice < 0:
        raise InputError(None, f"--ngspice must be >= 0, got {args.ngspice}")
    age = parse_age(args.age) if args.age is not None else 0.0
    if args.ideal and (args.age is not None or args.adc_bits is not None):
        raise InputError(None, "--ideal reads without drift and with an ideal ADC: drop --age "
                         "and --adc-bits")
    net = compiled.network()
    steps = compiled.steps if args.steps is None else args.steps
    if steps < 1:
        raise InputError(None, f"--steps must be >= 1, got {steps}")
    stim = (load_stimulus_csv(args.stimulus, net.labels) if args.stimulus
            else compiled.stimulus(net.labels))
    tiles = compiled.tiles()
    if tiles["g"].ndim != 3 or tiles["g"].shape[0] == 0:
        raise InputError(args.map, "has no crossbar tiles (the map has no synapses)")
    path = analog.ReadPath(ideal=args.ideal, age_s=age, adc_bits=args.adc_bits, seed=args.seed,
                           drift_reference=not args.no_drift_reference)
    with atomic_dir(args.out) as tmp:
        with stage(f"{len(tiles['g'])} tiles in the loop of {net.n_neurons} neurons, "
                   f"{steps} steps"):
            raster, result = fidelity(compiled, path, steps, stim, args.ngspice, args.seed)
        save_raster_csv(tmp / "spikes.csv", raster, net.labels)
        write_json(tmp / "fidelity.json", result)
    open_fig, closed_fig = result["open_loop"], result["closed_loop"]
    print(f"{len(raster)} spikes ({closed_fig['recall_same_step']:.2%} of the reference's at "
          f"the same step); open loop {open_fig['lsb_exact_fraction']:.2%} of inputs LSB-exact "
          f"-> {Path(args.out) / 'fidelity.json'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from neuropaste.imprint.run import is_imprint, learned_map
    from neuropaste.io import save_map, writable_suffixes

    cmap = learned_map(args.map) if is_imprint(args.map) else _load(args.map, args)
    target = Path(args.to)
    if target.suffix.lower() not in writable_suffixes():
        raise InputError(target, f"unknown export type: use a {', '.join(writable_suffixes())} "
                         "file name")
    if target.is_dir():
        raise InputError(target, "is a directory")
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        save_map(cmap, tmp.with_suffix(target.suffix))
        os.replace(tmp.with_suffix(target.suffix), target)
    finally:
        tmp.with_suffix(target.suffix).unlink(missing_ok=True)
    print(f"wrote {cmap.n_neurons} neurons, {cmap.n_synapses} synapses -> {target}")
    return 0


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability in [0, 1)")
    return value


#: compile flag -> the backend it configures
COMPILE_FLAGS = {"cores": "rtl", "core_neurons": "rtl", "placement": "rtl", "sweep_order": "rtl",
                 "rtl_profile": "rtl", "tile": "spice", "device": "spice", "memory_dies": "spice",
                 "stack": "spice", "slices": "spice", "digit_levels": "spice",
                 "programming": "spice", "netlists": "spice"}
#: verify flag -> the checks it configures
VERIFY_FLAGS = {"steps": {"rtl", "analog", "replay"}, "vcd": {"rtl"}, "stall": {"rtl", "replay"},
                "link_stall": {"rtl"}, "tiles": {"spice", "stack"},
                "workers": {"spice", "stack", "replay"}, "scheduler": {"spice", "replay"},
                "mc": {"spice"}, "age": {"spice"}}


def _refuse_unused(args: argparse.Namespace, flags: dict[str, Any], chosen: set[str],
                   what: str) -> None:
    """A flag given for a backend or check that will not run is a usage error, not a no-op."""
    for dest, applies in flags.items():
        applies = {applies} if isinstance(applies, str) else applies
        if getattr(args, dest) != args.subparser.get_default(dest) and not applies & chosen:
            flag = "--" + dest.replace("_", "-")
            raise InputError(None, f"{flag} applies to {' or '.join(sorted(applies))}, which "
                             f"this run does not include ({what}: {', '.join(sorted(chosen))})")


def _backend_options(args: argparse.Namespace) -> dict[str, Any]:
    """Each backend's options dataclass from the compile flags (defaults when none is given)."""
    from neuropaste.generators.crossbar import options_from_cli
    from neuropaste.generators.rtl import profile_options

    return {"rtl": profile_options(args.rtl_profile, cores=args.cores or None,
                                   core_neurons=args.core_neurons or None,
                                   balance=args.placement, sweep_order=args.sweep_order),
            "spice": options_from_cli(tile=args.tile, device=args.device,
                                      memory_dies=args.memory_dies, stack=args.stack,
                                      slices=args.slices, digit_levels=args.digit_levels,
                                      programming=args.programming, netlists=args.netlists)}


def cmd_compile(args: argparse.Namespace) -> int:
    from neuropaste.compile import compile_network, quantize_map
    from neuropaste.outputs import stage

    if args.from_imprint is not None:
        return _compile_imprint(args)
    if args.map is None:
        raise InputError(None, "compile needs a MAP (or --from-imprint DIR)")
    backends = tuple(b for b in args.backends.split(",") if b)
    _refuse_unused(args, COMPILE_FLAGS, set(backends), "backends")
    options = _backend_options(args)  # bad options fail before the map is read
    seconds: dict[str, float] = {}
    peaks: dict[str, float] = {}
    with stage(f"importing {args.map}", record=seconds, peaks=peaks):
        cmap = _load(args.map, args)
        stim, spec = _stimulus_from_args(args, cmap)
    net, extra = quantize_map(cmap, _quant_from_args(args), seconds=seconds, peaks=peaks)
    del cmap  # as large as the network: not held while the backends run
    manifest = compile_network(net, args.out, stimulus=stim, steps=args.steps,
                               stimulus_spec=spec, backends=backends,
                               backend_options=options, extra=extra,
                               parallel=False if args.serial else None)
    net = manifest["network"]
    print(f"compiled {net['neurons']} neurons, {net['synapses']} synapses "
          f"(w{net['w_bits']} v{net['v_bits']} acc{net['acc_bits']}, delays <= {net['max_delay']})"
          f" with backends {', '.join(backends)} -> {args.out}")
    return 0


def _compile_imprint(args: argparse.Namespace) -> int:
    """``compile --from-imprint DIR``: the learned map compiled like any other; the imprinted
    conductances go into the compiled directory as the programmed state (docs/imprint.md)."""
    import shutil

    from neuropaste.compile import compile_map
    from neuropaste.compiled import MANIFEST
    from neuropaste.imprint.run import CONDUCTANCES, IMPRINT_JSON, is_imprint, learned_map
    from neuropaste.outputs import atomic_dir, write_json

    if args.map is not None:
        raise InputError(None, "--from-imprint takes no MAP argument")
    if not is_imprint(args.from_imprint):
        raise InputError(args.from_imprint, "not an imprint directory (no imprint.json)")
    cmap = learned_map(args.from_imprint)
    stim, spec = _stimulus_from_args(args, cmap)
    backends = tuple(b for b in args.backends.split(",") if b)
    _refuse_unused(args, COMPILE_FLAGS, set(backends), "backends")
    src = Path(args.from_imprint)
    with atomic_dir(args.out) as tmp:
        manifest = compile_map(cmap, tmp, quant=_quant_from_args(args), stimulus=stim,
                               steps=args.steps, stimulus_spec=spec, backends=backends,
                               backend_options=_backend_options(args), quiet=False,
                               parallel=False if args.serial else None)
        (tmp / "imprint").mkdir()
        for name in (CONDUCTANCES, IMPRINT_JSON):
            shutil.copyfile(src / name, tmp / "imprint" / name)
        manifest["imprint"] = {"source": src.name, "programmed_state": f"imprint/{CONDUCTANCES}",
                               "note": "the crossbar keeps the imprinted conductances; the "
                                       "backends compile the map read from them",
                               "drivers_per_neuron": int(json.loads(
                                   (src / IMPRINT_JSON).read_text())["options"].get("drivers")
                                   or 1)}
        write_json(tmp / MANIFEST, manifest)
    net = manifest["network"]
    print(f"compiled the imprinted map: {net['neurons']} neurons, {net['synapses']} synapses "
          f"with backends {', '.join(backends)} -> {args.out}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from neuropaste.compiled import Compiled
    from neuropaste.devices import parse_age
    from neuropaste.verify import VerifyOptions, default_checks, run_checks

    names = [n for n in ("rtl", "spice", "stack", "analog", "imprint") if getattr(args, n)]
    if args.replay:  # the RTL proven core by core instead of as one array
        if "rtl" not in names:
            raise InputError(None, "--replay is a way to run --rtl: give both")
        names[names.index("rtl")] = "replay"
    chosen = set(names) if "imprint" in names else set(
        names or default_checks(Compiled.open(args.dir)))  # an imprint directory is not compiled
    _refuse_unused(args, VERIFY_FLAGS, chosen, "checks")
    drift_time = None if args.age is None else parse_age(args.age)
    options = VerifyOptions(steps=args.steps, vcd=args.vcd, tiles=args.tiles,
                            workers=args.workers, scheduler=args.scheduler, mc_runs=args.mc,
                            drift_time=drift_time, stall=args.stall,
                            link_stall=args.link_stall)
    report = run_checks(Path(args.dir), names, options)
    for name, check in report["checks"].items():
        status = "PASS" if check.get("passed") else "FAIL"
        print(f"{status}  {name}: {check.get('summary', '')}")
    return 0 if report["passed"] else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from neuropaste.demo import run_copy_demo, run_demo

    if args.copy:
        print(f"report -> {run_copy_demo(Path(args.out))}")
        return 0
    path = run_demo(Path(args.out), steps=args.steps, map_spec=args.map, tiles=args.tiles)
    print(f"report -> {path}")
    return 0


#: culture flags -> CultureParams fields (docs/copy.md has the table)
CULTURE_FLAGS = (
    ("--neurons", "neurons", int, "neurons, one per recorded channel (default 1728)"),
    ("--seconds", "seconds", float, "recording length in seconds (default 60)"),
    ("--rate-hz", "rate_hz", float, "requested mean firing rate (default 2)"),
    ("--seed", "seed", int, "seed of every random draw (default 0)"),
    ("--p-connect", "p_connect", float, "connection probability per ordered pair (default 0.02)"),
    ("--exc-fraction", "exc_fraction", float, "fraction of excitatory neurons (default 0.8)"),
    ("--psp-mv", "psp_median_mV", float, "median excitatory PSP at rest in mV (default 0.5)"),
    ("--gap-pairs", "gap_pairs", int, "electrically coupled pairs (default neurons // 100)"),
    ("--noise-mv", "noise_mV", float, "membrane noise, std in mV (default 2)"),
    ("--burst-hz", "burst_hz", float, "network bursts per second (default 0.1)"),
    ("--burst-mv", "burst_mV", float, "shared burst drive peak in mV (default 6)"),
    ("--silent-fraction", "silent_fraction", float,
     "fraction of neurons held below threshold (default 0)"),
    ("--coupling", "coupling_median", float, "median pad gain, recorded/membrane (default 0.5)"),
    ("--coupling-spread", "coupling_sigma", float,
     "lognormal sigma of the pad gain (default 0.5)"),
    ("--record-noise-mv", "record_noise_mV", float,
     "white recording noise in recorded mV (default 0.05)"),
    ("--segment-s", "segment_s", float, "seconds simulated per segment (default 2)"),
)


def _add_culture(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("culture", help="simulate a culture (Brian2): recording.nwb + truth.csv")
    s.add_argument("--out", required=True, help="output directory")
    for flag, field, kind, text in CULTURE_FLAGS:
        s.add_argument(flag, dest=field, type=kind, default=None, help=text,
                       metavar=flag[2:].upper().replace("-", "_"))
    s.add_argument("--target", default="cython", choices=["cython", "numpy"],
                   help="Brian2 code generation target (default cython)")
    s.set_defaults(func=cmd_culture)


def cmd_culture(args: argparse.Namespace) -> int:
    from neuropaste.copy.culture import INFO, RECORDING, TRUTH, run_culture
    from neuropaste.sim.culture import CultureParams

    chosen = {f: getattr(args, f) for _, f, _, _ in CULTURE_FLAGS if getattr(args, f) is not None}
    params = CultureParams(**chosen)
    try:
        params.check()
    except ValueError as err:
        flag = next((fl for fl, f, _, _ in CULTURE_FLAGS if str(err).startswith(f + " ")), None)
        raise InputError(None, f"{flag or 'culture'}: {err}") from None
    info = run_culture(args.out, params, target=args.target)
    n, r, f = info["connections"], info["rate_hz"], info["figures"]
    print(f"{params.neurons} neurons, {params.seconds:g} s: {n['excitatory']} excitatory, "
          f"{n['inhibitory']} inhibitory, {n['gap_pairs']} gap pairs; mean rate "
          f"{r['mean']:.2f} Hz -> {args.out}/{{{RECORDING},{TRUTH},{INFO}}}")
    print(f"simulated in {f['simulate_s']:.1f} s, written in {f['write_s']:.1f} s "
          f"(layout {f['nwb_layout_s']:.1f} s); {f['nwb_bytes'] / 1e6:.1f} MB")
    return 0


def _add_estimate(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("estimate", help="brain-scale memory, area, die, TSV and time figures")
    s.add_argument("--neurons", type=float, default=1e11)
    s.add_argument("--synapses-per-neuron", type=float, default=None,
                   help="default 1000, or the compiled map's mean fan-out with --from")
    s.add_argument("--cell-nm", type=float, default=None,
                   help="cell pitch F, cell = F x F (default: the memory's typical cell)")
    s.add_argument("--layers", type=int, default=1, help="monolithic layers per die")
    s.add_argument("--memory", default=None, choices=sorted(MEMORIES),
                   help="default flash, or the compiled device with --from")
    s.add_argument("--weight-bits", type=int, default=None,
                   help="default: one cell per weight (the memory's bits per cell)")
    s.add_argument("--weight-code", default=None, choices=WEIGHT_CODES,
                   help="sliced (default) or unary; with --from, the compiled device's code")
    s.add_argument("--differential", action="store_true",
                   help="signed weights on column pairs: two cells per weight")
    s.add_argument("--write-bandwidth", type=float, default=100e6, help="bytes per second")
    s.add_argument("--die-mm", type=float, default=DIE_MM, help="die side in mm (default 26)")
    s.add_argument("--from", dest="source", default=None,
                   help="a compiled directory: extrapolate its measured tiles")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_estimate)


def cmd_estimate(args: argparse.Namespace) -> int:
    """Print the estimate as a table (or JSON), with the paper's figures rechecked."""
    from neuropaste.estimate import check_paper, estimate, estimate_from_compiled, format_table

    kwargs: dict[str, Any] = {
        "cell_nm": args.cell_nm, "layers": args.layers, "weight_bits": args.weight_bits,
        "weight_code": args.weight_code, "write_bytes_per_s": args.write_bandwidth,
        "die_mm": args.die_mm}
    if args.differential:
        kwargs["differential"] = True
    if args.source:
        result = estimate_from_compiled(Path(args.source), args.neurons,
                                        args.synapses_per_neuron, memory=args.memory, **kwargs)
    else:
        k = 1000 if args.synapses_per_neuron is None else args.synapses_per_neuron
        result = estimate(args.neurons, k, memory=args.memory or "flash", **kwargs)
    result["paper_check"] = check_paper()
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    print(format_table(result))
    return 0


def _add_fpga(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("fpga", help="bitstream for an iCEBreaker or ULX3S (YoWASP tools)")
    s.add_argument("dir", metavar="DIR", help="a directory written by neuropaste compile")
    s.add_argument("--board", required=True, choices=sorted(BOARDS))
    s.add_argument("--build", action="store_true",
                   help="run Yosys, nextpnr and pack (default: write the build tree only)")
    s.add_argument("--link", choices=("uart", "demo"), default=None,
                   help="board top: UART host link (default when present) or a self-running "
                        "demo with LEDs")
    s.add_argument("--baud", type=int, default=None,
                   help="UART rate of the host link (default 1,000,000; recorded in fpga.json, "
                        "where neuropaste.host finds it)")
    s.add_argument("--clock-mhz", type=float, default=None,
                   help="clock nextpnr must meet (default: the board's oscillator); a build "
                        "that misses it fails (exit 1) naming the critical path")
    s.add_argument("--pnr-seed", type=int, default=1,
                   help="nextpnr placement seed (default 1); Fmax varies with it")
    s.set_defaults(func=cmd_fpga)


def cmd_fpga(args: argparse.Namespace) -> int:
    """Write (and build) ``DIR/fpga/<board>``; print the utilisation and the achieved clock."""
    from neuropaste.fpga import build

    try:
        if args.baud is not None and args.link == "demo":
            raise InputError(None, "--baud applies to the uart link, not to --link demo")
        baud = {} if args.baud is None else {"baud": args.baud}
        r = build(args.dir, args.board, run=args.build, link=args.link,
                  clock_mhz=args.clock_mhz, seed=args.pnr_seed, **baud)
    except RuntimeError as err:  # a tool failed: its log tail, not a traceback
        print(f"neuropaste: error: {err}", file=sys.stderr)
        return 1
    out = Path(args.dir) / "fpga" / args.board
    need = r["fit_estimate"]["need"]
    if not r["built"]:
        print(f"{args.board}: build tree -> {out} (fit estimate: {need['luts']:,} LUTs, "
              f"{need['bram']} BRAM, {need['spram']} SPRAM); run with --build for a bitstream")
        return 0
    u = r["utilisation"]
    ram = f"{u['bram']['used']}/{u['bram']['available']} BRAM"
    if "spram" in u:
        ram += f", {u['spram']['used']}/{u['spram']['available']} SPRAM"
    print(f"{args.board}: {u['luts']:,} LUTs, {u['ffs']:,} FFs, {ram}; "
          f"Fmax {r['fmax_mhz']:.1f} MHz (board clock {r['clock_mhz']:g} MHz) -> "
          f"{out / r['bitstream']}")
    return 0


def _add_copy(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("copy", help="a connectivity map from an intracellular recording")
    s.add_argument("recording", help="NWB (icephys or ecephys) or .npz recording")
    s.add_argument("--out", required=True, help="edge list to write (MAP.csv; statistics go "
                                                "to MAP.copy.json beside it)")
    s.add_argument("--method", default="intracellular",
                   help="intracellular (PSP regression, default) or spikes (spike-train-only "
                        "baseline)")
    s.add_argument("--fdr", type=float, default=0.05, help="false discovery rate (default 0.05)")
    s.add_argument("--step-ms", type=float, default=1.0,
                   help="milliseconds per time step for the delays (default 1)")
    s.add_argument("--truth", default=None,
                   help="CSV pre,post,sign[,psp_mV,delay_ms] to score the map against")
    s.set_defaults(func=cmd_copy)


def cmd_copy(args: argparse.Namespace) -> int:
    from neuropaste.copy.run import CopyOptions, copy_recording, write_outputs
    from neuropaste.copy.score import text
    from neuropaste.io.recording import open_recording, read_truth
    from neuropaste.outputs import stage

    opts = CopyOptions(method=args.method, fdr=args.fdr, step_ms=args.step_ms)
    opts.check()
    if not str(args.out).lower().endswith(".csv"):
        raise InputError(args.out, "--out must name a .csv edge list")
    rec = open_recording(args.recording)
    truth = read_truth(args.truth, rec.labels) if args.truth else None
    with stage(f"copy {os.path.basename(args.recording)} ({rec.n_channels} channels, "
               f"{rec.duration:g} s, {args.method})"):
        result = copy_recording(rec, opts, truth)
    out, jp = write_outputs(result, opts, args.out, args.recording, args.truth)
    found = result.figures["found"]
    print(f"{found['excitatory']} excitatory, {found['inhibitory']} inhibitory, "
          f"{found['electrical_pairs']} electrical -> {out} ({jp.name})")
    if truth is not None:
        print("\n".join(text(result.figures["truth"], args.method)))
    return 0


# ---------------------------------------------------------------------------- imprint


def _add_imprint(sub: argparse._SubParsersAction) -> None:
    from neuropaste.plasticity import DEFAULT_MODEL, MODELS

    s = sub.add_parser("imprint", help="imprint recorded (or a map's) activity onto an N x N "
                                       "crossbar by STDP (docs/imprint.md)")
    s.add_argument("source", metavar="SOURCE",
                   help="a recording (NWB or .npz), or with --steps a map run through the "
                        "reference model (the map is then the truth)")
    s.add_argument("--out", required=True, help="output directory")
    s.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"device update model: {', '.join(MODELS)} (default {DEFAULT_MODEL})")
    s.add_argument("--drive", default="spike", help="spike (default) or vm (membrane traces "
                                                    "drive the columns)")
    s.add_argument("--vm-scheme", default="differential",
                   help="--drive vm: differential (default: a pair of cells per synapse "
                        "integrates the slope in a box after each spike) or threshold (the "
                        "first scheme); docs/imprint.md")
    s.add_argument("--no-variation", action="store_true",
                   help="ideal devices: no device-to-device or cycle-to-cycle spread")
    s.add_argument("--compensate", default="rescale",
                   help="rescale (read-verify-rescale, default; docs/imprint.md) or none")
    s.add_argument("--pulse-v", type=float, default=0.7,
                   help="amplitude of each spike's short pulse, V (default 0.7)")
    s.add_argument("--tail-v", type=float, default=0.7,
                   help="amplitude at which each spike's STDP tail starts, V (default 0.7)")
    s.add_argument("--window", default=None,
                   help="auto (default for the spike drive: a flat tail as long as the "
                        "activity's measured pre -> post lags, and --mirror where "
                        "co-activity sets the chance counts) or given (--tail, --tail-ms, "
                        "--mirror as given; implied by --tail or --tail-ms)")
    s.add_argument("--tail", default=None,
                   help="shape of each spike's STDP tail: ramp (decays to 0; the default with "
                        "--window given) or flat (a box window)")
    s.add_argument("--tail-ms", type=float, default=None,
                   help="length of the STDP tail in recording ms (default 30 with --window "
                        "given)")
    s.add_argument("--mirror", action="store_true",
                   help="also test each cell against its transposed (anti-causal) cell: "
                        "rejects shared drive and bursts (docs/imprint.md)")
    s.add_argument("--drivers", type=int, default=None, metavar="K",
                   help="spike drive: K drivers per neuron take its spikes in turn, so a "
                        "synapse is a K x K group of cells summed at read (spike drive "
                        "default 2, vm 1; docs/imprint.md)")
    s.add_argument("--fdr", type=float, default=0.05, help="false discovery rate (default 0.05)")
    s.add_argument("--truth", default=None, help="recording source: CSV pre,post,sign[,psp_mV] "
                                                 "to score against")
    s.add_argument("--step-ms", type=float, default=1.0,
                   help="milliseconds per time step (map source and delays; default 1)")
    g = s.add_argument_group("map source")
    g.add_argument("--steps", type=int, default=None, help="reference-model steps (makes "
                                                           "SOURCE a map)")
    g.add_argument("--stimulus", help="CSV of external events with header step,neuron")
    g.add_argument("--drive-rate", type=float, default=0.02,
                   help="Poisson drive per neuron and step (default 0.02)")
    s.add_argument("--seed", type=int, default=0, help="seed of drive and variation")
    _map_options(s)
    _quant_options(s)
    s.set_defaults(func=cmd_imprint, drive_neurons=None)


def cmd_imprint(args: argparse.Namespace) -> int:
    from neuropaste.imprint.run import ImprintOptions, imprint, write_outputs
    from neuropaste.imprint.sources import from_map, from_recording
    from neuropaste.outputs import stage
    from neuropaste.plasticity import PulseScheme

    given = args.tail is not None or args.tail_ms is not None
    tail_ms = 30.0 if args.tail_ms is None else args.tail_ms
    opts = ImprintOptions(model=args.model, variation=not args.no_variation, seed=args.seed,
                          drive=args.drive, fdr=args.fdr, compensation=args.compensate,
                          step_ms=args.step_ms, mirror=args.mirror, vm_scheme=args.vm_scheme,
                          drivers=args.drivers,
                          window=args.window or ("given" if given else "auto"),
                          scheme=PulseScheme(a_pulse=args.pulse_v, a_tail=args.tail_v,
                                             tail=args.tail or "ramp",
                                             tau=tail_ms * 1e-6))
    opts.check()
    if not (args.step_ms > 0 and args.step_ms < 1e6):
        raise InputError(None, f"--step-ms must be a positive number, got {args.step_ms}")
    if args.steps is not None:
        if args.truth:
            raise InputError(None, "--truth applies to a recording; a map is its own truth")
        cmap = _load(args.source, args)
        ns = argparse.Namespace(**{**vars(args), "drive": args.drive_neurons})
        stim, spec = _stimulus_from_args(ns, cmap)
        with stage(f"reference run of {cmap.n_neurons} neurons for {args.steps} steps"):
            act = from_map(cmap, _quant_from_args(args), args.steps, stim, spec, args.step_ms,
                           args.source)
    else:
        with stage(f"spike detection in {os.path.basename(args.source)}"):
            act = from_recording(args.source, args.truth)
    with stage(f"imprint of {len(act.times_s)} spikes of {act.n} neurons ({args.model})"):
        res = imprint(act, opts)
    def report(tmp: Path) -> None:
        from neuropaste.report import imprint_section, write_report

        write_report(tmp / "report.html", f"neuropaste imprint: {os.path.basename(args.source)}",
                     [imprint_section(tmp)])

    write_outputs(res, args.out, report)
    f = res.figures
    print(f"{f['found']['excitatory']} excitatory, {f['found']['inhibitory']} inhibitory "
          f"learned from {f['spikes']} spikes; {f['overlaps']} overlaps, write energy "
          f"{f['write_energy_j']['total']:.3g} J -> {args.out}")
    if "truth" in f:
        from neuropaste.copy.score import text

        print("\n".join(text(f["truth"], f"imprint ({args.model})")))
    return 0


# ---------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="neuropaste",
        description="Paste a copied synaptic connectivity map onto silicon: LIF RTL and 1T1R "
                    "crossbar netlists, proven against one reference model.")
    p.add_argument("--version", action="version", version="neuropaste 0.1.0")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("info", help="summarise a connectivity map")
    s.add_argument("map", metavar="MAP", help="file or builtin:NAME, cect:READER")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    _map_options(s)
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("simulate", help="run the reference model and write spikes.csv")
    s.add_argument("map", metavar="MAP", help="a map, or with --analog a compiled directory")
    s.add_argument("--out", required=True, help="output directory")
    s.add_argument("--float", action="store_true", help="floating-point mode on real weights")
    g = s.add_argument_group("analog: the compiled crossbar tiles in the loop (docs/fidelity.md)")
    g.add_argument("--analog", action="store_true",
                   help="MAP is a compiled directory (spice backend): read every synaptic input "
                        "from its tiles; writes spikes.csv and fidelity.json; --steps and "
                        "--stimulus default to the stored ones, --seed seeds the read path")
    g.add_argument("--age", default=None,
                   help="time since programming, for drift: seconds or s/h/d/y suffix (1d)")
    g.add_argument("--adc-bits", type=int, default=None,
                   help="ADC bits per differential pair (default: one LSB per digit step)")
    g.add_argument("--no-drift-reference", action="store_true",
                   help="no reference column: drift is not compensated")
    g.add_argument("--ideal", action="store_true",
                   help="ideal reads: no spread, noise, drift, wire R; ideal switch and ADC")
    g.add_argument("--ngspice", type=int, default=0, metavar="K",
                   help="run the written tile netlists in ngspice for K sampled (step, tile) "
                        "reads of the run and compare with the loop's model (default 0)")
    _stimulus_options(s, 0)
    s.set_defaults(steps=None)  # required for a map, the stored count for --analog
    _map_options(s)
    _quant_options(s)
    s.set_defaults(func=cmd_simulate)

    s = sub.add_parser("export", help="write a map as CSV or NIR")
    s.add_argument("map", metavar="MAP")
    s.add_argument("--to", required=True, help="target file: .csv, .nir or .npz")
    _map_options(s)
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("compile", help="compile a map to RTL and SPICE netlists")
    s.add_argument("map", metavar="MAP", nargs="?", default=None)
    s.add_argument("--from-imprint", default=None, metavar="DIR",
                   help="instead of MAP: the map an imprint directory learned")
    s.add_argument("--out", required=True, help="output directory")
    s.add_argument("--backends", default="rtl,spice", help="comma list of rtl, spice")
    s.add_argument("--serial", action="store_true",
                   help="run the backends one after another (default: at the same time, each "
                        "but the last in a forked process, when the machine has 2+ cores and "
                        "their predicted memory fits 2/3 of it; the manifest's "
                        "resources.backends_at_once says which)")
    s.add_argument("--cores", type=int, default=None,
                   help="place the neurons on this many cores of a mesh (default: one core "
                        "when the map fits, else as few as it needs)")
    s.add_argument("--core-neurons", type=int, default=None,
                   help="neurons per mesh core (default 256)")
    s.add_argument("--rtl-profile", choices=("default", "small"), default="default",
                   help="small: the throughput switches off and one-word sender tables, for a "
                        "mesh on a small FPGA (fewer logic cells and block RAMs, more clocks a "
                        "step; docs/hardware.md); default: the fast design")
    s.add_argument("--placement", choices=("work", "steps", "neurons"), default="work",
                   help="what placement balances over the cores: work (rate x fan-in, low "
                        "traffic; default), steps (every step's work, for throughput, more "
                        "traffic), neurons (counts only)")
    s.add_argument("--sweep-order", choices=("sends", "index"), default="sends",
                   help="each mesh core's neuron order (its update sweep): sends (the neurons "
                        "whose spikes feed most remote work first; default), index (map order)")
    s.add_argument("--tile", type=int, default=None, help="crossbar tile size R = C (default 64)")
    s.add_argument("--device", default=None,
                   help=f"memory preset ({', '.join(PRESETS)}) or a preset file")
    s.add_argument("--memory-dies", type=int, default=None,
                   help="assign the tiles to a TSV stack of this many memory dies")
    s.add_argument("--stack", default=None, metavar="FILE",
                   help="stack description (.toml/.json, docs/stack.md); --memory-dies "
                        "overrides its die count")
    s.add_argument("--slices", type=int, default=None,
                   help="bit slicing: each weight as this many digits, one differential pair "
                        "each (default: the device preset's encoding, docs/fidelity.md)")
    s.add_argument("--digit-levels", type=int, default=None,
                   help="levels of one slice's digit (a whole number of device level steps)")
    s.add_argument("--programming", default=None, choices=["cell", "predistort", "in-array"],
                   help="what program-and-verify reads (default in-array: IR drop and "
                        "transistor compensated)")
    s.add_argument("--netlists", default="auto", choices=["auto", "all", "sample"],
                   help="tile netlists to write: all, or a sample of 64 (any other can be "
                        "written from the tile store); auto: all up to 512 tiles")
    _stimulus_options(s, 1000)
    _map_options(s)
    _quant_options(s)
    s.set_defaults(func=cmd_compile, subparser=s)

    s = sub.add_parser("verify", help="prove a compiled directory against the reference model")
    s.add_argument("dir", metavar="DIR")
    s.add_argument("--rtl", action="store_true", help="cocotb + Icarus on the generated Verilog")
    s.add_argument("--spice", action="store_true", help="ngspice on crossbar tiles")
    s.add_argument("--stack", action="store_true",
                   help="ngspice on the TSV stack's die netlists and word-line chain")
    s.add_argument("--analog", action="store_true",
                   help="the tiles in the loop with ideal reads reproduce the reference raster "
                        "(needs a lossless level map; docs/fidelity.md)")
    s.add_argument("--imprint", action="store_true",
                   help="DIR is an imprint directory: ngspice re-imprints a sampled 4 x 4 "
                        "sub-crossbar and must agree with its stored conductances within 5 %% "
                        "(docs/imprint.md)")
    s.add_argument("--steps", type=int, default=None,
                   help="steps for --rtl, --analog (default: all stored)")
    s.add_argument("--replay", action="store_true",
                   help="with --rtl on a mesh: simulate each core and router alone on its "
                        "recorded traffic, spread over Dask workers; resumable")
    s.add_argument("--vcd", action="store_true", help="keep a VCD waveform of the RTL run")
    s.add_argument("--stall", type=_probability, default=0.0,
                   help="--rtl: P(host output not ready) per clock (default 0); --replay: "
                        "P(input gap) and P(output not ready) (default 0.25)")
    s.add_argument("--link-stall", type=_probability, default=0.0,
                   help="--rtl on a mesh: P(a link refuses a transfer) per clock (default 0)")
    s.add_argument("--tiles", type=int, default=None,
                   help="ngspice on K sampled tiles (with --stack: K per die, default 2)")
    s.add_argument("--workers", type=int, default=2, help="local worker processes")
    s.add_argument("--scheduler", default=None,
                   help="dask.distributed scheduler address (--spice, --replay)")
    s.add_argument("--mc", type=int, default=0,
                   help="Monte Carlo runs of device-to-device variability")
    s.add_argument("--age", default=None,
                   help="time since programming for conductance drift (PCM): seconds, or a "
                        "number with an s, h, d or y suffix")
    s.set_defaults(func=cmd_verify, subparser=s)

    _add_estimate(sub)
    _add_fpga(sub)
    _add_culture(sub)
    _add_copy(sub)
    _add_imprint(sub)

    s = sub.add_parser("demo", help="the main job on the bundled C. elegans connectome")
    s.add_argument("--out", default="demo-out", help="output directory (default demo-out)")
    s.add_argument("--map", default=DEFAULT_MAP, help=argparse.SUPPRESS)
    s.add_argument("--steps", type=int, default=1000)
    s.add_argument("--tiles", type=int, default=4, help="tiles checked in ngspice (default 4)")
    s.add_argument("--copy", action="store_true",
                   help="instead: culture -> copy -> compile -> verify (a small simulated culture)")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as err:
        print(f"neuropaste: error: {err}", file=sys.stderr)
        return 2
    except ValueError as err:  # model choices the map cannot satisfy (widths, thresholds)
        where = getattr(args, "map", None) or getattr(args, "dir", None)
        print(f"neuropaste: error: {where}: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into head and the like
        return 0
    except KeyboardInterrupt:
        print("neuropaste: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
