"""Write outputs whole or not at all: a failed run never leaves a half-written directory."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def stage(message: str, quiet: bool = False, record: dict[str, float] | None = None
          ) -> Iterator[None]:
    """One progress line on stderr per stage, with its wall time once it is done (also kept in
    ``record`` under ``message`` when given)."""
    t0 = time.perf_counter()
    if not quiet:
        print(f"neuropaste: {message} ...", file=sys.stderr, flush=True)
    yield
    dt = time.perf_counter() - t0
    if record is not None:
        record[message] = round(dt, 3)
    if quiet:
        return
    print(f"neuropaste: {message}: done in {dt:.1f} s", file=sys.stderr, flush=True)
