"""CSV edge lists: header ``pre,post,weight`` and an optional integer ``delay`` (steps >= 1).

Neurons are named by label and numbered in order of first appearance (pre before post on each
line). A CSV edge list cannot hold a neuron without synapses or neuron parameters: use GraphML or
NIR for those.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from neuropaste.cmap import ConnectivityMap
from neuropaste.errors import InputError
from neuropaste.io._files import existing_file

REQUIRED = ("pre", "post", "weight")


def read_csv(path: str | os.PathLike) -> ConnectivityMap:
    p = existing_file(path)
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputError(p, f"cannot read as CSV: {err}") from None
    if not rows or not any(c.strip() for c in rows[0]):
        raise InputError(p, "empty file: expected a header pre,post,weight[,delay]")
    header = [c.strip().lower() for c in rows[0]]
    for col in REQUIRED:
        if col not in header:
            raise InputError(p, f"missing column {col!r} (header is {','.join(rows[0])})",
                             record="line 1")
    width = len(header)
    body = [(i, r) for i, r in enumerate(rows[1:], start=2) if r and any(c.strip() for c in r)]
    if not body:
        raise InputError(p, "no edges after the header")
    bad = next(((i, r) for i, r in body if len(r) != width), None)
    if bad:
        raise InputError(p, f"{len(bad[1])} fields, header has {width}", record=f"line {bad[0]}")
    lines = np.array([i for i, _ in body])
    cols = list(zip(*(r for _, r in body), strict=True))
    pre = cols[header.index("pre")]
    post = cols[header.index("post")]
    weight = _numbers(p, cols[header.index("weight")], lines, "weight")
    if "delay" in header:
        raw = _numbers(p, cols[header.index("delay")], lines, "delay")
        bad_delay = np.flatnonzero((raw != np.rint(raw)) | (raw < 1))
        if len(bad_delay):
            k = bad_delay[0]
            raise InputError(p, f"delay {cols[header.index('delay')][k]!r} must be an integer "
                             "number of steps >= 1", record=f"line {lines[k]}")
        delay = raw.astype(np.int64)
    else:
        delay = None
    index: dict[str, int] = {}  # labels numbered in order of first appearance, pre then post
    try:
        ids = np.fromiter((index.setdefault(x, len(index)) if x else -1
                           for pair in zip(pre, post, strict=True) for x in pair),
                          np.int64, 2 * len(pre))
    except ValueError:
        ids = np.array([-1])
    empty = np.flatnonzero(ids < 0)
    if len(empty):
        raise InputError(p, "empty neuron name", record=f"line {lines[empty[0] // 2]}")
    names = np.array(list(index), dtype=str)
    try:
        return ConnectivityMap.build(names, ids[0::2], ids[1::2], weight, delay,
                                     meta={"format": "csv", "rules": ["parallel edges with the "
                                           "same delay summed"]})
    except ValueError as err:
        raise InputError(p, str(err)) from None


def _numbers(path, raw, lines: np.ndarray, name: str) -> np.ndarray:
    """Vectorised float parse; on failure, find the first bad record for the message."""
    try:
        values = np.array(raw, dtype=np.float64)
    except ValueError:
        for k, text in enumerate(raw):
            try:
                float(text)
            except ValueError:
                raise InputError(path, f"{name} {text!r} is not a number",
                                 record=f"line {lines[k]}") from None
        raise
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise InputError(path, f"{name} {raw[bad[0]]!r} is not finite",
                         record=f"line {lines[bad[0]]}")
    return values


def write_csv(cmap: ConnectivityMap, path: str | os.PathLike) -> None:
    names = cmap.labels.tolist()
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["pre", "post", "weight", "delay"])
        w.writerows(
            (names[a], names[b], repr(float(x)), int(d))
            for a, b, x, d in zip(cmap.pre, cmap.post, cmap.weight, cmap.delay, strict=True)
        )
