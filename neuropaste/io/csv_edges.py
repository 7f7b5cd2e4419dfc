"""CSV edge lists: header ``pre,post,weight`` and an optional integer ``delay`` (steps >= 1).

Neurons are named by label and numbered in order of first appearance (pre before post on each
line). A CSV edge list cannot hold a neuron without synapses or neuron parameters: use GraphML or
NIR for those. Empty and whitespace-only lines are skipped; every other line is a record.

Two parsers give the same map: a vectorised one over the raw bytes (10^7 lines in seconds, no
per-line Python objects) for files without quoting, and the ``csv`` module for quoted fields
(labels that contain commas or quotes, as :func:`write_csv` writes them).
"""

from __future__ import annotations

import csv
import io
import os
import warnings

import numpy as np

from neuropaste.cmap import ConnectivityMap
from neuropaste.errors import InputError
from neuropaste.io._files import existing_file

REQUIRED = ("pre", "post", "weight")
MAX_DELAY = int(np.iinfo(np.int16).max)  # the map stores delays as int16
RULES = ["parallel edges with the same delay summed"]

# bytes a plain decimal number may hold; anything else (nan, inf, hex, '_') takes the slow
# per-field check, which either accepts it exactly as float() does or names the line
_NUMERIC = np.zeros(256, bool)
_NUMERIC[np.frombuffer(b"0123456789.eE+- ", np.uint8)] = True
_FNV_OFFSET, _FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)


