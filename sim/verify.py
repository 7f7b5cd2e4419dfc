"""``neuropaste verify``: run the requested proofs on a compiled directory; keep verify.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from neuropaste.generators.compile import MANIFEST

from neuropaste.errors import InputError
from neuropaste.outputs import write_json

VERIFY = "verify.json"


def verify(compiled: Path, *, rtl: bool = False, spice: bool = False, stack: bool = False,
           steps: int | None = None,
           vcd: bool = False, tiles: int | None = None, workers: int = 2,
           scheduler: str | None = None, mc_runs: int = 0,
           drift_time: float | None = None, stall: float = 0.0,
           link_stall: float = 0.0) -> dict[str, Any]:
    """Run each requested check; earlier results of other checks in verify.json are kept."""
    manifest_path = compiled / MANIFEST
    if not compiled.is_dir() or not manifest_path.is_file():
        raise InputError(compiled, "not a compiled directory (no manifest.json)")
    manifest = json.loads(manifest_path.read_text())
    if not (rtl or spice or stack):
        rtl = "rtl" in manifest["backends"]
        spice = "spice" in manifest["backends"]
        stack = "stack" in manifest["backends"].get("spice", {})
    for name, wanted in (("rtl", rtl), ("spice", spice)):
        if wanted and name not in manifest["backends"]:
            raise InputError(compiled, f"was compiled without the {name} backend")
    previous = {}
    if (compiled / VERIFY).is_file():
        previous = json.loads((compiled / VERIFY).read_text()).get("checks", {})
    checks: dict[str, Any] = dict(previous)
    if rtl:
        from neuropaste.sim.verify_rtl import verify as verify_rtl

        checks["rtl"] = verify_rtl(compiled, steps=steps, vcd=vcd, stall=stall,
                                   link_stall=link_stall)
    if spice:
        from neuropaste.sim.verify_spice import verify as verify_spice

        checks["spice"] = verify_spice(compiled, tiles=tiles, workers=workers, scheduler=scheduler,
                                       mc_runs=mc_runs, drift_time=drift_time)
    if stack:
        from neuropaste.sim.verify_stack import verify as verify_stack

        checks["stack"] = verify_stack(compiled, tiles=tiles, workers=workers)
    ran = [k for k, w in (("rtl", rtl), ("spice", spice), ("stack", stack)) if w]
    report = {
        "network_digest": manifest["network_digest"],
        "checks": checks,
        "requested": ran,
        "passed": all(bool(checks[k].get("passed")) for k in ran),
    }
    write_json(compiled / VERIFY, report)
    return report
