"""Checks every importer makes before it opens a file."""

from __future__ import annotations

import os
from pathlib import Path

from neuropaste.errors import InputError


def existing_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(p, "no such file")
    if p.is_dir():
        raise InputError(p, "is a directory, not a map file")
    if p.stat().st_size == 0:
        raise InputError(p, "empty file")
    return p
