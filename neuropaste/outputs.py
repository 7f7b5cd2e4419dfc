"""Write outputs whole or not at all: a failed run never leaves a half-written directory."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from neuropaste.errors import InputError


@contextlib.contextmanager
def atomic_dir(out: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of ``out``; rename it onto ``out`` only if the body succeeds."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Stable JSON (sorted keys, fixed indent), replaced atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_jsonable) + "\n")
    os.replace(tmp, path)


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, MB (Linux reports kB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


#: the recorded stage that is running: (seconds record, peak-memory record, name, quiet)
_OPEN: ContextVar[tuple[dict[str, float], dict[str, float] | None, str, bool] | None] = \
    ContextVar("neuropaste_open_stage", default=None)


@contextlib.contextmanager
def stage(message: str, quiet: bool = False, record: dict[str, float] | None = None,
          peaks: dict[str, float] | None = None) -> Iterator[None]:
    """One progress line on stderr per stage, with its wall time once it is done (also kept in
    ``record`` under ``message`` when given, and the process's peak memory so far in
    ``peaks``). While a recorded stage runs, :func:`substage` records its steps."""
    t0 = time.perf_counter()
    if not quiet:
        print(f"neuropaste: {message} ...", file=sys.stderr, flush=True)
    token = _OPEN.set((record, peaks, message, quiet)) if record is not None else None
    try:
        yield
    finally:
        if token is not None:
            _OPEN.reset(token)
    dt = time.perf_counter() - t0
    if record is not None:
        record[message] = round(dt, 3)
    if peaks is not None:
        peaks[message] = peak_rss_mb()
    if quiet:
        return
    print(f"neuropaste: {message}: done in {dt:.1f} s", file=sys.stderr, flush=True)


@contextlib.contextmanager
def substage(message: str) -> Iterator[None]:
    """A step of the recorded stage that is running (a backend's packing, partition...): timed
    into that stage's record as ``stage / step``, so a manifest says where a compile's time
    and memory went. Outside a recorded stage (a test, a bench) it only runs the body."""
    outer = _OPEN.get()
    if outer is None:
        yield
        return
    record, peaks, parent, quiet = outer
    with stage(f"{parent} / {message}", quiet, record, peaks):
        yield