def read_csv(path: str | os.PathLike) -> ConnectivityMap:
    p = existing_file(path)
    try:
        with open(p, "rb") as fh:
            data = fh.read()
    except OSError as err:
        raise InputError(p, f"cannot read: {err}") from None
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise InputError(p, f"not UTF-8 text: {err}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    plain = b'"' not in data and b"\x00" not in data and data.count(b"\r") == data.count(b"\r\n")
    arrays = parse_bytes(p, data) if plain else parse_csv_module(p, data)
    names, pre, post, weight, delay = arrays
    try:
        return ConnectivityMap.build(names, pre, post, weight, delay,
                                     meta={"format": "csv", "rules": list(RULES)})
    except ValueError as err:
        raise InputError(p, str(err)) from None


def _header(path, row: list[str]) -> list[str]:
    """Lower-cased column names, checked for the required ones."""
    if not row or not any(c.strip() for c in row):
        raise InputError(path, "empty file: expected a header pre,post,weight[,delay]",
                         record="line 1")
    header = [c.strip().lower() for c in row]
    for col in REQUIRED:
        if col not in header:
            raise InputError(path, f"missing column {col!r} (header is {','.join(row)})",
                             record="line 1")
    return header


# ------------------------------------------------------------------ vectorised, unquoted files


def parse_bytes(path, data: bytes):
    """Split on newline and comma positions found by numpy; labels by hash, numbers by strtod."""
    first = data.find(b"\n")
    first = len(data) if first < 0 else first
    header = _header(path, data[:first].rstrip(b"\r").decode("utf-8").split(","))
    width = len(header)
    buf = np.frombuffer(data, np.uint8)
    body = first + 1
    nl = np.flatnonzero(buf[body:] == 10) + body
    starts = np.concatenate(([body], nl + 1)).astype(np.int64)
    ends = np.concatenate((nl, [len(buf)])).astype(np.int64)
    lines = np.arange(2, len(starts) + 2)
    if len(starts) and starts[-1] >= len(buf):  # the file's final newline
        starts, ends, lines = starts[:-1], ends[:-1], lines[:-1]
    has_cr = ends > starts
    has_cr[has_cr] = buf[ends[has_cr] - 1] == 13
    ends -= has_cr
    keep = ends > starts
    starts, ends, lines = starts[keep], ends[keep], lines[keep]
    commas = np.flatnonzero(buf[body:] == 44) + body
    count = np.searchsorted(commas, ends) - np.searchsorted(commas, starts)
    odd = np.flatnonzero(count != width - 1)
    if len(odd):
        blank = [k for k in odd.tolist() if not data[starts[k]:ends[k]].strip()]
        bad = np.setdiff1d(odd, blank)
        if len(bad):
            k = int(bad[0])
            raise InputError(path, f"{count[k] + 1} fields, header has {width}",
                             record=f"line {lines[k]}")
        keep = np.ones(len(starts), bool)
        keep[blank] = False
        starts, ends, lines = starts[keep], ends[keep], lines[keep]
        commas = commas[np.repeat(keep, count)]
    if not len(starts):
        raise InputError(path, "no edges after the header")
    cuts = commas.reshape(len(starts), width - 1)
    field_start = np.column_stack([starts] + [cuts[:, c] + 1 for c in range(width - 1)])
    field_end = np.column_stack([cuts[:, c] for c in range(width - 1)] + [ends])

    def column(name: str) -> tuple[np.ndarray, np.ndarray]:
        c = header.index(name)
        return field_start[:, c], field_end[:, c]

    weight = _numbers(path, data, buf, *column("weight"), lines, "weight")
    delay = None
    if "delay" in header:
        s, e = column("delay")
        delay = _delays(path, data, _numbers(path, data, buf, s, e, lines, "delay"), s, e, lines)
    (ps, pe), (qs, qe) = column("pre"), column("post")
    s = np.column_stack([ps, qs]).ravel()  # pre, post, pre, post...: first-appearance order
    e = np.column_stack([pe, qe]).ravel()
    names, ids = _labels(path, data, buf, s, e, np.repeat(lines, 2))
    return names, ids[0::2], ids[1::2], weight, delay


def _numbers(path, data: bytes, buf: np.ndarray, s: np.ndarray, e: np.ndarray,
             lines: np.ndarray, name: str) -> np.ndarray:
    """Gather one column into 'v v v ...' and parse it in C; exact, as float() rounds."""
    lens = e - s
    step = lens + 1
    total = int(step.sum())
    itype = np.int32 if len(buf) < 2**31 - 1 else np.int64
    out_end = np.cumsum(step)
    src = np.arange(total, dtype=itype)
    src += np.repeat((s - (out_end - step)).astype(itype), step)
    np.minimum(src, len(buf) - 1, out=src)
    text = buf[src]
    text[out_end - 1] = 32
    values = None
    if np.all(_NUMERIC[text]) and np.all(lens > 0):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                values = np.fromstring(text.tobytes(), dtype=np.float64, sep=" ")
            except (DeprecationWarning, ValueError):
                values = None
        if values is not None and len(values) != len(s):
            values = None
    if values is None:  # something unusual: check field by field, as the csv path does
        values = np.empty(len(s))
        for k in range(len(s)):
            raw = data[s[k]:e[k]].decode("utf-8")
            try:
                values[k] = float(raw)
            except ValueError:
                raise InputError(path, f"{name} {raw!r} is not a number",
                                 record=f"line {lines[k]}") from None
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        k = bad[0]
        raise InputError(path, f"{name} {data[s[k]:e[k]].decode('utf-8')!r} is not finite",
                         record=f"line {lines[k]}")
    return values


def _delays(path, data: bytes, raw: np.ndarray, s, e, lines: np.ndarray) -> np.ndarray:
    bad = np.flatnonzero((raw != np.rint(raw)) | (raw < 1) | (raw > MAX_DELAY))
    if len(bad):
        k = bad[0]
        raise InputError(path, f"delay {data[s[k]:e[k]].decode('utf-8')!r} must be an integer "
                         f"number of steps in 1..{MAX_DELAY}", record=f"line {lines[k]}")
    return raw.astype(np.int64)


def _labels(path, data: bytes, buf: np.ndarray, s: np.ndarray, e: np.ndarray,
            lines: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Number byte-string fields in order of first appearance: hash 8 bytes at a time, then
    check every field against the first field with its hash (a collision takes a dict)."""
    lens = e - s
    empty = np.flatnonzero(lens == 0)
    if len(empty):
        raise InputError(path, "empty neuron name", record=f"line {lines[empty[0]]}")
    padded = np.concatenate([buf, np.zeros(8, np.uint8)])
    words = np.ndarray((len(buf) + 1,), np.dtype("<u8"), padded, 0, (1,))  # word at any byte
    n_words = (int(lens.max()) + 7) // 8

    def word(start: np.ndarray, length: np.ndarray, w: int) -> np.ndarray:
        """Bytes 8w..8w+7 of each field as a little-endian word, zeroed past its end."""
        bits = np.minimum(length - 8 * w, 8).astype(np.uint64) * np.uint64(8)
        mask = np.where(bits == 64, ~np.uint64(0),
                        (np.uint64(1) << (bits % np.uint64(64))) - np.uint64(1))
        return words[start + 8 * w] & mask

    h = lens.astype(np.uint64) * _FNV_PRIME
    for w in range(n_words):
        rows = np.flatnonzero(lens > 8 * w) if w else np.arange(len(s))
        x = (h[rows] ^ word(s[rows], lens[rows], w)) * _FNV_PRIME
        h[rows] = x ^ (x >> np.uint64(29))
    uniq = np.unique(h)
    inverse = np.searchsorted(uniq, h)
    first = np.full(len(uniq), len(h), np.int64)
    np.minimum.at(first, inverse, np.arange(len(h)))
    rep = first[inverse]  # the first field with each field's hash: must hold the same bytes
    same = lens == lens[rep]
    for w in range(n_words):
        rows = np.flatnonzero(same & (lens > 8 * w))
        same[rows] = word(s[rows], lens[rows], w) == word(s[rep[rows]], lens[rows], w)
    if not np.all(same):  # a 64-bit hash collision: number the labels with a dict instead
        index: dict[bytes, int] = {}
        ids = np.fromiter((index.setdefault(data[a:b], len(index)) for a, b in zip(
            s.tolist(), e.tolist(), strict=True)), np.int64, len(s))
        return [x.decode("utf-8") for x in index], ids
    order = np.argsort(first)
    rank = np.empty(len(first), np.int64)
    rank[order] = np.arange(len(first))
    names = [data[s[first[k]]:e[first[k]]].decode("utf-8") for k in order.tolist()]
    return names, rank[inverse]


# --------------------------------------------------------------- csv module, quoted fields


def parse_csv_module(path, data: bytes):
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    try:
        rows = [(reader.line_num, row) for row in reader]  # line where each record ends
    except csv.Error as err:
        raise InputError(path, f"cannot read as CSV: {err}", record=f"line {reader.line_num}"
                         ) from None
    header = _header(path, rows[0][1] if rows else [])
    width = len(header)
    body = [(i, r) for i, r in rows[1:] if r and not (len(r) == 1 and not r[0].strip())]
    if not body:
        raise InputError(path, "no edges after the header")
    bad = next(((i, r) for i, r in body if len(r) != width), None)
    if bad:
        raise InputError(path, f"{len(bad[1])} fields, header has {width}",
                         record=f"line {bad[0]}")
    lines = np.array([i for i, _ in body])
    cols = list(zip(*(r for _, r in body), strict=True))
    weight = _text_numbers(path, cols[header.index("weight")], lines, "weight")
    delay = None
    if "delay" in header:
        raw = cols[header.index("delay")]
        values = _text_numbers(path, raw, lines, "delay")
        bad_delay = np.flatnonzero((values != np.rint(values)) | (values < 1)
                                   | (values > MAX_DELAY))
        if len(bad_delay):
            k = bad_delay[0]
            raise InputError(path, f"delay {raw[k]!r} must be an integer number of steps in "
                             f"1..{MAX_DELAY}", record=f"line {lines[k]}")
        delay = values.astype(np.int64)
    index: dict[str, int] = {}
    ids = np.empty(2 * len(lines), np.int64)
    for k, x in enumerate(v for pair in zip(cols[header.index("pre")], cols[header.index(
            "post")], strict=True) for v in pair):
        if not x:
            raise InputError(path, "empty neuron name", record=f"line {lines[k // 2]}")
        ids[k] = index.setdefault(x, len(index))
    return list(index), ids[0::2], ids[1::2], weight, delay


def _text_numbers(path, raw, lines: np.ndarray, name: str) -> np.ndarray:
    values = np.empty(len(raw))
    for k, text in enumerate(raw):
        try:
            values[k] = float(text)
        except ValueError:
            raise InputError(path, f"{name} {text!r} is not a number",
                             record=f"line {lines[k]}") from None
        if not np.isfinite(values[k]):
            raise InputError(path, f"{name} {text!r} is not finite", record=f"line {lines[k]}")
    return values


# ------------------------------------------------------------------------------------ export


def write_csv(cmap: ConnectivityMap, path: str | os.PathLike) -> None:
    """``pre,post,weight,delay`` by label, weights as shortest round-trip decimals."""
    names = cmap.labels.tolist()
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["pre", "post", "weight", "delay"])
        w.writerows(
            (names[a], names[b], repr(x), d)
            for a, b, x, d in zip(cmap.pre.tolist(), cmap.post.tolist(), cmap.weight.tolist(),
                                  cmap.delay.tolist(), strict=True)
        )
