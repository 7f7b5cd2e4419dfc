"""ngspice through PySpice's shared-library interface: run a netlist, get its vectors back.

ngspice is loaded once per process (PySpice's ``NgSpiceShared`` is a singleton), so parallel
runs use processes, never threads. The netlists come from :mod:`neuropaste.netlists`; this
module only runs them.
"""

from __future__ import annotations

import logging

import numpy as np


def _shared():
    from PySpice.Spice.NgSpice.Shared import NgSpiceShared

    logging.getLogger("PySpice").setLevel(logging.ERROR)
    return NgSpiceShared.new_instance()


def run_text(text: str) -> dict[str, np.ndarray]:
    """Load a netlist's ``text`` into the shared ngspice, run its analysis, return its vectors
    (``name#branch`` for a source's current, the node name for a voltage, ``time``)."""
    ns = _shared()
    ns.destroy()
    ns.load_circuit(text)
    ns.run()
    plot = ns.plot(None, ns.last_plot)
    out = {name: np.array(vec._data).real.astype(np.float64) for name, vec in plot.items()}
    ns.remove_circuit()
    ns.destroy()
    return out


def branch_currents(circuit, sources: list[str]) -> np.ndarray:
    """Operating-point current through each named voltage source of a PySpice ``circuit``."""
    logging.getLogger("PySpice").setLevel(logging.ERROR)
    analysis = circuit.simulator(simulator="ngspice-shared").operating_point()
    return np.array([float(analysis.branches[name][0]) for name in sources])
