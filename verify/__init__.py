"""``neuropaste verify``: the proofs, one check per backend artifact; results kept in verify.json.

Each check is registered here once, keyed by the backend whose output it proves: its module
defines ``check(compiled, options) -> dict`` (the dict goes into ``verify.json`` under
``checks.<name>`` and holds ``passed`` and ``summary``) and ``report_html(compiled)`` (its
section of the report). The generators never import these modules: the proofs sit above them.

To add a check: write its module, add one :class:`Check` to :data:`CHECKS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from neuropaste.compiled import VERIFY, Compiled
from neuropaste.errors import InputError
from neuropaste.outputs import write_json


@dataclass(frozen=True)
class VerifyOptions:
    """Every knob of every check; each check reads the ones it has."""

    steps: int | None = None  # rtl: steps to simulate (default: all stored)
    vcd: bool = False  # rtl: keep a waveform
    stall: float = 0.0  # rtl: P(host output not ready) per clock
    link_stall: float = 0.0  # rtl on a mesh: P(a link refuses a transfer) per clock
    tiles: int | None = None  # spice: tiles sampled for ngspice; stack: per die
    workers: int = 2
    scheduler: str | None = None  # spice, replay: a dask.distributed scheduler address
    mc_runs: int = 0  # spice: Monte Carlo runs of device spread
    drift_time: float | None = None  # spice: seconds after programming


@dataclass(frozen=True)
class Check:
    name: str
    backend: str  # the backend whose output it proves
    module: str  # defines check(compiled, options) and report_html(compiled)
    applies: Callable[[dict[str, Any]], bool] = lambda part: True  # on the backend's manifest

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


#: check name -> the check; also the order of the report's sections
CHECKS = {
    "rtl": Check("rtl", "rtl", "neuropaste.verify.rtl"),
    "spice": Check("spice", "spice", "neuropaste.verify.spice"),
    "stack": Check("stack", "spice", "neuropaste.verify.stack", lambda part: "stack" in part),
    # opt-in (verify --analog): the default devices' level maps are lossy by design
    "analog": Check("analog", "spice", "neuropaste.verify.analog", lambda part: False),
    # opt-in (verify --rtl --replay): each core and router of a mesh alone, on Dask
    "replay": Check("replay", "rtl", "neuropaste.verify.replay", lambda part: False),
    # verify --imprint: on an imprint directory (neuropaste imprint), never a compiled one
    "imprint": Check("imprint", "imprint", "neuropaste.verify.imprint", lambda part: False),
}


def default_checks(compiled: Compiled) -> list[str]:
    """Every check that applies to what this directory was compiled with."""
    return [name for name, c in CHECKS.items()
            if (part := compiled.backend(c.backend)) is not None and c.applies(part)]


def run_checks(compiled: Path, names: list[str], options: VerifyOptions) -> dict[str, Any]:
    """Run the named checks (every applicable one when empty); earlier results of other checks
    in verify.json are kept. Returns what verify.json now says. ``imprint`` runs alone, on an
    imprint directory."""
    if "imprint" in names:
        if names != ["imprint"]:
            raise InputError(compiled, "--imprint checks an imprint directory and runs alone")
        return CHECKS["imprint"].load().run(compiled, options)
    cd = Compiled.open(compiled)
    names = names or default_checks(cd)
    for name in names:
        backend = CHECKS[name].backend
        if cd.backend(backend) is None:
            raise InputError(compiled, f"was compiled without the {backend} backend")
    checks: dict[str, Any] = dict(cd.checks())
    for name in names:
        checks[name] = CHECKS[name].load().check(cd.root, options)
    report = {
        "network_digest": cd.manifest["network_digest"],
        "checks": checks,
        "requested": names,
        "passed": all(bool(checks[k].get("passed")) for k in names),
    }
    write_json(cd.path(VERIFY), report)
    return report


def verify(compiled: Path, *, rtl: bool = False, spice: bool = False, stack: bool = False,
           analog: bool = False, replay: bool = False, **options: Any) -> dict[str, Any]:
    """The checks asked for by flag (all that apply when none is), with ``options`` as in
    :class:`VerifyOptions`; ``replay`` proves the RTL core by core instead of whole."""
    names = [n for n, wanted in (("rtl", rtl and not replay), ("replay", replay),
                                 ("spice", spice), ("stack", stack), ("analog", analog))
             if wanted]
    return run_checks(Path(compiled), names, VerifyOptions(**options))


def report_sections(compiled: Path) -> list[str]:
    """Every check's report section, in :data:`CHECKS` order (empty ones dropped)."""
    cd = Compiled.open(compiled)
    sections = []
    for c in CHECKS.values():
        if cd.backend(c.backend) is not None:
            sections.append(c.load().report_html(cd.root))
    return [s for s in sections if s]
