"""The backend registry: every backend the compiler can run, each one entry here.

A backend module defines ``BACKEND = Backend(name, options, emit)``. ``emit(net, out_dir, ref,
options)`` reads the Network IR and the compile's one reference run (never the map, never the
disk) and writes its files under ``out_dir``; it returns what goes into the manifest under
``backends.<name>``. ``options`` is the backend's own frozen dataclass, defaults included.

To add a backend: write its module with a ``BACKEND``, add one line to :data:`REGISTRY`, and (to
prove it) register a check in ``verify/__init__.py``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuropaste.ir import Network
from neuropaste.reference import ReferenceRun

#: backend name -> module that defines its ``BACKEND``
REGISTRY = {
    "rtl": "neuropaste.generators.rtl",
    "spice": "neuropaste.generators.crossbar",
}


@dataclass(frozen=True)
class Backend:
    name: str
    options: type  # a frozen dataclass; ``options()`` gives the defaults
    emit: Callable[[Network, Path, ReferenceRun, Any], dict[str, Any]]
    #: what ``emit`` adds to the compiling process's resident memory at its peak, bytes a
    #: synapse (measured on the scale-1 microcircuit, docs/scale.md): ``compile`` runs the
    #: backends at the same time only when their sum fits (``neuropaste.compile``)
    bytes_per_synapse: float = 0.0


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def get(name: str) -> Backend:
    """The registered backend ``name``; ValueError naming the choices otherwise."""
    if name not in REGISTRY:
        raise ValueError(f"unknown backend {name!r}; choose from {', '.join(sorted(REGISTRY))}")
    return importlib.import_module(REGISTRY[name]).BACKEND
